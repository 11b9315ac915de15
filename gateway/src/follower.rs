//! The change-log follower: evicts cached principals as soon as a change is heard of.
//!
//! The store's change feed (`sesame_store::ChangeFeed`: the same-process channel, PostgreSQL
//! `LISTEN/NOTIFY` with a wake-up after every reconnection, a poll tick) says when to look; one
//! catch-up routine (`changes_since(last applied)`) reads what changed, so nothing is missed
//! whichever source fired.

use std::sync::Arc;
use std::time::Duration;

use sesame_domain::model::{now_millis, Change, ChangeKind};
use tokio::sync::watch;

use crate::state::{stopped, Inner};

/// Changes read per query while catching up.
const BATCH: i64 = 1_000;
/// A gap larger than this is not replayed: everything is evicted instead.
const MAX_REPLAY: usize = 50_000;

pub(crate) async fn run(gw: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut feed = gw
        .auth
        .store()
        .change_feed(Duration::from_millis(gw.cfg.poll_interval_ms));
    let mut last = gw.start_version;
    let mut housekeeping = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            () = feed.changed() => {}
            _ = housekeeping.tick() => { gw.limits.housekeeping(); continue; }
        }
        last = catch_up(&gw, last).await;
    }
}

/// Applies every change after `last`; returns the new last applied version. On a database
/// error the version does not move, so the next wake-up retries.
async fn catch_up(gw: &Inner, mut last: i64) -> i64 {
    let store = gw.auth.store();
    let mut replayed = 0usize;
    loop {
        let changes = match store.changes_since(last, BATCH).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "change log unreadable; cached principals keep serving");
                return last;
            }
        };
        let n = changes.len();
        for c in &changes {
            apply(gw, c).await;
            last = c.version;
        }
        replayed += n;
        if let Some(c) = changes.last() {
            gw.metrics.changelog_version.set(c.version);
            let lag = (now_millis() - c.at).max(0) as f64 / 1000.0;
            gw.metrics.changelog_lag.observe(lag);
        }
        if (n as i64) < BATCH {
            return last;
        }
        if replayed >= MAX_REPLAY {
            tracing::warn!(
                replayed,
                "change-log gap too large: evicting every cached principal"
            );
            gw.auth.evict_all();
            return store.latest_version().await.unwrap_or(last);
        }
    }
}

async fn apply(gw: &Inner, c: &Change) {
    let auth = &gw.auth;
    match c.kind {
        ChangeKind::Key => {
            if let Some(h) = &c.key_hash {
                auth.evict_key(h).await;
            }
            if let Some(u) = c.user_id {
                auth.evict_user(u).await;
            }
        }
        ChangeKind::User | ChangeKind::Link => {
            if let Some(u) = c.user_id {
                auth.evict_user(u).await;
            }
            if c.user_id.is_none() {
                if let Some(a) = c.account_id {
                    evict_account(gw, a).await;
                }
            }
        }
        ChangeKind::Account => {
            if let Some(a) = c.account_id {
                evict_account(gw, a).await;
            }
        }
        // Sessions, queued imports, messages: no cached principal depends on them.
        ChangeKind::ControlPlane => {}
    }
}

async fn evict_account(gw: &Inner, account_id: i64) {
    // Everyone linked to the account, whatever the account's status: principals cached while it
    // was disabled do not list it. The change log was just read, so the database answers; if
    // this query still fails, evicting everything is the only safe answer.
    match gw.auth.store().gateway_users_of_account(account_id).await {
        Ok(users) => {
            for u in users {
                gw.auth.evict_user(u).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, account_id, "cannot list the account's users: evicting every cached principal");
            gw.auth.evict_all();
        }
    }
}
