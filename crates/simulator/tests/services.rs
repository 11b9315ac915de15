//! Every simulated service over real HTTP: successes and error envelopes.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use serde_json::{json, Value};

const LABEL: &str = "/sls-ws/SlsServiceWSRest/2.0/generateLabel";
const CHECK: &str = "/sls-ws/SlsServiceWSRest/2.0/checkGenerateLabel";
const TIMELINE: &str = "/tracking-timeline-ws/rest/tracking/timelineCompany";
const PICKUP: &str = "/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement";
const ELIGIBILITY: &str = "/api-ewe/v1/rest/additionalinformations";
const SEARCH: &str = "/tracking-tool/v1/parcels/search";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a multipart body into (headers, content) parts.
fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    let start = find(rest, delim.as_bytes()).expect("first delimiter");
    rest = &rest[start + delim.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after delimiter");
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let headers = String::from_utf8(rest[..head_end].to_vec()).expect("ascii headers");
        rest = &rest[head_end + 4..];
        let next = find(rest, format!("\r\n{delim}").as_bytes()).expect("next delimiter");
        out.push((headers, rest[..next].to_vec()));
        rest = &rest[next + 2 + delim.len()..];
    }
    out
}

fn timeline(account: &str, pw: &str, parcel: &str) -> Value {
    json!({"login": account, "password": pw, "parcelNumber": parcel, "lang": "fr_FR"})
}

fn pdf_page_count(pdf: &[u8]) -> usize {
    pdf.windows(12).filter(|w| w == b"/Type /Page ").count()
}

