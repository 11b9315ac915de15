//! The JSON side of the users' portal (issue 14): sessions (`Authorization: Bearer`) as
//! credentials of Sesame's own endpoints, the parcel sheet, the search parameters and the pins.
//! Each test runs on SQLite and PostgreSQL.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use sesame_domain::model::Actor;
use sesame_store::{NewSession, SessionKind};

use crate::common::*;

const A: &str = "300001";
const B: &str = "300002";
const UNKNOWN: &str = "6A00000000000";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Status and body bytes of a GET with one header.
async fn get_raw(s: &Stack, path: &str, h: (&str, &str)) -> (u16, Vec<u8>) {
    let r = s.get(path, &[h]).await;
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn get_json(s: &Stack, path: &str, h: (&str, &str)) -> (u16, Value) {
    json_or_text(s.get(path, &[h]).await).await
}

async fn send(
    s: &Stack,
    method: reqwest::Method,
    path: &str,
    h: (&str, &str),
    body: Option<&Value>,
) -> (u16, Value) {
    let mut rb = s
        .http
        .request(method, format!("{}{}", s.url, path))
        .header(h.0, h.1);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    json_or_text(rb.send().await.unwrap()).await
}

fn numbers(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = if field == "parcels" {
                "parcelNumber"
            } else {
                "number"
            };
            format!(
                "{}/{}",
                p["accountNumber"].as_str().unwrap(),
                p[n].as_str().unwrap()
            )
        })
        .collect()
}

/// Two accounts; an advanced user with different scopes on each (and customer service on B),
/// and a colleague whose parcels and invoices it must not see.
async fn two_accounts(backend: Backend) -> (Stack, i64, i64, TestUser) {
    two_accounts_with(backend, |_| {}).await
}

async fn two_accounts_with(
    backend: Backend,
    tweak: impl FnOnce(&mut sesame_gateway::GatewayConfig),
) -> (Stack, i64, i64, TestUser) {
    let s = Stack::new(backend, tweak).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let b = s.account(B, ALL_RIGHTS).await;
    let u = s
        .user(
            a,
            "portaladv",
            Some("NORD"),
            Some("Logistique"),
            &["tracking_tool:group", "invoices:group"],
        )
        .await;
    s.associate(b, &u, &["tracking_tool_cs:own", "invoices:own"])
        .await;
    let colleague = s
        .user(
            a,
            "portalcol",
            Some("SUD"),
            Some("Compta"),
            &["ws_tracking"],
        )
        .await;
    for acc in [A, B] {
        s.stamp(acc, &u);
        s.stamp(acc, &colleague);
    }
    (s, a, b, u)
}

