//! Issue 10, defect 4, gateway side: guessing a legacy login/password through the real public
//! listener. Every answer that is not a 429 means a password was verified; the throttle must
//! keep that to a handful whatever the parallelism or the source addresses.

use serde_json::{json, Value};
use sesame_store::Backend;

use crate::common::*;

/// Password checks allowed before delays start (`login_free_failures` and
/// `shared_free_failures` defaults), plus slack for a success crediting its reservation.
const HANDFUL: usize = 6;

async fn stack(backend: Backend) -> Stack {
    Stack::new(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("range")];
    })
    .await
}

/// Posts `body` as if from `from` (through the trusted proxy); (status, body).
async fn post_from(s: &Stack, path: &str, body: &Value, from: &str) -> (u16, Value) {
    s.post_json(path, &[("X-Forwarded-For", from)], body).await
}

/// A throttled answer: 429, in the service's envelope.
fn throttled(st: u16) -> bool {
    st == 429
}

/// `n` parallel posts of `body(i)`, each from `from(i)`; their statuses in request order.
async fn burst(
    s: &Stack,
    path: &'static str,
    n: usize,
    body: impl Fn(usize) -> Value,
    from: impl Fn(usize) -> String,
) -> Vec<u16> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = s.http.clone();
        let url = format!("{}{path}", s.url);
        let b = body(i);
        let f = from(i);
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("X-Forwarded-For", f)
                .json(&b)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or(0));
    }
    out
}

async fn standard_user(s: &Stack, account: i64) {
    use sesame_domain::model::Actor;
    s.store
        .create_standard_user(
            Actor::AccountAdmin {
                account_id: account,
            },
            account,
            sesame_store::NewStandardUser {
                profile: profile("Standard"),
                login: sesame_domain::Login::parse("std.user").expect("login"),
                password: "StdPass1234".into(),
                rights: rights(&["ws_tracking"]),
                department_id: None,
            },
        )
        .await
        .expect("standard user");
}

/// `n` tracking posts of `body(i)` one after the other, each from `from(i)`: how many were
/// verified (not throttled).
async fn verified_one_by_one(
    s: &Stack,
    n: usize,
    body: impl Fn(usize) -> Value,
    from: impl Fn(usize) -> String,
) -> usize {
    let mut verified = 0;
    for i in 0..n {
        let (st, _) = post_from(s, TRACKING, &body(i), &from(i)).await;
        if !throttled(st) {
            verified += 1;
        }
    }
    verified
}

/// A stack with account `number` and its standard user `std.user`; one of its parcels.
async fn stack_with_user(backend: Backend, number: &str) -> (Stack, String) {
    let s = stack(backend).await;
    let a = s.account(number, ALL_RIGHTS).await;
    standard_user(&s, a).await;
    let p = s.sim.parcels(number)[0].number.clone();
    (s, p)
}

/// A request body for a given password.
type Body = Box<dyn Fn(&str) -> Value>;

/// A tracking call of `std.user` with `password`.
fn tracking_body(parcel: &str, password: &str) -> Value {
    json!({"login": "std.user", "password": password, "parcelNumber": parcel})
}

