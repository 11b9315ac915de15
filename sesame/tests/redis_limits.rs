//! Issue 18, done-means: limits that hold across replicas. Two `sesame serve --role gateway`
//! processes (plus an admin node to seed) on the test's own PostgreSQL, rate limits and
//! throttles in Redis:
//!
//! 1. on the machine's Redis (`SESAME_TEST_REDIS_URL`, started by `scripts/ensure-redis.sh`;
//!    unique key prefix): a key limited to 20/s hammered through both gateways for 5 s is
//!    accepted 90 to 110 times (after its burst allowance), and failed keys from one address
//!    spread over both gateways meet one slow-down;
//! 2. on a private `redis-server` of this test (free port, same binary: the machine's Redis is
//!    shared with tests running meanwhile, so it is never stopped): Redis stopped mid-run → both
//!    gateways keep serving with their local limits, stay ready and count the fall-back (logged
//!    once); Redis back → shared limits again.
//!
//! Fails (never skips) when Redis or PostgreSQL is missing. The private PostgreSQL is
//! multinode.rs's (tests/common/private_pg.rs); so are the node helpers (tests/common/node.rs).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_simulator::{SimAccount, SimConfig, Simulator, Stamp};

#[path = "common/node.rs"]
mod node;
#[path = "common/private_pg.rs"]
mod private_pg;
use node::{first_invitation_token, free_port, serve, spawn, wait_until_up, Node, Ports};
use private_pg::PrivatePg;

const OPERATOR: &str = "operator-token-for-redis-limit-tests";
const PASSWORD: &str = "Redis-limits-2026";
const LIMIT: u32 = 20;

fn redis_url() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// PING over RESP: true when a Redis answers at `host:port`.
fn redis_answers(hostport: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(hostport) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A Redis server of this test's own, which it may stop and restart on the same port.
struct PrivateRedis {
    port: u16,
    node: Option<Node>,
}

impl PrivateRedis {
    fn new() -> PrivateRedis {
        let mut r = PrivateRedis {
            port: free_port(),
            node: None,
        };
        r.start();
        r
    }
    fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/ensure-redis.sh)");
        self.node = Some(Node(child));
        let t0 = Instant::now();
        while !redis_answers(&self.hostport()) {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "private Redis never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    fn stop(&mut self) {
        self.node = None;
    }
    fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn url(&self) -> String {
        format!("redis://{}", self.hostport())
    }
}

/// Starts a node; `env` adds settings, `log` receives its stderr (the logs).
fn start(
    role: &str,
    db: &str,
    upstream: &str,
    env: &[(&str, String)],
    log: Stdio,
) -> (Node, Ports) {
    let p = Ports::free();
    let mut c = serve(role, db, upstream, OPERATOR, p);
    c.env("SESAME__LOG__LEVEL", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    spawn(c, p, log)
}

/// Two gateways on `redis`, the key's user limited to 20/s by an override.
async fn gateways(
    http: &reqwest::Client,
    db: &str,
    upstream: &str,
    redis: &str,
    user_id: i64,
    logs: Option<&std::path::Path>,
) -> Vec<(Node, Ports)> {
    static RUN: AtomicU32 = AtomicU32::new(0);
    // Unique per run and test: parallel tests on the same Redis never share keys.
    let prefix = format!(
        "sesame-test:{}:{}:{}:",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed),
        Instant::now().elapsed().as_nanos() ^ u128::from(free_port())
    );
    let env = [
        ("SESAME__GATEWAY__RATE_LIMIT__BACKEND", "redis".to_owned()),
        ("SESAME__GATEWAY__RATE_LIMIT__REDIS_URL", redis.to_owned()),
        ("SESAME__GATEWAY__RATE_LIMIT__REDIS_PREFIX", prefix),
        // The bucket's capacity is max(burst, rate): 20 calls at once, then 20/s.
        ("SESAME__GATEWAY__RATE_LIMIT__BURST", "1".to_owned()),
        (
            "SESAME__GATEWAY__RATE_LIMIT__OVERRIDES",
            format!("[{{ user_id = {user_id}, per_sec = {LIMIT} }}]"),
        ),
    ];
    let mut out = Vec::new();
    for i in 0..2 {
        let log = match logs {
            Some(dir) => {
                Stdio::from(std::fs::File::create(dir.join(format!("gateway-{i}.log"))).unwrap())
            }
            None => Stdio::inherit(),
        };
        let (node, p) = start("gateway", db, upstream, &env, log);
        wait_until_up(http, &format!("http://127.0.0.1:{}/health", p.ops)).await;
        out.push((node, p));
    }
    out
}

