//! Issue 12: third-party clients of the carrier, unchanged, pointed at Sesame. Every request
//! body here is written out as those clients send it (from the carrier's documented formats),
//! not built with Sesame's own code, and every answer is read the way those clients read it.

use serde_json::{json, Value};
use sesame_simulator::Faults;

use crate::common::*;

/// A label request as a multi-carrier shipping library writes it (weights as strings, the
/// deposit date and order number set, no `fields`), for `contract` with `password`.
fn recorded_label(contract: &str, password: &str) -> String {
    format!(
        r#"{{"contractNumber":"{contract}","password":"{password}","outputFormat":{{"x":"0","y":"0","outputPrintingType":"PDF_10x15_300dpi"}},"letter":{{"service":{{"productCode":"DOS","depositDate":"2026-12-05","orderNumber":"SO0042","commercialName":"Boutique"}},"parcel":{{"weight":"1.50"}},"sender":{{"senderParcelRef":"SO0042","address":{{"companyName":"Boutique SARL","line2":"1 rue de la Paix","countryCode":"FR","city":"Paris","zipCode":"75002","email":"contact@boutique.example"}}}},"addressee":{{"addresseeParcelRef":"SO0042","address":{{"lastName":"Martin","firstName":"Claire","line2":"12 avenue Jean Jaurès","countryCode":"FR","city":"Lyon","zipCode":"69007","mobileNumber":"0612345678","email":"claire@example.org"}}}}}}}}"#
    )
}

/// What a label client reads off an answer: status, the multipart content type's parameters,
/// the `jsonInfos` part's own headers and its JSON.
struct LabelAnswer {
    status: u16,
    content_type: String,
    part_head: String,
    infos: Value,
}

async fn label_answer(resp: reqwest::Response) -> LabelAnswer {
    let status = resp.status().as_u16();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let body = resp.bytes().await.unwrap();
    let infos = multipart_part(&content_type, &body, "jsonInfos")
        .unwrap_or_else(|| panic!("no jsonInfos part in {content_type}: {body:?}"));
    // The part's headers: the text between the first delimiter line and the blank line.
    let text = String::from_utf8_lossy(&body);
    let part_head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    LabelAnswer {
        status,
        content_type,
        part_head,
        infos: serde_json::from_slice(&infos).unwrap(),
    }
}

fn assert_refusal_shape(a: &LabelAnswer, status: u16, id: &str) {
    assert_eq!(a.status, status, "{}", a.infos);
    let ct = &a.content_type;
    assert!(ct.starts_with("multipart/mixed;"), "{ct}");
    assert!(ct.contains("boundary=\"uuid:"), "{ct}");
    assert!(ct.contains("type=\"application/json\""), "{ct}");
    assert!(ct.contains("start=\"<jsonInfos>\""), "{ct}");
    for h in [
        "Content-Type: application/json;charset=UTF-8",
        "Content-Transfer-Encoding: binary",
        "Content-ID: <jsonInfos>",
    ] {
        assert!(a.part_head.contains(h), "{h} missing in {}", a.part_head);
    }
    assert_eq!(a.infos["messages"][0]["id"], id, "{}", a.infos);
    assert_eq!(a.infos["messages"][0]["type"], "ERROR");
    assert!(a.infos["messages"][0]["messageContent"].is_string());
    let keys: Vec<&String> = a.infos.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["labelV2Response", "labelXmlV2Reponse", "messages"],
        "{}",
        a.infos
    );
    assert!(a.infos["labelV2Response"].is_null() && a.infos["labelXmlV2Reponse"].is_null());
}