/// The PDF must pass qpdf's structural check (xref, lengths, objects). qpdf is required: the
/// test fails without it (Debian package `qpdf`, which scripts/test.sh installs).
fn qpdf_check(pdf: &[u8], name: &str) {
    let path = std::env::temp_dir().join(format!("sesame-sim-{}-{name}.pdf", std::process::id()));
    std::fs::write(&path, pdf).expect("write pdf");
    let out = std::process::Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("qpdf is needed (apt-get install qpdf): {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "qpdf --check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn generate_label_returns_multipart_pdf_and_the_parcel_is_trackable_with_its_stamps() {
    let s = start(config(1)).await;
    let before = s.sim.parcels(A).len();
    let fields = json!({"field": [{"key": "USER_KEY", "value": KEY1}, {"key": "TAG_USER", "value": "boutique"}]});
    let resp = s
        .http
        .post(s.url(LABEL))
        .json(&label_body(A, A_PW, Some(fields)))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_owned();
    assert!(ct.starts_with("multipart/mixed; boundary=\"uuid:"), "{ct}");
    assert!(ct.contains("type=\"application/json\"") && ct.contains("start=\"<jsonInfos>\""));
    let boundary = ct.split('"').nth(1).expect("boundary").to_owned();
    let body = resp.bytes().await.expect("body");
    let p = parts(&body, &boundary);
    assert_eq!(p.len(), 2);
    assert!(p[0]
        .0
        .contains("Content-Type: application/json;charset=UTF-8"));
    assert!(p[0].0.contains("Content-ID: <jsonInfos>"));
    let info: Value = serde_json::from_slice(&p[0].1).expect("json part");
    assert_eq!(info["messages"][0]["id"], "0");
    assert_eq!(info["messages"][0]["type"], "INFOS");
    assert_eq!(
        info["messages"][0]["messageContent"],
        "La requête a été traitée avec succès"
    );
    assert!(info["labelV2Response"]["parcelNumberPartner"].is_null());
    let number = info["labelV2Response"]["parcelNumber"]
        .as_str()
        .expect("number")
        .to_owned();
    assert!(number.starts_with("6A") && number.len() == 13, "{number}");

    assert!(p[1].0.contains("Content-Type: application/octet-stream"));
    assert!(p[1].0.contains("Content-ID: <label>"));
    let pdf = &p[1].1;
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(pdf.ends_with(b"%%EOF"));
    assert!(
        find(pdf, &number.as_bytes()[2..]).is_some(),
        "the label shows the parcel number"
    );
    qpdf_check(pdf, "label");

    // Stored, stamped, and trackable by both tracking services and the search.
    let parcels = s.sim.parcels(A);
    assert_eq!(parcels.len(), before + 1);
    let stored = parcels.last().expect("posted");
    assert_eq!(stored.number, number);
    assert_eq!(stored.user_key.as_deref(), Some(KEY1));
    assert_eq!(stored.tag.as_deref(), Some("boutique"));
    assert_eq!(stored.recipient_name, "Hélène Dupré");
    assert_eq!(stored.weight_kg, 1.5);

    let (st, t) = s.post(TIMELINE, &timeline(A, A_PW, &number)).await;
    assert_eq!(st, 200);
    assert_eq!(t["status"][0]["code"], "0");
    assert_eq!(t["parcel"]["userKey"], KEY1);
    assert_eq!(t["parcel"]["tag"], "boutique");
    assert_eq!(t["parcel"]["accountNumber"], A);
    assert_eq!(t["parcel"]["depositDate"], "2026-11-22");

    let v2 = s
        .http
        .get(s.url(&format!("/suivi/v2/idships/{number}?lang=fr_FR")))
        .basic_auth(A, Some(A_PW))
        .send()
        .await
        .expect("v2");
    assert_eq!(v2.status(), 200);
    let v2: Value = v2.json().await.expect("json");
    assert_eq!(v2["userKey"], KEY1);
    assert_eq!(v2["shipment"]["idShip"], number.as_str());

    let (_, found) = s
        .post(SEARCH, &json!({"contractNumber": A, "password": A_PW}))
        .await;
    let hit = found["parcels"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["parcelNumber"] == number.as_str())
        .expect("posted parcel in search");
    assert_eq!(hit["tag"], "boutique");
    assert_eq!(hit["status"], "ANNOUNCED");

    // Another account cannot see it.
    let (_, other) = s.post(TIMELINE, &timeline(B, B_PW, &number)).await;
    assert_eq!(other["status"][0]["code"], "105");
    s.stop().await;
}

#[tokio::test]
async fn label_check_and_v31_and_label_errors() {
    let s = start(config(1)).await;
    let before = s.sim.parcels(A).len();
    let (st, v) = s.post(CHECK, &label_body(A, A_PW, None)).await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"messages":[{"id":"0","type":"INFOS","messageContent":"La requête a été traitée avec succès"}]})
    );
    let (st, _) = s
        .post(
            "/sls-ws/SlsServiceWSRest/3.1/checkGenerateLabel",
            &label_body(A, A_PW, None),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(s.sim.parcels(A).len(), before, "check stores nothing");

    // v3.1 generate works and an international addressee gets a CF…FR number.
    let mut intl = label_body(A, A_PW, None);
    intl["letter"]["addressee"]["address"]["countryCode"] = json!("DE");
    let r = s
        .http
        .post(s.url("/sls-ws/SlsServiceWSRest/3.1/generateLabel"))
        .json(&intl)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let posted = s.sim.parcels(A).pop().expect("posted");
    assert!(
        posted.number.starts_with("CF") && posted.number.ends_with("FR"),
        "{}",
        posted.number
    );
    assert_eq!(posted.user_key, None);

    let bad_creds = json!({"messages":[{"id":"30000","type":"ERROR","messageContent":"Identifiant ou mot de passe incorrect"}],"labelXmlV2Reponse":null,"labelV2Response":null});
    for body in [
        label_body(A, "wrong", None),
        label_body("999999", A_PW, None),
        label_body(A, "", None),
    ] {
        for path in [LABEL, CHECK] {
            let (st, v) = s.post(path, &body).await;
            assert_eq!((st, &v), (400, &bad_creds));
        }
    }
    let mut no_creds = label_body(A, A_PW, None);
    no_creds.as_object_mut().expect("obj").remove("password");
    assert_eq!(s.post(LABEL, &no_creds).await, (400, bad_creds.clone()));

    for (pointer, field) in [
        ("/letter/service/productCode", "letter.service.productCode"),
        ("/letter/parcel/weight", "letter.parcel.weight"),
        (
            "/letter/addressee/address/zipCode",
            "letter.addressee.address.zipCode",
        ),
        (
            "/letter/addressee/address/city",
            "letter.addressee.address.city",
        ),
        (
            "/letter/addressee/address/countryCode",
            "letter.addressee.address.countryCode",
        ),
        (
            "/letter/addressee/address/lastName",
            "letter.addressee.address.lastName",
        ),
    ] {
        let mut b = label_body(A, A_PW, None);
        *b.pointer_mut(pointer).expect("field") = Value::Null;
        let (st, v) = s.post(LABEL, &b).await;
        assert_eq!(st, 400, "{field}");
        assert_eq!(v["messages"][0]["id"], "30221", "{field}");
        assert_eq!(v["messages"][0]["type"], "ERROR");
        assert!(
            v["messages"][0]["messageContent"]
                .as_str()
                .expect("msg")
                .contains(field),
            "{v}"
        );
    }
    for w in [json!(0), json!(-1), json!(30.5), json!("lourd")] {
        let mut b = label_body(A, A_PW, None);
        b["letter"]["parcel"]["weight"] = w;
        let (st, v) = s.post(CHECK, &b).await;
        assert_eq!((st, v["messages"][0]["id"].clone()), (400, json!("30221")));
    }
    let mut ok_str_weight = label_body(A, A_PW, None);
    ok_str_weight["letter"]["parcel"]["weight"] = json!("30");
    assert_eq!(s.post(CHECK, &ok_str_weight).await.0, 200);

    let (st, v) = s.post_raw(LABEL, "{\"contractNumber\": ").await;
    assert_eq!(st, 400);
    assert_eq!(v["messages"][0]["type"], "ERROR");
    assert!(v["messages"][0]["messageContent"]
        .as_str()
        .expect("m")
        .contains("JSON invalide"));
    let (st, v) = s
        .post_raw(
            LABEL,
            "{\"contractNumber\":\"111111\",\"password\":\"pw-a\",\"letter\":\"x\"}",
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        v["messages"][0]["messageContent"]
            .as_str()
            .expect("m")
            .contains("letter"),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn timeline_company_answers_and_hides_other_accounts_parcels() {
    let s = start(config(2)).await;
    let mine = s
        .sim
        .parcels(A)
        .into_iter()
        .find(|p| p.user_key.is_some())
        .expect("stamped");
    let theirs = s.sim.parcels(B).remove(0);

    let (st, v) = s.post(TIMELINE, &timeline(A, A_PW, &mine.number)).await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], json!([{"code": "0", "message": "json.ok"}]));
    assert_eq!(v["message"]["code"], "0");
    let p = &v["parcel"];
    assert_eq!(p["parcelNumber"], mine.number.as_str());
    assert_eq!(p["accountNumber"], A);
    assert_eq!(p["userKey"].as_str(), mine.user_key.as_deref());
    assert_eq!(p["tag"].as_str(), mine.tag.as_deref());
    assert_eq!(p["product"], mine.product.as_str());
    assert_eq!(p["weight"], mine.weight_kg);
    assert_eq!(p["depositDate"], mine.deposit_date.to_string().as_str());
    assert_eq!(p["statusLabel"], mine.status.label());
    assert_eq!(p["recipient"]["name"], mine.recipient_name.as_str());
    assert_eq!(
        p["event"].as_array().expect("events").len(),
        mine.events.len()
    );
    let last = mine.events.last().expect("event");
    assert_eq!(
        p["event"][0]["code"],
        last.code.as_str(),
        "most recent first"
    );
    assert!(p["event"][0]["date"]
        .as_str()
        .expect("date")
        .ends_with("+01:00"));
    assert_eq!(p["step"].as_array().expect("steps").len(), 5);
    assert_eq!(p["step"][0]["status"], "STEP_STATUS_ACTIVE");

    // Lower-case input is accepted.
    let (_, v) = s
        .post(TIMELINE, &timeline(A, A_PW, &mine.number.to_lowercase()))
        .await;
    assert_eq!(v["status"][0]["code"], "0");

    // Another account's parcel and an unknown parcel: byte-identical answers.
    let raw = |body: Value| {
        let http = s.http.clone();
        let url = s.url(TIMELINE);
        async move {
            let r = http.post(url).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.bytes().await.expect("bytes"))
        }
    };
    let other = raw(timeline(A, A_PW, &theirs.number)).await;
    let unknown = raw(timeline(A, A_PW, "6A99999999999")).await;
    assert_eq!(other, unknown);
    assert_eq!(other.0, 200);
    let v: Value = serde_json::from_slice(&other.1).expect("json");
    assert_eq!(
        v,
        json!({"status": [{"code": "105", "message": "Numéro de colis inconnu"}]})
    );

    let (st, v) = s.post(TIMELINE, &timeline(A, "nope", &mine.number)).await;
    assert_eq!(
        (st, v),
        (
            200,
            json!({"status": [{"code": "201", "message": "Identifiant ou mot de passe incorrect"}]})
        )
    );
    let (st, v) = s
        .post(TIMELINE, &json!({"parcelNumber": mine.number}))
        .await;
    assert_eq!((st, v["status"][0]["code"].clone()), (200, json!("201")));
    for bad in ["6A-123", "", "SHORT", "6A1234567890123456789"] {
        let (st, v) = s.post(TIMELINE, &timeline(A, A_PW, bad)).await;
        assert_eq!(
            (st, v),
            (
                200,
                json!({"status": [{"code": "101", "message": "Numéro de colis invalide"}]})
            ),
            "{bad}"
        );
    }
    let (st, v) = s.post_raw(TIMELINE, "not json").await;
    assert_eq!(st, 400);
    assert!(v["status"][0]["message"]
        .as_str()
        .expect("m")
        .contains("JSON"));
    s.stop().await;
}

