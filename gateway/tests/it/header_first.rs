//! Header-key routes check the key before reading the body, and Sesame's own endpoints answer
//! errors in the admin API's JSON shape.

use std::time::Duration;

use sesame_store::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Stack, ALL_RIGHTS};

/// Sends a request head announcing a body that never comes; returns what the gateway answers
/// (read until it closes or 3 s pass: far below the 10 s body-stall clock).
async fn head_only(s: &Stack, head: &str) -> String {
    let addr = s.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n")
                        && String::from_utf8_lossy(&buf).contains('}')
                    {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer while the body is still awaited");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_bad_header_key_is_refused_without_reading_the_body() {
    let s = Stack::new(Backend::Sqlite, |_| {}).await;
    let bad = "0123456789ABCDEF0123456789ABCDEF";
    // Labels: the key is in the `apiKey` header, the body (never sent) would hold the account.
    let labels = head_only(
        &s,
        &format!(
            "POST /sls-ws/SlsServiceWSRest/2.0/generateLabel HTTP/1.1\r\nHost: x\r\n\
             apiKey: {bad}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        ),
    )
    .await;
    assert!(labels.starts_with("HTTP/1.1 400"), "{labels}");
    assert!(labels.contains("Content-ID: <jsonInfos>"), "{labels}");
    assert!(labels.contains("30000"), "{labels}");
    // Sesame's own endpoints (claims, invoice archive) too.
    for path in [
        "/sesame/v1/parcels/6A39138643271/claims",
        "/sesame/v1/invoices/zip",
    ] {
        let own = head_only(
            &s,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\napiKey: {bad}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            ),
        )
        .await;
        assert!(own.starts_with("HTTP/1.1 401"), "{path}: {own}");
        assert!(own.contains(r#""code":"invalid_credentials""#), "{own}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn own_endpoints_answer_errors_in_the_admin_shape() {
    let s = Stack::new(Backend::Sqlite, |_| {}).await;
    let a = s.account("100095", ALL_RIGHTS).await;
    let u = s.user(a, "no-invoices", None, None, &["ws_tracking"]).await;
    let r = s
        .get("/sesame/v1/invoices", &[("apiKey", u.key.as_str())])
        .await;
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(v["error"]["code"], "forbidden", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert_eq!(v["error"]["right"], "invoices", "{v}");
    let r = s.get("/sesame/v1/parcels", &[]).await;
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(v["error"]["code"], "invalid_credentials", "{v}");
    assert!(v["error"].get("field").is_none(), "{v}");
    s.shutdown().await;
}
