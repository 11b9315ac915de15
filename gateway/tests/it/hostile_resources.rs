//! Issue 10, defects 2 and 3: what a stranger can make the gateway spend is bounded. Through the
//! real listeners on port 0, with small limits set through the configuration.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_store::Backend;
use sesame_testkit::net::{self, read_until_closed};
use sesame_testkit::seed::ADMIN_PASSWORD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{both, status_code, Stack, TRACKING};

/// Small connection clocks (the kit's), on the public and the ops listener.
fn small_limits(cfg: &mut sesame_gateway::GatewayConfig) {
    net::small_limits(&mut cfg.connections);
}

/// Tracks `parcel` with the legacy credentials of account `number`'s admin, as if from
/// `from`: served.
async fn track_as_account_admin(s: &Stack, number: &str, parcel: &str, from: &str) {
    let (st, v) = s
        .post_json(
            TRACKING,
            &[("x-forwarded-for", from)],
            &json!({"login": number, "password": ADMIN_PASSWORD, "parcelNumber": parcel}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(status_code(&v), "0", "{v}");
}

both!(
    d2_wrong_passwords_beyond_the_bound_get_503_in_the_envelope,
    multi_thread
);
async fn d2_wrong_passwords_beyond_the_bound_get_503_in_the_envelope(backend: Backend) {
    let s = Stack::new(backend, |cfg| {
        // Each wrong attempt comes from its own address, so no per-address slow-down or
        // throttle decides the answers: only the password-check bound.
        cfg.trusted_proxies = vec!["127.0.0.1".parse().expect("range")];
    })
    .await;
    s.account("100801", &["ws_tracking"]).await;
    let parcel = s.sim.parcels("100801")[0].number.clone();
    net::one_password_check_at_a_time(&s.store);
    let n = 40;
    // Unknown logins, each from its own address: the dummy hash is checked, at the same cost
    // as a real one.
    let answers = net::burst(n, |i| {
        s.http
            .post(format!("{}{TRACKING}", s.url))
            .header("x-forwarded-for", format!("203.0.113.{}", i + 1))
            .json(&json!({"login": format!("nobody{i}"), "password": "Wrong-Pass1", "parcelNumber": parcel}))
    })
    .await;
    let (mut refused, mut failed) = (0, 0);
    for a in &answers {
        let v = &a.body;
        if a.is_overflow() {
            // The overflow: the tracking envelope.
            refused += 1;
            assert_eq!(status_code(v), a.status.to_string(), "{v}");
        } else {
            // Checked, and wrong: the service's own "bad credentials" code.
            failed += 1;
            assert_eq!((a.status, status_code(v)), (200, "201"), "{v}");
        }
    }
    assert!(
        refused >= n - 10,
        "{refused} of {n} refused: at most 1 running + 2 waiting (+ those finishing meanwhile) may be checked"
    );
    assert!(failed >= 1, "some were checked");
    // Afterwards the right password still works.
    track_as_account_admin(&s, "100801", &parcel, "198.51.100.77").await;
    s.shutdown().await;
}

both!(d3_silent_socket_is_closed_after_the_first_byte_timeout);
async fn d3_silent_socket_is_closed_after_the_first_byte_timeout(backend: Backend) {
    let s = Stack::new(backend, small_limits).await;
    for url in [&s.url, &s.ops] {
        let mut sock = net::connect(url).await;
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

both!(d3_stalled_head_is_closed_within_the_header_timeout);
async fn d3_stalled_head_is_closed_within_the_header_timeout(backend: Backend) {
    let s = Stack::new(backend, small_limits).await;
    // A slowloris: a byte of head every 100 ms, never the blank line.
    let head =
        b"POST /tracking-timeline-ws/rest/tracking/timelineCompany HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let closed = net::stalled_head_closed_after(&s.url, head).await;
    let closed = closed.expect("stalled head still open after 5 s");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
    s.shutdown().await;
}

both!(d3_stalled_body_answers_408_in_the_envelope);
async fn d3_stalled_body_answers_408_in_the_envelope(backend: Backend) {
    let s = Stack::new(backend, small_limits).await;
    let text = net::stalled_body_answer(
        &s.url,
        b"POST /tracking-timeline-ws/rest/tracking/timelineCompany HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"apiKey\": \"",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // The tracking service's own envelope.
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status_code(&v), "408", "{v}");
    s.shutdown().await;
}

both!(d3_idle_keep_alive_is_closed_but_a_slow_upstream_is_not_cut);
async fn d3_idle_keep_alive_is_closed_but_a_slow_upstream_is_not_cut(backend: Backend) {
    let s = Stack::new(backend, small_limits).await;
    let mut sock = net::connect(&s.ops).await;
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
    track_as_account_admin(&s, "100802", &parcel, "127.0.0.1").await;
    s.shutdown().await;
}

both!(d3_connection_cap_holds_and_a_normal_request_is_served_after_the_timeouts);
async fn d3_connection_cap_holds_and_a_normal_request_is_served_after_the_timeouts(
    backend: Backend,
) {
    let cap = 8;
    let s = Stack::new(backend, |cfg| {
        small_limits(cfg);
        cfg.connections.max_connections = cap;
    })
    .await;
    // cap + K silent sockets.
    let mut silent = Vec::new();
    for _ in 0..cap + 4 {
        silent.push(net::connect(&s.url).await);
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