#[tokio::test]
async fn tracking_v2_uses_basic_auth_and_hides_other_accounts_parcels() {
    let s = start(config(3)).await;
    let mine = s.sim.parcels(A).remove(5);
    let theirs = s.sim.parcels(B).remove(0);
    let get = |id: String, user: &'static str, pw: Option<&'static str>| {
        let http = s.http.clone();
        let url = s.url(&format!("/suivi/v2/idships/{id}?lang=fr_FR"));
        async move {
            let mut rq = http.get(url);
            if let Some(pw) = pw {
                rq = rq.basic_auth(user, Some(pw));
            }
            let r = rq.send().await.expect("send");
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.expect("json"))
        }
    };
    let (st, v) = get(mine.number.clone(), A, Some(A_PW)).await;
    assert_eq!(st, 200);
    assert_eq!(v["lang"], "fr_FR");
    assert_eq!(v["scope"], "open");
    assert_eq!(v["returnCode"], 200);
    assert_eq!(v["accountNumber"], A);
    assert_eq!(v["userKey"].as_str(), mine.user_key.as_deref());
    let sh = &v["shipment"];
    assert_eq!(sh["idShip"], mine.number.as_str());
    assert_eq!(sh["holder"], 4);
    assert_eq!(sh["product"], "colissimo");
    assert_eq!(sh["isFinal"], mine.status.is_final());
    assert_eq!(sh["timeline"].as_array().expect("timeline").len(), 5);
    assert_eq!(sh["timeline"][0]["status"], true);
    assert_eq!(
        sh["event"].as_array().expect("events").len(),
        mine.events.len()
    );
    assert_eq!(sh["contextData"]["originCountry"], "FR");
    assert_eq!(sh["contextData"]["arrivalCountry"], mine.country.as_str());
    assert_eq!(
        sh["deliveryDate"].is_null(),
        mine.status != sesame_simulator::ParcelStatus::Delivered
    );

    let (st, v) = get(theirs.number.clone(), A, Some(A_PW)).await;
    assert_eq!(st, 404);
    assert_eq!(
        v,
        json!({"returnCode": 404, "returnMessage": "Résultat non trouvé", "lang": "fr_FR", "idShip": theirs.number})
    );
    let (st, v) = get("6A00000000000".into(), A, Some(A_PW)).await;
    assert_eq!(st, 404);
    assert_eq!(v["returnMessage"], "Résultat non trouvé");

    // Several ids: one entry each, in order; 207 when they differ, the common status else.
    let (st, v) = get(format!("{},6A00000000000", mine.number), A, Some(A_PW)).await;
    assert_eq!(st, 207);
    assert_eq!(v[0]["shipment"]["idShip"], mine.number.as_str());
    assert_eq!(v[1]["returnCode"], 404);
    let (st, v) = get(format!("{0},{0}", mine.number), A, Some(A_PW)).await;
    assert_eq!((st, v.as_array().map(Vec::len)), (200, Some(2)));
    let (st, v) = get(format!("{},6A0", mine.number), A, Some(A_PW)).await;
    assert_eq!((st, &v["returnCode"]), (400, &json!(400)));

    let unauthorized = json!({"returnCode": 401, "returnMessage": "Non autorisé", "lang": "fr_FR"});
    assert_eq!(
        get(mine.number.clone(), A, Some("bad")).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        get(mine.number.clone(), A, None).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        get(mine.number.clone(), "999999", Some(A_PW)).await,
        (401, unauthorized)
    );
    assert_eq!(
        get("6A%2D12".into(), A, Some(A_PW)).await,
        (
            400,
            json!({"returnCode": 400, "returnMessage": "Numéro invalide", "lang": "fr_FR"})
        )
    );
    s.stop().await;
}

