//! # One serve loop for every listener (public, ops, admin)
//!
//! A connection costs a file descriptor and some memory for as long as it is open, and anyone
//! who can reach a listener can open one. Without limits, 19,985 silent sockets made a node
//! answer nothing (out of descriptors). Here every connection is bounded:
//!
//! - **cap**: at most `max_connections` open per listener. When the listener is full, a new
//!   connection is accepted and closed at once (the client sees a reset at once instead of
//!   waiting in the kernel's backlog), and a warning is logged once per burst;
//! - **first byte**: a connection that sends nothing is closed after `first_byte_timeout_ms`;
//! - **headers**: a request head must arrive whole within `header_timeout_ms` of its first byte
//!   (slowloris);
//! - **body**: a request body that stalls for `body_stall_timeout_ms`, or is not whole after
//!   `body_timeout_ms`, fails with [`BodyTimeout`] (services answer 408 in their envelope);
//! - **idle**: a keep-alive connection with no request in progress and no byte moving is closed
//!   after `idle_timeout_ms` (also a client that stops reading its answer);
//! - **accept errors** (EMFILE, ENFILE, ENOBUFS…) never spin: the loop sleeps (10 ms doubling up
//!   to 1 s) and logs once per burst.
//!
//! Time spent by a handler (a slow upstream) never counts against a connection: the clocks stop
//! while a request is in progress, apart from the body clocks, which only run while the handler
//! waits for body bytes.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};

pub mod clock;

/// The connection task's clock ([`clock::now`]: one reading per poll), in tokio's type.
fn now() -> Instant {
    Instant::from_std(clock::now())
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connection limits of a listener (`[gateway.connections]`, `[admin.connections]`).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnLimits {
    /// Open connections per listener at most; beyond, new ones are accepted and closed at once.
    pub max_connections: usize,
    /// A new connection that sends nothing for this long is closed.
    pub first_byte_timeout_ms: u64,
    /// A request head (request line and headers) must be whole this long after its first byte.
    pub header_timeout_ms: u64,
    /// A request body that sends nothing for this long fails (408).
    pub body_stall_timeout_ms: u64,
    /// A request body must be whole this long after the handler starts reading it (408).
    pub body_timeout_ms: u64,
    /// A keep-alive connection with no request in progress and no byte moving is closed.
    pub idle_timeout_ms: u64,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 10_000,
            first_byte_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_stall_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            idle_timeout_ms: 60_000,
        }
    }
}

impl ConnLimits {
    /// Every problem, each naming its key relative to the section (`connections.…`).
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.max_connections == 0 {
            errors.push("connections.max_connections: must be at least 1".to_owned());
        }
        for (key, v) in [
            ("first_byte_timeout_ms", self.first_byte_timeout_ms),
            ("header_timeout_ms", self.header_timeout_ms),
            ("body_stall_timeout_ms", self.body_stall_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ] {
            if v == 0 {
                errors.push(format!("connections.{key}: must be at least 1"));
            }
        }
        errors
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v.max(1))
    }
}

