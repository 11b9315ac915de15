//! Issue 10, defects 2 and 3: what a stranger can make the gateway spend is bounded. Through the
//! real listeners on port 0, with small limits set through the configuration.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_store::{Backend, PasswordLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{status_code, Stack};

const TRACKING: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";

/// Small clocks so the tests are quick; every test asserts well under the old behaviour
/// (held forever, or 30 s for hyper's default header timer).
fn small_limits(cfg: &mut sesame_gateway::GatewayConfig) {
    cfg.connections.first_byte_timeout_ms = 300;
    cfg.connections.header_timeout_ms = 400;
    cfg.connections.body_stall_timeout_ms = 400;
    cfg.connections.body_timeout_ms = 2_000;
    cfg.connections.idle_timeout_ms = 400;
}

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes (EOF or reset), at most `limit`: what it sent, and when it
/// closed (`None`: still open at the limit).
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
    let s = Stack::new(backend, |cfg| {
        // Each wrong attempt comes from its own address, so no per-address slow-down or
        // throttle decides the answers: only the password-check bound.
        cfg.trusted_proxies = vec!["127.0.0.1".parse().expect("range")];
    })
    .await;
    s.account("100801", &["ws_tracking"]).await;
    let parcel = s.sim.parcels("100801")[0].number.clone();
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
        let url = format!("{}{TRACKING}", s.url);
        let parcel = parcel.clone();
        tasks.push(tokio::spawn(async move {
            // Unknown logins: the dummy hash is checked, at the same cost as a real one.
            let r = http
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{}", i + 1))
                .json(&json!({"login": format!("nobody{i}"), "password": "Wrong-Pass1", "parcelNumber": parcel}))
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let v: Value = r.json().await.expect("json envelope");
            (status, retry, v)
        }));
    }
    let mut refused = 0;
    let mut failed = 0;
    for t in tasks {
        let (status, retry, v) = t.await.expect("join");
        match status {
            // The overflow: the tracking envelope, with Retry-After.
            503 | 429 => {
                refused += 1;
                assert_eq!(status_code(&v), status.to_string(), "{v}");
                assert!(retry.is_some(), "Retry-After on {status}");
            }
            // Checked, and wrong: the service's own "bad credentials" code.
            200 => {
                failed += 1;
                assert_eq!(status_code(&v), "201", "{v}");
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(
        refused >= n - 10,
        "{refused} of {n} refused: at most 1 running + 2 waiting (+ those finishing meanwhile) may be checked"
    );
    assert!(failed >= 1, "some were checked");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "answered, not hung: {:?}",
        start.elapsed()
    );
    // Afterwards the right password still works.
    let r = s
        .http
        .post(format!("{}{TRACKING}", s.url))
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({"login": "100801", "password": "AdminPass123", "parcelNumber": parcel}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(status_code(&v), "0", "{v}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_wrong_passwords_beyond_the_bound_get_503_in_the_envelope_sqlite() {
    d2_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d2_wrong_passwords_beyond_the_bound_get_503_in_the_envelope_postgres() {
    d2_case(Backend::Postgres).await;
}

#[tokio::test]
async fn d3_silent_socket_is_closed_after_the_first_byte_timeout() {
    let s = Stack::new(Backend::Sqlite, small_limits).await;
    for url in [&s.url, &s.ops] {
        let mut sock = TcpStream::connect(addr(url)).await.expect("connect");
        let (got, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
        let closed = closed.unwrap_or_else(|| panic!("{url}: silent socket still open after 5 s"));
        assert!(got.is_empty(), "nothing to answer");
        assert!(
            closed >= Duration::from_millis(250) && closed < Duration::from_secs(3),
            "{url}: closed after {closed:?}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn d3_stalled_head_is_closed_within_the_header_timeout() {
    let s = Stack::new(Backend::Sqlite, small_limits).await;
    let mut sock = TcpStream::connect(addr(&s.url)).await.expect("connect");
    // A slowloris: a byte of head every 100 ms, never the blank line.
    let start = Instant::now();
    let head =
        b"POST /tracking-timeline-ws/rest/tracking/timelineCompany HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    sock.write_all(head).await.expect("write");
    let mut closed = None;
    let mut b = [0u8; 512];
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Ignored: once the server has closed, writes fail; the read below tells.
        let _ = sock.write_all(b"a").await;
        // EOF, a reset or an answer (a 408 is fine too): the server is done with us.
        if tokio::time::timeout(Duration::from_millis(1), sock.read(&mut b))
            .await
            .is_ok()
        {
            closed = Some(start.elapsed());
            break;
        }
    }
    let closed = closed.expect("stalled head still open after 5 s");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn d3_stalled_body_answers_408_in_the_envelope() {
    let s = Stack::new(Backend::Sqlite, small_limits).await;
    let mut sock = TcpStream::connect(addr(&s.url)).await.expect("connect");
    let start = Instant::now();
    sock.write_all(
        b"POST /tracking-timeline-ws/rest/tracking/timelineCompany HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"apiKey\": \"",
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
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The tracking service's own envelope.
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status_code(&v), "408", "{v}");
    s.shutdown().await;
}

#[tokio::test]
async fn d3_idle_keep_alive_is_closed_but_a_slow_upstream_is_not_cut() {
    let s = Stack::new(Backend::Sqlite, small_limits).await;
    let mut sock = TcpStream::connect(addr(&s.ops)).await.expect("connect");
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut b = [0u8; 1024];
    let n = sock.read(&mut b).await.expect("answer");
    assert!(String::from_utf8_lossy(&b[..n]).starts_with("HTTP/1.1 200"));
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    let closed = closed.expect("idle keep-alive still open after 5 s");
    assert!(
        closed >= Duration::from_millis(300) && closed < Duration::from_secs(3),
        "{closed:?}"
    );

    // A request whose handler takes longer than every connection clock (a slow carrier) is
    // answered: the clocks stop while a request is in progress.
    s.account("100802", &["ws_tracking"]).await;
    let parcel = s.sim.parcels("100802")[0].number.clone();
    s.sim.set_latency(sesame_simulator::Latency {
        fixed_ms: 900,
        jitter_ms: 0,
    });
    let r = s
        .http
        .post(format!("{}{TRACKING}", s.url))
        .json(&json!({"login": "100802", "password": "AdminPass123", "parcelNumber": parcel}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(status_code(&v), "0", "{v}");
    s.shutdown().await;
}

#[tokio::test]
async fn d3_connection_cap_holds_and_a_normal_request_is_served_after_the_timeouts() {
    let cap = 8;
    let s = Stack::new(Backend::Sqlite, |cfg| {
        small_limits(cfg);
        cfg.connections.max_connections = cap;
    })
    .await;
    // cap + K silent sockets.
    let mut silent = Vec::new();
    for _ in 0..cap + 4 {
        silent.push(TcpStream::connect(addr(&s.url)).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While full, a new connection is refused at once (closed), not left hanging.
    let start = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        s.http.get(format!("{}/sesame/v1/parcels", s.url)).send(),
    )
    .await
    .expect("refused quickly, not hung");
    assert!(r.is_err(), "over the cap: closed, got {r:?}");
    assert!(start.elapsed() < Duration::from_secs(1));
    // The extra silent sockets were closed at once; the others by the first-byte clock.
    let mut closed_at_once = 0;
    for sock in silent.iter_mut() {
        let (_, c) = read_until_closed(sock, Duration::from_secs(3)).await;
        let c = c.expect("every silent socket is closed within 3 s");
        if c < Duration::from_millis(150) {
            closed_at_once += 1;
        }
    }
    assert!(closed_at_once >= 4, "{closed_at_once}");
    // Once shed, a normal request is served.
    let r = s
        .http
        .get(format!("{}/sesame/v1/parcels", s.url))
        .send()
        .await
        .expect("served after the timeouts");
    assert_eq!(r.status(), 401, "answered (no key)");
    s.shutdown().await;
}
