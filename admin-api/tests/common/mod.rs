//! A real admin API server on 127.0.0.1:0 over a fresh database, and a small client.
#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};
use sesame_admin::{AdminApi, AdminConfig};
use sesame_store::testing::{fresh_store, TestDb};
use sesame_store::{Backend, Store};
use sqlx::Row;

/// Runs one async test body against a real server on each backend, as two tests (`<name>::sqlite`
/// and `<name>::postgres`), each on a fresh database.
#[allow(unused_macros)] // not every test file runs on both backends
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = Server::start(Backend::Sqlite).await;
                ($body)(&s).await;
                s.shutdown().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let s = Server::start(Backend::Postgres).await;
                ($body)(&s).await;
                s.shutdown().await;
            }
        }
    };
}

pub const OPERATOR: &str = "operator-token-0123456789abcdef";

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _db: TestDb,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`Server::start`], with the configuration adjusted first.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut AdminConfig)) -> Server {
        let (store, db) = fresh_store(backend).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = AdminConfig {
            public_url: "https://sesame.example".into(),
            ..AdminConfig::default()
        };
        tweak(&mut cfg);
        let api = AdminApi::new(cfg, store.clone(), OPERATOR.into());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(api.run(listener, async move {
            let _ = rx.await;
        }));
        Server {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            stop: Some(tx),
            handle: Some(handle),
            _db: db,
        }
    }

    pub async fn shutdown(mut self) {
        self.stop_server().await;
    }

    /// Stops serving (and the background tasks) but keeps the database.
    pub async fn stop_server(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        ct: &str,
    ) -> reqwest::Response {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.header("content-type", ct).body(b);
        }
        r.send().await.unwrap()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let resp = self
            .raw(
                method,
                path,
                token,
                body.map(|b| serde_json::to_vec(&b).unwrap()),
                "application/json",
            )
            .await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Creates an account as the operator and signs its admin in; returns the admin token.
    pub async fn account(&self, number: &str, entitlements: &[&str]) -> String {
        let (s, v) = self
            .post(
                "/admin/v1/accounts",
                OPERATOR,
                json!({
                    "number": number, "company": format!("Société {number}"), "entitlements": entitlements,
                    "adminPassword": "AdminPass123", "upstreamLogin": number, "upstreamPassword": "upstream-secret",
                    "departments": ["Logistique"],
                }),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        self.sign_in_admin(number).await
    }

    pub async fn sign_in_admin(&self, number: &str) -> String {
        let (s, v) = self
            .call(
                Method::POST,
                "/admin/v1/sessions",
                None,
                Some(json!({"accountNumber": number, "password": "AdminPass123"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn sign_in_user(&self, login: &str, password: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            "/admin/v1/sessions",
            None,
            Some(json!({"login": login, "password": password})),
        )
        .await
    }

    /// The newest mails to `to`, newest first.
    pub async fn mails(&self, to: &str) -> Vec<Value> {
        let (s, v) = self
            .get(&format!("/admin/v1/outbox?to={to}&limit=100"), OPERATOR)
            .await;
        assert_eq!(s, 200, "{v}");
        v["items"].as_array().unwrap().clone()
    }

    /// The token of the newest link to `marker` (e.g. "/admin/v1/invitations/") mailed to `to`.
    pub async fn mailed_token(&self, to: &str, marker: &str) -> String {
        let mails = self.mails(to).await;
        let body = mails
            .iter()
            .find_map(|m| m["body"].as_str().filter(|b| b.contains(marker)))
            .unwrap_or_else(|| panic!("no mail with {marker} to {to}: {mails:?}"));
        let start = body.find(marker).unwrap() + marker.len();
        body[start..].split_whitespace().next().unwrap().to_owned()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(self.store.raw_pool())
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    /// Waits for the account's current import to finish; returns its status.
    pub async fn wait_import(&self, number: &str, token: &str) -> Value {
        for _ in 0..2400 {
            let (s, v) = self
                .get(
                    &format!("/admin/v1/accounts/{number}/imports/current"),
                    token,
                )
                .await;
            assert_eq!(s, 200, "{v}");
            if v["status"] == "done" || v["status"] == "failed" {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("import did not finish");
    }
}

pub fn advanced_body(last: &str, email: &str, rights: &[&str]) -> Value {
    json!({
        "lastName": last, "firstName": "Jean", "function": "Logisticien", "phone": "0102030405",
        "email": email, "emailConfirmation": email, "address": "1 rue de la Poste", "postalCode": "75001",
        "city": "Paris", "tag": "NORD", "rights": rights,
    })
}

pub fn standard_body(last: &str, login: &str, rights: &[&str]) -> Value {
    let email = format!("{}@example.fr", login);
    json!({
        "lastName": last, "firstName": "Marie", "function": "Comptable", "phone": "0102030405",
        "email": email, "emailConfirmation": email, "address": "2 rue de la Poste", "postalCode": "75002",
        "city": "Paris", "login": login, "password": "StdPass123", "passwordConfirmation": "StdPass123",
        "rights": rights,
    })
}

/// Creates an advanced user through the API and completes its invitation; returns
/// (user id, user key, connection key, user session token).
pub async fn active_advanced(
    s: &Server,
    number: &str,
    admin: &str,
    login: &str,
    rights: &[&str],
) -> (i64, String, String, String) {
    let email = format!("{login}@example.fr");
    let (st, v) = s
        .post(
            &format!("/admin/v1/accounts/{number}/advanced-users"),
            admin,
            advanced_body("Dupont", &email, rights),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let token = s.mailed_token(&email, "/admin/v1/invitations/").await;
    let (st, v) = s
        .call(
            Method::POST,
            &format!("/admin/v1/invitations/{token}"),
            None,
            Some(json!({"login": login, "password": "UserPass123", "passwordConfirmation": "UserPass123"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let key = v["connectionKey"].as_str().unwrap().to_owned();
    let user_key = v["userKey"].as_str().unwrap().to_owned();
    let (st, v) = s.sign_in_user(login, "UserPass123").await;
    assert_eq!(st, 201, "{v}");
    (id, user_key, key, v["token"].as_str().unwrap().to_owned())
}
