//! Determinism, runtime registration, latency, faults, captured requests and control routes.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use sesame_simulator::{Faults, Latency, SimAccount, SimConfig, Simulator, Stamp};

const TIMELINE: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";
const LABEL_CHECK: &str = "/sls-ws/SlsServiceWSRest/2.0/checkGenerateLabel";
const PICKUP: &str = "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";

#[test]
fn same_seed_same_data_different_seed_different_data() {
    let a = Simulator::new(config(11));
    let b = Simulator::new(config(11));
    let c = Simulator::new(config(12));
    for acc in [A, B, C] {
        assert_eq!(a.parcels(acc), b.parcels(acc));
        assert_eq!(a.invoices(acc), b.invoices(acc));
        assert_eq!(a.parcels(acc).len(), 60);
    }
    let numbers = |s: &Simulator| {
        s.parcels(A)
            .into_iter()
            .map(|p| p.number)
            .collect::<Vec<_>>()
    };
    assert_ne!(numbers(&a), numbers(&c));
    assert_ne!(a.invoices(A), c.invoices(A));

    // Every parcel number is unique across accounts; about a third of A's are unstamped and
    // the others carry A's stamps only.
    let mut all: Vec<String> = [A, B, C]
        .iter()
        .flat_map(|acc| a.parcels(acc))
        .map(|p| p.number)
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
    let pa = a.parcels(A);
    let unstamped = pa.iter().filter(|p| p.user_key.is_none()).count();
    assert!((8..=32).contains(&unstamped), "{unstamped} of 60 unstamped");
    assert!(pa
        .iter()
        .filter_map(|p| p.user_key.as_deref())
        .all(|k| k == KEY1 || k == KEY2));
    assert!(pa
        .iter()
        .filter(|p| p.user_key.as_deref() == Some(KEY1))
        .all(|p| p.tag.as_deref() == Some("boutique")));
    assert!(pa.iter().any(|p| p.number.starts_with("6A")));
    assert!(
        a.parcels(B).iter().all(|p| p.user_key.is_none()),
        "B has no stamps"
    );
    let today = a.today();
    assert!(pa
        .iter()
        .all(|p| p.deposit_date <= today && p.deposit_date > today - chrono::Duration::days(60)));
    assert!(a.parcels("000000").is_empty());
}

#[test]
fn stamps_added_at_runtime_reattribute_parcels_deterministically() {
    let sim = Simulator::new(config(21));
    let before = sim.parcels(B);
    sim.add_stamps(
        B,
        vec![Stamp::new(KEY1, Some("t1")), Stamp::new(KEY2, None)],
    );
    let after = sim.parcels(B);
    assert_eq!(
        before.iter().map(|p| &p.number).collect::<Vec<_>>(),
        after.iter().map(|p| &p.number).collect::<Vec<_>>(),
        "only ownership changes"
    );
    assert!(after.iter().any(|p| p.user_key.as_deref() == Some(KEY1)));
    assert!(after.iter().any(|p| p.user_key.is_none()));

    // Same as a simulator configured with those stamps from the start.
    let mut cfg = config(21);
    cfg.accounts[1].stamps = vec![Stamp::new(KEY1, Some("t1")), Stamp::new(KEY2, None)];
    assert_eq!(Simulator::new(cfg).parcels(B), after);

    // Re-registering an account keeps posted parcels and re-attributes the rest.
    let mut acc = SimAccount::new(B, "new-pw", "Beta SAS");
    acc.departments = vec!["Ventes".into()];
    sim.add_account(acc);
    assert!(sim.parcels(B).iter().all(|p| p.user_key.is_none()));
    assert!(sim
        .invoices(B)
        .iter()
        .any(|i| i.department.as_deref() == Some("Ventes")));

    // A new account registered at runtime gets synthetic data too.
    sim.add_account(SimAccount::new("444444", "pw", "Delta"));
    assert_eq!(sim.parcels("444444").len(), 60);
    assert_eq!(sim.invoices("444444").len(), 12);
    sim.add_stamps("999999", vec![Stamp::new(KEY1, None)]); // unknown: ignored
}

#[test]
fn config_reads_from_toml() {
    let cfg: SimConfig = toml::from_str(
        r#"
        seed = 9
        history_days = 30
        [latency]
        fixed_ms = 5
        [faults]
        error_rate = 0.1
        [[accounts]]
        number = "123456"
        password = "pw"
        company = "ACME"
        departments = ["Compta"]
        stamps = [{ user_key = "0123456789abcdef0123456789abcdef", tag = "shop" }]
        "#,
    )
    .expect("toml");
    assert_eq!(cfg.seed, 9);
    assert_eq!(cfg.parcels_per_account, 200);
    assert_eq!(cfg.invoices_per_account, 24);
    assert_eq!(cfg.history_days, 30);
    assert_eq!(
        cfg.latency,
        Latency {
            fixed_ms: 5,
            jitter_ms: 0
        }
    );
    assert_eq!(cfg.faults.error_rate, 0.1);
    assert!(cfg.accounts[0].pickup_allowed);
    assert_eq!(cfg.accounts[0].stamps[0].tag.as_deref(), Some("shop"));
    assert!(
        toml::from_str::<SimConfig>("sede = 1").is_err(),
        "unknown keys refused"
    );
    assert!(toml::from_str::<SimConfig>("[faults]\nerror_rat = 1.0").is_err());
    let d = SimConfig::default();
    assert_eq!(
        (
            d.parcels_per_account,
            d.invoices_per_account,
            d.history_days
        ),
        (200, 24, 60)
    );
}

