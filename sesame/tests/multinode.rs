//! Several nodes on one PostgreSQL database, as separate processes: two `sesame serve --role
//! gateway` and one `sesame serve --role admin`. A change made through the admin node is
//! enforced by both gateways, measured; nothing is shared between them but the database.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_simulator::{SimAccount, SimConfig, Simulator, Stamp};
use sesame_store::testing::fresh_url;
use sesame_store::Backend;

const HEX32: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OPERATOR: &str = "operator-token-for-multinode-tests";
const PASSWORD: &str = "Multi-node-2026";

/// A child process killed when the test ends, however it ends.
struct Node(Child);
impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Ports {
    public: u16,
    ops: u16,
    admin: u16,
}

fn start(role: &str, db: &str, upstream: &str) -> (Node, Ports) {
    let p = Ports {
        public: free_port(),
        ops: free_port(),
        admin: free_port(),
    };
    let mut c = Command::new(env!("CARGO_BIN_EXE_sesame"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SESAME__") {
            c.env_remove(k);
        }
    }
    let child = c
        .args(["serve", "--role", role])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SESAME__DATABASE__URL", db)
        .env("SESAME__SECRETS__SERVER_SECRET", HEX32)
        .env("SESAME__SECRETS__MASTER_KEY", HEX32)
        .env("SESAME__SECRETS__OPERATOR_TOKEN", OPERATOR)
        .env("SESAME__LISTEN__PUBLIC", format!("127.0.0.1:{}", p.public))
        .env("SESAME__LISTEN__OPS", format!("127.0.0.1:{}", p.ops))
        .env("SESAME__LISTEN__ADMIN", format!("127.0.0.1:{}", p.admin))
        .env("SESAME__GATEWAY__UPSTREAM_URL", upstream)
        .env("SESAME__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("sesame starts");
    (Node(child), p)
}

async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http
            .get(url)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
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

/// The tracking status code the gateway answers for this key: "0" is success.
async fn track(http: &reqwest::Client, public: u16, key: &str, parcel: &str) -> String {
    let v: Value = http
        .post(format!(
            "http://127.0.0.1:{public}/tracking-timeline-ws/rest/tracking/timelineCompany"
        ))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_the_admin_node_is_enforced_by_both_gateways() {
    let (db, _guard) = fresh_url(Backend::Postgres).await;
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

    // Operator → account; admin → advanced user; user confirms through the e-mailed link.
    use reqwest::Method;
    call(&http, Method::POST, format!("{admin}/admin/v1/accounts"), Some(OPERATOR), Some(json!({
        "number": "700001", "company": "MULTI NODE", "entitlements": ["ws_tracking", "tracking_tool:all"],
        "adminPassword": PASSWORD, "upstreamLogin": "700001", "upstreamPassword": "upstream-700001",
    }))).await;
    let session = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/sessions"),
        None,
        Some(json!({"accountNumber": "700001", "password": PASSWORD})),
    )
    .await;
    let admin_token = session["token"].as_str().unwrap().to_owned();
    let created = call(&http, Method::POST, format!("{admin}/admin/v1/accounts/700001/advanced-users"), Some(&admin_token), Some(json!({
        "lastName": "Node", "firstName": "Multi", "function": "Ops", "phone": "0102030405",
        "email": "multi@example.fr", "emailConfirmation": "multi@example.fr", "address": "1 rue", "postalCode": "75001",
        "city": "Paris", "rights": ["ws_tracking"],
    }))).await;
    let user_id = created["id"].as_i64().unwrap();
    let outbox = call(
        &http,
        Method::GET,
        format!("{admin}/admin/v1/outbox"),
        Some(OPERATOR),
        None,
    )
    .await;
    let link = outbox["items"][0]["body"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.contains("/admin/v1/invitations/"))
        .unwrap()
        .to_owned();
    let token = link
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(['.', ',', ')']);
    let accepted = call(
        &http,
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

    // 1. Both gateways serve the key (and cache it).
    for g in gateways {
        assert_eq!(track(&http, g, &key1, &parcel).await, "0", "gateway on {g}");
    }
    // 2. The user regenerates its key on the admin node: the old key is refused by both.
    let user_session = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/sessions"),
        None,
        Some(json!({"login": "multi.node", "password": PASSWORD})),
    )
    .await;
    let user_token = user_session["token"].as_str().unwrap().to_owned();
    let regen = call(
        &http,
        Method::POST,
        format!("{admin}/admin/v1/me/connection-key"),
        Some(&user_token),
        Some(json!({})),
    )
    .await;
    let revoked_in = until_refused(&http, &gateways, &key1, &parcel).await;
    let key2 = regen["connectionKey"].as_str().unwrap().to_owned();
    for g in gateways {
        assert_eq!(track(&http, g, &key2, &parcel).await, "0", "new key on {g}");
    }
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

    println!("propagation to both gateways: key revoked {revoked_in:?}, right withdrawn {withdrawn_in:?}, user disabled {disabled_in:?}");
    for (what, d) in [
        ("key revoked", revoked_in),
        ("right withdrawn", withdrawn_in),
        ("user disabled", disabled_in),
    ] {
        assert!(d < Duration::from_secs(1), "{what}: {d:?}");
    }
}
