//! Raw-socket helpers for the tests that hold connections open (slow clients, stalled heads).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Small connection clocks so the tests are quick; every test asserts well under the old
/// behaviour (held forever, or 30 s for hyper's default header timer).
pub fn small_limits(c: &mut sesame_serve::ConnLimits) {
    c.first_byte_timeout_ms = 300;
    c.header_timeout_ms = 400;
    c.body_stall_timeout_ms = 400;
    c.body_timeout_ms = 2_000;
    c.idle_timeout_ms = 400;
}

/// `host:port` of an `http://` base URL.
pub fn host(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// A connection to an `http://` base URL.
pub async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(host(url)).await.expect("connect")
}

/// Reads until the server closes (EOF or reset), at most `limit`: what it sent, and when it
/// closed (`None`: still open at the limit).
pub async fn read_until_closed(
    sock: &mut TcpStream,
    limit: Duration,
) -> (Vec<u8>, Option<Duration>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Err(_) => return (got, None),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(start.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A slowloris: sends `head`, then a byte of it every 100 ms, never the blank line, for at most
/// 5 s. Returns when the server was done with us (EOF, a reset or an answer such as a 408), or
/// `None` if it still held the connection after 5 s.
pub async fn stalled_head_closed_after(url: &str, head: &[u8]) -> Option<Duration> {
    let mut sock = connect(url).await;
    let start = Instant::now();
    sock.write_all(head).await.expect("write");
    let mut b = [0u8; 512];
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Ignored: once the server has closed, writes fail; the read below tells.
        let _ = sock.write_all(b"a").await;
        if tokio::time::timeout(Duration::from_millis(1), sock.read(&mut b))
            .await
            .is_ok()
        {
            return Some(start.elapsed());
        }
    }
    None
}

/// Sends `request`, whose body never completes: the server must be done with the connection
/// (answer and close) within 3 s. Returns what it answered.
pub async fn stalled_body_answer(url: &str, request: &[u8]) -> String {
    let mut sock = connect(url).await;
    let start = Instant::now();
    sock.write_all(request).await.expect("write");
    let (got, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        closed.is_some(),
        "stalled body still open after 5 s: {text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    text
}

/// One answer of a [`burst`].
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The JSON body (the error shape or the service's envelope).
    pub body: serde_json::Value,
}

impl Answer {
    /// Refused for overload (503 or 429), which always says when to retry.
    pub fn is_overflow(&self) -> bool {
        let overflow = matches!(self.status, 503 | 429);
        assert!(
            !overflow || self.retry_after.is_some(),
            "Retry-After on {}: {}",
            self.status,
            self.body
        );
        overflow
    }
}

/// Sends the `n` requests `request(i)` at once and waits for every answer (in request order),
/// which must all come within 15 s: refused or checked, never hung.
pub async fn burst(n: usize, request: impl Fn(usize) -> reqwest::RequestBuilder) -> Vec<Answer> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let rb = request(i);
            tokio::spawn(async move {
                let r = rb.send().await.expect("send");
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                let body = r.json().await.expect("a JSON answer");
                Answer {
                    status,
                    retry_after,
                    body,
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "answered, not hung: {:?}",
        start.elapsed()
    );
    out
}

/// One password check at a time, two waiting at most for 300 ms: a burst of wrong passwords is
/// mostly refused before any check.
pub fn one_password_check_at_a_time(store: &sesame_store::Store) {
    store.set_password_limits(sesame_store::PasswordLimits {
        permits: 1,
        queue: 2,
        wait: Duration::from_millis(300),
    });
}
