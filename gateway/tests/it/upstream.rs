//! The upstream connection pool against a carrier that drops idle keep-alive connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sesame_store::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{both, Stack, ALL_RIGHTS};

const TIMELINE: &str = r#"{"status":[{"code":"0","message":"json.ok"}],"parcel":{"parcelNumber":"6A39138643271","event":[]}}"#;

/// A minimal HTTP/1.1 carrier: answers every request with a tracking timeline, keeps each
/// connection open while requests follow within `idle`, then closes it (no `Connection: close`
/// warning, as load balancers do). Counts connections and requests. With `tls`, speaks HTTPS.
async fn flaky_carrier(
    idle: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = match tls {
        Some(_) => format!("https://localhost:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    let conns = Arc::new(AtomicUsize::new(0));
    let reqs = Arc::new(AtomicUsize::new(0));
    let (c, r) = (conns.clone(), reqs.clone());
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let (r, tls) = (r.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve_conn(s, idle, r).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(s).await {
                            serve_conn(s, idle, r).await
                        }
                    }
                }
            });
        }
    });
    (url, conns, reqs)
}

async fn serve_conn<S>(mut s: S, idle: Duration, reqs: Arc<AtomicUsize>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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
        reqs.fetch_add(1, Ordering::SeqCst);
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{TIMELINE}",
            TIMELINE.len()
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        let _ = s.flush().await;
    }
}

both!(connections_are_reused_and_dropped_ones_are_replaced);
async fn connections_are_reused_and_dropped_ones_are_replaced(backend: Backend) {
    let (carrier, conns, reqs) = flaky_carrier(Duration::from_millis(150), None).await;
    let s = Stack::new(backend, |c| c.upstream_url = carrier).await;
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

both!(https_upstream_with_a_private_authority);
/// An `https://` carrier behind a private authority: trusted once `upstream_ca_file` names it,
/// refused (503 in the envelope, nothing sent in clear) without it.
async fn https_upstream_with_a_private_authority(backend: Backend) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("carrier-ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der())
        .unwrap();
    let cfg = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (carrier, _conns, reqs) = flaky_carrier(Duration::from_secs(5), Some(acceptor)).await;

    // Trusted: served over TLS.
    let url = carrier.clone();
    let s = Stack::new(backend, |c| {
        c.upstream_url = url;
        c.upstream_ca_file = Some(ca.clone());
    })
    .await;
    let a = s.account("100093", ALL_RIGHTS).await;
    let u = s.user(a, "tls-caller", None, None, &["ws_tracking"]).await;
    let v = s.track(&u.key, "6A39138643271").await;
    assert_eq!(v["status"][0]["code"], "0", "{v}");
    assert_eq!(reqs.load(Ordering::SeqCst), 1);
    s.shutdown().await;

    // Not trusted: the handshake fails, the caller gets the service's 503-class envelope.
    let url = carrier.clone();
    let s = Stack::new(backend, |c| c.upstream_url = url).await;
    let a = s.account("100094", ALL_RIGHTS).await;
    let u = s.user(a, "tls-refused", None, None, &["ws_tracking"]).await;
    let r = s
        .http
        .post(format!(
            "{}/tracking-timeline-ws/rest/tracking/timelineCompany",
            s.url
        ))
        .json(&serde_json::json!({"apiKey": u.key, "parcelNumber": "6A39138643271"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(
        reqs.load(Ordering::SeqCst),
        1,
        "nothing reached the carrier"
    );
    s.shutdown().await;

    // A file that is not PEM is refused at start (`Gateway::new` reads the files once),
    // naming the key.
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let cfg = sesame_gateway::GatewayConfig {
        upstream_url: carrier,
        upstream_ca_file: Some(bad),
        ..sesame_gateway::GatewayConfig::default()
    };
    let (store, _db) = sesame_store::testing::fresh_store(Backend::Sqlite).await;
    let err = sesame_gateway::Gateway::new(cfg, store, prometheus::Registry::new())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("gateway.upstream_ca_file: "),
        "{err}"
    );
}