fn pickup_body(account: &str, pw: &str) -> Value {
    json!({"accountNumber": account, "password": pw, "address": "1 rue de Rivoli", "zipCode": "75001", "city": "Paris",
           "countryCode": "FR", "weight": "1000", "shippingDate": "22/11/2026", "filterRelay": "1", "lang": "FR", "optionInter": "0"})
}

#[tokio::test]
async fn pickup_points_and_their_error_codes() {
    let s = start(config(4)).await;
    let (st, v) = s.post(PICKUP, &pickup_body(A, A_PW)).await;
    assert_eq!(st, 200);
    assert_eq!(v["errorCode"], 0);
    assert_eq!(v["errorMessage"], "Code retour OK");
    assert_eq!(v["qualiteReponse"], 2);
    let list = v["listePointRetraitAcheminement"].as_array().expect("list");
    assert_eq!(list.len(), 10);
    for p in list {
        for k in [
            "identifiant",
            "nom",
            "adresse1",
            "codePostal",
            "localite",
            "codePays",
            "libellePays",
            "coordGeolocalisationLatitude",
            "horairesOuvertureLundi",
            "horairesOuvertureDimanche",
            "typeDePoint",
            "reseau",
        ] {
            assert!(p[k].is_string(), "{k} in {p}");
        }
        assert!(p["distanceEnMetre"].is_u64() && p["poidsMaxi"].is_u64());
        assert_eq!(p["codePostal"], "75001");
        assert_eq!(p["localite"], "PARIS");
    }
    // Deterministic from the postal code, whoever asks.
    let (_, again) = s.post(PICKUP, &pickup_body(B, B_PW)).await;
    assert_eq!(
        again["listePointRetraitAcheminement"],
        v["listePointRetraitAcheminement"]
    );
    let mut partner = pickup_body(A, A_PW);
    partner["codTiersPourPartenaire"] = json!(A);
    partner["weight"] = json!(2500);
    assert_eq!(s.post(PICKUP, &partner).await.1["errorCode"], 0);

    let err =
        |code: u64, msg: &str| json!({"errorCode": code, "errorMessage": msg, "qualiteReponse": 0});
    assert_eq!(
        s.post(PICKUP, &pickup_body(A, "bad")).await,
        (200, err(201, "Identifiant et/ou mot de passe invalide"))
    );
    assert_eq!(
        s.post(PICKUP, &pickup_body(C, C_PW)).await,
        (200, err(202, "Service non autorisé pour cet identifiant"))
    );
    let mut no_zip = pickup_body(A, A_PW);
    no_zip["zipCode"] = json!("");
    assert_eq!(
        s.post(PICKUP, &no_zip).await,
        (200, err(104, "Code postal obligatoire"))
    );
    for w in [json!("0"), json!("abc"), json!("40000"), Value::Null] {
        let mut b = pickup_body(A, A_PW);
        b["weight"] = w;
        assert_eq!(s.post(PICKUP, &b).await, (200, err(120, "Poids invalide")));
    }
    let (st, v) = s.post_raw(PICKUP, "[1,2]").await;
    assert_eq!(st, 400);
    assert_eq!(v["errorCode"], 400);
    s.stop().await;
}