both!(a_session_sees_exactly_what_its_key_sees);
async fn a_session_sees_exactly_what_its_key_sees(backend: Backend) {
    let (s, _a, _b, u) = two_accounts(backend).await;
    let token = s.session_for(u.id).await;
    let by_session = bearer(&token);
    let key = ("apiKey", u.key.as_str());
    let session = ("Authorization", by_session.as_str());
    for path in [
        "/sesame/v1/parcels".to_owned(),
        "/sesame/v1/parcels?page=2".to_owned(),
        format!("/sesame/v1/parcels?account={B}"),
        "/sesame/v1/parcels?format=csv".to_owned(),
        "/sesame/v1/invoices".to_owned(),
        format!("/sesame/v1/invoices?account={A}"),
        "/sesame/v1/parcels?account=999999".to_owned(),
    ] {
        let by_key = get_raw(&s, &path, key).await;
        assert_eq!(get_raw(&s, &path, session).await, by_key, "{path}");
        if !path.contains("999999") {
            assert_eq!(by_key.0, 200, "{path}");
        }
    }
    let (_, parcels) = get_json(&s, "/sesame/v1/parcels", session).await;
    assert!(parcels["total"].as_u64().unwrap() > 0);
    let (_, invoices) = get_json(&s, "/sesame/v1/invoices", session).await;
    let listed = numbers(&invoices, "invoices");
    assert!(!listed.is_empty());
    // One PDF and a zip of every listed invoice, through the session: as with the key.
    let (acc, num) = listed[0].split_once('/').unwrap();
    let pdf = format!("/sesame/v1/invoices/{acc}/{num}/pdf");
    let by_key = get_raw(&s, &pdf, key).await;
    assert_eq!(by_key.0, 200);
    assert!(by_key.1.starts_with(b"%PDF"));
    assert_eq!(get_raw(&s, &pdf, session).await, by_key);
    let body = json!({"invoices": listed.iter().map(|x| {
        let (a, n) = x.split_once('/').unwrap();
        json!({"accountNumber": a, "number": n})
    }).collect::<Vec<_>>()});
    let zip = |h: (&'static str, String)| {
        s.http
            .post(format!("{}/sesame/v1/invoices/zip", s.url))
            .header(h.0, h.1)
            .json(&body)
            .send()
    };
    let r = zip(("Authorization", by_session.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
    // An invoice outside the scope answers like an unknown one, through the session too.
    let hidden = s
        .sim
        .invoices(A)
        .into_iter()
        .find(|i| !listed.contains(&format!("{A}/{}", i.number)))
        .expect("an invoice of A the user may not see");
    let p1 = get_raw(
        &s,
        &format!("/sesame/v1/invoices/{A}/{}/pdf", hidden.number),
        session,
    )
    .await;
    let p2 = get_raw(&s, &format!("/sesame/v1/invoices/{A}/F000/pdf"), session).await;
    assert_eq!(p1.0, 404);
    assert_eq!(p1, p2);
    // Claims: customer service on B covers the user's own parcels there, not A's.
    let mine = s
        .sim
        .parcels(B)
        .into_iter()
        .find(|p| p.user_key.as_deref() == Some(u.user_key.as_str()))
        .expect("an own parcel on B");
    let claim = |n: String| {
        let h = session;
        let s = &s;
        async move {
            send(
                s,
                reqwest::Method::POST,
                &format!("/sesame/v1/parcels/{n}/claims"),
                h,
                Some(&json!({"reason": "damaged", "comment": "carton abîmé"})),
            )
            .await
        }
    };
    let (st, v) = claim(mine.number.clone()).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["parcelNumber"], mine.number.as_str());
    let on_a = s.sim.parcels(A)[0].number.clone();
    assert_eq!(claim(on_a).await.0, 404);
    // The parcel sheet: the same through both credentials.
    let first = parcels["parcels"][0]["parcelNumber"].as_str().unwrap();
    let sheet = format!("/sesame/v1/parcels/{first}");
    let by_key = get_raw(&s, &sheet, key).await;
    assert_eq!(by_key.0, 200);
    assert_eq!(get_raw(&s, &sheet, session).await, by_key);
    s.shutdown().await;
}

both!(standard_users_and_collaborators_get_their_scope);
/// Before issue 14 a standard user or a collaborator had no way to the parcels and invoices;
/// with a session each gets exactly its catalogue rights' scope (seed 004's document
/// visibility none / own / department / all on invoices).
async fn standard_users_and_collaborators_get_their_scope(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    s.account(B, ALL_RIGHTS).await;
    let standard = s
        .collaborator(
            a,
            "portalstd",
            None,
            &["tracking_tool_cs:all", "invoices:all"],
        )
        .await;
    let own = s
        .collaborator(a, "collabown", Some("Logistique"), &["invoices:own"])
        .await;
    let dept = s
        .collaborator(a, "collabdept", Some("Compta"), &["invoices:group"])
        .await;
    let none = s
        .collaborator(a, "collabnone", Some("Compta"), &["ws_tracking"])
        .await;
    s.stamp_collaborator(A, &own);
    s.stamp_collaborator(A, &dept);
    let invoices = s.sim.invoices(A);
    let all: BTreeSet<String> = invoices
        .iter()
        .map(|i| format!("{A}/{}", i.number))
        .collect();
    let own_expected: BTreeSet<String> = invoices
        .iter()
        .filter(|i| i.contact_user_key.as_deref() == Some(own.id.to_string().as_str()))
        .map(|i| format!("{A}/{}", i.number))
        .collect();
    let dept_expected: BTreeSet<String> = invoices
        .iter()
        .filter(|i| i.department.as_deref() == Some("Compta"))
        .map(|i| format!("{A}/{}", i.number))
        .collect();
    assert!(!own_expected.is_empty() && !dept_expected.is_empty());
    assert!(own_expected.len() < all.len() && dept_expected.len() < all.len());
    let list = |id: i64| {
        let s = &s;
        async move {
            let t = bearer(&s.session_for(id).await);
            let (st, v) =
                get_json(s, "/sesame/v1/invoices?pageSize=200", ("Authorization", &t)).await;
            let got: BTreeSet<String> = if st == 200 {
                numbers(&v, "invoices").into_iter().collect()
            } else {
                BTreeSet::new()
            };
            (st, got)
        }
    };
    assert_eq!(list(standard.id).await, (200, all.clone()));
    assert_eq!(list(own.id).await, (200, own_expected.clone()));
    assert_eq!(list(dept.id).await, (200, dept_expected));
    assert_eq!(list(none.id).await.0, 403);
    // A PDF outside the collaborator's visibility answers like an unknown invoice.
    let t = bearer(&s.session_for(own.id).await);
    let h = ("Authorization", t.as_str());
    let theirs = all.difference(&own_expected).next().unwrap();
    let mine = own_expected.iter().next().unwrap();
    let pdf = |x: &str| format!("/sesame/v1/invoices/{x}/pdf");
    let ok = get_raw(&s, &pdf(mine), h).await;
    assert_eq!(ok.0, 200);
    assert!(ok.1.starts_with(b"%PDF"));
    let hidden = get_raw(&s, &pdf(theirs), h).await;
    assert_eq!(hidden.0, 404);
    assert_eq!(hidden, get_raw(&s, &pdf(&format!("{A}/F000")), h).await);
    // The standard user's tracking tool (with customer service, all): every parcel of its one
    // account, none of B's, and its claims.
    let t = bearer(&s.session_for(standard.id).await);
    let h = ("Authorization", t.as_str());
    let (st, v) = get_json(&s, "/sesame/v1/parcels?pageSize=100", h).await;
    assert_eq!(st, 200, "{v}");
    let got: BTreeSet<String> = numbers(&v, "parcels").into_iter().collect();
    let expected: BTreeSet<String> = s
        .sim
        .parcels(A)
        .iter()
        .map(|p| format!("{A}/{}", p.number))
        .collect();
    assert_eq!(got, expected);
    let n = s.sim.parcels(A)[3].number.clone();
    let (st, v) = send(
        &s,
        reqwest::Method::POST,
        &format!("/sesame/v1/parcels/{n}/claims"),
        h,
        Some(&json!({"reason": "late"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let other = s.sim.parcels(B)[0].number.clone();
    let (st, _) = get_json(&s, &format!("/sesame/v1/parcels/{other}"), h).await;
    assert_eq!(st, 404);
    // A collaborator without the tool: 403 naming the right.
    let t = bearer(&s.session_for(none.id).await);
    let (st, v) = get_json(&s, "/sesame/v1/parcels", ("Authorization", &t)).await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["right"], "tracking_tool");
    s.shutdown().await;
}

both!(refused_sessions_cost_no_upstream_call);
/// A revoked, expired or account-admin session, garbage and a 10 KB token: 401 in Sesame's
/// shape on every endpoint, and nothing reaches the carrier or the pins.
async fn refused_sessions_cost_no_upstream_call(backend: Backend) {
    // Every refusal below counts as a failed key on 127.0.0.1: free of slow-down here (the
    // slow-down has its own tests), so the answers are the refusals themselves.
    let (s, a, _b, u) = two_accounts_with(backend, |c| {
        c.throttle.address_free_failures = 10_000;
    })
    .await;
    let revoked = s.session_for(u.id).await;
    s.store
        .revoke_session(Actor::User { user_id: u.id }, &revoked)
        .await
        .unwrap();
    let expired = s
        .open_session(
            Actor::User { user_id: u.id },
            NewSession {
                kind: SessionKind::User,
                account_id: None,
                user_id: Some(u.id),
                impersonator_account_id: None,
                ttl_millis: 1,
            },
        )
        .await;
    let operator = s
        .open_session(
            Actor::Operator,
            NewSession {
                kind: SessionKind::Operator,
                account_id: None,
                user_id: None,
                impersonator_account_id: None,
                ttl_millis: 3_600_000,
            },
        )
        .await;
    let admin = s.admin_session(a).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let live = s.session_for(u.id).await;
    let mut tampered = live.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let tokens = [
        revoked,
        expired,
        operator,
        admin,
        tampered,
        "garbage".to_owned(),
        "x".repeat(10 * 1024),
        format!("{live} {live}"),
    ];
    let n = s.sim.parcels(B)[0].number.clone();
    let calls: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, "/sesame/v1/parcels".into(), None),
        (
            reqwest::Method::POST,
            format!("/sesame/v1/parcels/{n}/claims"),
            Some(json!({"reason": "late"})),
        ),
        (
            reqwest::Method::GET,
            format!("/sesame/v1/parcels/{n}"),
            None,
        ),
        (reqwest::Method::GET, "/sesame/v1/invoices".into(), None),
        (
            reqwest::Method::GET,
            format!("/sesame/v1/invoices/{A}/F000/pdf"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/sesame/v1/invoices/zip".into(),
            Some(json!({"invoices": [{"accountNumber": A, "number": "F000"}]})),
        ),
        (reqwest::Method::GET, "/sesame/v1/pins".into(), None),
        (reqwest::Method::PUT, format!("/sesame/v1/pins/{n}"), None),
        (
            reqwest::Method::DELETE,
            format!("/sesame/v1/pins/{n}"),
            None,
        ),
    ];
    s.sim.clear_captured();
    for t in &tokens {
        let h = bearer(t);
        for (m, path, body) in &calls {
            let (st, v) = send(&s, m.clone(), path, ("Authorization", &h), body.as_ref()).await;
            assert_eq!(st, 401, "{m} {path} with {}…: {v}", &t[..t.len().min(12)]);
            assert_eq!(v["error"]["code"], "invalid_credentials", "{v}");
        }
    }
    // Another scheme is no session either.
    let (st, _) = send(
        &s,
        reqwest::Method::GET,
        "/sesame/v1/parcels",
        ("Authorization", &format!("Basic {live}")),
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert!(
        s.sim.captured().is_empty(),
        "a refused session reached the carrier"
    );
    assert!(s.store.pins_of(u.id).await.unwrap().is_empty());
    // The live one works, so the refusals above were about the tokens.
    let (st, _) = get_json(&s, "/sesame/v1/parcels", ("Authorization", &bearer(&live))).await;
    assert_eq!(st, 200);
    s.shutdown().await;
}

both!(an_impersonation_acts_as_the_user);
async fn an_impersonation_acts_as_the_user(backend: Backend) {
    let (s, a, _b, u) = two_accounts(backend).await;
    let imp = bearer(&s.impersonation_for(a, u.id).await);
    let h = ("Authorization", imp.as_str());
    let key = ("apiKey", u.key.as_str());
    for path in [
        "/sesame/v1/parcels",
        "/sesame/v1/invoices",
        "/sesame/v1/parcels?format=csv",
    ] {
        let by_key = get_raw(&s, path, key).await;
        assert_eq!(by_key.0, 200);
        assert_eq!(get_raw(&s, path, h).await, by_key, "{path}");
    }
    // What the impersonator pins is the user's.
    let (_, v) = get_json(&s, "/sesame/v1/parcels", h).await;
    let n = v["parcels"][0]["parcelNumber"].as_str().unwrap().to_owned();
    let (st, _) = send(
        &s,
        reqwest::Method::PUT,
        &format!("/sesame/v1/pins/{n}"),
        h,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (_, pins) = get_json(&s, "/sesame/v1/pins", key).await;
    assert_eq!(pins["pins"][0]["parcelNumber"], n.as_str());
    s.shutdown().await;
}

both!(the_parcel_sheet_is_scoped);
async fn the_parcel_sheet_is_scoped(backend: Backend) {
    let (s, a, _b, u) = two_accounts(backend).await;
    let t = bearer(&s.session_for(u.id).await);
    let h = ("Authorization", t.as_str());
    let (_, v) = get_json(&s, "/sesame/v1/parcels?pageSize=100", h).await;
    let visible: BTreeSet<String> = v["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parcelNumber"].as_str().unwrap().to_owned())
        .collect();
    let shown = visible.iter().next().unwrap();
    let (st, sheet) = get_json(&s, &format!("/sesame/v1/parcels/{shown}"), h).await;
    assert_eq!(st, 200, "{sheet}");
    assert_eq!(sheet["parcel"]["parcelNumber"], shown.as_str());
    assert_eq!(sheet["pinned"], false);
    assert!(sheet["accountNumber"] == A || sheet["accountNumber"] == B);
    assert!(sheet["parcel"]["event"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    // Lower case is the same parcel.
    let (st, _) = get_json(
        &s,
        &format!("/sesame/v1/parcels/{}", shown.to_lowercase()),
        h,
    )
    .await;
    assert_eq!(st, 200);
    // Out of scope ≡ unknown, byte for byte.
    let hidden = [A, B]
        .iter()
        .flat_map(|acc| s.sim.parcels(acc))
        .find(|p| !visible.contains(&p.number))
        .expect("a parcel the user may not see");
    let out = get_raw(&s, &format!("/sesame/v1/parcels/{}", hidden.number), h).await;
    let unknown = get_raw(&s, &format!("/sesame/v1/parcels/{UNKNOWN}"), h).await;
    assert_eq!(out.0, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.1).unwrap()["error"]["code"],
        "unknown_parcel"
    );
    let unknown_body: Value = serde_json::from_slice(&unknown.1).unwrap();
    let out_body: Value = serde_json::from_slice(&out.1).unwrap();
    assert_eq!(out_body["error"], unknown_body["error"]);
    // Hostile ids: refused naming the parameter, before any lookup.
    s.sim.clear_captured();
    for bad in [
        "6A-1".to_owned(),
        "6A%2F1".to_owned(),
        "6A%2E1".to_owned(),
        "A".repeat(41),
        "%41".repeat(200),
        "6A%001".to_owned(),
    ] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels/{bad}"), h).await;
        assert_eq!(st, 400, "{bad}: {v}");
        assert_eq!(v["error"]["field"], "parcelNumber", "{bad}");
    }
    assert!(s.sim.captured().is_empty());
    // No tracking tool at all: 403.
    let lone = s.user(a, "portallone", None, None, &["ws_tracking"]).await;
    let (st, v) = get_json(
        &s,
        &format!("/sesame/v1/parcels/{shown}"),
        ("apiKey", &lone.key),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(v["error"]["right"], "tracking_tool");
    s.shutdown().await;
}

// ---- search parameters (step 2) ----

/// Two accounts and a user seeing everything on both (60 parcels, 24 invoices).
async fn everything(backend: Backend) -> (Stack, TestUser) {
    let (s, u, _) = everything_on(backend).await;
    (s, u)
}

/// [`everything`], with the id of account A.
async fn everything_on(backend: Backend) -> (Stack, TestUser, i64) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let b = s.account(B, ALL_RIGHTS).await;
    let u = s
        .user(
            a,
            "portalall",
            None,
            None,
            &["tracking_tool:all", "invoices:all", "ws_postage"],
        )
        .await;
    s.associate(b, &u, &["tracking_tool:all", "invoices:all"])
        .await;
    (s, u, a)
}

/// How the test orders two cells: absent and null first, false before true, text without
/// case, then exactly.
fn cell_order(a: &Value, b: &Value, numeric: bool) -> std::cmp::Ordering {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    if numeric {
        if let (Some(x), Some(y)) = (num(a), num(b)) {
            return x.partial_cmp(&y).unwrap();
        }
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        _ => panic!("cells of different kinds: {a} {b}"),
    }
}

/// Rows ordered by `key` (descending with `desc`), ties by `tie` ascending.
fn assert_sorted(rows: &[Value], key: &str, desc: bool, numeric: bool, tie: &str) {
    for w in rows.windows(2) {
        let o = cell_order(&w[0][key], &w[1][key], numeric);
        let o = if desc { o.reverse() } else { o };
        let o = o.then_with(|| cell_order(&w[0][tie], &w[1][tie], false));
        assert_ne!(
            o,
            std::cmp::Ordering::Greater,
            "{key} desc={desc}: {} before {}",
            w[0][key],
            w[1][key]
        );
    }
}

/// Asks `/sesame/v1/{list}` sorted on each of `columns` (sort name, item field, numeric), both
/// ways, and checks each answer's order (ties by `tie`) and length; each sort and its rows.
async fn check_sorts(
    s: &Stack,
    h: (&str, &str),
    list: &str,
    columns: &[(&str, &str, bool)],
    len: usize,
    tie: &str,
) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for (name, key, numeric) in columns {
        for desc in [false, true] {
            let sort = if desc {
                format!("-{name}")
            } else {
                (*name).to_owned()
            };
            let (st, v) =
                get_json(s, &format!("/sesame/v1/{list}?pageSize=100&sort={sort}"), h).await;
            assert_eq!(st, 200, "sort={sort}: {v}");
            let rows = v[list].as_array().unwrap().clone();
            assert_eq!(rows.len(), len, "sort={sort}");
            assert_sorted(&rows, key, desc, *numeric, tie);
            out.push((sort, rows));
        }
    }
    out
}

both!(search_parameters);
async fn search_parameters(backend: Backend) {
    let (s, u) = everything(backend).await;
    let t = bearer(&s.session_for(u.id).await);
    let h = ("Authorization", t.as_str());
    let all = s.sim.parcels(A).len() + s.sim.parcels(B).len();
    assert_eq!(all, 60);
    // Page sizes: 25 by default, 50, 100; nothing else.
    let (st, v) = get_json(&s, "/sesame/v1/parcels", h).await;
    assert_eq!(st, 200);
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["total", "page", "pageSize", "pages", "parcels", "accounts"])
    );
    assert_eq!(v["pageSize"], 25);
    assert_eq!(v["parcels"].as_array().unwrap().len(), 25);
    assert_eq!(v["pages"], 3);
    let default_order = v["parcels"].as_array().unwrap().clone();
    assert_sorted(&default_order, "depositDate", true, false, "parcelNumber");
    for (size, len, pages) in [(50, 50, 2), (100, 60, 1)] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels?pageSize={size}"), h).await;
        assert_eq!(st, 200);
        assert_eq!(v["pageSize"], size);
        assert_eq!(v["parcels"].as_array().unwrap().len(), len);
        assert_eq!(v["pages"], pages);
        assert_eq!(v["total"], 60);
    }
    let (_, v) = get_json(&s, "/sesame/v1/parcels?pageSize=50&page=2", h).await;
    assert_eq!(v["parcels"].as_array().unwrap().len(), 10);
    for bad in [
        "0",
        "10",
        "26",
        "200",
        "-25",
        "25.0",
        "abc",
        "99999999999999999999999",
        "%00",
    ] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels?pageSize={bad}"), h).await;
        assert_eq!(st, 400, "pageSize={bad}");
        assert_eq!(v["error"]["field"], "pageSize", "pageSize={bad}: {v}");
        assert_eq!(v["error"]["code"], "invalid_request");
    }
    // Sorting on every column, both ways, ties by parcel number; pages are stable.
    let columns = [
        ("accountNumber", "accountNumber", false),
        ("parcelNumber", "parcelNumber", false),
        ("pass", "pass", false),
        ("reference", "reference", false),
        ("recipientName", "recipientName", false),
        ("postalCode", "postalCode", false),
        ("status", "statusLabel", false),
        ("location", "location", false),
        ("country", "country", false),
        ("depositDate", "depositDate", false),
    ];
    for (sort, rows) in check_sorts(&s, h, "parcels", &columns, 60, "parcelNumber").await {
        let mut paged = Vec::new();
        for page in 1..=3 {
            let (_, v) = get_json(
                &s,
                &format!("/sesame/v1/parcels?page={page}&sort={sort}"),
                h,
            )
            .await;
            paged.extend(v["parcels"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(paged, rows, "pages of sort={sort}");
    }
    let (_, v) = get_json(&s, "/sesame/v1/parcels?sort=-depositDate", h).await;
    assert_eq!(v["parcels"].as_array().unwrap(), &default_order);
    let long = "x".repeat(5000);
    for bad in [
        "foo",
        "-",
        "--depositDate",
        "userKey",
        "tag",
        "DEPOSITDATE",
        "depositDate,parcelNumber",
        long.as_str(),
    ] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels?sort={bad}"), h).await;
        assert_eq!(st, 400, "sort={}", &bad[..bad.len().min(20)]);
        assert_eq!(v["error"]["field"], "sort");
        // The refusal names the accepted fields, never echoes a long value.
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("depositDate") && msg.len() < 400, "{msg}");
    }
    // PASS and location filters.
    let (_, v) = get_json(&s, "/sesame/v1/parcels?pageSize=100", h).await;
    let rows = v["parcels"].as_array().unwrap().clone();
    let passes = rows.iter().filter(|p| p["pass"] == true).count();
    let sim_passes = [A, B]
        .iter()
        .flat_map(|a| s.sim.parcels(a))
        .filter(|p| p.pass)
        .count();
    assert_eq!(passes, sim_passes);
    assert!(passes > 0 && passes < 60, "{passes} PASS parcels");
    for (q, want) in [("true", passes), ("false", 60 - passes)] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels?pageSize=100&pass={q}"), h).await;
        assert_eq!(st, 200);
        let got = v["parcels"].as_array().unwrap();
        assert_eq!(got.len(), want, "pass={q}");
        assert!(got.iter().all(|p| p["pass"] == (q == "true")));
        assert_eq!(v["total"], want);
    }
    for bad in ["yes", "1", "TRUE ", "oui"] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/parcels?pass={bad}"), h).await;
        assert_eq!(st, 400, "pass={bad}");
        assert_eq!(v["error"]["field"], "pass");
    }
    let site = rows
        .iter()
        .find_map(|p| p["location"].as_str())
        .expect("a parcel with a location")
        .to_owned();
    let part: String = site.chars().skip(1).take(5).collect();
    let want = rows
        .iter()
        .filter(|p| {
            p["location"]
                .as_str()
                .is_some_and(|l| l.to_lowercase().contains(&part.to_lowercase()))
        })
        .count();
    assert!(want > 0 && want < 60, "{want} parcels at {part}");
    let (st, v) = get_json(
        &s,
        &format!(
            "/sesame/v1/parcels?pageSize=100&location={}",
            urlencoding(&part.to_uppercase())
        ),
        h,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["total"], want, "location={part}");
    // The CSV export: PASS after the parcel number, in the asked order.
    let r = s
        .get("/sesame/v1/parcels?format=csv&sort=-parcelNumber", &[h])
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 61);
    let head: Vec<&str> = lines[0].split(';').collect();
    assert_eq!(&head[..3], &["N° compte client", "N° de colis", "PASS"]);
    let numbers: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(';').nth(1).unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(numbers, sorted);
    let pass_cells: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(';').nth(2).unwrap())
        .collect();
    assert!(pass_cells.iter().all(|c| *c == "Oui" || *c == "Non"));
    assert_eq!(pass_cells.iter().filter(|c| **c == "Oui").count(), passes);
    s.shutdown().await;
}

