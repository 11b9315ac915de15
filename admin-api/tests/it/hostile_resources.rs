//! Issue 10, defects 2 and 3 on the admin API: password checks and connections are bounded.
//! Through the real listener on port 0, with small limits set through the configuration.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use sesame_store::Backend;
use sesame_testkit::net::{self, read_until_closed};
use tokio::io::AsyncWriteExt;

fn small_limits(cfg: &mut sesame_admin::AdminConfig) {
    net::small_limits(&mut cfg.connections);
}

both!(
    d2_sign_ins_beyond_the_password_bound_get_503_with_retry_after,
    multi_thread
);
async fn d2_sign_ins_beyond_the_password_bound_get_503_with_retry_after(backend: Backend) {
    let s = Server::start(backend).await;
    s.account("100901", &["ws_tracking"]).await;
    net::one_password_check_at_a_time(&s.store);
    let n = 40;
    // Each attempt names its own (unknown) account, so no per-account lockout or throttle
    // decides the answers: only the password-check bound.
    let answers = net::burst(n, |i| {
        s.http.post(format!("{}/admin/v1/sessions", s.base)).json(
            &json!({"accountNumber": format!("{:06}", 200_000 + i), "password": "Wrong-Pass1"}),
        )
    })
    .await;
    let mut refused = 0;
    for a in &answers {
        let v = &a.body;
        if a.is_overflow() {
            refused += 1;
            assert!(v["error"]["code"].is_string(), "{v}");
        } else {
            assert_eq!(a.status, 401, "{v}");
            assert_eq!(v["error"]["code"], "bad_credentials", "{v}");
        }
    }
    assert!(refused >= n - 10, "{refused} of {n} refused");
    // Afterwards the right password still works.
    let token = s.sign_in_admin("100901").await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn d3_admin_silent_socket_and_stalled_head_are_closed() {
    let s = Server::start_with(Backend::Sqlite, small_limits).await;
    let mut sock = net::connect(&s.base).await;
    let (_, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    let closed = closed.expect("silent socket still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");

    // A head that never ends (the admin API had no header timeout at all).
    let closed = net::stalled_head_closed_after(
        &s.base,
        b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    )
    .await;
    let closed = closed.expect("stalled head still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn d3_admin_stalled_body_is_refused_within_the_timeout() {
    let s = Server::start_with(Backend::Sqlite, small_limits).await;
    let text = net::stalled_body_answer(
        &s.base,
        b"POST /admin/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"accountNumber\": \"",
    )
    .await;
    // Answered with a 4xx (or simply closed), never handled as a sign-in.
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");

    // An idle keep-alive connection is closed too, and a normal request is still served.
    let mut sock = net::connect(&s.base).await;
    sock.write_all(b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (got, closed) = read_until_closed(&mut sock, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    let closed = closed.expect("idle keep-alive still open after 5 s");
    assert!(closed < Duration::from_secs(3), "{closed:?}");
    s.shutdown().await;
}