#[tokio::test]
async fn eligibility_answers_per_account() {
    let s = start(config(5)).await;
    let body = |login: &str, pw: &str| json!({"credential": {"login": login, "password": pw}, "partnerClientCode": login, "extra": 1});
    let (st, v) = s.post(ELIGIBILITY, &body(A, A_PW)).await;
    assert_eq!(st, 200);
    assert_eq!(
        v["messages"],
        json!([{"id": "0", "type": "INFOS", "messageContent": "OK"}])
    );
    assert_eq!(v["partnerClientCode"], A);
    let infos = v["additionalInformations"].as_array().expect("infos");
    let codes: Vec<&str> = infos.iter().filter_map(|i| i["code"].as_str()).collect();
    assert_eq!(codes, ["DOM", "DOS", "A2P", "BPR", "CORE"]);
    assert_eq!(infos[0]["eligible"], true);
    assert_eq!(infos[0]["label"], "Colissimo Domicile sans signature");
    assert!(infos.iter().all(|i| i["eligible"].is_boolean()));
    assert_eq!(
        s.post(ELIGIBILITY, &body(A, A_PW)).await.1,
        v,
        "deterministic"
    );

    let refused = json!({"messages": [{"id": "30000", "type": "ERROR", "messageContent": "Identifiant ou mot de passe incorrect"}]});
    assert_eq!(
        s.post(ELIGIBILITY, &body(A, "bad")).await,
        (401, refused.clone())
    );
    let mut other = body(A, A_PW);
    other["partnerClientCode"] = json!(B);
    assert_eq!(s.post(ELIGIBILITY, &other).await, (401, refused));
    let (st, v) = s.post(ELIGIBILITY, &json!({"credential": "x"})).await;
    assert_eq!(st, 400);
    assert!(v["messages"][0]["messageContent"]
        .as_str()
        .expect("m")
        .contains("credential"));
    s.stop().await;
}

