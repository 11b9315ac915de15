//! Each carrier web service through the gateway: rights granted and refused, credentials
//! replaced, envelopes, fan-out, bad bodies.

use serde_json::{json, Value};
use sesame_simulator::Faults;

use crate::common::*;

/// Nothing forwarded upstream carries the caller's key or password, and every call carries
/// one linked account's own credentials.
fn assert_clean_captures(s: &Stack, secrets: &[&str], accounts: &[&str]) {
    let captured = s.sim.captured();
    assert!(!captured.is_empty());
    for c in &captured {
        for secret in secrets {
            assert!(
                !c.contains(secret),
                "caller secret leaked upstream in {} {}",
                c.method,
                c.path
            );
        }
        let carries = accounts.iter().any(|a| {
            let pw = upstream_password(a);
            let basic = base64_basic(a, &pw);
            c.contains(&pw) || c.header("authorization") == Some(basic.as_str())
        });
        assert!(carries, "request {} without account credentials", c.path);
    }
}

fn base64_basic(user: &str, pw: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

both!(labels_select_account_check_right_and_stamp);
async fn labels_select_account_check_right_and_stamp(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100001", ALL_RIGHTS).await;
    let a2 = s.account("100002", ALL_RIGHTS).await;
    let a3 = s.account("100003", ALL_RIGHTS).await;
    let u = s
        .user(a1, "labeller", Some("NORD"), None, &["ws_postage"])
        .await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let key = u.key.as_str();

    // Only one account with ws_postage: chosen without contractNumber; stamps replaced.
    let mut body = label_body(None);
    body["fields"] =
        json!({"field": [{"key": "USER_KEY", "value": "0123456789ABCDEF0123456789ABCDEF"}]});
    let resp = s
        .http
        .post(format!("{}{}", s.url, LABEL))
        .header("apiKey", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("multipart/mixed"));
    let last = s.sim.captured().pop().unwrap();
    let fwd: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(fwd["contractNumber"], "100001");
    assert_eq!(fwd["password"], upstream_password("100001"));
    let fields = fwd["fields"]["field"].as_array().unwrap();
    assert!(fields.contains(&json!({"key": "USER_KEY", "value": u.user_key})));
    assert!(fields.contains(&json!({"key": "TAG_USER", "value": "NORD"})));
    assert!(
        !fields
            .iter()
            .any(|f| f["value"] == "0123456789ABCDEF0123456789ABCDEF"),
        "spoofed stamp forwarded"
    );
    // The posted parcel is the user's.
    let posted = s.sim.parcels("100001").into_iter().last().unwrap();
    assert_eq!(posted.user_key.as_deref(), Some(u.user_key.as_str()));

    // Account holding no ws_postage for this user: refused in the labels envelope (400 and the
    // multipart `jsonInfos`, as the carrier refuses a label).
    let (st, v) = s
        .post_json(LABEL, &[("apiKey", key)], &label_body(Some("100002")))
        .await;
    assert_eq!((st, v["messages"][0]["id"].as_str()), (400, Some("30002")));
    assert_eq!(v["messages"][0]["type"], "ERROR");
    // Unlinked account: same refusal.
    let (st, _) = s
        .post_json(LABEL, &[("apiKey", key)], &label_body(Some("100003")))
        .await;
    assert_eq!(st, 400);
    // ACCOUNT_NUMBER free field selects too.
    let mut b = label_body(None);
    b["fields"] = json!({"field": [{"key": "ACCOUNT_NUMBER", "value": "100001"}]});
    let (st, _) = s.post_json(LABEL, &[("apiKey", key)], &b).await;
    assert_eq!(st, 200);

    // Two accounts with ws_postage: the error names the missing field. The second account gives
    // the user its own tag (tags are per link).
    s.associate_tagged(a3, &u, &["ws_postage"], Some("SUD"))
        .await;
    let (st, v) = s
        .post_json(LABEL, &[("apiKey", key)], &label_body(None))
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["messages"][0]["messageContent"]
        .as_str()
        .unwrap()
        .contains("contractNumber"));
    let (st, _) = s
        .post_json(LABEL, &[("apiKey", key)], &label_body(Some("100003")))
        .await;
    assert_eq!(st, 200);
    // A label for 100003 carries the tag 100003 gives the user, not 100001's.
    let last = s.sim.captured().pop().unwrap();
    let fwd: Value = serde_json::from_slice(&last.body).unwrap();
    let fields = fwd["fields"]["field"].as_array().unwrap();
    assert!(
        fields.contains(&json!({"key": "TAG_USER", "value": "SUD"})),
        "{fwd}"
    );
    assert!(
        !fields.contains(&json!({"key": "TAG_USER", "value": "NORD"})),
        "{fwd}"
    );

    // Bad key, no key.
    let (st, v) = s
        .post_json(
            LABEL,
            &[("apiKey", "0123456789ABCDEF0123456789ABCDEF")],
            &label_body(None),
        )
        .await;
    assert_eq!((st, v["messages"][0]["id"].as_str()), (400, Some("30000")));
    let (st, _) = s.post_json(LABEL, &[], &label_body(None)).await;
    assert_eq!(st, 400);

    assert_clean_captures(&s, &[key, "UserPass123"], &["100001", "100003"]);
    s.shutdown().await;
}

