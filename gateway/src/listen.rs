//! The accept side: both listeners served by `sesame_serve` until shutdown, the certificate
//! watcher, and the life of one public request around its handler (request id, trace context,
//! metrics, span, access log, the error rendered in the service's envelope).

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::client_ip::client_ip;
use crate::envelope::respond;
use crate::error::GatewayError;
use crate::redact::redact_uri;
use crate::response::Outcome;
use crate::response::Resp;
use crate::services::{self, request::ReqBody};
use crate::state::Inner;
use crate::{follower, ops, routes, tls, trace};

/// Serves the public and ops listeners until `shutdown` completes, then stops accepting,
/// flips `/ready` to 503 and drains in-flight calls (up to `drain_timeout_ms`). Also runs
/// the change-log follower.
pub(crate) async fn run(
    inner: Arc<Inner>,
    public: TcpListener,
    ops: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let gw = inner.clone();
    tokio::spawn(async move {
        shutdown.await;
        gw.accepting.store(false, Ordering::Release);
        let _ = stop_tx.send(true);
    });
    let follower = tokio::spawn(follower::run(inner.clone(), stop_rx.clone()));
    if let Some(t) = inner.tls.clone() {
        tokio::spawn(watch_certificate(t, stop_rx.clone()));
    }
    tokio::spawn(routes::reload::watch(inner.clone(), stop_rx.clone()));
    let drain = Duration::from_millis(inner.cfg.drain_timeout_ms);

    let gw = inner.clone();
    let limits = inner.cfg.connections.clone();
    let public_task = sesame_serve::serve(
        sesame_serve::Listener {
            name: "public",
            listener: public,
            limits: limits.clone(),
            tls: inner.tls.as_ref().map(|t| t.acceptor.clone()),
            drain,
        },
        stop_rx.clone(),
        move |req, peer| {
            let gw = gw.clone();
            async move { handle_public(gw, req, peer.ip()).await }
        },
    );
    // The ops listener outlives the public drain, so `/ready` answers 503 (and metrics stay
    // scrapeable) while in-flight calls finish.
    let (ops_stop_tx, ops_stop_rx) = watch::channel(false);
    let gw = inner.clone();
    let ops_task = tokio::spawn(sesame_serve::serve(
        sesame_serve::Listener {
            name: "ops",
            listener: ops,
            limits,
            tls: None,
            drain,
        },
        ops_stop_rx,
        move |req, _peer| {
            let gw = gw.clone();
            async move { ops::handle_ops(gw, req).await }
        },
    ));
    let a = public_task.await;
    let _ = ops_stop_tx.send(true);
    let b = ops_task
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    follower.abort();
    a.and(b)
}

/// Reloads the TLS certificate when its files change (checked every `reload_interval_ms`) or on
/// SIGHUP. A certificate that does not load is logged and the current one stays in use.
async fn watch_certificate(tls: Arc<tls::ReloadableTls>, stop: watch::Receiver<bool>) {
    let every = tls.interval();
    crate::reloader::run(every, stop, |force| match tls.reload(force) {
        Ok(true) => tracing::info!("TLS certificate reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "TLS certificate not reloaded; the current one stays in use")
        }
    })
    .await
}

/// The work before the handler is done here, synchronously, and the handling is boxed
/// (`services::dispatch`): the future hyper keeps for the request, and moves several times,
/// holds only what the end of the request needs, not the request itself nor a service's state
/// (issue 17: copying futures was the profile's biggest item).
fn handle_public(
    gw: Arc<Inner>,
    req: http::Request<ReqBody>,
    ip: IpAddr,
) -> impl Future<Output = Resp> + Send {
    // The connection's reading of this poll (`sesame_serve::clock`): the request's arrival.
    // Its end is read afresh in `finish`, so the latency includes every synchronous step.
    let start = sesame_serve::clock::now();
    let id = gw.request_ids.fetch_add(1, Ordering::Relaxed);
    let svc = services::route(req.method(), req.uri().path());
    // Declared routes are looked up only for what no built-in service takes.
    let declared = if svc == services::Service::NotFound {
        gw.routes.find(req.method(), req.uri().path())
    } else {
        None
    };
    // Only for the access log: the query may carry a key (tracking links), so it is redacted.
    let logged_uri = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        (
            req.method().clone(),
            redact_uri(req.uri().path(), req.uri().query()),
        )
    });
    let envelope = svc.envelope(req.headers(), req.uri().query());
    // The tracking link's refusal page leads to the portal's sign-in and back to that parcel.
    let link_ok = matches!(envelope, crate::envelope::Envelope::Link { .. })
        .then(|| crate::envelope::link_ok_target(&gw.cfg.portal_url, req.uri().query()));
    let route_label = match &declared {
        Some(routes::Found::Route(r, _) | routes::Found::WrongMethod(r)) => r.name,
        None => svc.route_label(),
    };
    let ip = client_ip(&gw.cfg.trusted_proxies, ip, req.headers());
    let tp = trace::TraceParent::for_request(req.headers(), gw.spans.sample_ratio());
    let recorded = gw.spans.start().map(|at| (at, req.method().clone()));
    // The declared route (for its envelope), and the handling.
    let (declared, handling): (Option<Arc<routes::Route>>, services::Handling) = match declared {
        None => (None, services::dispatch(gw.clone(), svc, req, ip)),
        Some(routes::Found::Route(r, values)) => {
            let (gw, route) = (gw.clone(), r.clone());
            let handling =
                Box::pin(async move { routes::handle(&gw, &route, &values, req, ip).await });
            (Some(r), handling)
        }
        Some(routes::Found::WrongMethod(r)) => {
            (Some(r), services::refused(GatewayError::MethodNotAllowed))
        }
    };
    async move {
        let result = trace::scope(tp, handling).await;
        finish(
            &gw,
            result,
            Ending {
                start,
                id,
                route_label,
                declared,
                envelope,
                link_ok,
                logged_uri,
                tp,
                recorded,
            },
        )
    }
}

