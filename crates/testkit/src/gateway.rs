//! The gateway stack: a fresh store, the simulated carrier and a real gateway serving its public
//! and ops listeners on 127.0.0.1:0.

use std::time::Duration;

use sesame_domain::model::Actor;
use sesame_gateway::{Gateway, GatewayConfig};
use sesame_simulator::{SimAccount, SimConfig, SimHandle, Simulator, Stamp};
use sesame_store::testing::{fresh_store, TestDb};
use sesame_store::{Backend, NewSession, SessionKind, Store};

use crate::seed::{self, upstream_password};
use crate::{json_or_text, rights, Fixture, Running};

/// The departments of every stack account.
pub const DEPARTMENTS: &[&str] = &["Logistique", "Compta"];

/// A gateway serving on two fresh loopback ports.
pub struct Served {
    pub url: String,
    pub ops: String,
    pub running: Running,
}

/// Serves `gw` on two fresh loopback ports (public, ops) until [`Running::stop`].
pub async fn serve(gw: Gateway) -> Served {
    let public = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", public.local_addr().expect("addr"));
    let ops_url = format!("http://{}", ops.local_addr().expect("addr"));
    let running = Running::spawn(|rx| {
        gw.run(public, ops, async move {
            let _ = rx.await;
        })
    });
    Served {
        url,
        ops: ops_url,
        running,
    }
}

/// A gateway on a fresh store (not serving: callers serve it or call its phases directly).
pub async fn gateway(backend: Backend, cfg: GatewayConfig) -> (Gateway, Store, TestDb) {
    let (store, db) = fresh_store(backend).await;
    let gw = Gateway::new(cfg, store.clone(), prometheus::Registry::new())
        .await
        .expect("gateway");
    (gw, store, db)
}

/// The whole data path for one test; see [`Stack::new`].
pub struct Stack {
    pub store: Store,
    /// The gateway being served (a handle: reload its routes, evict its cache).
    pub gateway: Gateway,
    pub sim: Simulator,
    pub url: String,
    pub ops: String,
    pub http: reqwest::Client,
    running: Running,
    _sim: SimHandle,
    _db: TestDb,
}

/// A collaborator (standard user) created by [`Stack::collaborator`]: it signs in with its
/// login and [`crate::seed::USER_PASSWORD`].
#[derive(Clone, Debug)]
pub struct Collaborator {
    pub id: i64,
    pub login: String,
    pub department: Option<String>,
}

/// A user created by [`Stack::user`], with what the simulator stamps on its parcels.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub key: String,
    pub user_key: String,
    /// The tag of the user's link with the account it was created on.
    pub tag: Option<String>,
    pub department: Option<String>,
}

impl Fixture for Stack {
    async fn start(backend: Backend) -> Stack {
        Stack::new(backend, |_| {}).await
    }
    async fn shutdown(self) {
        Stack::shutdown(self).await
    }
}

impl Stack {
    /// A fresh store on `backend`, the simulator (seed 11, 30 parcels and 12 invoices per
    /// account) and a gateway configured for it, adjusted by `tweak`, serving.
    pub async fn new(backend: Backend, tweak: impl FnOnce(&mut GatewayConfig)) -> Stack {
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
        let (gw, store, db) = gateway(backend, cfg).await;
        let served = serve(gw.clone()).await;
        Stack {
            store,
            gateway: gw,
            sim,
            url: served.url,
            ops: served.ops,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            running: served.running,
            _sim: handle,
            _db: db,
        }
    }

    /// Stops the gateway and waits for the drain.
    pub async fn shutdown(mut self) {
        self.running.stop().await;
    }

    /// Creates an account in the store and the same one at the simulated carrier.
    pub async fn account(&self, number: &str, entitlements: &[&str]) -> i64 {
        let id = seed::account(&self.store, number, rights(entitlements), DEPARTMENTS).await;
        self.sim.add_account(SimAccount {
            number: number.into(),
            password: upstream_password(number),
            company: format!("Société {number}"),
            departments: DEPARTMENTS.iter().map(|d| (*d).to_owned()).collect(),
            ..SimAccount::default()
        });
        id
    }

    /// An active advanced user linked to `account_id` with `ids`, in `department` (by name).
    pub async fn user(
        &self,
        account_id: i64,
        login: &str,
        tag: Option<&str>,
        department: Option<&str>,
        ids: &[&str],
    ) -> TestUser {
        let dept_id = self.department_id(account_id, department).await;
        let u =
            seed::advanced_user(&self.store, account_id, login, tag, dept_id, rights(ids)).await;
        TestUser {
            id: u.id,
            key: u.key,
            user_key: u.user_key,
            tag: tag.map(str::to_owned),
            department: department.map(str::to_owned),
        }
    }

    /// The id of the account's department named `department`.
    async fn department_id(&self, account_id: i64, department: Option<&str>) -> Option<i64> {
        let d = department?;
        self.store
            .departments(account_id)
            .await
            .expect("departments")
            .into_iter()
            .find(|x| x.name == d)
            .map(|x| x.id)
    }