/// Faults that drop every connection.
fn dropping() -> Faults {
    Faults {
        drop_rate: 1.0,
        ..Faults::default()
    }
}

/// Faults that answer every call with the service's 503.
fn erroring() -> Faults {
    Faults {
        error_rate: 1.0,
        ..Faults::default()
    }
}

#[tokio::test]
async fn error_faults_answer_503_in_each_services_envelope() {
    let mut cfg = config(31);
    cfg.faults.error_rate = 1.0;
    let s = start(cfg).await;
    let parcel = s.sim.parcels(A).remove(0).number;

    let (st, v) = s.post(LABEL_CHECK, &label_body(A, A_PW, None)).await;
    assert_eq!(st, 503);
    assert_eq!(v["messages"][0]["type"], "ERROR");
    let (st, v) = s
        .post(
            TIMELINE,
            &json!({"login": A, "password": A_PW, "parcelNumber": parcel}),
        )
        .await;
    assert_eq!((st, v["status"][0]["code"].clone()), (503, json!("503")));
    let (st, v) = s
        .post(
            PICKUP,
            &json!({"accountNumber": A, "password": A_PW, "zipCode": "75001", "weight": "10"}),
        )
        .await;
    assert_eq!((st, v["errorCode"].clone()), (503, json!(503)));
    let r = s
        .http
        .get(s.url(&format!("/suivi/v2/idships/{parcel}")))
        .basic_auth(A, Some(A_PW))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.expect("json")["returnCode"], 503);
    let (st, v) = s
        .post(
            "/invoices/v1/list",
            &json!({"contractNumber": A, "password": A_PW}),
        )
        .await;
    assert_eq!((st, v["error"].clone()), (503, json!("unavailable")));

    // Control routes are never faulted.
    assert_eq!(s.get_json("/_sim/health").await, json!({"status": "ok"}));

    // Per-account override: B healthy while the global faults still hit A.
    s.sim.set_faults(Some(B), Faults::default());
    let (st, _) = s.post(LABEL_CHECK, &label_body(B, B_PW, None)).await;
    assert_eq!(st, 200);
    let (st, _) = s.post(LABEL_CHECK, &label_body(A, A_PW, None)).await;
    assert_eq!(st, 503);
    s.stop().await;
}

#[tokio::test]
async fn dropped_connections_are_seen_as_errors_by_the_client() {
    let s = start(config(32)).await;
    s.sim.set_faults(None, dropping());
    for _ in 0..3 {
        assert!(
            s.dropped(LABEL_CHECK, &label_body(A, A_PW, None)).await,
            "a dropped connection must not look like an answer"
        );
    }
    // The simulator keeps serving afterwards.
    s.sim.set_faults(None, Faults::default());
    assert_eq!(s.post(LABEL_CHECK, &label_body(A, A_PW, None)).await.0, 200);

    // Per-account drop: only that account's calls are dropped.
    s.sim.set_faults(Some(A), dropping());
    assert!(s.dropped(LABEL_CHECK, &label_body(A, A_PW, None)).await);
    assert_eq!(s.post(LABEL_CHECK, &label_body(B, B_PW, None)).await.0, 200);
    s.stop().await;
}

/// The label check answers 200, and no sooner than `ms` (the latency or slow fault applied).
async fn label_check_takes_at_least(s: &Running, body: &Value, ms: u64) {
    let t = Instant::now();
    assert_eq!(s.post(LABEL_CHECK, body).await.0, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(ms),
        "{:?} < {ms} ms",
        t.elapsed()
    );
}

#[tokio::test]
async fn latency_and_slow_answers_are_applied_roughly() {
    let s = start(config(33)).await;
    let body = label_body(A, A_PW, None);
    s.sim.set_latency(Latency {
        fixed_ms: 150,
        jitter_ms: 50,
    });
    label_check_takes_at_least(&s, &body, 140).await;

    s.sim.set_latency(Latency::default());
    s.sim.set_faults(
        None,
        Faults {
            slow_rate: 1.0,
            slow_ms: 150,
            ..Faults::default()
        },
    );
    label_check_takes_at_least(&s, &body, 140).await;

    // Latency over HTTP too.
    s.sim.set_faults(None, Faults::default());
    assert_eq!(
        s.control(Method::PUT, "/_sim/latency", Some(json!({"fixed_ms": 120})))
            .await,
        200
    );
    label_check_takes_at_least(&s, &body, 110).await;
    s.stop().await;
}

