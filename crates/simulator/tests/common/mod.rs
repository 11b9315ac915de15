//! Shared set-up: a real simulator on 127.0.0.1:0 served by `Simulator::run` in a task.
#![allow(dead_code)] // each test binary uses a different subset

use serde_json::{json, Value};
use sesame_simulator::{SimAccount, SimConfig, Simulator, Stamp};

pub const A: &str = "111111";
pub const A_PW: &str = "pw-a";
pub const B: &str = "222222";
pub const B_PW: &str = "pw-b";
/// An account without the pickup-point service.
pub const C: &str = "333333";
pub const C_PW: &str = "pw-c";
pub const KEY1: &str = "0123456789abcdef0123456789abcdef";
pub const KEY2: &str = "fedcba9876543210fedcba9876543210";

pub fn config(seed: u64) -> SimConfig {
    let mut a = SimAccount::new(A, A_PW, "ACME SARL");
    a.departments = vec!["Logistique".into(), "Compta".into()];
    a.stamps = vec![
        Stamp::new(KEY1, Some("boutique")),
        Stamp {
            user_key: KEY2.into(),
            tag: None,
            department: Some("Logistique".into()),
        },
    ];
    let b = SimAccount::new(B, B_PW, "Beta SAS");
    let mut c = SimAccount::new(C, C_PW, "Gamma");
    c.pickup_allowed = false;
    SimConfig {
        seed,
        parcels_per_account: 60,
        invoices_per_account: 12,
        accounts: vec![a, b, c],
        ..SimConfig::default()
    }
}

pub struct Running {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let json = json_infos(&text).unwrap_or(&text);
        (
            status,
            serde_json::from_str(json).unwrap_or(Value::String(text.clone())),
        )
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let json = json_infos(&text).unwrap_or(&text);
        (status, serde_json::from_str(json).expect("json"))
    }

    /// A control-route call (`/_sim/...`) with an optional JSON body: its status.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.expect("send").status().as_u16()
    }

    /// A GET answering 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
    }

    /// Whether posting `body` to `path` fails as a dropped connection does (no complete answer).
    pub async fn dropped(&self, path: &str, body: &Value) -> bool {
        match self.http.post(self.url(path)).json(body).send().await {
            Err(_) => true,
            Ok(r) => r.bytes().await.is_err(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("serve");
        }
    }
}

/// The label service's answers are multipart: what its clients read is the `jsonInfos` part
/// (its body runs from the blank line after its `Content-ID` to the next delimiter line).
pub fn json_infos(text: &str) -> Option<&str> {
    let after = text.split_once("Content-ID: <jsonInfos>")?.1;
    let body = after.split_once("\r\n\r\n")?.1;
    Some(body.split_once("\r\n--").map_or(body, |(b, _)| b))
}

pub async fn start(cfg: SimConfig) -> Running {
    let sim = Simulator::new(cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sim.clone().run(listener, async move {
        let _ = rx.await;
    }));
    Running {
        sim,
        base,
        http: reqwest::Client::new(),
        stop: Some(tx),
        task: Some(task),
    }
}

pub fn label_body(account: &str, password: &str, fields: Option<Value>) -> Value {
    let mut v = json!({
        "contractNumber": account,
        "password": password,
        "outputFormat": {"x": 0, "y": 0, "outputPrintingType": "PDF_10x15_300dpi"},
        "letter": {
            "service": {"productCode": "DOM", "depositDate": "2026-11-22", "orderNumber": "CMD-1"},
            "parcel": {"weight": 1.5},
            "sender": {
                "senderParcelRef": "REF1",
                "address": {"companyName": "ACME SARL", "line2": "1 rue du Port", "countryCode": "FR", "city": "Nantes", "zipCode": "44000"}
            },
            "addressee": {
                "addresseeParcelRef": "DEST-9",
                "address": {"lastName": "Dupré", "firstName": "Hélène", "line2": "3 avenue Foch", "countryCode": "FR", "city": "Lyon", "zipCode": "69003", "email": "h@example.org"}
            }
        },
        "someFutureKey": {"ignored": true}
    });
    if let Some(f) = fields {
        v["fields"] = f;
    }
    v
}