both!(bad_bodies_answer_in_the_envelope);
async fn bad_bodies_answer_in_the_envelope(backend: Backend) {
    let s = Stack::new(backend, |c| c.max_body_bytes = 64 * 1024).await;
    let a1 = s.account("100011", ALL_RIGHTS).await;
    let u = s
        .user(
            a1,
            "bodies",
            None,
            None,
            &["ws_postage", "ws_tracking", "ws_pickup_point"],
        )
        .await;
    let send = |path: &'static str, body: Vec<u8>| {
        let req = s
            .http
            .post(format!("{}{}", s.url, path))
            .header("apiKey", u.key.clone())
            .body(body);
        async move { json_or_text(req.send().await.unwrap()).await }
    };
    let (st, v) = send(LABEL, b"not json".to_vec()).await;
    assert_eq!(st, 400);
    assert!(v["messages"][0]["messageContent"]
        .as_str()
        .unwrap()
        .contains("JSON"));
    let (st, v) = send(LABEL, b"[1,2]".to_vec()).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = send(LABEL, vec![b' '; 200 * 1024]).await;
    assert_eq!(st, 400);
    assert!(v["messages"][0]["messageContent"]
        .as_str()
        .unwrap()
        .contains("volumineux"));
    assert_eq!(v["messages"][0]["type"], "ERROR");
    let (st, v) = send(TRACKING, b"{".to_vec()).await;
    assert_eq!(st, 400);
    assert!(v["status"][0]["code"].is_string());
    let (st, v) = send(PICKUP, b"nope".to_vec()).await;
    assert_eq!(st, 400);
    assert!(v["errorCode"].is_number());
    // Missing parcel number.
    let (_, v) = s.post_json(TRACKING, &[], &json!({"apiKey": u.key})).await;
    assert_eq!(status_code(&v), "400");
    // Unknown route, wrong method.
    let r = s.get("/nowhere", &[]).await;
    assert_eq!(r.status(), 404);
    let r = s.get(LABEL, &[]).await;
    assert_eq!(r.status(), 405);
    s.shutdown().await;
}

