//! What every request and background task shares: the configuration and the parts built from
//! it by `Gateway::new`.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::GatewayConfig;

pub(crate) struct Inner {
    pub cfg: GatewayConfig,
    pub auth: crate::auth::Authenticator,
    pub upstream: crate::upstream::Upstream,
    pub limits: crate::ratelimit::Limits,
    pub metrics: crate::metrics::Metrics,
    pub registry: prometheus::Registry,
    /// TLS on the public listener, when configured; its certificate reloads while serving.
    pub tls: Option<Arc<crate::tls::ReloadableTls>>,
    /// Cleared when shutdown starts: `/ready` answers 503 so load balancers stop sending.
    pub accepting: AtomicBool,
    pub request_ids: AtomicU64,
    /// Change-log version applied at start-up (the follower resumes from it).
    pub start_version: i64,
    /// Finished spans (optional OpenTelemetry export), shared with the upstream client.
    pub spans: crate::trace::Spans,
    /// Declared routes (issue 16), looked at only when no built-in service takes a request.
    pub routes: crate::routes::Routes,
}

/// Completes once shutdown was asked for (the guard `wait_for` returns is dropped here, so the
/// callers' futures stay `Send`).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
