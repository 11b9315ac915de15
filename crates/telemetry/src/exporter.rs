//! The OTLP/HTTP exporter: a bounded queue filled by [`SpanSink::record`] (never waits), and one
//! background task that batches, posts protobuf to the collector, retries transient failures,
//! and flushes at shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{loggable_endpoint, parse_endpoint, OtlpConfig, MAX_RETRY_WAIT_SECS};
use crate::encode::{encode, ResourceInfo};
use crate::{Span, SpanSink};

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The configuration's problems, each naming its key (see [`OtlpConfig::problems`]).
    #[error("{}", .0.join("; "))]
    Config(Vec<String>),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the OTLP exporter must be started inside a Tokio runtime")]
    NoRuntime,
}

/// The exporter's counters, registered on the node's registry (served on the ops `/metrics`).
#[derive(Clone)]
struct Metrics {
    exported: IntCounter,
    dropped_queue_full: IntCounter,
    dropped_export_failed: IntCounter,
    requests_ok: IntCounter,
    requests_error: IntCounter,
    requests_retry: IntCounter,
}

impl Metrics {
    fn register(registry: &Registry) -> Result<Metrics, prometheus::Error> {
        let exported = IntCounter::with_opts(Opts::new(
            "sesame_otlp_spans_exported_total",
            "Spans the OTLP collector accepted.",
        ))?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "sesame_otlp_spans_dropped_total",
                "Spans never exported: queue_full (the export queue was full), export_failed \
                 (the collector refused them, or retries or the shutdown flush ran out).",
            ),
            &["reason"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "sesame_otlp_export_requests_total",
                "Export requests to the OTLP collector by result: ok, retry (transient failure, \
                 retried), error (the batch was dropped).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(exported.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        Ok(Metrics {
            exported,
            // Every label value is created now so dashboards see zeros, not missing series.
            dropped_queue_full: dropped.with_label_values(&["queue_full"]),
            dropped_export_failed: dropped.with_label_values(&["export_failed"]),
            requests_ok: requests.with_label_values(&["ok"]),
            requests_error: requests.with_label_values(&["error"]),
            requests_retry: requests.with_label_values(&["retry"]),
        })
    }
}

/// What the gateway holds: a sender into the bounded queue.
struct QueueSink {
    tx: mpsc::Sender<Span>,
    dropped: IntCounter,
    sample_ratio: f64,
}

impl SpanSink for QueueSink {
    fn record(&self, span: Span) {
        // Never wait on the request path: a full queue (collector slow or down) loses the span.
        // After shutdown the queue is closed; those spans are counted the same way.
        if self.tx.try_send(span).is_err() {
            self.dropped.inc();
        }
    }

    fn sample_ratio(&self) -> f64 {
        self.sample_ratio
    }
}

/// A running OTLP/HTTP trace exporter.
///
/// ```no_run
/// # async fn f(cfg: sesame_telemetry::OtlpConfig, registry: prometheus::Registry) -> Result<(), sesame_telemetry::OtlpError> {
/// let exporter = sesame_telemetry::OtlpExporter::start(&cfg, "gateway", &registry)?;
/// let sink = exporter.sink(); // give it to the gateway: Gateway::set_span_sink(sink)
/// // … serve; after the gateway has drained:
/// exporter.shutdown().await; // sends what is queued, within flush_timeout_ms
/// # Ok(()) }
/// ```
pub struct OtlpExporter {
    sink: Arc<QueueSink>,
    stop: watch::Sender<bool>,
    worker: JoinHandle<()>,
    flush_timeout: Duration,
}

