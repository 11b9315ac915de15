//! The change feed: wake-ups telling a follower (the gateway's cache evictor) that the change
//! log may have grown, from every source at once, so the follower only has to read the log
//! after the last version it applied (`Store::changes_since`) whichever source fired:
//!
//! - the same-process channel: a commit of this process, immediately;
//! - PostgreSQL `LISTEN sesame_changes` (other nodes): a task owns the listener, reconnects
//!   with backoff, and wakes the follower after every (re)connection so it catches up on what
//!   was missed meanwhile;
//! - a poll tick: SQLite's only cross-process source; on PostgreSQL a slower safety net (×10).

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::changes::NOTIFY_CHANNEL;
use crate::db::{Backend, Store};

/// A follower's wake-ups; dropping it stops the PostgreSQL listener.
pub struct ChangeFeed {
    store: Store,
    local: watch::Receiver<i64>,
    notes: mpsc::Receiver<()>,
    tick: tokio::time::Interval,
    poll: Duration,
    listener: Option<JoinHandle<()>>,
}

impl Store {
    /// A change feed polling every `poll` (×10 on PostgreSQL, where notifications come first).
    pub fn change_feed(&self, poll: Duration) -> ChangeFeed {
        let pg = self.backend() == Backend::Postgres;
        let poll = if pg {
            poll.max(Duration::from_millis(1)) * 10
        } else {
            poll.max(Duration::from_millis(1))
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (note_tx, notes) = mpsc::channel::<()>(64);
        let listener = pg.then(|| tokio::spawn(listen(self.url().to_owned(), note_tx)));
        ChangeFeed {
            store: self.clone(),
            local: self.subscribe_local(),
            notes,
            tick,
            poll,
            listener,
        }
    }
}

impl ChangeFeed {
    /// Completes at the next wake-up (the first tick completes at once: a new follower reads
    /// the log straight away).
    pub async fn changed(&mut self) {
        tokio::select! {
            r = self.local.changed() => {
                if r.is_err() {
                    // The store's sender was dropped: nothing local will come any more.
                    self.local = self.store.subscribe_local();
                    tokio::time::sleep(self.poll).await;
                }
            }
            Some(()) = self.notes.recv() => {}
            _ = self.tick.tick() => {}
        }
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        if let Some(t) = self.listener.take() {
            t.abort();
        }
    }
}

/// Owns a PostgreSQL listener; reconnects with backoff; wakes the follower after every
/// (re)connection (to catch up on what was missed) and on every notification.
async fn listen(url: String, wake: mpsc::Sender<()>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => {
                if let Err(e) = l.listen(NOTIFY_CHANNEL).await {
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