/// Percent-encodes a query value (letters and digits kept).
fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

both!(sorted_exports_stay_defused);
/// A sender reference that is a formula, first in the asked order: exported defused.
async fn sorted_exports_stay_defused(backend: Backend) {
    let (s, u) = everything(backend).await;
    for r in ["=1+1", "+33102030405", "@SUM(A1:A2)"] {
        let mut body = label_body(Some(A));
        body["letter"]["sender"]["senderParcelRef"] = json!(r);
        let resp = s
            .http
            .post(format!("{}{LABEL}", s.url))
            .header("apiKey", &u.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let r = s
        .get(
            "/sesame/v1/parcels?format=csv&sort=reference&pageSize=100",
            &[("apiKey", u.key.as_str())],
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let mut seen = 0;
    for line in text.trim_start_matches('\u{feff}').lines().skip(1) {
        for cell in line.split(';') {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "live formula {cell:?}"
            );
        }
        if line.contains("'=1+1") || line.contains("'+33102030405") || line.contains("'@SUM") {
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "{text}");
    s.shutdown().await;
}

both!(invoice_sorting);
async fn invoice_sorting(backend: Backend) {
    let (s, u) = everything(backend).await;
    let h = ("apiKey", u.key.as_str());
    let (st, v) = get_json(&s, "/sesame/v1/invoices?pageSize=100", h).await;
    assert_eq!(st, 200);
    let default = v["invoices"].as_array().unwrap().clone();
    assert_eq!(default.len(), 24);
    assert_sorted(&default, "date", true, false, "number");
    let columns = [
        ("number", "number", false),
        ("type", "kind", false),
        ("date", "date", false),
        ("accountNumber", "accountNumber", false),
        ("company", "company", false),
        ("amount", "amountTtc", true),
        ("pages", "pages", true),
    ];
    check_sorts(&s, h, "invoices", &columns, 24, "number").await;
    // Amounts are numbers, not text: 9.50 before 10.00.
    let (_, v) = get_json(&s, "/sesame/v1/invoices?pageSize=100&sort=amount", h).await;
    let amounts: Vec<f64> = v["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amountTtc"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|w| w[0] <= w[1]), "{amounts:?}");
    for bad in ["amountTtc", "contactUserKey", "department", "-", "kind"] {
        let (st, v) = get_json(&s, &format!("/sesame/v1/invoices?sort={bad}"), h).await;
        assert_eq!(st, 400, "sort={bad}");
        assert_eq!(v["error"]["field"], "sort");
    }
    let (st, v) = get_json(&s, "/sesame/v1/invoices?pageSize=0", h).await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["field"], "pageSize");
    s.shutdown().await;
}

// ---- pins (step 3) ----

async fn put_pin(s: &Stack, h: (&str, &str), n: &str) -> (u16, Value) {
    send(
        s,
        reqwest::Method::PUT,
        &format!("/sesame/v1/pins/{n}"),
        h,
        None,
    )
    .await
}

async fn delete_pin(s: &Stack, h: (&str, &str), n: &str) -> (u16, Value) {
    send(
        s,
        reqwest::Method::DELETE,
        &format!("/sesame/v1/pins/{n}"),
        h,
        None,
    )
    .await
}

async fn pinned(s: &Stack, h: (&str, &str)) -> Vec<Value> {
    let (st, v) = get_json(s, "/sesame/v1/pins", h).await;
    assert_eq!(st, 200, "{v}");
    v["pins"].as_array().unwrap().clone()
}

fn pin_numbers(pins: &[Value]) -> Vec<&str> {
    pins.iter()
        .map(|p| p["parcelNumber"].as_str().unwrap())
        .collect()
}

both!(pins_are_kept_per_user);
async fn pins_are_kept_per_user(backend: Backend) {
    let (s, a, b, u) = two_accounts(backend).await;
    let first = s.session_for(u.id).await;
    let t = bearer(&first);
    let h = ("Authorization", t.as_str());
    let key = ("apiKey", u.key.as_str());
    let (_, v) = get_json(&s, "/sesame/v1/parcels?pageSize=100", h).await;
    let rows = v["parcels"].as_array().unwrap().clone();
    assert!(rows.len() >= 3);
    let visible: BTreeSet<String> = rows
        .iter()
        .map(|p| p["parcelNumber"].as_str().unwrap().to_owned())
        .collect();
    let n1 = rows[0]["parcelNumber"].as_str().unwrap().to_owned();
    let n2 = rows
        .iter()
        .find(|p| p["accountNumber"] == B)
        .expect("a visible parcel on B")["parcelNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pinned(&s, h).await.is_empty());
    // Pin, idempotently (lower case is the same parcel).
    let (st, p1) = put_pin(&s, h, &n1).await;
    assert_eq!(st, 200, "{p1}");
    assert_eq!(p1["parcelNumber"], n1.as_str());
    assert_eq!(p1["visible"], true);
    assert!(p1["pinnedAt"].as_str().unwrap().ends_with('Z'));
    let (st, again) = put_pin(&s, h, &n1.to_lowercase()).await;
    assert_eq!(st, 200);
    assert_eq!(again, p1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (st, p2) = put_pin(&s, key, &n2).await;
    assert_eq!(st, 200);
    assert_eq!(p2["accountNumber"], B);
    // Listed newest first, with the search's row; the same through the key.
    let list = pinned(&s, h).await;
    assert_eq!(pin_numbers(&list), [n2.as_str(), n1.as_str()]);
    let row = rows
        .iter()
        .find(|p| p["parcelNumber"] == n2.as_str())
        .unwrap();
    assert_eq!(&list[0]["parcel"], row);
    assert_eq!(list[0]["visible"], true);
    assert_eq!(list, pinned(&s, key).await);
    let (_, sheet) = get_json(&s, &format!("/sesame/v1/parcels/{n1}"), h).await;
    assert_eq!(sheet["pinned"], true);
    // Signing out and in again (a new session of the same user) finds them.
    s.store
        .revoke_session(Actor::User { user_id: u.id }, &first)
        .await
        .unwrap();
    assert_eq!(get_json(&s, "/sesame/v1/pins", h).await.0, 401);
    let t2 = bearer(&s.session_for(u.id).await);
    let h2 = ("Authorization", t2.as_str());
    assert_eq!(
        pin_numbers(&pinned(&s, h2).await),
        [n2.as_str(), n1.as_str()]
    );
    // Unpin: 204, also when not pinned.
    assert_eq!(delete_pin(&s, h2, &n1).await.0, 204);
    assert_eq!(delete_pin(&s, h2, &n1).await.0, 204);
    assert_eq!(delete_pin(&s, h2, UNKNOWN).await.0, 204);
    assert_eq!(pin_numbers(&pinned(&s, h2).await), [n2.as_str()]);

    // Another user sees none of them, and cannot remove them.
    let other = s
        .user(a, "portalother", None, None, &["tracking_tool:all"])
        .await;
    let ok = ("apiKey", other.key.as_str());
    assert!(pinned(&s, ok).await.is_empty());
    assert_eq!(delete_pin(&s, ok, &n2).await.0, 204);
    assert_eq!(pin_numbers(&pinned(&s, h2).await), [n2.as_str()]);
    // A parcel of an account the other user has no link to: unknown, nothing written.
    let theirs = s.sim.parcels(B)[0].number.clone();
    let refused = put_pin(&s, ok, &theirs).await;
    let unknown = put_pin(&s, ok, UNKNOWN).await;
    assert_eq!(refused.0, 404);
    assert_eq!(refused.1["error"]["code"], "unknown_parcel");
    assert_eq!(refused.1["error"], unknown.1["error"]);
    assert!(s.store.pins_of(other.id).await.unwrap().is_empty());
    // A parcel of u's own account outside its scope: the same.
    let hidden = s
        .sim
        .parcels(A)
        .into_iter()
        .find(|p| !visible.contains(&p.number))
        .expect("an out-of-scope parcel of A");
    let (st, v) = put_pin(&s, h2, &hidden.number).await;
    assert_eq!(st, 404);
    assert_eq!(v["error"], put_pin(&s, h2, UNKNOWN).await.1["error"]);
    assert_eq!(s.store.pins_of(u.id).await.unwrap().len(), 1);
    // Hostile parcel numbers: refused naming the parameter, on every verb.
    s.sim.clear_captured();
    let (long, encoded) = ("A".repeat(41), "%41".repeat(100));
    for bad in ["6A-1", "6A%2E1", "6A%20", long.as_str(), encoded.as_str()] {
        for (st, v) in [put_pin(&s, h2, bad).await, delete_pin(&s, h2, bad).await] {
            assert_eq!(st, 400, "{bad}");
            assert_eq!(v["error"]["field"], "parcelNumber");
        }
    }
    assert!(s.sim.captured().is_empty());
    // A right withdrawn: the pin stays, listed without the parcel's data.
    s.store
        .set_link_rights(
            Actor::AccountAdmin { account_id: b },
            b,
            u.id,
            rights(&["ws_tracking"]),
        )
        .await
        .unwrap();
    s.settle().await;
    let list = pinned(&s, key).await;
    assert_eq!(pin_numbers(&list), [n2.as_str()]);
    assert_eq!(list[0]["visible"], false);
    assert!(list[0].get("parcel").is_none(), "{}", list[0]);
    assert_eq!(list[0]["accountNumber"], B);
    s.shutdown().await;
}

both!(pins_are_bounded);
async fn pins_are_bounded(backend: Backend) {
    let (s, u) = everything(backend).await;
    let key = ("apiKey", u.key.as_str());
    let first = s.sim.parcels(A)[0].number.clone();
    let second = s.sim.parcels(A)[1].number.clone();
    assert_eq!(put_pin(&s, key, &first).await.0, 200);
    // Fill up to the bound straight in the store (pins of parcels long gone, say).
    for i in 1..sesame_store::MAX_PINS {
        s.store
            .pin(
                Actor::User { user_id: u.id },
                u.id,
                &format!("8Z{i:011}"),
                A,
            )
            .await
            .unwrap();
    }
    let (st, v) = put_pin(&s, key, &second).await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(v["error"]["field"], "parcelNumber");
    assert!(v["error"]["message"].as_str().unwrap().contains("500"));
    // Pinning a pinned parcel at the bound is still fine; unpinning one makes room.
    assert_eq!(put_pin(&s, key, &first).await.0, 200);
    assert_eq!(s.store.pins_of(u.id).await.unwrap().len(), 500);
    let list = pinned(&s, key).await;
    assert_eq!(list.len(), 500);
    assert_eq!(list.iter().filter(|p| p["visible"] == true).count(), 1);
    assert_eq!(delete_pin(&s, key, "8Z00000000001").await.0, 204);
    assert_eq!(put_pin(&s, key, &second).await.0, 200);
    assert_eq!(pinned(&s, key).await[0]["parcelNumber"], second.as_str());
    s.shutdown().await;
}

both!(pins_go_with_their_user);
async fn pins_go_with_their_user(backend: Backend) {
    let (s, u, a) = everything_on(backend).await;
    let c = s
        .collaborator(a, "portalpinner", None, &["tracking_tool_cs:all"])
        .await;
    let t = bearer(&s.session_for(c.id).await);
    let n = s.sim.parcels(A)[0].number.clone();
    assert_eq!(put_pin(&s, ("Authorization", &t), &n).await.0, 200);
    assert_eq!(put_pin(&s, ("apiKey", &u.key), &n).await.0, 200);
    // The rows of the pins table for a user id (the user may be gone).
    let count = |id: i64| {
        let s = &s;
        async move { s.store.pins_of(id).await.unwrap().len() }
    };
    assert_eq!(count(c.id).await, 1);
    // Deleting the standard user deletes its pins (ON DELETE CASCADE).
    s.store
        .delete_standard_user(Actor::AccountAdmin { account_id: a }, a, c.id)
        .await
        .unwrap();
    assert_eq!(count(c.id).await, 0);
    // Erasing an identity removes its pins too.
    assert_eq!(count(u.id).await, 1);
    s.store
        .erase_user(Actor::Operator, u.id, None)
        .await
        .unwrap();
    assert_eq!(count(u.id).await, 0);
    s.shutdown().await;
}
