//! Declared routes (issue 16) through the real listener: the demo's commerce table
//! (`config/demo.toml`) in front of the simulator's commerce service.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_domain::model::Actor;
use sesame_gateway::{GatewayConfig, RouteSource, RouteTableConfig};
use sesame_store::{NewSession, SessionKind};

use crate::common::*;
use sesame_testkit::json_or_text;

const A: &str = "300001";
const B: &str = "300002";
const PASSWORD: &str = sesame_testkit::seed::USER_PASSWORD;

/// Every right an account of these tests is entitled to.
fn entitlements() -> Vec<&'static str> {
    let mut v = ALL_RIGHTS.to_vec();
    v.extend(["order_create", "order_validate", "address_manage"]);
    v
}

#[derive(serde::Deserialize)]
struct DemoFile {
    gateway: DemoGateway,
}
#[derive(serde::Deserialize)]
struct DemoGateway {
    routes: Vec<sesame_gateway::RouteConfig>,
    upstreams: std::collections::BTreeMap<String, sesame_gateway::UpstreamConfig>,
}

/// The route table of `text` (a file laid out like `config/demo.toml`), its upstreams pointed
/// at `upstream`.
pub fn table_of(text: &str, upstream: &str) -> Result<RouteTableConfig, String> {
    let f: DemoFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut upstreams = f.gateway.upstreams;
    for u in upstreams.values_mut() {
        u.url = upstream.to_owned();
    }
    Ok(RouteTableConfig {
        routes: f.gateway.routes,
        upstreams,
    })
}

/// The demo's commerce routes (`config/demo.toml`), calling the test's simulator.
pub fn demo_routes(cfg: &mut GatewayConfig) {
    let text = include_str!("../../../config/demo.toml");
    let t = table_of(text, &cfg.upstream_url).unwrap();
    cfg.routes = t.routes;
    cfg.upstreams = t.upstreams;
}

fn basic(c: &Collaborator) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{PASSWORD}", c.login))
    )
}

async fn call(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = s
        .http
        .request(method, format!("{}{path}", s.url))
        .header("Authorization", auth);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    json_or_text(rb.send().await.unwrap()).await
}

fn order() -> Value {
    json!({"reference": "PO-1", "lines": [{"sku": "CARTON-M", "quantity": 10}]})
}

fn address() -> Value {
    json!({"label": "Atelier", "street": "3 rue Neuve", "zipCode": "33000", "city": "Bordeaux", "countryCode": "FR"})
}

