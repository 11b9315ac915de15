//! The ops listener: `/metrics` (Prometheus text), `/health` (alive), `/ready` (database answers
//! or cache warm; 503 from the moment shutdown starts).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::response::{bytes_resp, Resp};
use crate::services::request::ReqBody;
use crate::state::Inner;

pub(crate) async fn handle_ops(gw: Arc<Inner>, req: http::Request<ReqBody>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            gw.metrics
                .cached_principals
                .set(i64::try_from(gw.auth.entry_count().await).unwrap_or(i64::MAX));
            let mut buf = String::new();
            let enc = prometheus::TextEncoder::new();
            match enc.encode_utf8(&gw.registry.gather(), &mut buf) {
                Ok(()) => bytes_resp(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    Bytes::from(buf),
                ),
                Err(e) => bytes_resp(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    Bytes::from(e.to_string()),
                ),
            }
        }
        (&Method::GET, "/health") => {
            bytes_resp(StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
        }
        (&Method::GET, "/ready") => {
            if !gw.accepting.load(Ordering::Acquire) {
                return bytes_resp(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from_static(b"shutting down\n"),
                );
            }
            // Ready when the database answers, or when the cache is warm enough to serve
            // known callers without it (SPEC §7).
            let db = tokio::time::timeout(Duration::from_secs(1), gw.auth.store().ping()).await;
            if matches!(db, Ok(Ok(()))) || gw.auth.entry_count().await > 0 {
                bytes_resp(StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n"))
            } else {
                bytes_resp(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from_static(b"database unreachable, cache empty\n"),
                )
            }
        }
        _ => bytes_resp(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found\n"),
        ),
    }
}