async fn call(http: &reqwest::Client, url: String, bearer: Option<&str>, body: Value) -> Value {
    let mut r = http.post(&url).json(&body);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let resp = r.send().await.expect("admin answers");
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// Seeds through the admin node: an account, an advanced user with `ws_tracking` and its key.
/// Returns (connection key, user id, a parcel number).
async fn seed(http: &reqwest::Client, admin: &str, sim: &Simulator) -> (String, i64, String) {
    call(http, format!("{admin}/admin/v1/accounts"), Some(OPERATOR), json!({
        "number": "700001", "company": "REDIS LIMITS", "entitlements": ["ws_tracking"],
        "adminPassword": PASSWORD, "upstreamLogin": "700001", "upstreamPassword": "upstream-700001",
    })).await;
    let session = call(
        http,
        format!("{admin}/admin/v1/sessions"),
        None,
        json!({"accountNumber": "700001", "password": PASSWORD}),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let created = call(http, format!("{admin}/admin/v1/accounts/700001/advanced-users"), Some(&token), json!({
        "lastName": "Limits", "firstName": "Redis", "function": "Ops", "phone": "0102030405",
        "email": "redis@example.fr", "emailConfirmation": "redis@example.fr", "address": "1 rue", "postalCode": "75001",
        "city": "Paris", "rights": ["ws_tracking"],
    })).await;
    let user_id = created["id"].as_i64().unwrap();
    let invitation = first_invitation_token(http, admin, OPERATOR).await;
    let accepted = call(
        http,
        format!("{admin}/admin/v1/invitations/{invitation}"),
        None,
        json!({"login": "redis.limits", "password": PASSWORD, "passwordConfirmation": PASSWORD}),
    )
    .await;
    let key = accepted["connectionKey"].as_str().unwrap().to_owned();
    let user_key = accepted["userKey"].as_str().unwrap().to_owned();
    let mut acc = SimAccount::new("700001", "upstream-700001", "REDIS LIMITS");
    acc.stamps.push(Stamp::new(&user_key, None));
    sim.add_account(acc);
    let parcel = sim.parcels("700001")[0].number.clone();
    (key, user_id, parcel)
}

/// One tracking call with `key` from `caller`: its HTTP status.
async fn track(http: &reqwest::Client, public: u16, key: &str, parcel: &str, caller: &str) -> u16 {
    http.post(format!(
        "http://127.0.0.1:{public}/tracking-timeline-ws/rest/tracking/timelineCompany"
    ))
    .header("x-forwarded-for", caller)
    .json(&json!({"apiKey": key, "parcelNumber": parcel}))
    .send()
    .await
    .expect("gateway answers")
    .status()
    .as_u16()
}

/// Calls through both gateways (4 callers each) for `secs`: (accepted, rate-limited).
async fn hammer(
    http: &reqwest::Client,
    gws: &[u16],
    key: &str,
    parcel: &str,
    secs: f64,
) -> (u32, u32) {
    let accepted = Arc::new(AtomicU32::new(0));
    let limited = Arc::new(AtomicU32::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, g) in gws.iter().copied().enumerate() {
        for j in 0..4 {
            let (http, key, parcel) = (http.clone(), key.to_owned(), parcel.to_owned());
            let (accepted, limited) = (accepted.clone(), limited.clone());
            tasks.push(tokio::spawn(async move {
                let caller = format!("10.1.{i}.{j}");
                while Instant::now() < until {
                    match track(&http, g, &key, &parcel, &caller).await {
                        200 => accepted.fetch_add(1, Ordering::Relaxed),
                        429 => limited.fetch_add(1, Ordering::Relaxed),
                        other => panic!("gateway {g}: status {other}"),
                    };
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    (
        accepted.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
    )
}

/// Spends the key's burst allowance (its bucket's capacity), until both gateways refuse.
async fn spend_burst(http: &reqwest::Client, gws: &[u16], key: &str, parcel: &str) -> u32 {
    let mut accepted = 0;
    let t0 = Instant::now();
    loop {
        let mut refused = 0;
        for g in gws {
            match track(http, *g, key, parcel, "10.2.0.1").await {
                200 => accepted += 1,
                _ => refused += 1,
            }
        }
        if refused == gws.len() {
            return accepted;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "never limited");
    }
}

async fn metric(http: &reqwest::Client, ops: u16, name: &str) -> f64 {
    let text = http
        .get(format!("http://127.0.0.1:{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not exported on {ops}"))
}

async fn ready(http: &reqwest::Client, ops: u16) -> u16 {
    http.get(format!("http://127.0.0.1:{ops}/ready"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_limits_through_redis_and_fall_back_when_it_stops() {
    assert!(
        redis_answers(redis_url().trim_start_matches("redis://")),
        "no Redis at {} (scripts/ensure-redis.sh starts the machine's)",
        redis_url()
    );
    let pg = PrivatePg::new();
    let db = pg.url();
    let sim = Simulator::new(SimConfig {
        seed: 18,
        ..SimConfig::default()
    });
    let sim_handle = sim.spawn().await.expect("simulator");
    let upstream = sim_handle.base_url();
    let http = reqwest::Client::new();
    let (_admin_node, a) = start("admin", &db, &upstream, &[], Stdio::inherit());
    let admin = format!("http://127.0.0.1:{}", a.admin);
    wait_until_up(&http, &format!("{admin}/admin/openapi.json")).await;
    let (key, user_id, parcel) = seed(&http, &admin, &sim).await;

    // 1. The machine's Redis: one limit for both gateways.
    let pair = gateways(&http, &db, &upstream, &redis_url(), user_id, None).await;
    let gws: Vec<u16> = pair.iter().map(|(_, p)| p.public).collect();
    let burst = spend_burst(&http, &gws, &key, &parcel).await;
    let (accepted, limited) = hammer(&http, &gws, &key, &parcel, 5.0).await;
    println!(
        "one key limited to {LIMIT}/s through 2 gateways for 5 s: {accepted} accepted, {limited} refused \
         (after its burst allowance: {burst} accepted)"
    );
    assert!((90..=110).contains(&accepted), "{accepted}");
    assert!(burst <= LIMIT + 4, "burst {burst}");
    // Failed keys from one address, alternating gateways: one budget (20 free failures in
    // all), so the next attempt waits on whichever gateway it lands.
    let bad_key = |g: u16| {
        http.post(format!(
            "http://127.0.0.1:{g}/tracking-timeline-ws/rest/tracking/timelineCompany"
        ))
        .header("x-forwarded-for", "192.0.2.9")
        .json(&json!({"apiKey": "0123456789ABCDEF0123456789ABCDEF", "parcelNumber": parcel}))
        .send()
    };
    for i in 0..20 {
        let v: Value = bad_key(gws[i % 2]).await.unwrap().json().await.unwrap();
        assert_ne!(v["status"][0]["code"], "0", "a bad key accepted: {v}");
    }
    let t0 = Instant::now();
    bad_key(gws[0]).await.unwrap();
    let waited = t0.elapsed();
    println!("21st failed key from one address, over both gateways: waited {waited:?}");
    assert!(waited >= Duration::from_millis(1_500), "{waited:?}");
    drop(pair);

    // 2. A private Redis, stopped and restarted under load.
    let mut redis = PrivateRedis::new();
    let logs = tempfile::tempdir().unwrap();
    let pair = gateways(
        &http,
        &db,
        &upstream,
        &redis.url(),
        user_id,
        Some(logs.path()),
    )
    .await;
    let gws: Vec<u16> = pair.iter().map(|(_, p)| p.public).collect();
    let ops: Vec<u16> = pair.iter().map(|(_, p)| p.ops).collect();
    for o in &ops {
        assert_eq!(
            metric(&http, *o, "sesame_ratelimit_backend_fallback_total").await,
            0.0
        );
    }
    spend_burst(&http, &gws, &key, &parcel).await;
    let (shared, _) = hammer(&http, &gws, &key, &parcel, 3.0).await;
    redis.stop();
    let (local, _) = hammer(&http, &gws, &key, &parcel, 3.0).await;
    println!(
        "3 s windows: {shared} accepted on Redis, {local} with Redis stopped (local limits: each gateway {LIMIT}/s + its burst)"
    );
    assert!((54..=66).contains(&shared), "shared {shared}");
    // Each gateway: its own 20/s and its full local bucket (20): 2 × (20 + 60) at most.
    assert!(
        (100..=2 * (LIMIT + 3 * LIMIT) + 4).contains(&local),
        "local {local}"
    );
    for o in &ops {
        assert_eq!(ready(&http, *o).await, 200, "/ready stays ready");
        assert_eq!(
            metric(&http, *o, "sesame_ratelimit_backend_fallback_total").await,
            1.0
        );
        assert_eq!(
            metric(&http, *o, "sesame_ratelimit_backend_degraded").await,
            1.0
        );
    }
    println!(
        "fell back within the first window ({:?} of load)",
        t0.elapsed()
    );
    redis.start();
    let t0 = Instant::now();
    for o in &ops {
        while metric(&http, *o, "sesame_ratelimit_backend_degraded").await != 0.0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "never back on Redis"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "both gateways back on Redis {:?} after it restarted",
        t0.elapsed()
    );
    spend_burst(&http, &gws, &key, &parcel).await;
    let (again, _) = hammer(&http, &gws, &key, &parcel, 3.0).await;
    println!("3 s window on Redis again: {again} accepted");
    assert!((54..=66).contains(&again), "again {again}");
    drop(pair);
    for i in 0..2 {
        let log = std::fs::read_to_string(logs.path().join(format!("gateway-{i}.log"))).unwrap();
        assert_eq!(
            log.matches("Redis unavailable").count(),
            1,
            "logged once:\n{log}"
        );
    }
}