both!(each_commerce_right_is_granted_and_refused);
async fn each_commerce_right_is_granted_and_refused(backend: Backend) {
    use reqwest::Method as M;
    let s = Stack::new(backend, demo_routes).await;
    let a = s.account(A, &entitlements()).await;
    let buyer = s
        .collaborator(a, "buyer", None, &["order_create", "address_manage"])
        .await;
    let approver = s
        .collaborator(a, "approver", None, &["order_validate"])
        .await;
    let (b_auth, v_auth) = (basic(&buyer), basic(&approver));

    // order_create
    let (st, o) = call(&s, M::POST, "/commerce/v1/orders", &b_auth, Some(order())).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["status"], "cart");
    let id = o["id"].as_str().unwrap().to_owned();
    let (st, e) = call(&s, M::POST, "/commerce/v1/orders", &v_auth, Some(order())).await;
    assert_eq!(st, 403);
    // The route's own envelope, filled from the one classification.
    assert_eq!(e["success"], false);
    assert_eq!(e["error"]["code"], "forbidden");
    assert_eq!(e["error"]["right"], "order_create");
    // order_validate
    let validation = format!("/commerce/v1/orders/{id}/validation");
    let (st, e) = call(&s, M::POST, &validation, &b_auth, None).await;
    assert_eq!((st, &e["error"]["right"]), (403, &json!("order_validate")));
    let (st, o) = call(&s, M::POST, &validation, &v_auth, None).await;
    assert_eq!((st, &o["status"]), (200, &json!("validated")), "{o}");
    // address_manage: list, create, replace
    let (st, l) = call(&s, M::GET, "/commerce/v1/addresses", &b_auth, None).await;
    assert_eq!(st, 200);
    assert_eq!(l["addresses"].as_array().unwrap().len(), 2);
    let (st, ad) = call(
        &s,
        M::POST,
        "/commerce/v1/addresses",
        &b_auth,
        Some(address()),
    )
    .await;
    assert_eq!(st, 201, "{ad}");
    let put = format!("/commerce/v1/addresses/{}", ad["id"].as_str().unwrap());
    let (st, ad2) = call(&s, M::PUT, &put, &b_auth, Some(address())).await;
    assert_eq!((st, &ad2["id"]), (200, &ad["id"]));
    for (m, p, b) in [
        (M::GET, "/commerce/v1/addresses", None),
        (M::POST, "/commerce/v1/addresses", Some(address())),
        (M::PUT, put.as_str(), Some(address())),
    ] {
        let (st, e) = call(&s, m, p, &v_auth, b).await;
        assert_eq!(
            (st, &e["error"]["right"]),
            (403, &json!("address_manage")),
            "{p}"
        );
    }
    // A wrong password and no credentials: 401 in the route's envelope.
    let bad = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "buyer:nope")
    );
    let (st, e) = call(&s, M::GET, "/commerce/v1/orders", &bad, None).await;
    assert_eq!(
        (st, &e["error"]["code"]),
        (401, &json!("invalid_credentials"))
    );
    // A declared path, another method: 405 in the route's envelope.
    let (st, e) = call(&s, M::DELETE, "/commerce/v1/orders", &b_auth, None).await;
    assert_eq!(
        (st, &e["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    // An upstream refusal that is not the gateway's (validating twice) is relayed as is.
    let (st, e) = call(&s, M::POST, &validation, &v_auth, None).await;
    assert_eq!((st, &e["error"]), (409, &json!("already_validated")));
    // Metrics carry the route's name.
    let m = s.metrics().await;
    assert!(
        m.contains("route=\"commerce_order_create\""),
        "no series for the declared route"
    );
    assert!(m.contains("service=\"commerce\""), "no upstream series");
    s.shutdown().await;
}

both!(a_path_parameter_chooses_the_account);
async fn a_path_parameter_chooses_the_account(backend: Backend) {
    use reqwest::Method as M;
    let s = Stack::new(backend, demo_routes).await;
    let a = s.account(A, &entitlements()).await;
    let b = s.account(B, &entitlements()).await;
    let c = s
        .collaborator(a, "twoaccounts", None, &["order_create"])
        .await;
    let auth = basic(&c);
    let (st, o) = call(&s, M::POST, "/commerce/v1/orders", &auth, Some(order())).await;
    assert_eq!(st, 201, "{o}");
    let (st, l) = call(
        &s,
        M::GET,
        &format!("/commerce/v1/accounts/{A}/orders"),
        &auth,
        None,
    )
    .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["orders"][0]["id"], o["id"]);
    // An account the collaborator is not linked to: refused, nothing forwarded.
    s.sim.clear_captured();
    let (st, e) = call(
        &s,
        M::GET,
        &format!("/commerce/v1/accounts/{B}/orders"),
        &auth,
        None,
    )
    .await;
    assert_eq!((st, &e["error"]["code"]), (403, &json!("forbidden")));
    assert!(s.sim.captured().is_empty());
    // A parameter that is not a plain segment does not match the route at all.
    let (st, _) = call(
        &s,
        M::GET,
        "/commerce/v1/accounts/..%2F300002/orders",
        &auth,
        None,
    )
    .await;
    assert_eq!(st, 404);
    // The other account's own orders are untouched by the collaborator's call.
    let _ = b;
    let up = s.sim.documents(B);
    assert!(!up.is_empty());
    s.shutdown().await;
}

both!(the_callers_credentials_never_reach_the_upstream);
async fn the_callers_credentials_never_reach_the_upstream(backend: Backend) {
    use reqwest::Method as M;
    let s = Stack::new(backend, demo_routes).await;
    let a = s.account(A, &entitlements()).await;
    let c = s
        .collaborator(
            a,
            "secretive",
            Some("Compta"),
            &["order_create", "invoices:all"],
        )
        .await;
    let adv = s.user(a, "advanced", None, None, &["invoices:all"]).await;
    let (token, _) = s
        .store
        .create_session(
            Actor::User { user_id: c.id },
            NewSession {
                kind: SessionKind::User,
                account_id: None,
                user_id: Some(c.id),
                impersonator_account_id: None,
                ttl_millis: 3_600_000,
            },
            None,
        )
        .await
        .unwrap();
    s.sim.clear_captured();
    // Legacy Basic, with the key and the password also hidden in the body and the query.
    let mut body = order();
    body["apiKey"] = json!(adv.key);
    body["password"] = json!(PASSWORD);
    body["login"] = json!("secretive");
    let (st, o) = call(
        &s,
        M::POST,
        &format!("/commerce/v1/orders?api_key={}&x=1", adv.key),
        &basic(&c),
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{o}");
    // The portal session.
    let (st, l) = call(
        &s,
        M::GET,
        "/commerce/v1/orders",
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(
        (st, l["orders"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{l}"
    );
    // The connection key of an advanced user, in the header.
    let r = s
        .http
        .get(format!("{}/commerce/v1/documents", s.url))
        .header("X-Api-Key", &adv.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let captured: Vec<_> = s
        .sim
        .captured()
        .into_iter()
        .filter(|c| c.path.starts_with("/commerce/"))
        .collect();
    assert_eq!(captured.len(), 3);
    let account_basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{A}:{}", upstream_password(A))
        )
    );
    for req in &captured {
        for secret in [adv.key.as_str(), PASSWORD, token.as_str(), "secretive"] {
            assert!(
                !req.contains(secret),
                "{secret:?} reached the upstream: {req:?}"
            );
        }
        assert_eq!(req.header("authorization"), Some(account_basic.as_str()));
        assert_eq!(req.header("x-api-key"), None);
    }
    assert!(captured[0].path.ends_with("?x=1"), "{}", captured[0].path);
    // A revoked or unknown session is refused.
    let (st, _) = call(
        &s,
        M::GET,
        "/commerce/v1/orders",
        "Bearer not-a-session",
        None,
    )
    .await;
    assert_eq!(st, 401);
    // A session signed out is refused at once (a replayed token).
    s.store
        .revoke_session(Actor::User { user_id: c.id }, &token)
        .await
        .unwrap();
    let (st, e) = call(
        &s,
        M::GET,
        "/commerce/v1/orders",
        &format!("Bearer {token}"),
        None,
    )
    .await;
    assert_eq!(
        (st, &e["error"]["code"]),
        (401, &json!("invalid_credentials"))
    );
    // A body over the limit is refused before anything is forwarded, in the route's envelope.
    s.sim.clear_captured();
    let r = s
        .http
        .post(format!("{}/commerce/v1/orders", s.url))
        .header("Authorization", basic(&c))
        .body("x".repeat(2 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    assert!(s.sim.captured().is_empty());
    s.shutdown().await;
}

/// What `who` may see of `d` with `scope` (own: its contact; group: its department).
fn doc_visible(
    scope: sesame_domain::Scope,
    who: &Collaborator,
    d: &sesame_simulator::Document,
) -> bool {
    let own = d.contact.as_deref() == Some(who.id.to_string().as_str());
    let group = who.department.is_some() && d.department == who.department;
    scope.allows(own, group)
}

both!(document_visibility_none_own_department_all);
async fn document_visibility_none_own_department_all(backend: Backend) {
    use sesame_domain::Scope;
    let s = Stack::new(backend, demo_routes).await;
    let a = s.account(A, &entitlements()).await;
    let mut users = Vec::new();
    for (login, dept, grant, scope) in [
        ("docnone", Some("Compta"), None, Scope::NONE),
        ("docown", Some("Compta"), Some("invoices:own"), Scope::OWN),
        (
            "docdept",
            Some("Logistique"),
            Some("invoices:group"),
            Scope::GROUP,
        ),
        ("docall", None, Some("invoices:all"), Scope::ALL),
    ] {
        let grants: Vec<&str> = grant.into_iter().chain(["order_create"]).collect();
        let c = s.collaborator(a, login, dept, &grants).await;
        s.stamp_collaborator(A, &c);
        users.push((c, scope));
    }
    let docs = s.sim.documents(A);
    let unknown = format!("DOC-{A}-99");
    for (c, scope) in &users {
        let auth = basic(c);
        let (st, v) = call(
            &s,
            reqwest::Method::GET,
            "/commerce/v1/documents",
            &auth,
            None,
        )
        .await;
        if scope.is_none() {
            assert_eq!(
                (st, &v["error"]["right"]),
                (403, &json!("invoices")),
                "{}",
                c.login
            );
            continue;
        }
        assert_eq!(st, 200, "{v}");
        let got: Vec<&str> = v["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = docs
            .iter()
            .filter(|d| doc_visible(*scope, c, d))
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(got, want, "{} sees exactly its scope", c.login);
        assert!(!want.is_empty(), "{}: the data show something", c.login);
        // Out of scope ≡ unknown, byte for byte, for the document and its PDF.
        let hidden = docs.iter().find(|d| !doc_visible(*scope, c, d));
        let raw = |p: String| {
            let rb = s
                .http
                .get(format!("{}{p}", s.url))
                .header("Authorization", auth.clone());
            async move {
                let r = rb.send().await.unwrap();
                let st = r.status().as_u16();
                let ct = r.headers().get("content-type").cloned();
                (st, ct, r.bytes().await.unwrap())
            }
        };
        let none = raw(format!("/commerce/v1/documents/{unknown}")).await;
        let none_pdf = raw(format!("/commerce/v1/documents/{unknown}/pdf")).await;
        assert_eq!(none.0, 404);
        assert_eq!(none.1, none_pdf.1);
        assert_eq!(none.2, none_pdf.2);
        if let Some(h) = hidden {
            assert_eq!(
                raw(format!("/commerce/v1/documents/{}", h.id)).await,
                none,
                "{}",
                c.login
            );
            assert_eq!(
                raw(format!("/commerce/v1/documents/{}/pdf", h.id)).await,
                none,
                "{}",
                c.login
            );
        }
        let shown = want[0];
        let (st, ct, body) = raw(format!("/commerce/v1/documents/{shown}/pdf")).await;
        assert_eq!((st, ct.unwrap()), (200, "application/pdf".parse().unwrap()));
        assert!(body.starts_with(b"%PDF"));
        let (st, _, body) = raw(format!("/commerce/v1/documents/{shown}")).await;
        assert_eq!(st, 200);
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["id"], shown);
    }
    s.shutdown().await;
}

both!(an_invalid_table_is_refused_at_start_naming_each_key);
async fn an_invalid_table_is_refused_at_start_naming_each_key(backend: Backend) {
    let mut cfg = GatewayConfig::default();
    demo_routes(&mut cfg);
    cfg.routes[0].right = "order_creation".into();
    cfg.routes[1].upstream = "shop".into();
    cfg.routes[2].path = "/commerce/v1/accounts/{account}/orders/{account}".into();
    cfg.routes[3].account = Some("cookie:account".into());
    cfg.routes[4].path = "/tracking-timeline-ws/rest/tracking/timelineCompany".into();
    cfg.routes[4].method = "POST".into();
    cfg.routes[5].name = "commerce_order_create".into();
    cfg.routes[7].scope.as_mut().unwrap().items = Some("documents".into());
    cfg.routes[8].error.as_mut().unwrap().body = "{not json".into();
    cfg.upstreams.get_mut("commerce").unwrap().credentials = sesame_gateway::UpstreamAuth::Header {
        login: None,
        password: "bad header".into(),
    };
    let (store, _db) = sesame_store::testing::fresh_store(backend).await;
    let err = sesame_gateway::Gateway::new(cfg, store, prometheus::Registry::new())
        .await
        .err()
        .expect("refused")
        .to_string();
    for key in [
        "gateway.routes[0].right: unknown right \"order_creation\"",
        "gateway.routes[1].upstream: no [gateway.upstreams.shop] declared",
        "gateway.routes[2].path:",
        "gateway.routes[3].account:",
        "gateway.routes[4].path: taken by a built-in service",
        "gateway.routes[5].name: \"commerce_order_create\" is declared twice",
        "gateway.routes[7].scope.items:",
        "gateway.routes[8].error.body: not JSON",
        "gateway.upstreams.commerce.credentials.password: not a header name",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    // And a route with no credentials at all.
    let mut cfg = GatewayConfig::default();
    demo_routes(&mut cfg);
    cfg.routes[0].key.clear();
    cfg.routes[0].sessions = false;
    cfg.routes[0].legacy = false;
    let (store, _db) = sesame_store::testing::fresh_store(backend).await;
    let err = sesame_gateway::Gateway::new(cfg, store, prometheus::Registry::new())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("gateway.routes[0].key: the route accepts no credentials"),
        "{err}"
    );
}

both!(
    a_reload_swaps_the_table_under_load_without_dropping_a_request,
    multi_thread
);
async fn a_reload_swaps_the_table_under_load_without_dropping_a_request(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    let (v1, v2) = versions();
    std::fs::write(&file, &v1).unwrap();
    let s = watched_stack(backend, &file, 100).await;
    let a = s.account(A, &entitlements()).await;
    let c = s
        .collaborator(a, "underload", None, &["order_create", "address_manage"])
        .await;
    let auth = basic(&c);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (http, url, auth, stop, served) = (
            s.http.clone(),
            s.url.clone(),
            auth.clone(),
            stop.clone(),
            served.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .get(format!("{url}/commerce/v1/orders"))
                    .header("Authorization", &auth)
                    .send()
                    .await
                    .expect("no request dropped");
                assert_eq!(r.status(), 200, "{:?}", r.text().await);
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Forced reloads (SIGHUP's path), alternating tables, while the load runs.
    for i in 0..20 {
        std::fs::write(&file, if i % 2 == 0 { &v2 } else { &v1 }).unwrap();
        assert!(s.gateway.reload_routes().is_ok());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // An invalid table is refused, naming the key, and the current one keeps serving.
    std::fs::write(
        &file,
        v1.replace("right = \"order_validate\"", "right = \"nope\""),
    )
    .unwrap();
    let err = s.gateway.reload_routes().unwrap_err();
    assert!(err.contains("gateway.routes[3].right"), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A file change alone is picked up by the watcher.
    std::fs::write(&file, &v2).unwrap();
    wait_for_v2(&s, &auth).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 20, "the load ran");
    let m = s.metrics().await;
    assert!(m.contains("route=\"commerce_orders_v2\""));
    s.shutdown().await;
}

/// The demo's table, and a version 2 that renames the order list and moves the address routes.
fn versions() -> (String, String) {
    let demo = include_str!("../../../config/demo.toml");
    let v2 = demo
        .replace(
            "name = \"commerce_order_list\"",
            "name = \"commerce_orders_v2\"",
        )
        .replace(
            "path = \"/commerce/v1/addresses\"\n",
            "path = \"/commerce/v1/moved-addresses\"\nupstream_path = \"/commerce/v1/addresses\"\n",
        );
    assert_ne!(demo, v2);
    (demo.to_owned(), v2)
}

/// A stack serving the demo's table, reloading it from `file` (checked every `every_ms`).
async fn watched_stack(backend: Backend, file: &std::path::Path, every_ms: u64) -> Stack {
    let mut upstream = String::new();
    let s = Stack::new(backend, |cfg| {
        demo_routes(cfg);
        cfg.routes_reload_interval_ms = every_ms;
        upstream.clone_from(&cfg.upstream_url);
    })
    .await;
    let f = file.to_owned();
    assert!(s.gateway.watch_routes(RouteSource {
        files: vec![file.to_owned()],
        load: Arc::new(move || {
            let text = std::fs::read_to_string(&f).map_err(|e| e.to_string())?;
            table_of(&text, &upstream)
        }),
    }));
    s
}

/// Waits until the version 2 table serves (its moved address list answers).
async fn wait_for_v2(s: &Stack, auth: &str) {
    let start = Instant::now();
    loop {
        let (st, v) = call(
            s,
            reqwest::Method::GET,
            "/commerce/v1/moved-addresses",
            auth,
            None,
        )
        .await;
        if st == 200 {
            assert_eq!(v["addresses"].as_array().map(Vec::len), Some(2));
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the new table is not in use"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both!(sighup_reloads_the_table);
async fn sighup_reloads_the_table(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.toml");
    let (v1, v2) = versions();
    std::fs::write(&file, &v1).unwrap();
    // Files checked hourly: only the signal can explain a reload.
    let s = watched_stack(backend, &file, 3_600_000).await;
    let a = s.account(A, &entitlements()).await;
    let c = s.collaborator(a, "hangup", None, &["address_manage"]).await;
    let auth = basic(&c);
    std::fs::write(&file, &v2).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, _) = call(
        &s,
        reqwest::Method::GET,
        "/commerce/v1/moved-addresses",
        &auth,
        None,
    )
    .await;
    assert_eq!(st, 404, "not reloaded before the signal");
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    wait_for_v2(&s, &auth).await;
    s.shutdown().await;
}
