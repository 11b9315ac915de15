//! A real admin API server on 127.0.0.1:0 over a fresh database, and a small client.

use reqwest::Method;
use serde_json::{json, Value};
use sesame_admin::{AdminApi, AdminConfig};
use sesame_store::testing::{fresh_store, TestDb};
use sesame_store::{Backend, Store};
use sqlx::Row;

use crate::seed::{ADMIN_PASSWORD, USER_PASSWORD};
use crate::{json_or_text, Fixture, Running};

/// The operator's bearer token on every test server.
pub const OPERATOR: &str = "operator-token-0123456789abcdef";

/// The admin API for one test; see [`Server::start_with`].
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    running: Running,
    _db: Option<TestDb>,
}

impl Fixture for Server {
    async fn start(backend: Backend) -> Server {
        Server::start(backend).await
    }
    async fn shutdown(self) {
        Server::shutdown(self).await
    }
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`Server::start`], with the configuration adjusted first.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut AdminConfig)) -> Server {
        Self::start_at(backend, |cfg, _| tweak(cfg)).await
    }

    /// A server whose public URL is its own address (`http://127.0.0.1:<port>`): the links it
    /// mails open on it, as a browser test needs (and its cookies are not `Secure`: plain HTTP).
    pub async fn start_own_url(backend: Backend) -> Server {
        Self::start_at(backend, |cfg, base| cfg.public_url = base.to_owned()).await
    }

    /// Like [`Server::start_with`]; the tweak also gets the server's base URL.
    pub async fn start_at(backend: Backend, tweak: impl FnOnce(&mut AdminConfig, &str)) -> Server {
        let (store, db) = fresh_store(backend).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut s = Self::start_on(store, listener, tweak).await;
        s._db = Some(db);
        s
    }

    /// The admin API on an existing `store` (e.g. a gateway [`crate::gateway::Stack`]'s, as
    /// the portal's tests need) serving on `listener`; the tweak also gets the base URL. The
    /// database belongs to whoever made the store.
    pub async fn start_on(
        store: Store,
        listener: tokio::net::TcpListener,
        tweak: impl FnOnce(&mut AdminConfig, &str),
    ) -> Server {
        let addr = listener.local_addr().unwrap();
        let mut cfg = AdminConfig {
            public_url: "https://sesame.example".into(),
            ..AdminConfig::default()
        };
        tweak(&mut cfg, &format!("http://{addr}"));
        let api = AdminApi::new(cfg, store.clone(), OPERATOR.into());
        let running = Running::spawn(|rx| {
            api.run(listener, async move {
                let _ = rx.await;
            })
        });
        Server {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            running,
            _db: None,
        }
    }

    pub async fn shutdown(mut self) {
        self.stop_server().await;
    }

    /// Stops serving (and the background tasks) but keeps the database.
    pub async fn stop_server(&mut self) {
        self.running.stop().await;
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
        json_or_text(resp).await
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
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }
    /// A GET without a token (invitations, password resets, the OpenAPI document).
    pub async fn anon_get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None, None).await
    }
    /// A POST without a token (sign-in, accepting an invitation).
    pub async fn anon_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// Creates an account as the operator and signs its admin in; returns the admin token.
    pub async fn account(&self, number: &str, entitlements: &[&str]) -> String {
        let (s, v) = self
            .post(
                "/admin/v1/accounts",
                OPERATOR,
                json!({
                    "number": number, "company": format!("Société {number}"), "entitlements": entitlements,
                    "adminPassword": ADMIN_PASSWORD, "upstreamLogin": number, "upstreamPassword": "upstream-secret",
                    "departments": ["Logistique"],
                }),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        self.sign_in_admin(number).await
    }

    pub async fn sign_in_admin(&self, number: &str) -> String {
        let (s, v) = self
            .anon_post(
                "/admin/v1/sessions",
                json!({"accountNumber": number, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn sign_in_user(&self, login: &str, password: &str) -> (u16, Value) {
        self.anon_post(
            "/admin/v1/sessions",
            json!({"login": login, "password": password}),
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
        .anon_post(&format!("/admin/v1/invitations/{token}"), json!({"login": login, "password": USER_PASSWORD, "passwordConfirmation": USER_PASSWORD}))
        .await;
    assert_eq!(st, 201, "{v}");
    let key = v["connectionKey"].as_str().unwrap().to_owned();
    let user_key = v["userKey"].as_str().unwrap().to_owned();
    let (st, v) = s.sign_in_user(login, USER_PASSWORD).await;
    assert_eq!(st, 201, "{v}");
    (id, user_key, key, v["token"].as_str().unwrap().to_owned())
}
