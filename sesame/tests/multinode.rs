//! Several nodes on one PostgreSQL database, as separate processes: two `sesame serve --role
//! gateway` and one `sesame serve --role admin`. A change made through the admin node is
//! enforced by both gateways, measured; nothing is shared between them but the database.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_simulator::{SimAccount, SimConfig, Simulator, Stamp};

#[path = "common/node.rs"]
mod node;
#[path = "common/private_pg.rs"]
mod private_pg;
use node::{first_invitation_token, serve, spawn, wait_until_up, Node, Ports};
use private_pg::{run, PrivatePg};

const OPERATOR: &str = "operator-token-for-multinode-tests";
const PASSWORD: &str = "Multi-node-2026";

fn start(role: &str, db: &str, upstream: &str) -> (Node, Ports) {
    let p = Ports::free();
    start_on(role, db, upstream, p)
}

/// Starts a node on given ports (a restarted node comes back where it was).
fn start_on(role: &str, db: &str, upstream: &str, p: Ports) -> (Node, Ports) {
    start_with(
        role,
        db,
        upstream,
        p,
        &[("SESAME__LOG__LEVEL", "warn")],
        Stdio::inherit(),
    )
}

/// Starts a node with extra environment and its stderr (the logs) sent where the caller says.
fn start_with(
    role: &str,
    db: &str,
    upstream: &str,
    p: Ports,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Node, Ports) {
    let mut c = serve(role, db, upstream, OPERATOR, p);
    c.envs(env.iter().copied());
    spawn(c, p, stderr)
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut r = http.request(method, &url);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("admin answers");
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// The tracking status code the gateway answers for this key: "0" is success. Each call comes
/// from its own caller address (`X-Forwarded-For`, the test being a trusted proxy), so polling a
/// revoked key measures propagation, not the slow-down one caller's repeated failures earn.
async fn track(http: &reqwest::Client, public: u16, key: &str, parcel: &str) -> String {
    static CALLER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = CALLER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let v: Value = http
        .post(format!(
            "http://127.0.0.1:{public}/tracking-timeline-ws/rest/tracking/timelineCompany"
        ))
        .header(
            "x-forwarded-for",
            format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        )
        .json(&json!({"apiKey": key, "parcelNumber": parcel}))
        .send()
        .await
        .expect("gateway answers")
        .json()
        .await
        .expect("json envelope");
    v["status"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls both gateways until neither accepts the call any more; returns how long it took.
async fn until_refused(
    http: &reqwest::Client,
    gateways: &[u16],
    key: &str,
    parcel: &str,
) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut refused = 0;
        for g in gateways {
            if track(http, *g, key, parcel).await != "0" {
                refused += 1;
            }
        }
        if refused == gateways.len() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "a gateway still accepts after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What a seeded cluster holds: an account 700001, an active advanced user with `ws_tracking`.
struct Seeded {
    key: String,
    user_id: i64,
    admin_token: String,
    parcel: String,
}

/// Seeds through the admin node exactly as people would: operator → account; admin → advanced
/// user; the user confirms through the e-mailed link.
async fn seed(http: &reqwest::Client, admin: &str, sim: &Simulator) -> Seeded {
    use reqwest::Method;
    call(http, Method::POST, format!("{admin}/admin/v1/accounts"), Some(OPERATOR), Some(json!({
        "number": "700001", "company": "MULTI NODE", "entitlements": ["ws_tracking", "tracking_tool:all"],
        "adminPassword": PASSWORD, "upstreamLogin": "700001", "upstreamPassword": "upstream-700001",
    }))).await;
    let session = call(
        http,
        Method::POST,
        format!("{admin}/admin/v1/sessions"),
        None,
        Some(json!({"accountNumber": "700001", "password": PASSWORD})),
    )
    .await;
    let admin_token = session["token"].as_str().unwrap().to_owned();
    let created = call(http, Method::POST, format!("{admin}/admin/v1/accounts/700001/advanced-users"), Some(&admin_token), Some(json!({
        "lastName": "Node", "firstName": "Multi", "function": "Ops", "phone": "0102030405",
        "email": "multi@example.fr", "emailConfirmation": "multi@example.fr", "address": "1 rue", "postalCode": "75001",
        "city": "Paris", "rights": ["ws_tracking"],
    }))).await;
    let user_id = created["id"].as_i64().unwrap();
    let token = first_invitation_token(http, admin, OPERATOR).await;
    let accepted = call(
        http,
        Method::POST,
        format!("{admin}/admin/v1/invitations/{token}"),
        None,
        Some(
            json!({"login": "multi.node", "password": PASSWORD, "passwordConfirmation": PASSWORD}),
        ),
    )
    .await;
    let key1 = accepted["connectionKey"].as_str().unwrap().to_owned();
    let user_key = accepted["userKey"].as_str().unwrap().to_owned();
    let mut acc = SimAccount::new("700001", "upstream-700001", "MULTI NODE");
    acc.stamps.push(Stamp::new(&user_key, None));
    sim.add_account(acc);
    let parcel = sim.parcels("700001")[0].number.clone();

    Seeded {
        key: key1,
        user_id,
        admin_token,
        parcel,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_the_admin_node_is_enforced_by_both_gateways() {
    let pg = PrivatePg::new();
    let db = pg.url();
    let sim = Simulator::new(SimConfig {
        seed: 7,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let upstream = sim_handle.base_url();
    // The admin node migrates the fresh database; gateways start once it answers.
    let (_admin, a) = start("admin", &db, &upstream);
    let http = reqwest::Client::new();
    let admin = format!("http://127.0.0.1:{}", a.admin);
    wait_until_up(&http, &format!("{admin}/admin/openapi.json")).await;
    let (_g1, p1) = start("gateway", &db, &upstream);
    let (_g2, p2) = start("gateway", &db, &upstream);
    wait_until_up(&http, &format!("http://127.0.0.1:{}/health", p1.ops)).await;
    wait_until_up(&http, &format!("http://127.0.0.1:{}/health", p2.ops)).await;
    let gateways = [p1.public, p2.public];
    use reqwest::Method;
    let Seeded {
        key: key1,
        user_id,
        admin_token,
        parcel,
    } = seed(&http, &admin, &sim).await;

    // 1. Both gateways serve the key (and cache it).
    for g in gateways {
        assert_eq!(track(&http, g, &key1, &parcel).await, "0", "gateway on {g}");
    }
    // 2. The user regenerates its key on the admin node, 100 times: each time the old key is
    //    refused by both gateways; measured from the admin's answer.
    let user_session = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/sessions"),
        None,
        Some(json!({"login": "multi.node", "password": PASSWORD})),
    )
    .await;
    let user_token = user_session["token"].as_str().unwrap().to_owned();
    let mut key = key1;
    let mut revocations = Vec::with_capacity(100);
    for _ in 0..100 {
        let regen = call(
            &http,
            Method::POST,
            format!("{admin}/admin/v1/me/connection-key"),
            Some(&user_token),
            Some(json!({})),
        )
        .await;
        revocations.push(until_refused(&http, &gateways, &key, &parcel).await);
        key = regen["connectionKey"].as_str().unwrap().to_owned();
        // Both gateways serve (and cache) the new key before the next revocation.
        for g in gateways {
            assert_eq!(track(&http, g, &key, &parcel).await, "0", "new key on {g}");
        }
    }
    revocations.sort();
    let pct = |q: f64| {
        revocations
            [((revocations.len() as f64 * q).ceil() as usize).clamp(1, revocations.len()) - 1]
    };
    let (p50, p99, max) = (pct(0.50), pct(0.99), revocations[revocations.len() - 1]);
    println!("revocation seen by both gateway processes, 100 changes: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    let key2 = key;
    // 3. The admin withdraws the right: refused by both.
    call(
        &http,
        Method::PUT,
        format!("{admin}/admin/v1/accounts/700001/users/{user_id}"),
        Some(&admin_token),
        Some(json!({"rights": ["tracking_tool:all"]})),
    )
    .await;
    let withdrawn_in = until_refused(&http, &gateways, &key2, &parcel).await;
    // 4. Right back, then the user is disabled: refused by both.
    call(
        &http,
        Method::PUT,
        format!("{admin}/admin/v1/accounts/700001/users/{user_id}"),
        Some(&admin_token),
        Some(json!({"rights": ["ws_tracking"]})),
    )
    .await;
    for g in gateways {
        let t0 = Instant::now();
        while track(&http, g, &key2, &parcel).await != "0" {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "right never restored on {g}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    call(
        &http,
        Method::PUT,
        format!("{admin}/admin/v1/accounts/700001/users/{user_id}/status"),
        Some(&admin_token),
        Some(json!({"enabled": false, "comment": "multi-node test"})),
    )
    .await;
    let disabled_in = until_refused(&http, &gateways, &key2, &parcel).await;

    println!("propagation to both gateways: right withdrawn {withdrawn_in:?}, user disabled {disabled_in:?}");
    for (what, d) in [
        ("right withdrawn", withdrawn_in),
        ("user disabled", disabled_in),
    ] {
        assert!(d < Duration::from_secs(1), "{what}: {d:?}");
    }
}

/// An admin node and two gateways on `db`, up and answering.
async fn cluster(
    http: &reqwest::Client,
    db: &str,
    upstream: &str,
) -> (Node, String, Vec<(Node, Ports)>) {
    let (admin_node, a) = start("admin", db, upstream);
    let admin = format!("http://127.0.0.1:{}", a.admin);
    wait_until_up(http, &format!("{admin}/admin/openapi.json")).await;
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let (node, p) = start("gateway", db, upstream);
        wait_until_up(http, &format!("http://127.0.0.1:{}/health", p.ops)).await;
        gateways.push((node, p));
    }
    (admin_node, admin, gateways)
}

/// Polls until `f` holds; returns how long it took (fails after `limit`).
async fn within<F, Fut>(what: &str, limit: Duration, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !f().await {
        assert!(t0.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_keeps_cached_callers_served_and_loses_nothing() {
    let pg = PrivatePg::new();
    let db = pg.url();
    let sim = Simulator::new(SimConfig {
        seed: 9,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let http = reqwest::Client::new();
    let (_admin_node, admin, nodes) = cluster(&http, &db, &sim_handle.base_url()).await;
    let gateways: Vec<u16> = nodes.iter().map(|(_, p)| p.public).collect();
    let s = seed(&http, &admin, &sim).await;
    use reqwest::Method;
    // A change made just before the outage: the key is regenerated; both gateways cache the new one.
    let user = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/sessions"),
        None,
        Some(json!({"login": "multi.node", "password": PASSWORD})),
    )
    .await;
    let user_token = user["token"].as_str().unwrap().to_owned();
    let regen = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/me/connection-key"),
        Some(&user_token),
        Some(json!({})),
    )
    .await;
    let key2 = regen["connectionKey"].as_str().unwrap().to_owned();
    until_refused(&http, &gateways, &s.key, &s.parcel).await;
    for g in &gateways {
        assert_eq!(track(&http, *g, &key2, &s.parcel).await, "0");
    }

    pg.stop();
    let unknown = "0123456789ABCDEF0123456789ABCDEF";
    for g in &gateways {
        // Cached callers keep working; a key never seen gets a clear 503 in the envelope.
        assert_eq!(
            track(&http, *g, &key2, &s.parcel).await,
            "0",
            "cached key during the outage on {g}"
        );
        assert_eq!(
            track(&http, *g, unknown, &s.parcel).await,
            "503",
            "unknown key during the outage on {g}"
        );
    }
    let r = http
        .get(format!("{admin}/admin/v1/accounts"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        503,
        "the admin API answers 503 while the database is down"
    );
    for (node, p) in &nodes {
        let r = http
            .get(format!("http://127.0.0.1:{}/health", p.ops))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "gateway alive during the outage");
        let _ = node;
    }
    println!("outage: cached key served, unknown key → 503 in the envelope, admin API → 503");

    pg.start();
    let recovered = within("admin API back", Duration::from_secs(30), || async {
        http.get(format!("{admin}/admin/v1/accounts"))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    for g in &gateways {
        within(
            "unknown keys are plain refusals again",
            Duration::from_secs(30),
            || async { track(&http, *g, unknown, &s.parcel).await == "201" },
        )
        .await;
        // Nothing was lost: the change made before the outage still holds.
        assert_eq!(
            track(&http, *g, &s.key, &s.parcel).await,
            "201",
            "old key still revoked on {g}"
        );
        assert_eq!(
            track(&http, *g, &key2, &s.parcel).await,
            "0",
            "new key still valid on {g}"
        );
    }
    // Both gateways follow the change log again, without a restart.
    call(
        &http,
        Method::PUT,
        format!(
            "{admin}/admin/v1/accounts/700001/users/{}/status",
            s.user_id
        ),
        Some(&s.admin_token),
        Some(json!({"enabled": false, "comment": "after the outage"})),
    )
    .await;
    let propagated = within(
        "change after the outage reaches both gateways",
        Duration::from_secs(10),
        || async {
            let mut all = true;
            for g in &gateways {
                all &= track(&http, *g, &key2, &s.parcel).await != "0";
            }
            all
        },
    )
    .await;
    println!("after restart: admin back in {recovered:?}; a change reached both gateways in {propagated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_load_leaves_the_other_serving_and_comes_back() {
    let pg = PrivatePg::new();
    let db = pg.url();
    let sim = Simulator::new(SimConfig {
        seed: 5,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let upstream = sim_handle.base_url();
    let http = reqwest::Client::new();
    let (_admin_node, admin, mut nodes) = cluster(&http, &db, &upstream).await;
    let s = seed(&http, &admin, &sim).await;
    let (survivor, victim_ports) = (nodes[1].1.public, nodes[0].1);
    // Load on the survivor while the victim is killed with SIGKILL.
    let load = {
        let (http, key, parcel) = (http.clone(), s.key.clone(), s.parcel.clone());
        tokio::spawn(async move {
            let mut served = 0;
            for _ in 0..300 {
                assert_eq!(
                    track(&http, survivor, &key, &parcel).await,
                    "0",
                    "survivor failed a call"
                );
                served += 1;
            }
            served
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut victim = nodes.remove(0).0;
    victim.0.kill().expect("SIGKILL");
    let _ = victim.0.wait();
    assert!(
        http.get(format!("http://127.0.0.1:{}/health", victim_ports.ops))
            .send()
            .await
            .is_err(),
        "victim is gone"
    );
    let served = load.await.expect("load task");
    // Restarted on the same ports, it serves again.
    let (_restarted, p) = start_on("gateway", &db, &upstream, victim_ports);
    wait_until_up(&http, &format!("http://127.0.0.1:{}/health", p.ops)).await;
    assert_eq!(track(&http, p.public, &s.key, &s.parcel).await, "0");
    println!(
        "SIGKILL: the other gateway served all {served} calls; the killed one restarted and serves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flips_readiness_drains_in_flight_calls_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("drain.db").display());
    let sim = Simulator::new(SimConfig {
        seed: 3,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let http = reqwest::Client::new();
    let (mut node, p) = start("all", &db, &sim_handle.base_url());
    let admin = format!("http://127.0.0.1:{}", p.admin);
    wait_until_up(&http, &format!("{admin}/admin/openapi.json")).await;
    wait_until_up(&http, &format!("http://127.0.0.1:{}/ready", p.ops)).await;
    let s = seed(&http, &admin, &sim).await;
    // Every upstream call now takes 1.5 s: calls are in flight when SIGTERM arrives.
    sim.set_latency(sesame_simulator::Latency {
        fixed_ms: 1500,
        jitter_ms: 0,
    });
    let in_flight: Vec<_> = (0..8)
        .map(|_| {
            let (http, key, parcel) = (http.clone(), s.key.clone(), s.parcel.clone());
            tokio::spawn(async move { track(&http, p.public, &key, &parcel).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    run(Command::new("kill").args(["-TERM", &node.0.id().to_string()]));
    // Readiness flips first, so load balancers stop sending.
    within(
        "/ready answers 503 while draining",
        Duration::from_secs(1),
        || async {
            http.get(format!("http://127.0.0.1:{}/ready", p.ops))
                .send()
                .await
                .map(|r| r.status() == 503)
                .unwrap_or(false)
        },
    )
    .await;
    for call in in_flight {
        assert_eq!(call.await.unwrap(), "0", "an in-flight call was cut");
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = node.0.wait();
        (node, status)
    })
    .await
    .unwrap()
    .1
    .unwrap();
    assert!(status.success(), "exit status {status:?}");
    println!(
        "SIGTERM: 8 in-flight calls finished, exit 0 after {:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_password_or_token_reaches_the_logs_or_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("logs.db").display());
    let log_path = dir.path().join("sesame.log");
    let sim = Simulator::new(SimConfig {
        seed: 4,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let http = reqwest::Client::new();
    let ports = Ports::free();
    let log = std::fs::File::create(&log_path).unwrap();
    let (node, p) = start_with(
        "all",
        &db,
        &sim_handle.base_url(),
        ports,
        &[
            ("SESAME__LOG__LEVEL", "debug"),
            ("SESAME__LOG__FORMAT", "json"),
        ],
        Stdio::from(log),
    );
    let admin = format!("http://127.0.0.1:{}", p.admin);
    wait_until_up(&http, &format!("{admin}/admin/openapi.json")).await;
    let s = seed(&http, &admin, &sim).await;
    // The key in every place callers put it, and legacy passwords.
    let public = format!("http://127.0.0.1:{}", p.public);
    assert_eq!(track(&http, p.public, &s.key, &s.parcel).await, "0");
    let link = http
        .get(format!(
            "{public}/entreprise/colis/login/parcel?apikey={}&cab={}",
            s.key, s.parcel
        ))
        .send()
        .await
        .unwrap();
    // (ws_tracking alone does not open the link: refused, but the key was in the query all the same.)
    assert_eq!(link.status(), 403);
    let _ = http
        .get(format!("{public}/suivi/v2/idships/{}", s.parcel))
        .header("X-Okapi-Key", &s.key)
        .send()
        .await
        .unwrap();
    let _ = http
        .get(format!("{public}/sesame/v1/parcels"))
        .header("apiKey", &s.key)
        .send()
        .await
        .unwrap();
    let _ = http
        .post(format!(
            "{public}/tracking-timeline-ws/rest/tracking/timelineCompany"
        ))
        .json(&json!({"login": "700001", "password": PASSWORD, "parcelNumber": s.parcel}))
        .send()
        .await
        .unwrap();
    let bad_key = "FEDCBA9876543210FEDCBA9876543210";
    let _ = http
        .get(format!(
            "{public}/entreprise/colis/login/parcel?apikey={bad_key}&cab={}",
            s.parcel
        ))
        .send()
        .await
        .unwrap();
    let metrics = http
        .get(format!("http://127.0.0.1:{}/metrics", p.ops))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    drop(node);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    // Not vacuous: the debug access log really logged those requests (with the query redacted).
    assert!(
        logs.contains("request_id") && logs.contains("/entreprise/colis/login/parcel"),
        "{logs}"
    );
    let secrets = [
        s.key.as_str(),
        &s.key.to_lowercase(),
        bad_key,
        PASSWORD,
        OPERATOR,
        s.admin_token.as_str(),
        "upstream-700001",
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!metrics.contains(secret), "a secret reached the metrics");
    }
    println!(
        "{} log lines and {} metric lines checked: no key, password or token",
        logs.lines().count(),
        metrics.lines().count()
    );
}