both!(label_refusals_come_in_the_carriers_multipart_envelope);
async fn label_refusals_come_in_the_carriers_multipart_envelope(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("120001", ALL_RIGHTS).await;
    let a2 = s.account("120002", ALL_RIGHTS).await;
    let u = s.user(a1, "multipart", None, None, &["ws_postage"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let send = |key: &str, body: String| {
        s.http
            .post(format!("{}{LABEL}", s.url))
            .header("apiKey", key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    // Bad key, missing right, malformed body: refused by Sesame.
    let a = label_answer(
        send(
            "0123456789ABCDEF0123456789ABCDEF",
            recorded_label("120001", ""),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_refusal_shape(&a, 400, "30000");
    let a = label_answer(send(&u.key, recorded_label("120002", "")).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30002");
    let a = label_answer(send(&u.key, "{\"letter\":".into()).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30001");
    // Refused by the carrier (no weight): relayed in the same envelope.
    let no_weight = recorded_label("120001", "").replace(r#""weight":"1.50""#, r#""weight":null"#);
    let a = label_answer(send(&u.key, no_weight).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30221");
    // The carrier down: still the envelope (its own status, so clients retry).
    s.sim.set_faults(
        None,
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    let a = label_answer(send(&u.key, recorded_label("120001", "")).await.unwrap()).await;
    assert_refusal_shape(&a, 502, "502");
    s.sim.set_faults(None, Faults::default());
    // And a label still comes with its parcel number in the same part.
    let a = label_answer(send(&u.key, recorded_label("120001", "")).await.unwrap()).await;
    assert_eq!(a.status, 200);
    assert!(a.infos["labelV2Response"]["parcelNumber"].is_string());
    s.shutdown().await;
}

/// The simulator answers its own refusals as the carrier does (what every user's first minutes
/// run against): straight to it, no gateway.
#[tokio::test]
async fn simulator_label_refusals_are_multipart() {
    let sim = sesame_simulator::Simulator::new(sesame_simulator::SimConfig::default());
    let h = sim.spawn().await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}{LABEL}", h.base_url()))
        .body(recorded_label("999999", "nope"))
        .send()
        .await
        .unwrap();
    let a = label_answer(resp).await;
    assert_refusal_shape(&a, 400, "30000");
}

both!(v2_statuses_and_language_are_the_carriers);
async fn v2_statuses_and_language_are_the_carriers(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("120011", ALL_RIGHTS).await;
    let with = s.user(a1, "v2with", None, None, &["ws_tracking"]).await;
    let without = s.user(a1, "v2without", None, None, &["ws_postage"]).await;
    let parcel = s.sim.parcels("120011")[2].number.clone();
    let get = |path: String, key: String| {
        s.http
            .get(format!("{}{path}", s.url))
            .header("X-Okapi-Key", key)
            .header("Accept", "application/json")
            .send()
    };
    // A right missing is 401 (credentials not allowed), as a bad key; both say the language.
    for key in [without.key.clone(), "A".repeat(32)] {
        let r = get(format!("{V2}{parcel}?lang=en_GB"), key).await.unwrap();
        assert_eq!(r.status(), 401);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["returnCode"].as_u64(), v["lang"].as_str()),
            (Some(401), Some("en_GB")),
            "{v}"
        );
    }
    // Unknown parcel: 404, the carrier's body, with the language asked (fr_FR by default).
    let r = get(format!("{V2}6A99999999999"), with.key.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"returnCode": 404, "returnMessage": "Résultat non trouvé", "lang": "fr_FR", "idShip": "6A99999999999"})
    );
    // Found: the carrier's answer, `contextData.arrivalCountry` a plain string as it sends it.
    let r = get(format!("{V2}{parcel}?lang=fr_FR"), with.key.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["shipment"]["contextData"]["arrivalCountry"].is_string(),
        "{v}"
    );
    s.shutdown().await;
}

both!(v2_several_parcels_one_entry_each_across_accounts);
async fn v2_several_parcels_one_entry_each_across_accounts(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("120021", ALL_RIGHTS).await;
    let a2 = s.account("120022", ALL_RIGHTS).await;
    let a3 = s.account("120023", ALL_RIGHTS).await;
    let _a4 = s.account("120024", ALL_RIGHTS).await;
    let u = s.user(a1, "multi", None, None, &["ws_tracking"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    s.associate(a3, &u, &["ws_postage"]).await;
    let p1 = s.sim.parcels("120021")[1].number.clone();
    let p2 = s.sim.parcels("120022")[4].number.clone();
    // Linked without ws_tracking, unlinked, nonexistent: each an unknown entry.
    let p3 = s.sim.parcels("120023")[1].number.clone();
    let p4 = s.sim.parcels("120024")[1].number.clone();
    let ask = |ids: String| {
        s.http
            .get(format!("{}{V2}{ids}?lang=fr_FR", s.url))
            .header("X-Okapi-Key", u.key.clone())
            .header("Accept", "application/json")
            .send()
    };
    s.sim.clear_captured();
    let r = ask(format!("{p1},{p2}")).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["shipment"]["idShip"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [p1.as_str(), p2.as_str()]);
    assert_eq!(v[1]["accountNumber"], "120022");
    // One call per account holding ws_tracking, each with the whole list and its own
    // credentials, never the key.
    let calls = s.sim.captured();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c.path, format!("{V2}{p1},{p2}?lang=fr_FR"));
        assert!(!c.contains(&u.key));
    }

    // Mixed: 207 Multi-Status, one entry per id in the order asked; the entries of parcels the
    // caller may not see are exactly the entry of a parcel that does not exist.
    let r = ask(format!("{p3},{p1},{p4},6A00000000000")).await.unwrap();
    assert_eq!(r.status(), 207);
    let v: Value = r.json().await.unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[1]["shipment"]["idShip"], p1.as_str());
    let unknown = |e: &Value, id: &str| e.to_string().replace(id, "ID");
    let nonexistent = unknown(&list[3], "6A00000000000");
    assert_eq!(unknown(&list[0], &p3), nonexistent);
    assert_eq!(unknown(&list[2], &p4), nonexistent);
    assert_eq!(list[3]["returnCode"], 404);

    // All unknown: 404 and the array.
    let r = ask(format!("{p3},{p4}")).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap().as_array().unwrap().len(),
        2
    );

    // Bounded: more ids than the carrier takes, or one bad id, refused before anything leaves.
    s.sim.clear_captured();
    let many = vec![p1.as_str(); 21].join(",");
    let r = ask(many).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = ask(format!("{p1},{p2}%2F..")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(s.sim.captured().is_empty());
    s.shutdown().await;
}

both!(connection_key_in_the_password_field);
async fn connection_key_in_the_password_field(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a1 = s.account("120031", ALL_RIGHTS).await;
    let a2 = s.account("120032", ALL_RIGHTS).await;
    let _a3 = s.account("120033", ALL_RIGHTS).await;
    let u = s
        .user(
            a1,
            "pwkey",
            Some("ATELIER"),
            None,
            &[
                "ws_postage",
                "ws_tracking",
                "ws_pickup_point",
                "ws_eligibility",
            ],
        )
        .await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let key = u.key.clone();
    let post = |path: &'static str, body: String| {
        s.http
            .post(format!("{}{path}", s.url))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };

    // Labels: contractNumber + the key as password, no apiKey header (an ERP's carrier module).
    let a = label_answer(post(LABEL, recorded_label("120031", &key)).await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.infos);
    let fwd: Value = serde_json::from_slice(&s.sim.captured().pop().unwrap().body).unwrap();
    assert_eq!(fwd["contractNumber"], "120031");
    assert_eq!(fwd["password"], upstream_password("120031"));
    let stamps = fwd["fields"]["field"].as_array().unwrap();
    assert!(stamps.contains(&json!({"key": "USER_KEY", "value": u.user_key})));
    assert!(stamps.contains(&json!({"key": "TAG_USER", "value": "ATELIER"})));
    // The same rights checks: a linked account without ws_postage is refused for the right;
    // an account not linked to the key's holder is not a match at all (bad credentials).
    let a = label_answer(post(LABEL, recorded_label("120032", &key)).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30002");
    let a = label_answer(post(LABEL, recorded_label("120033", &key)).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30000");
    let wrong = "0123456789ABCDEF0123456789ABCDEF";
    let a = label_answer(post(LABEL, recorded_label("120031", wrong)).await.unwrap()).await;
    assert_refusal_shape(&a, 400, "30000");

    // Tracking (a La Poste tracking client: login/password/parcelNumber/lang): every linked
    // account holding ws_tracking is searched, as for a key in `apiKey`.
    let p2 = s.sim.parcels("120032")[0].number.clone();
    let body =
        format!(r#"{{"login":"120031","password":"{key}","parcelNumber":"{p2}","lang":"fr_FR"}}"#);
    let (_, v) = json_or_text(post(TRACKING, body).await.unwrap()).await;
    assert_eq!(status_code(&v), "0", "{v}");
    assert_eq!(v["parcel"]["accountNumber"], "120032");

    // Pickup points: accountNumber + password.
    let body = format!(
        r#"{{"accountNumber":"120031","password":"{key}","address":"1 rue de la Paix","zipCode":"75002","city":"Paris","countryCode":"FR","weight":"1500","shippingDate":"05/12/2026","filterRelay":"1","requestId":"REQ1","lang":"FR","optionInter":"0"}}"#
    );
    let (st, v) = json_or_text(post(PICKUP, body).await.unwrap()).await;
    assert_eq!((st, &v["errorCode"]), (200, &json!(0)), "{v}");

    // Eligibility: credential.login + credential.password.
    let body = format!(
        r#"{{"credential":{{"login":"120031","password":"{key}"}},"partnerClientCode":"120031","zipCode":"69007","countryCode":"FR"}}"#
    );
    let (st, v) = json_or_text(post(ELIG, body).await.unwrap()).await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v.get("answers").is_none(),
        "one account named: one answer: {v}"
    );

    // The key never reached the carrier.
    for c in s.sim.captured() {
        assert!(!c.contains(&key), "key forwarded in {}", c.path);
    }
    s.shutdown().await;
}

const SOAP: &str = "/sls-ws/SlsServiceWS/2.0";

/// A `generateLabel` call as an ERP's carrier module sends it (SOAP 1.1, `sls:` prefix on the
/// operation only, no SOAPAction), with `extra` inside `generateLabelRequest`.
fn soap_request(op: &str, contract: &str, password: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><sls:{op} xmlns:sls="http://sls.ws.coliposte.fr"><generateLabelRequest><contractNumber>{contract}</contractNumber><password>{password}</password><outputFormat><x>0</x><y>0</y><outputPrintingType>PDF_10x15_300dpi</outputPrintingType></outputFormat><letter><service><productCode>DOM</productCode><depositDate>2026-12-05</depositDate><orderNumber>SO43</orderNumber></service><parcel><weight>1.2</weight></parcel><sender><senderParcelRef>SO43</senderParcelRef><address><companyName>Boutique &amp; Fils</companyName><line2>1 rue de la Paix</line2><countryCode>FR</countryCode><city>Paris</city><zipCode>75002</zipCode></address></sender><addressee><address><lastName>Martin</lastName><firstName>Claire</firstName><line2>12 avenue Jean Jaur&#232;s</line2><countryCode>FR</countryCode><city>Lyon</city><zipCode>69007</zipCode></address></addressee></letter>{extra}</generateLabelRequest></sls:{op}></soapenv:Body></soapenv:Envelope>"#
    )
}

/// What a SOAP client reads: status, the envelope (the part named by `start`), the attachment
/// the envelope's `xop:Include` points at, if any.
async fn soap_answer(resp: reqwest::Response) -> (u16, String, Option<Vec<u8>>) {
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let body = resp.bytes().await.unwrap();
    if !ct.starts_with("multipart/related") {
        assert!(ct.starts_with("text/xml"), "{ct}");
        return (status, String::from_utf8_lossy(&body).into_owned(), None);
    }
    assert!(ct.contains("type=\"application/xop+xml\""), "{ct}");
    let start = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("start="))
        .unwrap()
        .trim_matches(|c| c == '"' || c == '<' || c == '>')
        .to_owned();
    let envelope = String::from_utf8(multipart_part(&ct, &body, &start).unwrap()).unwrap();
    let attachment = envelope
        .split_once("href=\"cid:")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(cid, _)| multipart_part(&ct, &body, cid).expect("the attachment named by cid:"));
    (status, envelope, attachment)
}

both!(soap_label_service_delegates_like_the_rest_one);
async fn soap_label_service_delegates_like_the_rest_one(backend: Backend) {
    let s = Stack::new(backend, |c| c.max_body_bytes = 64 * 1024).await;
    let a1 = s.account("120041", ALL_RIGHTS).await;
    let a2 = s.account("120042", ALL_RIGHTS).await;
    let u = s.user(a1, "soap", Some("ERP"), None, &["ws_postage"]).await;
    s.associate(a2, &u, &["ws_tracking"]).await;
    let key = u.key.clone();
    let soap = |body: String, key_header: Option<&str>| {
        let mut rb = s
            .http
            .post(format!("{}{SOAP}", s.url))
            .header("Content-Type", "text/xml;charset=UTF-8")
            .body(body);
        if let Some(k) = key_header {
            rb = rb.header("apiKey", k.to_owned());
        }
        rb.send()
    };

    // The key in `password`, a spoofed stamp in the free fields: a label, stamped with the
    // caller's own key and tag, the account's credentials upstream.
    let spoof = "<fields><field><key>USER_KEY</key><value>0123456789ABCDEF0123456789ABCDEF</value></field><field><key>OTHER</key><value>kept</value></field></fields>";
    let (st, env, label) = soap_answer(
        soap(soap_request("generateLabel", "120041", &key, spoof), None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{env}");
    assert!(env.contains("generateLabelResponse"), "{env}");
    assert!(env.contains("<type>INFOS</type>"), "{env}");
    let number = env
        .split_once("<parcelNumber>")
        .and_then(|(_, r)| r.split_once("</parcelNumber>"))
        .map(|(n, _)| n.to_owned())
        .expect("return/labelV2Response/parcelNumber");
    assert!(label.expect("the label attachment").starts_with(b"%PDF"));
    let posted = s.sim.parcels("120041").into_iter().last().unwrap();
    assert_eq!(posted.number, number);
    assert_eq!(posted.user_key.as_deref(), Some(u.user_key.as_str()));
    assert_eq!(posted.tag.as_deref(), Some("ERP"));
    let fwd = String::from_utf8(s.sim.captured().pop().unwrap().body.to_vec()).unwrap();
    assert!(
        fwd.contains("<contractNumber>120041</contractNumber>"),
        "{fwd}"
    );
    assert!(fwd.contains(&format!(
        "<password>{}</password>",
        upstream_password("120041")
    )));
    assert!(
        !fwd.contains(&key) && !fwd.contains("0123456789ABCDEF0123456789ABCDEF"),
        "{fwd}"
    );
    assert!(fwd.contains("<key>OTHER</key><value>kept</value>"), "{fwd}");
    assert!(
        fwd.contains("Boutique &amp; Fils"),
        "text re-escaped: {fwd}"
    );

    // The key in the apiKey header, no contractNumber: the one account holding ws_postage.
    let body = soap_request("checkGenerateLabel", "", "", "")
        .replace("<contractNumber></contractNumber><password></password>", "");
    let (st, env, _) = soap_answer(soap(body, Some(&key)).await.unwrap()).await;
    assert_eq!(st, 200, "{env}");
    assert!(
        env.contains("checkGenerateLabelResponse") && env.contains("<type>INFOS</type>"),
        "{env}"
    );

    // Refusals: inside the operation's answer, type ERROR, as the carrier answers them.
    for (contract, password, id) in [
        ("120042", key.as_str(), "30002"),
        ("120041", "0123456789ABCDEF0123456789ABCDEF", "30000"),
        ("120041", "not-the-password", "30000"),
    ] {
        let (st, env, label) = soap_answer(
            soap(
                soap_request("checkGenerateLabel", contract, password, ""),
                None,
            )
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(st, 200, "{env}");
        assert!(env.contains("checkGenerateLabelResponse"), "{env}");
        assert!(
            env.contains(&format!("<id>{id}</id>")) && env.contains("<type>ERROR</type>"),
            "{env}"
        );
        assert!(label.is_none());
    }

    // Hostile XML: SOAP faults (500, soap:Client), nothing forwarded.
    s.sim.clear_captured();
    let nested = format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{}{}</soapenv:Body></soapenv:Envelope>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let many = soap_request("generateLabel", "120041", &key, &"<x/>".repeat(5_000));
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lol [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>{}",
        soap_request("generateLabel", "120041", "&lol2;", "").split_once("?>").unwrap().1
    );
    let huge = soap_request("generateLabel", "120041", &key, &"<x>y</x>".repeat(20_000));
    for (what, body) in [
        ("not XML", "{\"contractNumber\":1}".to_owned()),
        ("truncated", soap_request("generateLabel", "120041", &key, "")[..400].to_owned()),
        ("no operation", "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body/></soapenv:Envelope>".to_owned()),
        ("nested", nested),
        ("many elements", many),
        ("DOCTYPE", laughs),
        ("huge", huge),
    ] {
        let (st, env, _) = soap_answer(soap(body, None).await.unwrap()).await;
        assert_eq!(st, 500, "{what}: {env}");
        assert!(env.contains("<faultcode>soap:Client</faultcode>"), "{what}: {env}");
        assert!(env.contains("<faultstring>"), "{what}: {env}");
    }
    assert!(s.sim.captured().is_empty(), "hostile XML forwarded");

    // The carrier down: a server fault.
    s.sim.set_faults(
        None,
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    let (st, env, _) = soap_answer(
        soap(soap_request("generateLabel", "120041", &key, ""), None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, 500);
    assert!(env.contains("<faultcode>soap:Server</faultcode>"), "{env}");
    s.sim.set_faults(None, Faults::default());

    // The WSDL: the carrier's, its endpoint pointed at Sesame.
    let r = s
        .http
        .get(format!("{}{SOAP}?wsdl", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let wsdl = r.text().await.unwrap();
    assert!(wsdl.contains("generateLabel") && wsdl.contains("checkGenerateLabel"));
    assert!(
        wsdl.contains(&format!("location=\"{}{SOAP}\"", s.url)),
        "endpoint not Sesame's: {wsdl}"
    );
    s.shutdown().await;
}

/// ZPL printing types get printer language from the simulator, as from the carrier.
#[tokio::test]
async fn simulator_answers_zpl_for_zpl_printing() {
    let sim = sesame_simulator::Simulator::new(sesame_simulator::SimConfig::default());
    sim.add_account(sesame_simulator::SimAccount {
        number: "123456".into(),
        password: "secret".into(),
        ..Default::default()
    });
    let h = sim.spawn().await.unwrap();
    let body = recorded_label("123456", "secret").replace("PDF_10x15_300dpi", "ZPL_10x15_203dpi");
    let resp = reqwest::Client::new()
        .post(format!("{}{LABEL}", h.base_url()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let body = resp.bytes().await.unwrap();
    let label = multipart_part(&ct, &body, "label").unwrap();
    assert!(
        label.starts_with(b"^XA") && label.ends_with(b"^XZ\n"),
        "{}",
        String::from_utf8_lossy(&label)
    );
    assert!(!label.starts_with(b"%PDF"));
}

/// Sesame's own public endpoints are described at `/sesame/openapi.json`, on the public
/// listener, without a key; the document passes the reference validator, and every operation
/// it lists is served (a call with a key is answered by that route, not 404/405).
#[tokio::test]
async fn own_endpoints_openapi_document() {
    let s = Stack::new(Backend::Sqlite, |_| {}).await;
    let a1 = s.account("120051", ALL_RIGHTS).await;
    let u = s.user(a1, "openapi", None, None, &["ws_tracking"]).await;
    let r = s.get("/sesame/openapi.json", &[]).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let file = std::env::temp_dir().join(format!("sesame-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "OpenAPI document invalid (or openapi-spec-validator missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/sesame/v1/parcels",
        "/sesame/v1/parcels/{parcelNumber}/claims",
        "/sesame/v1/invoices",
        "/sesame/v1/invoices/{accountNumber}/{invoiceNumber}/pdf",
        "/sesame/v1/invoices/zip",
    ] {
        assert!(paths.contains_key(p), "{p} undocumented");
    }
    for (path, ops) in paths {
        let concrete = path
            .replace("{parcelNumber}", "6A12345678901")
            .replace("{accountNumber}", "120051")
            .replace("{invoiceNumber}", "F-1");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s
                .http
                .request(m, format!("{}{concrete}", s.url))
                .header("apiKey", u.key.clone())
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(
                st != 405 && v["error"]["code"] != "not_found",
                "{method} {path}: {st} {v}"
            );
        }
    }
    s.shutdown().await;
}

/// Client software that hard-codes the carrier's https host, pointed at Sesame by internal DNS
/// (deploy/README.md): the carrier's hostname resolves to Sesame (here: loopback), whose
/// certificate for that name is issued by the company's own CA, which the client trusts. The
/// client is unchanged: same host name, same path, same TLS verification.
#[tokio::test]
async fn a_client_resolving_the_carriers_host_to_sesame() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CARRIER_HOST: &str = "ws.colissimo.fr";
    // The company's CA, and Sesame's certificate for the carrier's name, issued by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Boutique SARL internal CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![CARRIER_HOST.to_owned()])
        .unwrap()
        .signed_by(&key_pair, &ca, &ca_key)
        .unwrap();
    let (s, dir, _) = crate::cache::tls_stack(
        Backend::Sqlite,
        &rcgen::CertifiedKey { cert, key_pair },
        10_000,
    )
    .await;
    let a1 = s.account("120061", ALL_RIGHTS).await;
    let u = s.user(a1, "dns", None, None, &["ws_tracking"]).await;
    let parcel = s.sim.parcels("120061")[0].number.clone();

    let mut tls = crate::cache::tls_connect_as(&s.url, ca.der().clone(), CARRIER_HOST)
        .await
        .expect("the client's usual TLS check passes for the carrier's name");
    let request = format!(
        "GET /suivi/v2/idships/{parcel}?lang=fr_FR HTTP/1.1\r\nHost: {CARRIER_HOST}\r\nX-Okapi-Key: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        u.key
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("\"idShip\":\"{parcel}\"")), "{text}");
    // Trusting only the public roots (no company CA), the same client refuses Sesame.
    let other = rcgen::generate_simple_self_signed(vec!["elsewhere".to_owned()]).unwrap();
    assert!(
        crate::cache::tls_connect_as(&s.url, other.cert.der().clone(), CARRIER_HOST)
            .await
            .is_err()
    );
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