/// The error a request body yields when its client stalls ([`ConnLimits::body_stall_timeout_ms`],
/// [`ConnLimits::body_timeout_ms`]).
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body timeout")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether a body error (possibly wrapped, e.g. by `http_body_util::Limited`) is a
/// [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body with the body clocks: stall (no frame for `stall`) and whole (`total` from
/// the first wait). The clocks only run while the handler waits for a frame.
pub struct TimedBody<B = Incoming> {
    inner: B,
    stall: Duration,
    total: Duration,
    /// The first wait.
    started: Option<Instant>,
    /// The first wait after the last frame.
    last: Option<Instant>,
    /// A frame came since the last wait. The clocks are read only when the handler has to
    /// wait, not per frame (issue 17: two clock reads per request): the stall clock starts at
    /// the first wait after a frame, within the same poll of the handler.
    got_frame: bool,
    /// Created on the first wait only: a body that arrives at once costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, stall: Duration, total: Duration) -> TimedBody<B> {
        TimedBody {
            inner,
            stall,
            total,
            started: None,
            last: None,
            got_frame: false,
            sleep: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(f) => {
                this.got_frame = true;
                Poll::Ready(f.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let now = now();
                let started = *this.started.get_or_insert(now);
                if std::mem::take(&mut this.got_frame) {
                    this.last = Some(now);
                }
                let last = this.last.unwrap_or(started);
                let deadline = (last + this.stall).min(started + this.total);
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the service side tells the connection's clocks: requests in progress (the clocks
/// stop) and how many have started (a new head is expected after each).
#[derive(Default)]
struct ConnShared {
    busy: AtomicUsize,
    started: AtomicU64,
}

struct BusyGuard(Arc<ConnShared>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Clone, Copy)]
struct Clocks {
    first_byte: Duration,
    header: Duration,
    idle: Duration,
}

/// The connection's transport with the first-byte, header and idle clocks. A clock that runs
/// out fails the pending read or write with `TimedOut`, which makes hyper close the connection.
struct TimedIo<T> {
    inner: T,
    shared: Arc<ConnShared>,
    clocks: Clocks,
    opened: Instant,
    any_byte: bool,
    /// Last byte read or written.
    last_progress: Instant,
    /// First byte of the request head being read (no request in progress).
    head_started: Option<Instant>,
    seen_requests: u64,
    sleep: Pin<Box<Sleep>>,
}

impl<T> TimedIo<T> {
    fn new(inner: T, shared: Arc<ConnShared>, clocks: Clocks) -> TimedIo<T> {
        let now = now();
        TimedIo {
            inner,
            shared,
            clocks,
            opened: now,
            any_byte: false,
            last_progress: now,
            head_started: None,
            seen_requests: 0,
            sleep: Box::pin(tokio::time::sleep_until(now + clocks.first_byte)),
        }
    }

    fn busy(&mut self) -> bool {
        let started = self.shared.started.load(Ordering::Acquire);
        if started != self.seen_requests {
            // A request began since we last looked: the next head has not started yet.
            self.seen_requests = started;
            self.head_started = None;
        }
        self.shared.busy.load(Ordering::Acquire) > 0
    }

    fn progressed(&mut self, read: bool) {
        let now = now();
        self.last_progress = now;
        self.any_byte = true;
        if read && self.head_started.is_none() && !self.busy() {
            self.head_started = Some(now);
        }
    }

    /// Called when the transport is not ready: `Err` once the clock in force has run out.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.busy() {
            // The clocks stop during a request, but a wake-up stays armed at most `idle` away:
            // hyper leaves the read it polled during the request pending and does not poll the
            // transport again once the answer is out, so without it nothing would look at the
            // idle clock on a keep-alive connection left silent. Fired while still busy, it is
            // moved (once per `idle`, not per request).
            let wake = now() + self.clocks.idle;
            if wake < self.sleep.deadline() || self.sleep.is_elapsed() {
                self.sleep.as_mut().reset(wake);
            }
            let _ = self.sleep.as_mut().poll(cx);
            return Ok(());
        }
        let (deadline, what) = if !self.any_byte {
            (self.opened + self.clocks.first_byte, "first byte")
        } else if let Some(h) = self.head_started {
            (h + self.clocks.header, "request head")
        } else {
            (self.last_progress + self.clocks.idle, "idle")
        };
        // The timer is re-armed only when the deadline moves earlier. Every request on a
        // keep-alive connection pushes the idle deadline later; re-arming each time took the
        // timer driver's lock per request (callgrind: ~2k instructions). A timer left on an
        // earlier deadline fires early once, and is then moved to the real one.
        if deadline < self.sleep.deadline() {
            self.sleep.as_mut().reset(deadline);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        // (A reading lagging by this poll's time can only say "not yet": the timer, re-armed
        // at a deadline already past, then fires at once.)
        if now() < deadline {
            self.sleep.as_mut().reset(deadline);
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} timeout"),
        ))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed(true);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T> TimedIo<T> {
    /// What a write poll means for the clocks: bytes out are progress; a write that cannot go
    /// out (a client that stopped reading) is checked against the idle clock.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed(false);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A listener to serve: its name (for logs), its limits, TLS if any, and the drain budget.
pub struct Listener {
    pub name: &'static str,
    pub listener: TcpListener,
    pub limits: ConnLimits,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Once `stop` turns true: stop accepting, let in-flight requests finish for this long.
    pub drain: Duration,
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Serves `listener` with `handler` until `stop` turns true, then drains. The handler gets the
/// request with a [`TimedBody`] and the TCP peer.
pub async fn serve<F, Fut, B>(
    l: Listener,
    mut stop: watch::Receiver<bool>,
    handler: F,
) -> io::Result<()>
where
    F: Fn(http::Request<TimedBody>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let Listener {
        name,
        listener,
        limits,
        tls,
        drain,
    } = l;
    let clocks = Clocks {
        first_byte: ConnLimits::ms(limits.first_byte_timeout_ms),
        header: ConnLimits::ms(limits.header_timeout_ms),
        idle: ConnLimits::ms(limits.idle_timeout_ms),
    };
    let stall = ConnLimits::ms(limits.body_stall_timeout_ms);
    let total = ConnLimits::ms(limits.body_timeout_ms);
    let graceful = GracefulShutdown::new();
    let mut b = auto::Builder::new(TokioExecutor::new());
    // Our clocks (TimedIo) enforce the head and idle limits, so hyper's own header timer is
    // off: it cost a boxed sleep armed and disarmed per request (issue 17: ~600 instructions).
    // It used to back ours on idle keep-alive connections, which hyper stops polling once an
    // answer is out; `TimedIo::check` now keeps a wake-up armed during a request for that.
    b.http1().timer(TokioTimer::new()).header_read_timeout(None);
    b.http2().timer(TokioTimer::new());
    let builder = Arc::new(b);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shedding = false;
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            res = listener.accept() => res,
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::ZERO;
                x
            }
            Err(e) => {
                // Out of descriptors and the like: sleep instead of spinning, log once a burst.
                if backoff.is_zero() {
                    tracing::warn!(listener = name, error = %e, "accept failed; backing off");
                    backoff = Duration::from_millis(10);
                } else {
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stopped(&mut stop) => break,
                }
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Full: close at once (the client learns now, not after a backlog timeout).
            if !shedding {
                tracing::warn!(
                    listener = name,
                    max_connections = limits.max_connections,
                    "connection cap reached; closing new connections until some end"
                );
                shedding = true;
            }
            drop(stream);
            continue;
        };
        shedding = false;
        let _ = stream.set_nodelay(true);
        let shared = Arc::new(ConnShared::default());
        let h = handler.clone();
        let svc_shared = shared.clone();
        let svc = service_fn(move |req: http::Request<Incoming>| {
            svc_shared.busy.fetch_add(1, Ordering::AcqRel);
            svc_shared.started.fetch_add(1, Ordering::AcqRel);
            let guard = BusyGuard(svc_shared.clone());
            let req = req.map(|body| TimedBody::new(body, stall, total));
            let fut = h(req, peer);
            async move {
                let resp = fut.await;
                drop(guard);
                Ok::<_, Infallible>(resp)
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let io = TimedIo::new(stream, shared, clocks);
        // Every poll of the connection (its clocks, hyper, the handler, the handler's upstream
        // call) shares one clock reading (`clock`). Boxed once per connection: `Polled` takes
        // an `Unpin` future.
        tokio::spawn(clock::Polled(Box::pin(async move {
            let _permit = permit;
            let res = match tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(io), svc)
                        .into_owned();
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(io));
                    let Ok(Ok(tls_stream)) = hs.await else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls_stream), svc)
                        .into_owned();
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        })));
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(drain) => tracing::warn!(listener = name, "drain timeout: closing remaining connections"),
    }
    Ok(())
}

/// The certificates of a PEM file of authorities (the gateway's carrier CA and route upstreams'
/// CAs, the portal's `admin.gateway_ca_file`); an error says what is wrong with the file.
pub fn load_ca_file(
    path: &std::path::Path,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}
