//! Issue 10, defects 2 and 3 on the admin API: password checks and connections are bounded.
//! Through the real listener on port 0, with small limits set through the configuration.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use sesame_store::{Backend, PasswordLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn small_limits(cfg: &mut sesame_admin::AdminConfig) {
    cfg.connections.first_byte_timeout_ms = 300;
    cfg.connections.header_timeout_ms = 400;
    cfg.connections.body_stall_timeout_ms = 400;
    cfg.connections.body_timeout_ms = 2_000;
    cfg.connections.idle_timeout_ms = 400;
}

/// Reads until the server closes (EOF or reset), at most `limit`.
async fn read_until_closed(sock: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
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

async fn d2_case(backend: Backend) {
    let s = Server::start(backend).await;
    s.account("100901", &["ws_tracking"]).await;
    s.store.set_password_limits(PasswordLimits {
        permits: 1,
        queue: 2,
        wait: Duration::from_millis(300),
    });
    let n = 40;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = s.http.clone();
        let url = format!("{}/admin/v1/sessions", s.base);
        tasks.push(tokio::spawn(async move {
            // Each attempt names its own (unknown) account, so no per-account lockout or
            // throttle decides the answers: only the password-check bound.
            let r = http
                .post(url)
                .json(&json!({"accountNumber": format!("{:06}", 200_000 + i), "password": "Wrong-Pass1"}))
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            let v: Value = r.json().await.expect("json error shape");
            (status, retry, v)
        }));
    }
    let mut refused = 0;
    for t in tasks {
        let (status, retry, v) = t.await.expect("join");
        match status {
            503 | 429 => {
                refused += 1;
                assert!(retry, "Retry-After on {status}: {v}");
                assert!(v["error"]["code"].is_string(), "{v}");
            }
            401 => assert_eq!(v["error"]["code"], "bad_credentials", "{v}"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(refused >= n - 10, "{refused} of {n} refused");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    // Afterwards the right password still works.
    let token = s.sign_in_admin("100901").await;
    assert!(!token.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_sign_ins_beyond_the_password_bound_get_503_with_retry_after_sqlite() {
    d2_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_sign_ins_beyond_the_password_bound_get_503_with_retry_after_postgres() {
    d2_case(Backend::Postgres).await;
}

#[tokio::test]
async fn d3_admin_silent_socket_and_stalled_head_are_closed() {
    let s = Server::start_with(Backend::Sqlite, small_limits).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut sock = TcpStream::connect(&addr).await.expect("connect");
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    let closed = closed.expect("silent socket still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");

    // A head that never ends (the admin API had no header timeout at all).
    let mut sock = TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    sock.write_all(b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let mut closed = None;
    let mut b = [0u8; 512];
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = sock.write_all(b"a").await;
        if tokio::time::timeout(Duration::from_millis(1), sock.read(&mut b))
            .await
            .is_ok()
        {
            closed = Some(start.elapsed());
            break;
        }
    }
    let closed = closed.expect("stalled head still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn d3_admin_stalled_body_is_refused_within_the_timeout() {
    let s = Server::start_with(Backend::Sqlite, small_limits).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut sock = TcpStream::connect(&addr).await.expect("connect");
    let start = Instant::now();
    sock.write_all(
        b"POST /admin/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"accountNumber\": \"",
    )
    .await
    .expect("write");
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
    // Answered with a 4xx (or simply closed), never handled as a sign-in.
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");

    // An idle keep-alive connection is closed too, and a normal request is still served.
    let mut sock = TcpStream::connect(&addr).await.expect("connect");
    sock.write_all(b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (got, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    let closed = closed.expect("idle keep-alive still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    s.shutdown().await;
}