both!(tracking_finds_the_parcels_account_and_hides_others);
async fn tracking_finds_the_parcels_account_and_hides_others(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100021", ALL_RIGHTS).await;
    let a2 = s.account("100022", ALL_RIGHTS).await;
    let _a3 = s.account("100023", ALL_RIGHTS).await;
    let a4 = s.account("100024", ALL_RIGHTS).await;
    let u = s.user(a1, "tracker", None, None, &["ws_tracking"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    s.associate(a4, &u, &["ws_postage"]).await;
    let p2 = s.sim.parcels("100022")[3].number.clone();
    let p3 = s.sim.parcels("100023")[3].number.clone();
    let p4 = s.sim.parcels("100024")[3].number.clone();

    let v = s.track(&u.key, &p2).await;
    assert_eq!(status_code(&v), "0", "{v}");
    assert_eq!(v["parcel"]["accountNumber"], "100022");

    // Unlinked account's parcel, linked account without ws_tracking, nonexistent parcel: the
    // same bytes.
    let raw = |p: String| {
        let req = s
            .http
            .post(format!(
                "{}/tracking-timeline-ws/rest/tracking/timelineCompany",
                s.url
            ))
            .json(&json!({"apiKey": u.key, "parcelNumber": p}));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    let unknown = raw("6A00000000000".into()).await;
    assert_eq!(unknown.0, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&unknown.1).unwrap()["status"][0]["code"],
        "105"
    );
    assert_eq!(raw(p3.clone()).await, unknown);
    assert_eq!(raw(p4.clone()).await, unknown);

    // v2: Basic auth upstream, X-Okapi-Key not forwarded.
    let r = s
        .get(
            &format!("/suivi/v2/idships/{p2}?lang=fr_FR"),
            &[("X-Okapi-Key", &u.key)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["shipment"]["idShip"], p2.as_str());
    let last = s
        .sim
        .captured()
        .into_iter()
        .rev()
        .find(|c| c.path.starts_with("/suivi/"))
        .unwrap();
    assert!(last.header("x-okapi-key").is_none());
    let v2_unknown = |p: String| {
        let req = s
            .http
            .get(format!("{}/suivi/v2/idships/{p}", s.url))
            .header("X-Okapi-Key", u.key.clone());
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    // Same bytes as a nonexistent parcel with the same number shape (only the echoed id differs).
    let a = v2_unknown(p3.clone()).await;
    assert_eq!(a.0, 404);
    let b = v2_unknown(p4.clone()).await;
    let unknown_v2 = v2_unknown("6A00000000000".into()).await;
    let norm =
        |x: &(u16, bytes::Bytes), id: &str| (x.0, String::from_utf8_lossy(&x.1).replace(id, "ID"));
    assert_eq!(norm(&a, &p3), norm(&unknown_v2, "6A00000000000"));
    assert_eq!(norm(&b, &p4), norm(&unknown_v2, "6A00000000000"));
    let r = s
        .get(
            &format!("/suivi/v2/idships/{p2}"),
            &[("X-Okapi-Key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["returnCode"], 401);

    // Without ws_tracking anywhere: refused (code 202), bad key: 201.
    let v_only = s.user(a4, "notracking", None, None, &["ws_postage"]).await;
    assert_eq!(status_code(&s.track(&v_only.key, &p4).await), "202");
    assert_eq!(
        status_code(&s.track("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &p4).await),
        "201"
    );

    // Legacy: the account admin (account number + password) acts as the main contact.
    let (_, v) = s
        .post_json(
            TRACKING,
            &[],
            &json!({"login": "100024", "password": "AdminPass123", "parcelNumber": p4}),
        )
        .await;
    assert_eq!(status_code(&v), "0", "{v}");
    let (_, v) = s
        .post_json(
            TRACKING,
            &[],
            &json!({"login": "100024", "password": "wrong-Pass1", "parcelNumber": p4}),
        )
        .await;
    assert_eq!(status_code(&v), "201");

    assert_clean_captures(
        &s,
        &[&u.key, &v_only.key, "AdminPass123", "wrong-Pass1"],
        &["100021", "100022", "100024"],
    );
    s.shutdown().await;
}

both!(pickup_points_rights_and_envelope);
async fn pickup_points_rights_and_envelope(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100031", ALL_RIGHTS).await;
    let a2 = s.account("100032", ALL_RIGHTS).await;
    let u = s.user(a1, "picker", None, None, &["ws_pickup_point"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let body = |acc: Option<&str>, key: &str| {
        let mut v = json!({"apikey": key, "zipCode": "75001", "city": "Paris", "countryCode": "FR", "weight": "1000", "filterRelay": "1", "shippingDate": "21/11/2026"});
        if let Some(a) = acc {
            v["accountNumber"] = json!(a);
        }
        v
    };
    let (st, v) = s.post_json(PICKUP, &[], &body(None, &u.key)).await;
    assert_eq!((st, v["errorCode"].as_i64()), (200, Some(0)), "{v}");
    assert!(v["listePointRetraitAcheminement"]
        .as_array()
        .is_some_and(|l| !l.is_empty()));
    let (_, v) = s
        .post_json(PICKUP, &[], &body(Some("100032"), &u.key))
        .await;
    assert_eq!(v["errorCode"], 202);
    let (_, v) = s
        .post_json(PICKUP, &[], &body(None, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"))
        .await;
    assert_eq!(v["errorCode"], 201);
    let (_, v) = s.post_json(PICKUP, &[], &json!({"accountNumber": "100031", "password": "AdminPass123", "zipCode": "75001", "weight": "500"})).await;
    assert_eq!(v["errorCode"], 0, "{v}");
    assert_clean_captures(&s, &[&u.key, "AdminPass123"], &["100031"]);
    s.shutdown().await;
}

both!(eligibility_fans_out_and_reports_each_account);
async fn eligibility_fans_out_and_reports_each_account(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100041", ALL_RIGHTS).await;
    let a2 = s.account("100042", ALL_RIGHTS).await;
    let a3 = s.account("100043", ALL_RIGHTS).await;
    let a4 = s.account("100044", ALL_RIGHTS).await;
    // A user linked to 3 accounts with different rights, plus a failing one.
    let u = s
        .user(
            a1,
            "eligible",
            None,
            None,
            &["ws_eligibility", "ws_postage"],
        )
        .await;
    s.associate(a2, &u, &["ws_eligibility"]).await;
    s.associate(a3, &u, &["ws_tracking"]).await;
    s.associate(a4, &u, &["ws_eligibility"]).await;
    s.sim.set_faults(
        Some("100044"),
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );

    let (st, v) = s
        .post_json(ELIG, &[], &json!({"credential": {"apiKey": u.key}}))
        .await;
    assert_eq!(st, 200, "{v}");
    let answers = v["answers"].as_array().unwrap();
    let accounts: Vec<&str> = answers
        .iter()
        .map(|a| a["accountNumber"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["100041", "100042", "100044"]);
    assert_eq!(answers[0]["status"], "ok");
    assert_eq!(answers[0]["response"]["partnerClientCode"], "100041");
    assert_eq!(answers[1]["status"], "ok");
    assert_eq!(answers[2]["status"], "error");
    assert!(answers[2]["error"]["message"].is_string());

    // Explicit account: the carrier's own answer.
    let (st, v) = s
        .post_json(
            ELIG,
            &[],
            &json!({"credential": {"apiKey": u.key}, "partnerClientCode": "100042"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["partnerClientCode"], "100042");
    let (st, v) = s
        .post_json(
            ELIG,
            &[],
            &json!({"credential": {"apiKey": u.key}, "partnerClientCode": "100043"}),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(v["messages"][0]["type"], "ERROR");

    // Slow account: per-account timeout, the others still answer in time.
    s.sim.set_faults(
        Some("100044"),
        Faults {
            slow_rate: 1.0,
            slow_ms: 5_000,
            ..Faults::default()
        },
    );
    let t = std::time::Instant::now();
    let (_, v) = s
        .post_json(ELIG, &[], &json!({"credential": {"apiKey": u.key}}))
        .await;
    assert!(t.elapsed() < std::time::Duration::from_millis(4_000));
    assert_eq!(v["answers"][2]["error"]["code"], "timeout");
    assert_eq!(v["answers"][0]["status"], "ok");
    assert!(s.metrics().await.contains("sesame_fanout_width"));
    assert_clean_captures(&s, &[&u.key], &["100041", "100042", "100044"]);
    s.shutdown().await;
}

both!(upstream_failures_answer_502_and_504_in_the_envelope);
async fn upstream_failures_answer_502_and_504_in_the_envelope(backend: Backend) {
    let s = Stack::new(backend, |c| c.request_timeout_ms = 300).await;
    let a = s.account("100051", ALL_RIGHTS).await;
    let u = s
        .user(
            a,
            "unlucky",
            None,
            None,
            &["ws_postage", "ws_pickup_point", "ws_tracking"],
        )
        .await;
    s.sim.set_faults(
        Some("100051"),
        Faults {
            drop_rate: 1.0,
            ..Faults::default()
        },
    );
    let (st, v) = s
        .post_json(LABEL, &[("apiKey", &u.key)], &label_body(None))
        .await;
    assert_eq!(st, 502, "{v}");
    assert_eq!(v["messages"][0]["type"], "ERROR");
    s.sim.set_faults(
        Some("100051"),
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    let (st, v) = s
        .post_json(
            PICKUP,
            &[],
            &json!({"apikey": u.key, "zipCode": "75001", "weight": "500"}),
        )
        .await;
    assert_eq!(st, 502, "{v}");
    assert!(v["errorCode"].is_number());
    s.sim.set_faults(
        Some("100051"),
        Faults {
            slow_rate: 1.0,
            slow_ms: 2_000,
            ..Faults::default()
        },
    );
    let t = std::time::Instant::now();
    let p = s.sim.parcels("100051")[0].number.clone();
    let v = s.track(&u.key, &p).await;
    assert_eq!(status_code(&v), "504", "{v}");
    assert!(
        t.elapsed() < std::time::Duration::from_millis(1_500),
        "the client is not kept waiting"
    );
    s.shutdown().await;
}

both!(http2_prior_knowledge_is_served);
async fn http2_prior_knowledge_is_served(backend: Backend) {
    use http_body_util::{BodyExt, Full};
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account("100061", ALL_RIGHTS).await;
    let u = s.user(a, "htwo", None, None, &["ws_tracking"]).await;
    let p = s.sim.parcels("100061")[0].number.clone();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let body = serde_json::to_vec(&json!({"apiKey": u.key, "parcelNumber": p})).unwrap();
    let req = http::Request::post(format!(
        "{}/tracking-timeline-ws/rest/tracking/timelineCompany",
        s.url
    ))
    .header("content-type", "application/json")
    .body(Full::new(bytes::Bytes::from(body)))
    .unwrap();
    let resp = client.request(req).await.expect("h2c");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(status_code(&v), "0");
    s.shutdown().await;
}

both!(standard_user_legacy_login);
async fn standard_user_legacy_login(backend: Backend) {
    use sesame_domain::model::Actor;
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account("100071", ALL_RIGHTS).await;
    s.store
        .create_standard_user(
            Actor::AccountAdmin { account_id: a },
            a,
            sesame_store::NewStandardUser {
                profile: profile("Standard"),
                login: sesame_domain::Login::parse("std.user").unwrap(),
                password: "StdPass1234".into(),
                rights: rights(&["ws_tracking"]),
                department_id: None,
            },
        )
        .await
        .unwrap();
    let p = s.sim.parcels("100071")[0].number.clone();
    let body = |pw: &str| json!({"login": "std.user", "password": pw, "parcelNumber": p});
    let (_, v) = s.post_json(TRACKING, &[], &body("StdPass1234")).await;
    assert_eq!(status_code(&v), "0", "{v}");
    // Cached: a second call does not hash again, and still works.
    let (_, v) = s.post_json(TRACKING, &[], &body("StdPass1234")).await;
    assert_eq!(status_code(&v), "0");
    let (_, v) = s.post_json(TRACKING, &[], &body("WrongPass123")).await;
    assert_eq!(status_code(&v), "201");
    // A standard user has no ws_postage: labels refused.
    let mut lb = label_body(Some("std.user"));
    lb["password"] = json!("StdPass1234");
    let (st, v) = s.post_json(LABEL, &[], &lb).await;
    assert_eq!((st, v["messages"][0]["id"].as_str()), (400, Some("30002")));
    assert_clean_captures(&s, &["StdPass1234", "WrongPass123"], &["100071"]);
    s.shutdown().await;
}

both!(wrong_upstream_credentials_never_reach_the_caller);
/// An account whose stored upstream credentials the carrier refuses: the caller (whose own key
/// is fine) is told the account's access failed upstream, in the envelope, with no credential
/// in the answer and without being told its own key is wrong.
async fn wrong_upstream_credentials_never_reach_the_caller(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account("100071", ALL_RIGHTS).await;
    let u = s
        .user(
            a,
            "misconf",
            None,
            None,
            &[
                "ws_pickup_point",
                "ws_tracking",
                "ws_postage",
                "ws_eligibility",
            ],
        )
        .await;
    s.store
        .set_upstream_credentials(
            sesame_domain::model::Actor::Operator,
            a,
            "100071",
            "Wrong-Upstream-Pw",
        )
        .await
        .unwrap();
    s.settle().await;
    let answers = [
        s.post_json(PICKUP, &[], &json!({"apikey": u.key, "zipCode": "75001", "weight": "1000"})).await,
        s.post_json(ELIG, &[], &json!({"credential": {"apiKey": u.key}, "partnerClientCode": "100071"})).await,
        s.post_json(
            LABEL,
            &[("apiKey", &u.key)],
            &json!({"contractNumber": "100071", "letter": {"service": {"productCode": "DOM"}, "parcel": {"weight": 1.0},
                "addressee": {"address": {"lastName": "X", "zipCode": "75001", "city": "Paris", "countryCode": "FR"}}}}),
        )
        .await,
    ];
    let parcel = s.sim.parcels("100071")[0].number.clone();
    let tracking = s
        .post_json(
            TRACKING,
            &[],
            &json!({"apiKey": u.key, "parcelNumber": parcel}),
        )
        .await;
    let fanned = s
        .post_json(ELIG, &[], &json!({"credential": {"apiKey": u.key}}))
        .await;
    for (st, v) in answers.iter().chain([&tracking]) {
        let text = v.to_string();
        assert!(
            !text.contains("Wrong-Upstream-Pw") && !text.contains(&upstream_password("100071")),
            "{text}"
        );
        assert!(!text.contains(&u.key), "{text}");
        // Not "your identifier is wrong": the account's access failed upstream.
        assert!(text.contains("refusés par le transporteur"), "{text}");
        assert!(!text.contains("Identifiant"), "{text}");
        assert!(
            *st == 502 || v["errorCode"] == 502 || v["status"][0]["code"] == "502",
            "{st} {text}"
        );
    }
    assert_eq!(fanned.1["answers"][0]["status"], "error", "{}", fanned.1);
    assert_eq!(
        fanned.1["answers"][0]["error"]["code"], "upstream_credentials_refused",
        "{}",
        fanned.1
    );
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("credentials_refused"),
        "the operator sees it in the metrics"
    );
    s.shutdown().await;
}

both!(traceparent_is_propagated_to_every_upstream_call);
/// W3C trace context crosses the gateway: the caller's trace id reaches the carrier on every
/// call of the request (fan-outs included), each call under its own span id (a child of
/// Sesame's request span); a caller without one gets a fresh trace.
async fn traceparent_is_propagated_to_every_upstream_call(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100081", ALL_RIGHTS).await;
    let a2 = s.account("100082", ALL_RIGHTS).await;
    let u = s.user(a1, "traced", None, None, &["ws_eligibility"]).await;
    s.associate(a2, &u, &["ws_eligibility"]).await;
    let caller_span = "00f067aa0ba902b7";
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    s.sim.clear_captured();
    let r = s
        .http
        .post(format!("{}{ELIG}", s.url))
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .json(&json!({"credential": {"apiKey": u.key}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let captured = s.sim.captured();
    assert_eq!(captured.len(), 2, "one call per account");
    let spans: Vec<String> = captured
        .iter()
        .map(|c| {
            let tp = c.header("traceparent").expect("traceparent upstream");
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!((parts[0], parts[1], parts[3]), ("00", trace, "01"), "{tp}");
            assert_ne!(parts[2], caller_span, "Sesame's own span is the parent");
            parts[2].to_owned()
        })
        .collect();
    assert_ne!(spans[0], spans[1], "each fanned-out call is its own span");
    // Without a traceparent: a fresh, valid one.
    s.sim.clear_captured();
    s.post_json(
        ELIG,
        &[],
        &json!({"credential": {"apiKey": u.key}, "partnerClientCode": "100081"}),
    )
    .await;
    let tp = s.sim.captured()[0]
        .header("traceparent")
        .expect("traceparent")
        .to_owned();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!(
        (parts[0].len(), parts[1].len(), parts[2].len()),
        (2, 32, 16)
    );
    assert_ne!(parts[1], trace);
    s.shutdown().await;
}

both!(the_invoice_list_is_paged);
/// The invoice list is paged like the parcel search: every visible invoice appears on exactly
/// one page, most recent first across pages; bad paging parameters name themselves.
async fn the_invoice_list_is_paged(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("100096", ALL_RIGHTS).await;
    let a2 = s.account("100097", ALL_RIGHTS).await;
    let u = s
        .user(a1, "invoice-pager", None, None, &["invoices:all"])
        .await;
    s.associate(a2, &u, &["invoices:all"]).await;
    s.settle().await;
    let expected = s.sim.invoices("100096").len() + s.sim.invoices("100097").len();
    assert!(expected > 10, "enough invoices to page: {expected}");

    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let r = s
            .get(
                &format!("/sesame/v1/invoices?pageSize=10&page={page}"),
                &[("apiKey", &u.key)],
            )
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["total"], expected);
        assert_eq!(v["pageSize"], 10);
        assert_eq!(v["pages"], expected.div_ceil(10));
        let items = v["invoices"].as_array().unwrap();
        assert!(items.len() <= 10);
        seen.extend(items.iter().map(|i| {
            (
                i["date"].as_str().unwrap().to_owned(),
                format!("{}/{}", i["accountNumber"], i["number"]),
            )
        }));
        if page == v["pages"].as_u64().unwrap() as usize {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), expected);
    let distinct: std::collections::BTreeSet<_> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(distinct.len(), expected, "no invoice on two pages");
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "most recent first across pages"
    );
    // Past the last page: an empty page, same totals.
    let v: Value = s
        .get(
            &format!("/sesame/v1/invoices?pageSize=10&page={}", page + 1),
            &[("apiKey", &u.key)],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["invoices"].as_array().unwrap().len(), 0);
    for (q, field) in [
        ("pageSize=0", "pageSize"),
        ("pageSize=201", "pageSize"),
        ("page=0", "page"),
    ] {
        let r = s
            .get(&format!("/sesame/v1/invoices?{q}"), &[("apiKey", &u.key)])
            .await;
        assert_eq!(r.status(), 400, "{q}");
        let body = r.text().await.unwrap();
        assert!(body.contains(field), "{q}: {body}");
    }
}