#[tokio::test]
async fn requests_are_captured_as_received() {
    let s = start(config(34)).await;
    let r = s
        .http
        .post(s.url(&format!("{TIMELINE}?trace=1")))
        .header("x-custom", "value-1")
        .json(&json!({"login": A, "password": A_PW, "parcelNumber": "6A00000000000"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let _ = s
        .http
        .get(s.url("/_sim/health"))
        .send()
        .await
        .expect("health");
    let cap = s.sim.captured();
    assert_eq!(cap.len(), 1, "control routes are not captured");
    let c = &cap[0];
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, format!("{TIMELINE}?trace=1"));
    assert_eq!(c.header("X-Custom"), Some("value-1"));
    assert!(c
        .headers
        .iter()
        .any(|(n, v)| n == "content-type" && v == "application/json"));
    let body: Value = serde_json::from_slice(&c.body).expect("json body");
    assert_eq!(body["password"], A_PW);
    assert!(c.contains(A_PW) && !c.contains("some-caller-key"));

    // Over HTTP.
    let v: Value = s.get_json("/_sim/requests").await;
    assert_eq!(
        v["requests"][0]["path"],
        format!("{TIMELINE}?trace=1").as_str()
    );
    assert!(v["requests"][0]["body"]
        .as_str()
        .expect("body")
        .contains("6A00000000000"));
    assert_eq!(
        v["requests"][0]["headers"].as_array().expect("headers")[0]
            .as_array()
            .expect("pair")
            .len(),
        2
    );

    // Faulted requests are captured too; the buffer keeps the last 1000.
    s.sim.clear_captured();
    assert!(s.sim.captured().is_empty());
    s.sim.set_faults(None, erroring());
    for i in 0..1005 {
        let _ = s
            .http
            .get(s.url(&format!("/suivi/v2/idships/6A{i:011}")))
            .send()
            .await
            .expect("send");
    }
    let cap = s.sim.captured();
    assert_eq!(cap.len(), 1000);
    assert_eq!(cap[0].path, format!("/suivi/v2/idships/6A{:011}", 5));
    assert_eq!(cap[999].path, format!("/suivi/v2/idships/6A{:011}", 1004));
    s.stop().await;
}

#[tokio::test]
async fn control_routes_configure_the_simulator() {
    let s = start(SimConfig {
        parcels_per_account: 10,
        ..SimConfig::default()
    })
    .await;
    let acc = json!({"number": "555555", "password": "pw5", "company": "Epsilon",
                     "stamps": [{"user_key": KEY1, "tag": "t"}], "pickup_allowed": false});
    assert_eq!(
        s.control(Method::POST, "/_sim/accounts", Some(acc)).await,
        201
    );
    assert_eq!(s.sim.parcels("555555").len(), 10);
    assert_eq!(
        s.control(
            Method::POST,
            "/_sim/accounts",
            Some(json!({"number": "12", "password": "x"}))
        )
        .await,
        400
    );
    let r = s
        .http
        .post(s.url("/_sim/accounts"))
        .json(&json!({"number": "123456", "pwd": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400, "unknown fields refused");

    let (st, v) = s.post(PICKUP, &json!({"accountNumber": "555555", "password": "pw5", "zipCode": "75001", "weight": "10"})).await;
    assert_eq!((st, v["errorCode"].clone()), (200, json!(202)));

    assert_eq!(
        s.control(
            Method::POST,
            "/_sim/accounts/555555/stamps",
            Some(json!([{"user_key": KEY2}]))
        )
        .await,
        200
    );
    let v: Value = s.get_json("/_sim/accounts/555555/parcels").await;
    assert_eq!(v["parcels"].as_array().expect("list").len(), 10);
    assert_eq!(
        s.control(
            Method::POST,
            "/_sim/accounts/000001/stamps",
            Some(json!([]))
        )
        .await,
        404
    );

    // Faults for one account, then cleared.
    for (faults, timeline) in [(json!({"error_rate": 1.0}), 503), (Value::Null, 200)] {
        let body = json!({"account": "555555", "faults": faults});
        assert_eq!(
            s.control(Method::PUT, "/_sim/faults", Some(body)).await,
            200
        );
        let (st, _) = s
            .post(
                TIMELINE,
                &json!({"login": "555555", "password": "pw5", "parcelNumber": "6A00000000000"}),
            )
            .await;
        assert_eq!(st, timeline);
    }
    assert_eq!(
        s.control(
            Method::PUT,
            "/_sim/faults",
            Some(json!({"faults": {"bogus": 1}}))
        )
        .await,
        400
    );

    assert_eq!(s.control(Method::DELETE, "/_sim/requests", None).await, 200);
    assert!(s.sim.captured().is_empty());
    s.stop().await; // graceful shutdown completes
}

#[tokio::test]
async fn spawn_helper_serves_until_shut_down() {
    let sim = Simulator::new(config(41));
    let h = sim.spawn().await.expect("spawn");
    let r = reqwest::get(format!("{}/_sim/health", h.base_url()))
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/nowhere", h.base_url()))
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    h.shutdown().await.expect("shutdown");
}
