//! A fake OTLP/HTTP collector for tests (feature `testing`): a real hyper server on
//! 127.0.0.1, port 0, that decodes each protobuf body with the exporter's own message types,
//! records it, and answers what the test scripted (200 by default).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::net::TcpListener;

use crate::proto::{ExportTraceServiceRequest, ExportTraceServiceResponse, ProtoSpan};

/// One request the collector received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    /// The raw body, as sent.
    pub body: Bytes,
    /// The body decoded; `None` when it was not a valid `ExportTraceServiceRequest`.
    pub request: Option<ExportTraceServiceRequest>,
    /// What the collector answered.
    pub status: u16,
}

/// A scripted answer; once the script is empty the collector answers 200.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            retry_after: None,
        }
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Reply>,
}

/// A running fake collector; stops when dropped.
pub struct FakeCollector {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeCollector {
    pub async fn start() -> std::io::Result<FakeCollector> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(FakeCollector { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The traces URL to configure as `endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// Every span of every request answered 2xx, in arrival order.
    pub fn accepted_spans(&self) -> Vec<ProtoSpan> {
        lock(&self.state)
            .received
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| r.request.as_ref())
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter().cloned())
            .collect()
    }

    /// Waits until at least `n` spans were accepted, or `timeout`; returns what was accepted.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ProtoSpan> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.accepted_spans();
            if spans.len() >= n || tokio::time::Instant::now() >= until {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let request = ExportTraceServiceRequest::decode(body.clone()).ok();
    let mut st = lock(&state);
    let reply = if parts.uri.path() == "/v1/traces" && parts.method == http::Method::POST {
        st.script.pop_front().unwrap_or(Reply::status(200))
    } else {
        Reply::status(404)
    };
    st.received.push(Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        request,
        status: reply.status,
    });
    drop(st);
    let mut resp = Response::new(Full::new(Bytes::from(
        ExportTraceServiceResponse::default().encode_to_vec(),
    )));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    if let Some(ra) = reply
        .retry_after
        .and_then(|v| http::HeaderValue::from_str(&v).ok())
    {
        resp.headers_mut().insert(http::header::RETRY_AFTER, ra);
    }
    Ok(resp)
}
