//! A real stack per test: fresh store, simulator and gateway on 127.0.0.1:0.

use std::time::Duration;

use sesame_domain::model::Actor;
use sesame_domain::{AccountNumber, Email, Login, Profile, RightSet, Tag};
use sesame_gateway::{Gateway, GatewayConfig};
use sesame_simulator::{SimAccount, SimConfig, SimHandle, Simulator, Stamp};
use sesame_store::testing::{fresh_store, TestDb};
use sesame_store::{Backend, NewAccount, NewAdvancedUser, Store};

pub const ALL_RIGHTS: &[&str] = &[
    "ws_postage",
    "ws_tracking",
    "ws_pickup_point",
    "ws_eligibility",
    "tracking_tool:all",
    "tracking_tool_cs:all",
    "invoices:all",
];

pub fn rights(ids: &[&str]) -> RightSet {
    RightSet::parse_ids(ids.iter().copied()).expect("valid rights")
}

pub struct Stack {
    pub store: Store,
    pub sim: Simulator,
    pub url: String,
    pub ops: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _sim: SimHandle,
    _db: TestDb,
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub key: String,
    pub user_key: String,
    pub tag: Option<String>,
    pub department: Option<String>,
}

pub fn upstream_password(number: &str) -> String {
    format!("up-{number}-Secret")
}

impl Stack {
    pub async fn new(backend: Backend, tweak: impl FnOnce(&mut GatewayConfig)) -> Stack {
        let (store, db) = fresh_store(backend).await;
        let sim = Simulator::new(SimConfig {
            seed: 11,
            parcels_per_account: 30,
            invoices_per_account: 12,
            ..SimConfig::default()
        });
        let handle = sim.spawn().await.expect("simulator");
        let mut cfg = GatewayConfig {
            upstream_url: handle.base_url(),
            request_timeout_ms: 3_000,
            fanout_timeout_ms: 1_500,
            portal_url: "https://portal.example/box".into(),
            poll_interval_ms: 20,
            ..GatewayConfig::default()
        };
        tweak(&mut cfg);
        let gw = Gateway::new(cfg, store.clone(), prometheus::Registry::new())
            .await
            .expect("gateway");
        let public = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let ops = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", public.local_addr().expect("addr"));
        let ops_url = format!("http://{}", ops.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gw.run(public, ops, async move {
            let _ = rx.await;
        }));
        Stack {
            store,
            sim,
            url,
            ops: ops_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            stop: Some(tx),
            task: Some(task),
            _sim: handle,
            _db: db,
        }
    }

    pub async fn sqlite() -> Stack {
        Self::new(Backend::Sqlite, |_| {}).await
    }

