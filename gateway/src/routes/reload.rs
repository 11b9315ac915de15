//! Reloading the route table while serving, as the TLS certificate is: on SIGHUP, and when a
//! configuration file changes (checked every `routes_reload_interval_ms`). The new table is
//! built whole and checked before it replaces the current one; an invalid one is logged, each
//! problem naming its key, and the current table stays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::config::RouteTableConfig;
use super::table::Table;
use crate::state::Inner;

/// Where the table comes from: the configuration files (watched for changes) and the function
/// that reads them again as start-up did (layering and environment overrides included).
#[derive(Clone)]
pub struct RouteSource {
    pub files: Vec<PathBuf>,
    #[allow(clippy::type_complexity)]
    pub load: Arc<dyn Fn() -> Result<RouteTableConfig, String> + Send + Sync>,
}

impl std::fmt::Debug for RouteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSource")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Sets where reloads read the table from; false if it was set already.
pub(crate) fn set_source(gw: &Inner, source: RouteSource) -> bool {
    let now = stamps(&source.files);
    let set = gw.routes.source.set(source).is_ok();
    if set {
        *gw.routes
            .stamp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }
    set
}

/// Reads and swaps the table when its files changed (or when `force`). `Ok(Some(n))`: a table
/// of `n` routes is in use; `Ok(None)`: nothing changed; `Err`: the problems, the current
/// table kept.
pub(crate) fn reload(gw: &Inner, force: bool) -> Result<Option<usize>, String> {
    let Some(source) = gw.routes.source.get() else {
        return Ok(None);
    };
    let now = stamps(&source.files);
    let mut stamp = gw
        .routes
        .stamp
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !force && now == *stamp {
        return Ok(None);
    }
    // Remembered even when the new table is refused: a broken file is reported once, not at
    // every tick, and the next edit is tried again.
    *stamp = now;
    let cfg = (source.load)()?;
    let table = Table::build(&cfg, &gw.metrics, &gw.spans).map_err(|p| {
        p.into_iter()
            .map(|m| format!("gateway.{m}"))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let n = table.len();
    gw.routes.current.store(Arc::new(table));
    Ok(Some(n))
}

/// Reloads on SIGHUP and on file change until `stop`.
pub(crate) async fn watch(gw: Arc<Inner>, stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(gw.cfg.routes_reload_interval_ms.max(100));
    crate::reloader::run(every, stop, |force| match reload(&gw, force) {
        Ok(Some(n)) => tracing::info!(routes = n, "route table reloaded"),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "route table not reloaded; the current one stays in use")
        }
    })
    .await
}