impl OtlpExporter {
    /// Validates `cfg` (its endpoint must be set), registers the `sesame_otlp_*` counters on
    /// `registry`, and spawns the export task on the current Tokio runtime. `role` becomes the
    /// resource attribute `sesame.role`.
    pub fn start(
        cfg: &OtlpConfig,
        role: &str,
        registry: &Registry,
    ) -> Result<OtlpExporter, OtlpError> {
        let mut problems = cfg.problems();
        let endpoint = cfg.enabled_endpoint().and_then(parse_endpoint);
        if cfg.enabled_endpoint().is_none() {
            problems.push("endpoint: not set (export is disabled)".to_owned());
        }
        let endpoint = match endpoint {
            Some(e) if problems.is_empty() => e,
            _ => return Err(OtlpError::Config(problems)),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            // Checked by `problems()` above; a failure here would be a bug, reported by key.
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| OtlpError::Config(vec![format!("headers.{name}: invalid name")]))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| OtlpError::Config(vec![format!("headers.{name}: invalid value")]))?;
            // Marks the value as a credential for anything that prints headers.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        let metrics = Metrics::register(registry)?;
        let instance = cfg
            .service_instance_id
            .clone()
            .or_else(|| {
                hostname::get()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| {
                let id: [u8; 8] = rand::random();
                id.iter().map(|b| format!("{b:02x}")).collect()
            });
        let resource = ResourceInfo::new(&cfg.service_name, &instance, role);

        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let worker = Worker {
            client: client(Duration::from_millis(cfg.timeout_ms.max(1)))?,
            endpoint,
            logged_endpoint: loggable_endpoint(cfg.enabled_endpoint().unwrap_or_default()),
            headers,
            resource,
            metrics: metrics.clone(),
            max_batch: cfg.max_batch.max(1),
            batch_delay: Duration::from_millis(cfg.batch_delay_ms.max(1)),
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
            max_retries: cfg.max_retries,
            flush_timeout: Duration::from_millis(cfg.flush_timeout_ms.max(1)),
            stop: stop_rx,
            flush_deadline: None,
        };
        tracing::info!(
            endpoint = %worker.logged_endpoint,
            service.name = %cfg.service_name,
            service.instance.id = %instance,
            "exporting traces over OTLP/HTTP"
        );
        let worker = runtime.spawn(worker.run(rx));
        Ok(OtlpExporter {
            sink: Arc::new(QueueSink {
                tx,
                dropped: metrics.dropped_queue_full,
                sample_ratio: cfg.sample_ratio,
            }),
            stop,
            worker,
            flush_timeout: Duration::from_millis(cfg.flush_timeout_ms.max(1)),
        })
    }

    /// Where the gateway records spans (`Gateway::set_span_sink`).
    pub fn sink(&self) -> Arc<dyn SpanSink> {
        self.sink.clone()
    }

    /// Sends what is queued (in batches, with retries) and stops, within `flush_timeout_ms`:
    /// what is still queued then is dropped and counted. Call it after the gateway has drained,
    /// so the last requests' spans are in the queue.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // The worker honours the deadline itself; the margin only guards against a bug there.
        let margin = Duration::from_secs(1);
        if tokio::time::timeout(self.flush_timeout + margin, &mut self.worker)
            .await
            .is_err()
        {
            tracing::warn!("OTLP exporter did not stop within flush_timeout_ms; abandoned");
            self.worker.abort();
        }
    }
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client(connect_timeout: Duration) -> Result<HttpClient, OtlpError> {
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(connect_timeout));
    conn.set_nodelay(true);
    // The HTTPS layer below handles `https://` endpoints (a vendor's); a local collector is
    // usually plain HTTP.
    conn.enforce_http(false);
    // Publicly trusted certificates, ring provider (no process-wide default is assumed), as
    // the gateway's upstream client does.
    let conn = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .map_err(|e| OtlpError::Config(vec![format!("endpoint: TLS: {e}")]))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(conn);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(2)
        .build(conn))
}

/// One export attempt's result.
enum Attempt {
    Ok {
        rejected: u64,
    },
    /// Transient: worth another try, after `after` when the collector said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Failed {
        why: String,
    },
}