both!(
    d4_parallel_legacy_guesses_are_counted_before_verifying,
    multi_thread
);
async fn d4_parallel_legacy_guesses_are_counted_before_verifying(backend: Backend) {
    let (s, p) = stack_with_user(backend, "100401").await;
    // The three spellings of legacy credentials, each its own login.
    let cases: Vec<(&'static str, Body)> = vec![
        (TRACKING, Box::new(move |pw: &str| tracking_body(&p, pw))),
        (
            LABEL,
            Box::new(|pw: &str| {
                let mut b = label_body(Some("100401"));
                b["password"] = json!(pw);
                b
            }),
        ),
    ];
    for (path, body) in &cases {
        let statuses = burst(
            &s,
            path,
            60,
            |i| body(&format!("Wrong-Guess{i}")),
            |_| "198.51.100.7".into(),
        )
        .await;
        let verified = statuses.iter().filter(|st| !throttled(**st)).count();
        eprintln!("{path}: {verified} of 60 parallel guesses verified");
        assert!(
            verified <= HANDFUL,
            "{path}: {verified} of 60 parallel guesses verified: {statuses:?}"
        );
        // The right password from the attacking address is refused while throttled.
        let (st, v) = post_from(&s, path, &body("StdPass1234"), "198.51.100.7").await;
        assert!(
            throttled(st),
            "{path}: right password in the burst: {st} {v}"
        );
    }
    // Pickup: accountNumber + password (the account admin), rotated through fresh addresses.
    let statuses = burst(
        &s,
        PICKUP,
        60,
        |i| json!({"accountNumber": "100401", "password": format!("Wrong-Guess{i}"), "zipCode": "75001", "weight": "500"}),
        |i| format!("203.0.113.{}", i + 1),
    )
    .await;
    let verified = statuses.iter().filter(|st| !throttled(**st)).count();
    eprintln!("pickup: {verified} of 60 guesses from 60 addresses verified");
    assert!(
        verified <= HANDFUL,
        "pickup: {verified} of 60 guesses from rotating addresses verified: {statuses:?}"
    );
    let (st, v) = post_from(
        &s,
        PICKUP,
        &json!({"accountNumber": "100401", "password": "AdminPass123", "zipCode": "75001", "weight": "500"}),
        "203.0.113.200",
    )
    .await;
    assert!(
        throttled(st),
        "pickup: right password from a new address: {st} {v}"
    );
    s.shutdown().await;
}

both!(
    d4_rotating_forwarded_addresses_do_not_bypass_the_per_login_limit,
    multi_thread
);
async fn d4_rotating_forwarded_addresses_do_not_bypass_the_per_login_limit(backend: Backend) {
    let (s, p) = stack_with_user(backend, "100402").await;
    let body = |pw: &str| tracking_body(&p, pw);
    // One guess at a time, each from a new address: no parallelism to blame.
    let verified = verified_one_by_one(
        &s,
        40,
        |i| body(&format!("Wrong-Guess{i}")),
        |i| format!("192.0.2.{}", i + 1),
    )
    .await;
    eprintln!("tracking: {verified} of 40 sequential guesses from 40 addresses verified");
    assert!(
        verified <= HANDFUL,
        "{verified} of 40 guesses from rotating addresses verified"
    );
    // The account admin's login from addresses inside one /64 (one client; the grouping
    // itself is unit-tested in the crate).
    let verified = verified_one_by_one(
        &s,
        20,
        |i| json!({"login": "100402", "password": format!("Wrong-Guess{i}"), "parcelNumber": p}),
        |i| format!("2001:db8:7:7::{:x}", i + 1),
    )
    .await;
    assert!(
        verified <= HANDFUL,
        "{verified} of 20 guesses inside one /64 verified"
    );
    s.shutdown().await;
}

both!(
    d4_real_user_from_a_clean_address_works_during_an_attack,
    multi_thread
);
async fn d4_real_user_from_a_clean_address_works_during_an_attack(backend: Backend) {
    let (s, p) = stack_with_user(backend, "100403").await;
    let body = |pw: &str| tracking_body(&p, pw);
    let statuses = burst(
        &s,
        TRACKING,
        30,
        |i| body(&format!("Wrong-Guess{i}")),
        |_| "198.51.100.9".into(),
    )
    .await;
    assert!(statuses.iter().any(|st| throttled(*st)), "{statuses:?}");
    // The attacker with the right password: still refused.
    let (st, _) = post_from(&s, TRACKING, &body("StdPass1234"), "198.51.100.9").await;
    assert!(throttled(st), "attacker's right password: {st}");
    // The real user, elsewhere: served.
    let (st, v) = post_from(&s, TRACKING, &body("StdPass1234"), "203.0.113.50").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(status_code(&v), "0", "{v}");
    s.shutdown().await;
}