/// What the end of a public request needs, gathered before its handling.
struct Ending {
    start: Instant,
    id: u64,
    route_label: &'static str,
    declared: Option<Arc<routes::Route>>,
    envelope: crate::envelope::Envelope,
    link_ok: Option<String>,
    logged_uri: Option<(http::Method, String)>,
    tp: trace::TraceParent,
    recorded: Option<(std::time::SystemTime, http::Method)>,
}

/// The end of a public request: its answer (the error rendered in its envelope), metrics, span,
/// request id and access log.
fn finish(gw: &Inner, result: crate::error::R<Resp>, end: Ending) -> Resp {
    let Ending {
        start,
        id,
        route_label,
        tp,
        ..
    } = end;
    let (resp, outcome) = match result {
        Ok(r) => {
            let outcome = r.extensions().get::<Outcome>().map_or("ok", |o| o.0);
            (r, outcome)
        }
        Err(e) => {
            let refusal = e.classify();
            match &e {
                GatewayError::Internal(m) => {
                    tracing::error!(request_id = id, route = route_label, error = %m, "internal error")
                }
                GatewayError::UpstreamUnavailable(m) => {
                    tracing::warn!(request_id = id, route = route_label, error = %m, "upstream unavailable")
                }
                other => {
                    tracing::debug!(request_id = id, route = route_label, error = %other, "refused")
                }
            }
            let declared_envelope = end
                .declared
                .as_deref()
                .and_then(|r| routes::respond(r, &refusal));
            (
                declared_envelope.unwrap_or_else(|| {
                    let portal = end.link_ok.as_deref().unwrap_or(&gw.cfg.portal_url);
                    respond(&refusal, end.envelope, portal)
                }),
                refusal.outcome,
            )
        }
    };
    gw.metrics.observe_request(
        route_label,
        resp.status(),
        outcome,
        start.elapsed().as_secs_f64(),
    );
    if let Some((at, method)) = end.recorded {
        gw.spans.record(
            &tp,
            sesame_telemetry::SpanKind::Server,
            at,
            resp.status().is_server_error(),
            || {
                use sesame_telemetry::Attr;
                let attributes = vec![
                    ("http.request.method", Attr::Str(method.to_string().into())),
                    ("http.route", Attr::Str(route_label.into())),
                    (
                        "http.response.status_code",
                        Attr::Int(i64::from(resp.status().as_u16())),
                    ),
                    ("sesame.outcome", Attr::Str(outcome.into())),
                    (
                        "sesame.request_id",
                        Attr::Int(i64::try_from(id).unwrap_or(i64::MAX)),
                    ),
                ];
                (route_label.into(), attributes)
            },
        );
    }
    let mut resp = resp;
    resp.headers_mut()
        .insert(X_REQUEST_ID, request_id_value(id));
    if let Some((method, uri)) = end.logged_uri {
        tracing::debug!(request_id = id, trace_id = %tp.trace_id_hex(), %method, uri = %uri, status = resp.status().as_u16(), outcome,
            elapsed_us = start.elapsed().as_micros() as u64, "request");
    }
    resp
}

/// `id` as a header value in one allocation of its exact length (`HeaderValue::from(u64)`
/// makes two: a buffer, then the shared block `freeze` promotes it to).
fn request_id_value(id: u64) -> http::HeaderValue {
    let mut digits = itoa::Buffer::new();
    let b = bytes::Bytes::copy_from_slice(digits.format(id).as_bytes());
    http::HeaderValue::from_maybe_shared(b).unwrap_or_else(|_| http::HeaderValue::from(id))
}

/// Built once: a name given as `&str` is parsed and hashed on every answer (~400 instructions).
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
