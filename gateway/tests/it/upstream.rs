//! The upstream connection pool against a carrier that drops idle keep-alive connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sesame_store::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Stack, ALL_RIGHTS};

const TIMELINE: &str = r#"{"status":[{"code":"0","message":"json.ok"}],"parcel":{"parcelNumber":"6A39138643271","event":[]}}"#;

/// A minimal HTTP/1.1 carrier: answers every request with a tracking timeline, keeps each
/// connection open while requests follow within `idle`, then closes it (no `Connection: close`
/// warning, as load balancers do). Counts connections and requests.
async fn flaky_carrier(idle: Duration) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let conns = Arc::new(AtomicUsize::new(0));
    let reqs = Arc::new(AtomicUsize::new(0));
    let (c, r) = (conns.clone(), reqs.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        let n = match tokio::time::timeout(idle, s.read(&mut chunk)).await {
                            Ok(Ok(n)) if n > 0 => n,
                            _ => return, // idle too long, or closed: drop the connection
                        };
                        buf.extend_from_slice(&chunk[..n]);
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                    }
                    buf.drain(..head_end + len);
                    r.fetch_add(1, Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{TIMELINE}",
                        TIMELINE.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, conns, reqs)
}

#[tokio::test]
async fn connections_are_reused_and_dropped_ones_are_replaced() {
    let (carrier, conns, reqs) = flaky_carrier(Duration::from_millis(150)).await;
    let s = Stack::new(Backend::Sqlite, |c| c.upstream_url = carrier).await;
    let a = s.account("100091", ALL_RIGHTS).await;
    let u = s.user(a, "pooled", None, None, &["ws_tracking"]).await;

    // Back to back: one connection carries them all.
    for _ in 0..5 {
        let v = s.track(&u.key, "6A39138643271").await;
        assert_eq!(v["status"][0]["code"], "0", "{v}");
    }
    assert_eq!(reqs.load(Ordering::SeqCst), 5);
    assert_eq!(conns.load(Ordering::SeqCst), 1, "keep-alive reuse");

    // The carrier drops the idle connection: the next calls still succeed, each on a fresh
    // connection, and no call is sent twice.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let v = s.track(&u.key, "6A39138643271").await;
        assert_eq!(v["status"][0]["code"], "0", "{v}");
        assert_eq!(conns.load(Ordering::SeqCst), 2 + i);
    }
    assert_eq!(
        reqs.load(Ordering::SeqCst),
        8,
        "each call reached the carrier once"
    );
}