    /// Stops the gateway and waits for the drain.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("gateway run");
        }
    }

    /// Creates an account in the store and the same one at the simulated carrier.
    pub async fn account(&self, number: &str, entitlements: &[&str]) -> i64 {
        let departments = vec!["Logistique".to_owned(), "Compta".to_owned()];
        let acc = self
            .store
            .create_account(
                Actor::Operator,
                NewAccount {
                    number: AccountNumber::parse(number).expect("number"),
                    company: format!("Société {number}"),
                    contract_type: "PRIVILEGE".into(),
                    entitlements: rights(entitlements),
                    admin_password: "AdminPass123".into(),
                    upstream_login: number.into(),
                    upstream_password: upstream_password(number),
                    departments: departments.clone(),
                    contact: None,
                },
            )
            .await
            .expect("create account");
        self.sim.add_account(SimAccount {
            number: number.into(),
            password: upstream_password(number),
            company: format!("Société {number}"),
            departments,
            ..SimAccount::default()
        });
        acc.id
    }

    /// An active advanced user linked to `account_id` with `ids`; its parcels and invoices are
    /// stamped on the simulator side for every account passed in `stamp_on`.
    pub async fn user(
        &self,
        account_id: i64,
        login: &str,
        tag: Option<&str>,
        department: Option<&str>,
        ids: &[&str],
    ) -> TestUser {
        let dept_id = match department {
            Some(d) => self
                .store
                .departments(account_id)
                .await
                .expect("departments")
                .into_iter()
                .find(|x| x.name == d)
                .map(|x| x.id),
            None => None,
        };
        let (user, _inv, token) = self
            .store
            .create_advanced_user(
                Actor::AccountAdmin { account_id },
                account_id,
                NewAdvancedUser {
                    profile: profile(login),
                    tag: tag.map(|t| Tag::parse(t).expect("tag")),
                    rights: rights(ids),
                    department_id: dept_id,
                },
            )
            .await
            .expect("create user");
        let act = self
            .store
            .accept_invitation(
                &token,
                &Login::parse(login).expect("login"),
                "UserPass123",
                None,
            )
            .await
            .expect("accept");
        TestUser {
            id: user.id,
            key: act.connection_key.expose().to_owned(),
            user_key: user.user_key.expect("user key").as_str().to_owned(),
            tag: tag.map(str::to_owned),
            department: department.map(str::to_owned),
        }
    }

    pub async fn associate(&self, account_id: i64, u: &TestUser, ids: &[&str]) {
        let uk = sesame_domain::UserKey::parse(&u.user_key).expect("uk");
        self.store
            .associate(
                Actor::AccountAdmin { account_id },
                account_id,
                &uk,
                rights(ids),
            )
            .await
            .expect("associate");
        self.settle().await;
    }

    /// Attributes some of the account's synthetic parcels and invoices to the user.
    pub fn stamp(&self, number: &str, u: &TestUser) {
        self.sim.add_stamps(
            number,
            vec![Stamp {
                user_key: u.user_key.clone(),
                tag: u.tag.clone(),
                department: u.department.clone(),
            }],
        );
    }

    pub async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut rb = self.http.post(format!("{}{}", self.url, path)).json(body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self.http.get(format!("{}{}", self.url, path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("send")
    }

    pub async fn track(&self, key: &str, parcel: &str) -> serde_json::Value {
        let (_, v) = self
            .post_json(
                "/tracking-timeline-ws/rest/tracking/timelineCompany",
                &[],
                &serde_json::json!({"apiKey": key, "parcelNumber": parcel, "lang": "fr_FR"}),
            )
            .await;
        v
    }

    /// Waits until the gateway has applied every change committed so far (the follower runs
    /// concurrently with the admin calls a test makes).
    pub async fn settle(&self) {
        let latest = self.store.latest_version().await.expect("version");
        let start = std::time::Instant::now();
        loop {
            let m = self.metrics().await;
            let applied = m
                .lines()
                .find_map(|l| l.strip_prefix("sesame_changelog_applied_version "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if applied >= latest {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "gateway did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

pub fn profile(name: &str) -> Profile {
    Profile {
        last_name: name.into(),
        first_name: "Jean".into(),
        function: "Logisticien".into(),
        phone: "0102030405".into(),
        email: Some(Email::parse(&format!("{}@example.fr", name.to_lowercase())).expect("email")),
        address: "1 rue de la Poste".into(),
        postal_code: "75001".into(),
        city: "Paris".into(),
        country: "France".into(),
        ..Profile::default()
    }
}

pub fn status_code(v: &serde_json::Value) -> &str {
    v.pointer("/status/0/code")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

pub fn label_body(contract: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "outputFormat": {"x": 0, "y": 0, "outputPrintingType": "PDF_A4_300dpi"},
        "letter": {
            "service": {"productCode": "DOM"},
            "parcel": {"weight": 1.2},
            "sender": {"address": {"companyName": "ACME", "line2": "1 rue", "zipCode": "75001", "city": "Paris", "countryCode": "FR"}},
            "addressee": {"address": {"lastName": "Dupont", "line2": "2 rue", "zipCode": "69001", "city": "Lyon", "countryCode": "FR"}}
        }
    });
    if let Some(c) = contract {
        v["contractNumber"] = serde_json::Value::String(c.to_owned());
    }
    v
}