struct Worker {
    client: HttpClient,
    endpoint: Uri,
    /// The endpoint without user info or query, for logs.
    logged_endpoint: String,
    /// Content type and the configured headers (secrets: never logged).
    headers: HeaderMap,
    resource: ResourceInfo,
    metrics: Metrics,
    max_batch: usize,
    batch_delay: Duration,
    timeout: Duration,
    max_retries: u32,
    flush_timeout: Duration,
    stop: watch::Receiver<bool>,
    /// Set once shutdown is asked: nothing is sent or waited for past it.
    flush_deadline: Option<Instant>,
}

impl Worker {
    /// Whether shutdown was asked (or the exporter dropped); starts the flush clock.
    fn stopping(&mut self) -> bool {
        let asked = *self.stop.borrow() || self.stop.has_changed().is_err();
        if asked && self.flush_deadline.is_none() {
            self.flush_deadline = Some(Instant::now() + self.flush_timeout);
        }
        asked
    }

    async fn stop_asked(stop: &mut watch::Receiver<bool>) {
        // Err: the exporter was dropped without shutdown; stop as well.
        let _ = stop.wait_for(|s| *s).await;
    }

    /// The next queued span; `None` once a stop is asked or the channel is closed.
    async fn next_span(
        stop: &mut watch::Receiver<bool>,
        rx: &mut mpsc::Receiver<Span>,
    ) -> Option<Span> {
        tokio::select! {
            biased;
            _ = Self::stop_asked(stop) => None,
            s = rx.recv() => s,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Span>) {
        let mut batch: Vec<Span> = Vec::with_capacity(self.max_batch);
        // Normal operation: a batch starts with its first span and is sent when full or when
        // that span has waited `batch_delay`.
        while !self.stopping() {
            let mut stop = self.stop.clone();
            match Self::next_span(&mut stop, &mut rx).await {
                Some(s) => batch.push(s),
                None => break,
            }
            let send_at = Instant::now() + self.batch_delay;
            while batch.len() < self.max_batch {
                tokio::select! {
                    biased;
                    s = Self::next_span(&mut stop, &mut rx) => match s {
                        Some(s) => batch.push(s),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(send_at) => break,
                }
            }
            self.export(std::mem::take(&mut batch)).await;
        }
        // Shutdown: everything queued, in full batches, until the deadline.
        self.stopping();
        loop {
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(s) => batch.push(s),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            if self.past_deadline() {
                let left = batch.len() as u64 + rx.len() as u64;
                self.metrics.dropped_export_failed.inc_by(left);
                tracing::warn!(
                    spans = left,
                    "OTLP flush ran out of time (flush_timeout_ms); spans dropped"
                );
                break;
            }
            self.export(std::mem::take(&mut batch)).await;
        }
        rx.close();
    }

    fn past_deadline(&self) -> bool {
        self.flush_deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Sends one batch, retrying transient failures; counts the outcome.
    async fn export(&mut self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        let n = spans.len() as u64;
        let body = Bytes::from(encode(&self.resource, spans));
        let mut retries = 0u32;
        loop {
            self.stopping();
            let timeout = match self.flush_deadline {
                Some(d) => self
                    .timeout
                    .min(d.saturating_duration_since(Instant::now())),
                None => self.timeout,
            };
            let attempt = if timeout.is_zero() {
                Attempt::Failed {
                    why: "shutdown flush ran out of time".into(),
                }
            } else {
                self.post(body.clone(), timeout).await
            };
            let why = match attempt {
                Attempt::Ok { rejected } => {
                    self.metrics.requests_ok.inc();
                    let rejected = rejected.min(n);
                    self.metrics.exported.inc_by(n - rejected);
                    if rejected > 0 {
                        // Partial success: the collector refused some spans for good.
                        self.metrics.dropped_export_failed.inc_by(rejected);
                        tracing::warn!(
                            endpoint = %self.logged_endpoint,
                            rejected,
                            "OTLP collector rejected some spans"
                        );
                    }
                    return;
                }
                Attempt::Retry { why, after } if retries < self.max_retries => {
                    retries += 1;
                    self.metrics.requests_retry.inc();
                    let wait = after.unwrap_or_else(|| backoff(retries));
                    if self.pause(wait).await {
                        tracing::debug!(endpoint = %self.logged_endpoint, %why, retries, "OTLP export retried");
                        continue;
                    }
                    // The flush deadline comes first: this attempt was the last one.
                    format!("{why} (no time left to retry before shutdown)")
                }
                Attempt::Retry { why, .. } => format!("{why} (after {retries} retries)"),
                Attempt::Failed { why } => why,
            };
            self.metrics.requests_error.inc();
            self.metrics.dropped_export_failed.inc_by(n);
            tracing::warn!(
                endpoint = %self.logged_endpoint,
                spans = n,
                error = %why,
                "OTLP export failed; spans dropped"
            );
            return;
        }
    }

    /// Waits `wait` before a retry; false when that would pass the flush deadline. Shutdown
    /// during the wait starts that deadline.
    async fn pause(&mut self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        if self.flush_deadline.is_none() {
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                _ = Self::stop_asked(&mut stop) => { self.stopping(); }
            }
        }
        match self.flush_deadline {
            Some(d) if until >= d => false,
            _ => {
                tokio::time::sleep_until(until).await;
                true
            }
        }
    }

    async fn post(&self, body: Bytes, timeout: Duration) -> Attempt {
        let mut req = Request::post(self.endpoint.clone());
        if let Some(h) = req.headers_mut() {
            h.extend(self.headers.clone());
        }
        let req = match req.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Failed {
                    why: format!("building the request: {e}"),
                }
            }
        };
        let exchange = async {
            let resp = self.client.request(req).await?;
            let (parts, body) = resp.into_parts();
            // Read the (small) answer so the connection is reused; a huge one is cut short.
            let body = Limited::new(body, 64 * 1024)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((parts, body))
        };
        let (parts, body) = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Attempt::Failed {
                    why: format!("no answer within {} ms", timeout.as_millis()),
                }
            }
            // The collector is not (yet) listening: nothing was sent, trying again is safe.
            Ok(Err(e)) if e.is_connect() => {
                return Attempt::Retry {
                    why: format!("cannot connect: {}", source_chain(&e)),
                    after: None,
                }
            }
            Ok(Err(e)) => {
                return Attempt::Failed {
                    why: format!("request failed: {}", source_chain(&e)),
                }
            }
            Ok(Ok(x)) => x,
        };
        let status = parts.status;
        if status.is_success() {
            use prost::Message;
            let rejected = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| u64::try_from(p.rejected_spans).unwrap_or(0))
                .unwrap_or(0);
            return Attempt::Ok { rejected };
        }
        let why = format!("collector answered {status}");
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        ) {
            Attempt::Retry {
                why,
                after: retry_after(&parts.headers),
            }
        } else {
            Attempt::Failed { why }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from collectors: exponential backoff
/// is used then), capped.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let secs: u64 = h.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(MAX_RETRY_WAIT_SECS)))
}

/// 200 ms, 400 ms, 800 ms… capped at 5 s, with up to 25 % jitter so replicas that failed
/// together do not retry together.
fn backoff(retry: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << retry.saturating_sub(1).min(10));
    let base = base.min(5_000);
    let jitter = rand::random::<u64>() % (base / 4 + 1);
    Duration::from_millis(base + jitter)
}

/// An error with its causes (hyper's top-level message alone says little).
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b1 = backoff(1).as_millis();
        let b3 = backoff(3).as_millis();
        assert!((200..=250).contains(&b1), "{b1}");
        assert!((800..=1000).contains(&b3), "{b3}");
        assert!(backoff(30).as_millis() <= 6_250);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(
            retry_after(&h),
            Some(Duration::from_secs(MAX_RETRY_WAIT_SECS))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
