//! The one loop behind the hot reloads (TLS certificate, route table): a check every `every`
//! (cheap when nothing changed), a forced reload on SIGHUP, until `stop`.

use std::time::Duration;

use tokio::sync::watch;

/// Calls `reload(force)` on every tick (`force == false`: reload only what changed on disk) and
/// on SIGHUP (`force == true`), until `stop` changes.
pub(crate) async fn run(
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut reload: impl FnMut(bool),
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let force = tokio::select! {
            _ = tick.tick() => false,
            _ = hangup => true,
            _ = stop.changed() => return,
        };
        reload(force);
    }
}