#[tokio::test]
async fn tracking_tool_search_and_claims() {
    let s = start(config(6)).await;
    let all = s.sim.parcels(A);
    let (st, v) = s
        .post(SEARCH, &json!({"contractNumber": A, "password": A_PW}))
        .await;
    assert_eq!(st, 200);
    let list = v["parcels"].as_array().expect("list");
    assert_eq!(list.len(), all.len());
    let keys: Vec<(String, String)> = list
        .iter()
        .map(|p| {
            (
                p["depositDate"].as_str().expect("d").to_owned(),
                p["parcelNumber"].as_str().expect("n").to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(keys, sorted, "depositDate desc then number");
    for k in [
        "parcelNumber",
        "accountNumber",
        "userKey",
        "tag",
        "reference",
        "recipientName",
        "postalCode",
        "city",
        "country",
        "product",
        "status",
        "statusLabel",
        "location",
        "depositDate",
        "lastEventDate",
        "pass",
    ] {
        assert!(list[0].get(k).is_some(), "{k}");
    }
    assert!(list.iter().all(|p| p["accountNumber"] == A));

    // Period filter, inclusive, against the reference model.
    let today = s.sim.today();
    let from = today - chrono::Duration::days(20);
    let to = today - chrono::Duration::days(10);
    let expected = all
        .iter()
        .filter(|p| p.deposit_date >= from && p.deposit_date <= to)
        .count();
    let (_, v) = s
        .post(SEARCH, &json!({"contractNumber": A, "password": A_PW, "from": from.to_string(), "to": to.to_string()}))
        .await;
    assert_eq!(v["parcels"].as_array().expect("list").len(), expected);
    let (st, v) = s
        .post(SEARCH, &json!({"contractNumber": A, "password": A_PW, "from": to.to_string(), "to": from.to_string()}))
        .await;
    assert_eq!((st, v["error"].clone()), (400, json!("invalid_request")));
    let (st, _) = s
        .post(
            SEARCH,
            &json!({"contractNumber": A, "password": A_PW, "from": "22/11/2026"}),
        )
        .await;
    assert_eq!(st, 400);
    let (st, v) = s
        .post(SEARCH, &json!({"contractNumber": A, "password": "x"}))
        .await;
    assert_eq!(
        (st, v["error"].clone()),
        (401, json!("invalid_credentials"))
    );

    // Claims.
    let claim = |n: &str, acc: &str, pw: &str| {
        let body = json!({"contractNumber": acc, "password": pw, "reason": "damaged", "comment": "box crushed"});
        let path = format!("/tracking-tool/v1/parcels/{n}/claims");
        let s = &s;
        async move { s.post(&path, &body).await }
    };
    let (st, v) = claim(&all[0].number, A, A_PW).await;
    assert_eq!(st, 201);
    assert!(v["claimId"].as_str().expect("id").starts_with("CLM-"));
    assert_eq!(v["parcelNumber"], all[0].number.as_str());
    assert_eq!(v["status"], "open");
    assert_eq!(v["reason"], "damaged");
    let theirs = s.sim.parcels(B).remove(0);
    assert_eq!(
        claim(&theirs.number, A, A_PW).await,
        (404, json!({"error": "unknown_parcel"}))
    );
    assert_eq!(
        claim("6A00000000000", A, A_PW).await,
        (404, json!({"error": "unknown_parcel"}))
    );
    assert_eq!(claim(&all[0].number, A, "bad").await.0, 401);
    s.stop().await;
}

#[tokio::test]
async fn invoices_list_and_pdf() {
    let s = start(config(7)).await;
    let model = s.sim.invoices(A);
    assert_eq!(model.len(), 12);
    let (st, v) = s
        .post(
            "/invoices/v1/list",
            &json!({"contractNumber": A, "password": A_PW}),
        )
        .await;
    assert_eq!(st, 200);
    let list = v["invoices"].as_array().expect("list");
    assert_eq!(list.len(), 12);
    let dates: Vec<&str> = list.iter().filter_map(|i| i["date"].as_str()).collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let first = &list[0];
    assert_eq!(first["kind"], "F");
    assert_eq!(first["accountNumber"], A);
    assert_eq!(first["company"], "ACME SARL");
    let m = model
        .iter()
        .find(|i| i.number == first["number"].as_str().expect("n"))
        .expect("in model");
    assert_eq!(
        first["amountTtc"],
        format!(
            "{}.{:02}",
            m.amount_ttc_cents / 100,
            m.amount_ttc_cents % 100
        )
        .as_str()
    );
    assert!(
        model.iter().any(|i| i.contact_user_key.is_some()),
        "some invoices have a contact"
    );
    assert!(
        model.iter().any(|i| i.department.is_some()),
        "some invoices have a department"
    );
    assert!(model
        .iter()
        .any(|i| i.department.is_none() && i.contact_user_key.is_none()));

    let from = model[5].date;
    let (_, v) = s
        .post(
            "/invoices/v1/list",
            &json!({"contractNumber": A, "password": A_PW, "from": from.to_string()}),
        )
        .await;
    assert_eq!(v["invoices"].as_array().expect("list").len(), 6);

    let r = s
        .http
        .post(s.url(&format!("/invoices/v1/{}/pdf", m.number)))
        .json(&json!({"contractNumber": A, "password": A_PW}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.expect("pdf");
    assert!(pdf.starts_with(b"%PDF-1.4") && pdf.ends_with(b"%%EOF"));
    assert_eq!(pdf_page_count(&pdf), m.pages as usize);
    qpdf_check(&pdf, "invoice");

    let b_invoice = s.sim.invoices(B).remove(0);
    let (st, v) = s
        .post(
            &format!("/invoices/v1/{}/pdf", b_invoice.number),
            &json!({"contractNumber": A, "password": A_PW}),
        )
        .await;
    assert_eq!((st, v), (404, json!({"error": "unknown_invoice"})));
    let (st, v) = s
        .post(
            "/invoices/v1/NOPE/pdf",
            &json!({"contractNumber": A, "password": A_PW}),
        )
        .await;
    assert_eq!((st, v), (404, json!({"error": "unknown_invoice"})));
    let (st, _) = s
        .post(
            &format!("/invoices/v1/{}/pdf", m.number),
            &json!({"contractNumber": A, "password": "x"}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, _) = s
        .post("/invoices/v1/list", &json!({"contractNumber": A}))
        .await;
    assert_eq!(st, 401);
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_by_every_service() {
    let s = start(config(8)).await;
    let parcel = s.sim.parcels(A).remove(0).number;
    let invoice = s.sim.invoices(A).remove(0).number;
    let pw = "wrong";
    let cases: Vec<(String, Value, u16, Value)> = vec![
        (LABEL.into(), label_body(A, pw, None), 400, json!("30000")),
        (CHECK.into(), label_body(A, pw, None), 400, json!("30000")),
        (TIMELINE.into(), timeline(A, pw, &parcel), 200, json!("201")),
        (PICKUP.into(), pickup_body(A, pw), 200, json!(201)),
        (
            ELIGIBILITY.into(),
            json!({"credential": {"login": A, "password": pw}, "partnerClientCode": A}),
            401,
            json!("30000"),
        ),
        (
            SEARCH.into(),
            json!({"contractNumber": A, "password": pw}),
            401,
            json!("invalid_credentials"),
        ),
        (
            format!("/tracking-tool/v1/parcels/{parcel}/claims"),
            json!({"contractNumber": A, "password": pw, "reason": "x"}),
            401,
            json!("invalid_credentials"),
        ),
        (
            "/invoices/v1/list".into(),
            json!({"contractNumber": A, "password": pw}),
            401,
            json!("invalid_credentials"),
        ),
        (
            format!("/invoices/v1/{invoice}/pdf"),
            json!({"contractNumber": A, "password": pw}),
            401,
            json!("invalid_credentials"),
        ),
    ];
    for (path, body, status, code) in cases {
        let (st, v) = s.post(&path, &body).await;
        assert_eq!(st, status, "{path}");
        let got = [
            &v["messages"][0]["id"],
            &v["status"][0]["code"],
            &v["errorCode"],
            &v["error"],
        ]
        .into_iter()
        .find(|x| !x.is_null())
        .cloned();
        assert_eq!(got, Some(code), "{path}: {v}");
    }
    let r = s
        .http
        .get(s.url(&format!("/suivi/v2/idships/{parcel}")))
        .basic_auth(A, Some(pw))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    s.stop().await;
}