    /// A collaborator (standard user) of `account_id` with `ids`, in `department` (by name).
    pub async fn collaborator(
        &self,
        account_id: i64,
        login: &str,
        department: Option<&str>,
        ids: &[&str],
    ) -> Collaborator {
        let dept_id = self.department_id(account_id, department).await;
        let id = seed::standard_user(&self.store, account_id, login, dept_id, rights(ids)).await;
        Collaborator {
            id,
            login: login.to_owned(),
            department: department.map(str::to_owned),
        }
    }

    /// Attributes some of the account's commerce documents to the collaborator (its contact id
    /// is its Sesame user id).
    pub fn stamp_collaborator(&self, number: &str, c: &Collaborator) {
        self.sim.add_stamps(
            number,
            vec![Stamp {
                user_key: c.id.to_string(),
                tag: None,
                department: c.department.clone(),
            }],
        );
    }

    /// Links `u` to `account_id` with `ids` and the same tag as its first link, then waits for
    /// the gateway to see it.
    pub async fn associate(&self, account_id: i64, u: &TestUser, ids: &[&str]) {
        self.associate_tagged(account_id, u, ids, u.tag.as_deref())
            .await;
    }

    /// Links `u` to `account_id` with `ids` and the tag this account gives it (tags are per
    /// link), then waits for the gateway to see it.
    pub async fn associate_tagged(
        &self,
        account_id: i64,
        u: &TestUser,
        ids: &[&str],
        tag: Option<&str>,
    ) {
        seed::associate_tagged(&self.store, account_id, &u.user_key, rights(ids), tag).await;
        self.settle().await;
    }

    /// Attributes some of the account's synthetic parcels and invoices to the user, tagged with
    /// the tag of its first link.
    pub fn stamp(&self, number: &str, u: &TestUser) {
        self.stamp_tagged(number, u, u.tag.as_deref());
    }

    /// Attributes some of the account's synthetic parcels (bearing `tag`) and invoices to the
    /// user.
    pub fn stamp_tagged(&self, number: &str, u: &TestUser, tag: Option<&str>) {
        self.sim.add_stamps(
            number,
            vec![Stamp {
                user_key: u.user_key.clone(),
                tag: tag.map(str::to_owned),
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
        json_or_text(rb.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self.http.get(format!("{}{}", self.url, path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("send")
    }

    /// The tracking service's answer for `parcel` asked with `key`.
    pub async fn track(&self, key: &str, parcel: &str) -> serde_json::Value {
        let (_, v) = self
            .post_json(
                TRACKING,
                &[],
                &serde_json::json!({"apiKey": key, "parcelNumber": parcel, "lang": "fr_FR"}),
            )
            .await;
        v
    }

    /// A session token of the user (`POST /admin/v1/sessions` as a user opens it), valid an
    /// hour: `Authorization: Bearer <token>` on Sesame's own endpoints.
    pub async fn session_for(&self, user_id: i64) -> String {
        self.open_session(
            Actor::User { user_id },
            NewSession {
                kind: SessionKind::User,
                account_id: None,
                user_id: Some(user_id),
                impersonator_account_id: None,
                ttl_millis: 3_600_000,
            },
        )
        .await
    }

    /// A session in which `account_id`'s administrator acts as the user (impersonation).
    pub async fn impersonation_for(&self, account_id: i64, user_id: i64) -> String {
        self.open_session(
            Actor::AccountAdmin { account_id },
            NewSession {
                kind: SessionKind::Impersonation,
                account_id: None,
                user_id: Some(user_id),
                impersonator_account_id: Some(account_id),
                ttl_millis: 3_600_000,
            },
        )
        .await
    }

    /// An account administrator's session (acts for no user: Sesame's own endpoints refuse it).
    pub async fn admin_session(&self, account_id: i64) -> String {
        self.open_session(
            Actor::AccountAdmin { account_id },
            NewSession {
                kind: SessionKind::Admin,
                account_id: Some(account_id),
                user_id: None,
                impersonator_account_id: None,
                ttl_millis: 3_600_000,
            },
        )
        .await
    }

    /// Opens a session in the store; its clear token.
    pub async fn open_session(&self, actor: Actor, new: NewSession) -> String {
        self.store
            .create_session(actor, new, None)
            .await
            .expect("session")
            .0
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

    /// The ops listener's `/metrics` text.
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

/// The tracking service's path (legacy JSON envelope).
pub const TRACKING: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";
/// The label service's path.
pub const LABEL: &str = "/sls-ws/SlsServiceWSRest/2.0/generateLabel";
/// The pickup-point service's path.
pub const PICKUP: &str =
    "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";
/// The eligibility service's path.
pub const ELIG: &str = "/api-ewe/v1/rest/additionalinformations";
/// The tracking v2 service's path prefix (the parcel id follows).
pub const V2: &str = "/suivi/v2/idships/";
/// The tracking link's path.
pub const LINK: &str = "/entreprise/colis/login/parcel";

/// The first status code of a legacy envelope (`/status/0/code`), "" when absent.
pub fn status_code(v: &serde_json::Value) -> &str {
    v.pointer("/status/0/code")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// A valid label request, for `contract` when given.
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

/// The value of the un-labelled series `name` in a metrics text (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
