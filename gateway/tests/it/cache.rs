//! Cache invalidation through the change log (SQLite polling, PostgreSQL LISTEN/NOTIFY), rate
//! limits, database outage, ops endpoints.

use std::time::{Duration, Instant};

use sesame_domain::model::{AccountStatus, Actor};
use sesame_store::testing::test_secrets;
use sesame_store::{Backend, Store};

use crate::common::*;

/// Polls until `f` says the change is visible; fails after 3 s. Returns how long it took.
async fn eventually<F, Fut>(what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{what}: not visible after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

both!(an_erased_identity_is_refused_at_once);
/// Issue 15: the operator erases an identity on another node; every gateway refuses its cached
/// key as soon as it hears of it (the erasure names each revoked key in the change log).
async fn an_erased_identity_is_refused_at_once(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let other: Store = Store::connect(s.store.url(), test_secrets())
        .await
        .expect("second node");
    let a1 = s.account("300011", ALL_RIGHTS).await;
    let a2 = s.account("300012", ALL_RIGHTS).await;
    let u = s.user(a1, "erasable", None, None, &["ws_tracking"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let p1 = s.sim.parcels("300011")[0].number.clone();
    let p2 = s.sim.parcels("300012")[0].number.clone();
    // Cached on the gateway.
    assert_eq!(status_code(&s.track(&u.key, &p1).await), "0");
    assert_eq!(status_code(&s.track(&u.key, &p2).await), "0");
    other
        .erase_user(Actor::Operator, u.id, Some("right to erasure"))
        .await
        .unwrap();
    let t = eventually("erasure", || async {
        status_code(&s.track(&u.key, &p1).await) == "201"
    })
    .await;
    assert_eq!(status_code(&s.track(&u.key, &p2).await), "201");
    println!("erasure visible after {t:?}");
    s.shutdown().await;
}

both!(revocation_is_seen);
/// Every kind of change made by ANOTHER node (a second store handle on the same database, so
/// the gateway cannot hear it through the same-process channel) is visible quickly.
async fn revocation_is_seen(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let other: Store = Store::connect(s.store.url(), test_secrets())
        .await
        .expect("second node");
    let a1 = s.account("300001", ALL_RIGHTS).await;
    let a2 = s.account("300002", ALL_RIGHTS).await;
    let u = s.user(a1, "revoked", None, None, &["ws_tracking"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let p1 = s.sim.parcels("300001")[0].number.clone();
    let p2 = s.sim.parcels("300002")[0].number.clone();
    assert_eq!(status_code(&s.track(&u.key, &p1).await), "0");
    assert_eq!(status_code(&s.track(&u.key, &p2).await), "0");

    // Link rights changed on account 2: its parcels become unknown.
    other
        .set_link_rights(
            Actor::AccountAdmin { account_id: a2 },
            a2,
            u.id,
            rights(&["ws_postage"]),
        )
        .await
        .unwrap();
    let t = eventually("link change", || async {
        status_code(&s.track(&u.key, &p2).await) == "105"
    })
    .await;
    eprintln!("{backend:?}: link change visible after {t:?}");
    assert_eq!(status_code(&s.track(&u.key, &p1).await), "0");

    // Entitlement withdrawn from account 1: withdrawn from the link.
    other
        .set_entitlements(Actor::Operator, a1, rights(&["ws_postage", "invoices:all"]))
        .await
        .unwrap();
    eventually("entitlement", || async {
        status_code(&s.track(&u.key, &p1).await) == "202"
    })
    .await;
    other
        .set_entitlements(Actor::Operator, a1, rights(ALL_RIGHTS))
        .await
        .unwrap();
    eventually("entitlement back", || async {
        status_code(&s.track(&u.key, &p1).await) == "0"
    })
    .await;

    // Account disabled, then enabled again (the cached principal omitted it meanwhile).
    other
        .set_account_status(Actor::Operator, a1, AccountStatus::Disabled, Some("test"))
        .await
        .unwrap();
    eventually("account disabled", || async {
        status_code(&s.track(&u.key, &p1).await) == "202"
    })
    .await;
    other
        .set_account_status(Actor::Operator, a1, AccountStatus::Active, None)
        .await
        .unwrap();
    eventually("account enabled", || async {
        status_code(&s.track(&u.key, &p1).await) == "0"
    })
    .await;

    // Regenerated key: the old one stops, the new one works.
    let new_key = other
        .regenerate_connection_key(Actor::User { user_id: u.id }, u.id, None)
        .await
        .unwrap();
    eventually("old key", || async {
        status_code(&s.track(&u.key, &p1).await) == "201"
    })
    .await;
    assert_eq!(status_code(&s.track(new_key.expose(), &p1).await), "0");

    // Regenerated with a grace period: both keys work until the old one expires.
    let newer = other
        .regenerate_connection_key(Actor::User { user_id: u.id }, u.id, Some(60_000))
        .await
        .unwrap();
    s.settle().await;
    assert_eq!(status_code(&s.track(newer.expose(), &p1).await), "0");
    assert_eq!(
        status_code(&s.track(new_key.expose(), &p1).await),
        "0",
        "old key in its grace period"
    );
    let new_key = newer;

    // Disabled user.
    other
        .set_user_status(
            Actor::AccountAdmin { account_id: a1 },
            Some(a1),
            u.id,
            false,
            Some("left"),
        )
        .await
        .unwrap();
    eventually("disabled user", || async {
        status_code(&s.track(new_key.expose(), &p1).await) == "201"
    })
    .await;
    other
        .set_user_status(
            Actor::AccountAdmin { account_id: a1 },
            Some(a1),
            u.id,
            true,
            None,
        )
        .await
        .unwrap();
    eventually("enabled user", || async {
        status_code(&s.track(new_key.expose(), &p1).await) == "0"
    })
    .await;

    // Same-process change: evicted through the local channel.
    s.store
        .set_link_rights(
            Actor::AccountAdmin { account_id: a1 },
            a1,
            u.id,
            rights(&["ws_postage"]),
        )
        .await
        .unwrap();
    eventually("local change", || async {
        status_code(&s.track(new_key.expose(), &p1).await) == "202"
    })
    .await;

    let m = s.metrics().await;
    assert!(m.contains("sesame_principal_cache_evictions_total"));
    assert!(m.contains("sesame_changelog_lag_seconds"));
    other.close().await;
    s.shutdown().await;
}

both!(rate_limits_answer_429_with_retry_after);
async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let s = Stack::new(backend, |c| {
        c.rate_limit.per_key_per_sec = 1;
        c.rate_limit.burst = 2;
        c.rate_limit.per_account_per_sec = 1_000;
    })
    .await;
    let a1 = s.account("300011", ALL_RIGHTS).await;
    let u = s
        .user(
            a1,
            "limited",
            None,
            None,
            &["ws_tracking", "ws_pickup_point"],
        )
        .await;
    let p = s.sim.parcels("300011")[0].number.clone();
    let mut limited = None;
    for _ in 0..5 {
        let r = s
            .http
            .post(format!(
                "{}/tracking-timeline-ws/rest/tracking/timelineCompany",
                s.url
            ))
            .json(&serde_json::json!({"apiKey": u.key, "parcelNumber": p}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 5 quick calls");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["status"][0]["message"].is_string(),
        "tracking envelope: {v}"
    );
    assert!(s.metrics().await.contains("sesame_rate_limited_total"));
    s.shutdown().await;
}

both!(override_by_user_id_lifts_the_limit);
async fn override_by_user_id_lifts_the_limit(backend: Backend) {
    let s = Stack::new(backend, |c| {
        c.rate_limit.per_key_per_sec = 1;
        c.rate_limit.burst = 1;
        // Fresh databases number users from 1; the account's main contact takes the first ids.
        c.rate_limit.overrides = (1..=10)
            .map(|id| sesame_gateway::RateOverride {
                user_id: Some(id),
                user_key: None,
                per_sec: 1_000,
            })
            .collect();
    })
    .await;
    let a = s.account("300021", ALL_RIGHTS).await;
    let u = s.user(a, "fastlane", None, None, &["ws_tracking"]).await;
    assert!(u.id <= 10);
    let p = s.sim.parcels("300021")[0].number.clone();
    for _ in 0..6 {
        assert_eq!(status_code(&s.track(&u.key, &p).await), "0");
    }
    s.shutdown().await;
}

both!(database_outage_keeps_cached_principals_working);
async fn database_outage_keeps_cached_principals_working(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account("300031", ALL_RIGHTS).await;
    let u = s
        .user(a, "cached", None, None, &["ws_tracking", "ws_postage"])
        .await;
    let p = s.sim.parcels("300031")[0].number.clone();
    let first = s.track(&u.key, &p).await;
    assert_eq!(status_code(&first), "0", "{first}");
    // Let the follower apply the user's creation (which evicts it) before warming the cache.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status_code(&s.track(&u.key, &p).await), "0");
    let ready = s.http.get(format!("{}/ready", s.ops)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    s.store.close().await;
    // Cached: still served.
    assert_eq!(status_code(&s.track(&u.key, &p).await), "0");
    // Unknown key: 503 in the service's envelope.
    let (st, v) = s
        .post_json(
            LABEL,
            &[("apiKey", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD")],
            &label_body(None),
        )
        .await;
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["messages"][0]["type"], "ERROR");
    // Ready still: the cache is warm.
    let ready = s.http.get(format!("{}/ready", s.ops)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let health = s
        .http
        .get(format!("{}/health", s.ops))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    s.shutdown().await;
}

both!(metrics_and_graceful_shutdown);
async fn metrics_and_graceful_shutdown(backend: Backend) {
    let s = Stack::new(backend, |c| c.drain_timeout_ms = 5_000).await;
    let a = s.account("300041", ALL_RIGHTS).await;
    let u = s.user(a, "metered", None, None, &["ws_tracking"]).await;
    let p = s.sim.parcels("300041")[0].number.clone();
    assert_eq!(status_code(&s.track(&u.key, &p).await), "0");
    let _ = s.track("EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE", &p).await;
    let m = s.metrics().await;
    for name in [
        "sesame_gateway_requests_total",
        "sesame_upstream_duration_seconds",
        "sesame_principal_cache_hits_total",
        "sesame_principal_cache_misses_total",
        "sesame_auth_failures_total",
        "sesame_gateway_request_duration_seconds",
    ] {
        assert!(m.contains(name), "{name} missing");
    }
    assert!(!m.contains(&u.key), "a key in the metrics");
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.starts_with("sesame_"), "{name}");
    }
    // An in-flight slow call finishes during the drain.
    s.sim.set_latency(sesame_simulator::Latency {
        fixed_ms: 400,
        jitter_ms: 0,
    });
    let req = s
        .http
        .post(format!(
            "{}/tracking-timeline-ws/rest/tracking/timelineCompany",
            s.url
        ))
        .json(&serde_json::json!({"apiKey": u.key, "parcelNumber": p}))
        .send();
    let inflight = tokio::spawn(req);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = s.url.clone();
    let ready_url = format!("{}/ready", s.ops);
    let http = s.http.clone();
    let shutdown = tokio::spawn(s.shutdown());
    // During the drain the ops listener still answers, and says "not ready".
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = http.get(&ready_url).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    shutdown.await.unwrap();
    let r = inflight.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    // Closed for new calls.
    assert!(reqwest::get(format!("{url}/health")).await.is_err());
}

/// A stack serving TLS with `ck` (reloaded every `reload_ms`) from files in a fresh directory;
/// the directory and the (certificate, key) paths.
pub(crate) async fn tls_stack(
    backend: Backend,
    ck: &rcgen::CertifiedKey,
    reload_ms: u64,
) -> (
    Stack,
    std::path::PathBuf,
    (std::path::PathBuf, std::path::PathBuf),
) {
    let dir = std::env::temp_dir().join(format!(
        "sesame-gw-tls-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, ck.cert.pem()).unwrap();
    std::fs::write(&key_path, ck.key_pair.serialize_pem()).unwrap();
    let s = Stack::new(backend, |c| {
        c.tls = Some(sesame_gateway::TlsConfig {
            cert_path: cert_path.display().to_string(),
            key_path: key_path.display().to_string(),
            reload_interval_ms: reload_ms,
        })
    })
    .await;
    (s, dir, (cert_path, key_path))
}

/// A TLS connection to `url`'s port, trusting only `cert`, for the name "localhost".
async fn tls_connect(
    url: &str,
    cert: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    tls_connect_as(url, cert, "localhost").await
}

/// A TLS connection to `url`'s port (loopback, whatever `name` resolves to elsewhere), trusting
/// only `root`, checking the server's certificate for `name`.
pub(crate) async fn tls_connect_as(
    url: &str,
    root: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = sesame_testkit::net::connect(url).await;
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

both!(tls_on_the_public_listener);
async fn tls_on_the_public_listener(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (s, dir, _) = tls_stack(backend, &ck, 10_000).await;
    let mut tls = tls_connect(&s.url, ck.cert.der().clone())
        .await
        .expect("handshake");
    tls.write_all(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    // Clear text on the TLS port is refused.
    assert!(s
        .http
        .get(format!("{}/nowhere", s.url))
        .send()
        .await
        .is_err());
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);

    // A bad path stops start-up with a message naming the key.
    let store = sesame_store::testing::fresh_store(backend).await;
    let cfg = sesame_gateway::GatewayConfig {
        tls: Some(sesame_gateway::TlsConfig {
            cert_path: "/nonexistent.pem".into(),
            key_path: "/nonexistent.key".into(),
            reload_interval_ms: 10_000,
        }),
        ..Default::default()
    };
    let err = sesame_gateway::Gateway::new(cfg, store.0, prometheus::Registry::new())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("gateway.tls.cert_path"), "{err}");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

both!(repeated_failures_from_one_client_are_slowed_down);
async fn repeated_failures_from_one_client_are_slowed_down(backend: Backend) {
    // The throttle's address curve, made short for the test: 6 free failures, then 50 ms doubling.
    let s = Stack::new(backend, |c| {
        c.throttle.address_free_failures = 6;
        c.throttle.base_delay_ms = 50;
    })
    .await;
    let a = s.account("300051", ALL_RIGHTS).await;
    let u = s.user(a, "patient", None, None, &["ws_tracking"]).await;
    let p = s.sim.parcels("300051")[0].number.clone();
    let t = Instant::now();
    for i in 0..6 {
        let bad = format!("{:032X}", i + 1);
        assert_eq!(status_code(&s.track(&bad, &p).await), "201");
    }
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "first failures are not delayed"
    );
    let t = Instant::now();
    for i in 0..3 {
        let bad = format!("{:032X}", i + 100);
        assert_eq!(status_code(&s.track(&bad, &p).await), "201");
    }
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "later failures are delayed ({:?})",
        t.elapsed()
    );
    // A good key from the same client still works (only slower for a while).
    assert_eq!(status_code(&s.track(&u.key, &p).await), "0");
    let m = s.metrics().await;
    assert!(m.contains("sesame_auth_failures_total{reason=\"unknown_key\"}"));
    s.shutdown().await;
}

both!(behind_a_trusted_proxy_failures_are_counted_per_forwarded_client);
/// Behind a trusted proxy, callers are told apart by `X-Forwarded-For`: one caller's failures do
/// not slow down another caller coming through the same proxy.
async fn behind_a_trusted_proxy_failures_are_counted_per_forwarded_client(backend: Backend) {
    let s = Stack::new(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.throttle.address_free_failures = 5;
        c.throttle.base_delay_ms = 50;
    })
    .await;
    let a = s.account("300052", ALL_RIGHTS).await;
    let u = s.user(a, "proxied", None, None, &["ws_tracking"]).await;
    let p = s.sim.parcels("300052")[0].number.clone();
    let (stack, parcel) = (&s, &p);
    let track_from = |client: &'static str, key: String| async move {
        let from = format!("198.51.100.99, {client}");
        let body = serde_json::json!({"apiKey": key, "parcelNumber": parcel});
        let (_, v) = stack
            .post_json(TRACKING, &[("x-forwarded-for", &from)], &body)
            .await;
        status_code(&v).to_owned()
    };
    for i in 0..9 {
        assert_eq!(
            track_from("203.0.113.1", format!("{:032X}", i + 1)).await,
            "201"
        );
    }
    // The guesser is now slowed down…
    let t = Instant::now();
    track_from("203.0.113.1", format!("{:032X}", 500)).await;
    // (the delay doubles from 50 ms after the fifth failure: the tenth waits hundreds of ms)
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // …but another client behind the same proxy is not.
    let t = Instant::now();
    assert_eq!(track_from("203.0.113.2", u.key.clone()).await, "0");
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    s.shutdown().await;
}

both!(single_flight_and_revocation_under_load, multi_thread);
/// Concurrent first calls with one key make one database read; revocation under load takes
/// effect for every later call.
async fn single_flight_and_revocation_under_load(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account("300071", ALL_RIGHTS).await;
    let u = s.user(a, "crowd", None, None, &["ws_tracking"]).await;
    let p = s.sim.parcels("300071")[0].number.clone();
    s.settle().await;
    let before = metric(&s.metrics().await, "sesame_principal_cache_misses_total");
    let calls: Vec<_> = (0..40).map(|_| s.track(&u.key, &p)).collect();
    for v in futures_util::future::join_all(calls).await {
        assert_eq!(status_code(&v), "0");
    }
    let after = metric(&s.metrics().await, "sesame_principal_cache_misses_total");
    assert_eq!(
        after - before,
        1.0,
        "one database read for 40 concurrent misses"
    );

    // Hammer while the link is withdrawn: once the change is applied, nothing gets through.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (http, url, key, parcel, stop) = (
            s.http.clone(),
            s.url.clone(),
            u.key.clone(),
            p.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = http
                    .post(format!(
                        "{url}/tracking-timeline-ws/rest/tracking/timelineCompany"
                    ))
                    .json(&serde_json::json!({"apiKey": key, "parcelNumber": parcel}))
                    .send()
                    .await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.store
        .set_link_rights(
            Actor::AccountAdmin { account_id: a },
            a,
            u.id,
            rights(&["ws_postage"]),
        )
        .await
        .unwrap();
    s.settle().await;
    for _ in 0..20 {
        assert_eq!(status_code(&s.track(&u.key, &p).await), "202");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    s.shutdown().await;
}

both!(tls_certificate_reloads_without_restart);
/// A renewed certificate is used for new connections without a restart; a broken one is refused
/// and the current certificate stays.
async fn tls_certificate_reloads_without_restart(backend: Backend) {
    let old = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let new = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (s, dir, (cert_path, key_path)) = tls_stack(backend, &old, 100).await;
    // Handshakes with a client that trusts only `cert`.
    let url = &s.url;
    let handshake = |cert| async move { tls_connect(url, cert).await.is_ok() };
    assert!(handshake(old.cert.der().clone()).await);
    assert!(!handshake(new.cert.der().clone()).await);
    // A broken certificate (key of another certificate) is refused; the old one stays.
    std::fs::write(&cert_path, new.cert.pem()).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        handshake(old.cert.der().clone()).await,
        "a mismatched pair must not replace the certificate"
    );
    // The renewed pair is picked up without a restart.
    std::fs::write(&key_path, new.key_pair.serialize_pem()).unwrap();
    let t0 = Instant::now();
    while !handshake(new.cert.der().clone()).await {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "renewed certificate never used"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!handshake(old.cert.der().clone()).await);
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

both!(cache_entries_expire_and_the_cache_stays_within_its_bound);
/// The TTL is a backstop: an entry older than `cache_ttl_secs` is reloaded (and counted as
/// expired); the cache holds about `cache_capacity` principals and counts what it evicts for
/// room. Every caller keeps being served throughout.
async fn cache_entries_expire_and_the_cache_stays_within_its_bound(backend: Backend) {
    let s = Stack::new(backend, |c| {
        c.cache_ttl_secs = 1;
        c.cache_capacity = 8;
    })
    .await;
    let a = s.account("100095", ALL_RIGHTS).await;
    let u = s.user(a, "ttl-user", None, None, &["ws_tracking"]).await;
    let parcel = s.sim.parcels("100095")[0].number.clone();
    let misses = "sesame_principal_cache_misses_total";
    // The follower applies the creations first (each evicts its user): then nothing moves.
    s.settle().await;

    assert_eq!(status_code(&s.track(&u.key, &parcel).await), "0");
    let m0 = metric(&s.metrics().await, misses);
    assert_eq!(status_code(&s.track(&u.key, &parcel).await), "0");
    assert_eq!(
        metric(&s.metrics().await, misses),
        m0,
        "a hit reads nothing"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(status_code(&s.track(&u.key, &parcel).await), "0");
    let m = s.metrics().await;
    assert_eq!(metric(&m, misses), m0 + 1.0, "expired: read again");
    assert!(
        metric(
            &m,
            "sesame_principal_cache_evictions_total{reason=\"expired\"}"
        ) >= 1.0,
        "{m}"
    );

    let mut users = Vec::new();
    for i in 0..40 {
        users.push(
            s.user(a, &format!("bound-user-{i}"), None, None, &["ws_tracking"])
                .await,
        );
    }
    s.settle().await;
    for u in &users {
        assert_eq!(status_code(&s.track(&u.key, &parcel).await), "0");
    }
    let m = s.metrics().await;
    let cached = metric(&m, "sesame_principal_cache_entries");
    assert!(
        (1.0..=16.0).contains(&cached),
        "{cached} cached for a bound of 8"
    );
    assert!(
        metric(
            &m,
            "sesame_principal_cache_evictions_total{reason=\"size\"}"
        ) >= 20.0,
        "{m}"
    );
    s.shutdown().await;
}
