//! The change-log follower: evicts cached principals as soon as a change is heard of.
//!
//! Three wake-up sources, one catch-up routine (`changes_since(last applied)`), so nothing is
//! missed whichever source fires: the same-process watch channel (admin API in this process:
//! immediate), PostgreSQL `LISTEN/NOTIFY` (other nodes), and a periodic tick (SQLite polling;
//! on PostgreSQL a slower safety net, and the catch-up after a listener reconnect).

use std::sync::Arc;
use std::time::Duration;

use sesame_domain::model::{now_millis, Change, ChangeKind};
use sesame_store::Backend;
use tokio::sync::watch;

use crate::{stopped, Inner};

/// Changes read per query while catching up.
const BATCH: i64 = 1_000;
/// A gap larger than this is not replayed: everything is evicted instead.
const MAX_REPLAY: usize = 50_000;

pub(crate) async fn run(gw: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let store = gw.auth.store().clone();
    let mut local = store.subscribe_local();
    let mut last = gw.start_version;
    let pg = store.backend() == Backend::Postgres;
    let poll = Duration::from_millis(if pg {
        gw.cfg.poll_interval_ms.max(1) * 10
    } else {
        gw.cfg.poll_interval_ms.max(1)
    });
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut housekeeping = tokio::time::interval(Duration::from_secs(60));

    // PostgreSQL notifications arrive on a channel fed by a task that owns the listener and
    // reconnects on its own; after each (re)connection it sends a wake-up so we catch up.
    let (note_tx, mut note_rx) = tokio::sync::mpsc::channel::<()>(64);
    let listener_task = if pg {
        let url = store.url().to_owned();
        Some(tokio::spawn(listen(url, note_tx)))
    } else {
        drop(note_tx);
        None
    };

    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            r = local.changed() => {
                if r.is_err() {
                    // The store was dropped: nothing local will come any more; keep polling.
                    local = store.subscribe_local();
                    tokio::time::sleep(poll).await;
                }
            }
            Some(()) = note_rx.recv() => {}
            _ = tick.tick() => {}
            _ = housekeeping.tick() => { gw.limits.housekeeping(); continue; }
        }
        last = catch_up(&gw, last).await;
    }
    if let Some(t) = listener_task {
        t.abort();
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

/// Owns a PostgreSQL listener; reconnects with backoff; wakes the follower after every
/// (re)connection (to catch up on what was missed) and on every notification.
async fn listen(url: String, wake: tokio::sync::mpsc::Sender<()>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => {
                if let Err(e) = l.listen(sesame_store::NOTIFY_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    backoff = Duration::from_millis(100);
                    let _ = wake.try_send(());
                    loop {
                        match l.try_recv().await {
                            Ok(Some(_n)) => {
                                let _ = wake.try_send(());
                            }
                            // None: the connection was lost (sqlx reconnects on the next call);
                            // catch up since notifications may have been missed meanwhile.
                            Ok(None) => {
                                let _ = wake.try_send(());
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change-log listener lost");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "change-log listener cannot connect"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
