//! Issue 10, the data path (defects 6, 7, 8, 9, 10, 12): hostile requests through the real
//! listeners on loopback, the simulator's capture as witness of what reaches the carrier.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame_simulator::Faults;

use crate::common::*;

/// The demo's three accounts.
const A: &str = "900138";
const B: &str = "832519";
const C: &str = "839181";

/// A parcel number no simulated account holds.
fn unknown_parcel(s: &Stack) -> String {
    let taken: Vec<String> = [A, B, C]
        .iter()
        .flat_map(|a| s.sim.parcels(a).into_iter().map(|p| p.number))
        .collect();
    (0..100u64)
        .map(|i| format!("6A{:011}", 99_999_999_000 + i))
        .find(|n| !taken.contains(n))
        .expect("a free parcel number")
}

async fn status_and_body(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

both!(d6_v2_id_with_encoded_slash_or_question_mark_is_refused_not_forwarded);
async fn d6_v2_id_with_encoded_slash_or_question_mark_is_refused_not_forwarded(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let u = s.user(a, "v2hostile", None, None, &["ws_tracking"]).await;
    let parcel = s.sim.parcels(A)[0].number.clone();

    let hostile = [
        "..%2F..%2F..%2Finvoices%2Fv1%2Flist".to_owned(),
        format!("{parcel}%3Flang%3Dxx"),
        format!("{parcel}%2F..%2F..%2Finvoices%2Fv1%2Flist"),
        format!("{parcel}%23frag"),
        format!("{parcel}%00"),
        format!("%20{parcel}%0D%0AX-Injected:%201"),
        "6A1".to_owned(),
        format!("{parcel},..%2Fx"),
    ];
    for id in &hostile {
        s.sim.clear_captured();
        let resp = s
            .get(&format!("{V2}{id}"), &[("X-Okapi-Key", u.key.as_str())])
            .await;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.expect("json envelope");
        assert_eq!(status, 400, "{id}: {v}");
        assert_eq!(v["returnCode"], 400, "{id}: {v}");
        assert!(
            v["returnMessage"]
                .as_str()
                .is_some_and(|m| m.contains("idShip")),
            "{id}: the message names the field: {v}"
        );
        assert!(
            s.sim.captured().is_empty(),
            "{id} was forwarded: {:?}",
            s.sim.captured().iter().map(|c| &c.path).collect::<Vec<_>>()
        );
    }

    // A valid id (lowercase, or with an encoded letter) still works, forwarded as plain text.
    s.sim.clear_captured();
    let lower = parcel.to_lowercase();
    let resp = s
        .get(&format!("{V2}{lower}"), &[("X-Okapi-Key", u.key.as_str())])
        .await;
    assert_eq!(resp.status(), 200);
    let encoded = format!("%{:02X}{}", parcel.as_bytes()[0], &parcel[1..]);
    let resp = s
        .get(
            &format!("{V2}{encoded}"),
            &[("X-Okapi-Key", u.key.as_str())],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let paths: Vec<String> = s.sim.captured().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        vec![format!("{V2}{parcel}"), format!("{V2}{parcel}")],
        "forwarded ids"
    );
    s.shutdown().await;
}

/// The four places a parcel is looked up, for one parcel id: (what, status, body with the id
/// replaced, elapsed).
async fn probe_all(s: &Stack, key: &str, id: &str) -> Vec<(&'static str, u16, String, Duration)> {
    let mut out = Vec::new();
    let scrub = |b: String| b.replace(id, "<ID>");
    let t = Instant::now();
    let (st, b) = status_and_body(s.get(&format!("{LINK}?apikey={key}&cab={id}"), &[]).await).await;
    out.push(("link html", st, scrub(b), t.elapsed()));
    let t = Instant::now();
    let (st, b) = status_and_body(
        s.get(
            &format!("{LINK}?apikey={key}&cab={id}"),
            &[("Accept", "application/json")],
        )
        .await,
    )
    .await;
    out.push(("link json", st, scrub(b), t.elapsed()));
    let t = Instant::now();
    let (st, b) = status_and_body(
        s.http
            .post(format!("{}{TRACKING}", s.url))
            .json(&json!({"apiKey": key, "parcelNumber": id, "lang": "fr_FR"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    out.push(("timeline", st, scrub(b), t.elapsed()));
    let t = Instant::now();
    let (st, b) = status_and_body(s.get(&format!("{V2}{id}"), &[("X-Okapi-Key", key)]).await).await;
    out.push(("v2", st, scrub(b), t.elapsed()));
    out
}

both!(d7_out_of_scope_parcel_is_unknown_whatever_other_accounts_do);
async fn d7_out_of_scope_parcel_is_unknown_whatever_other_accounts_do(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let b = s.account(B, ALL_RIGHTS).await;
    let c = s.account(C, ALL_RIGHTS).await;
    // On A the user sees only its own parcels (and has no ws_tracking there); B and C: all.
    let u = s
        .user(a, "scopeprobe", None, None, &["tracking_tool:own"])
        .await;
    s.associate(b, &u, &["ws_tracking", "tracking_tool:all"])
        .await;
    s.associate(c, &u, &["ws_tracking", "tracking_tool:all"])
        .await;
    let out_of_scope = s.sim.parcels(A)[0].number.clone();
    let unknown = unknown_parcel(&s);
    let visible = s.sim.parcels(B)[0].number.clone();
    let key = u.key.as_str();

    // Healthy: both refused the same way (the baseline the suite already held).
    let o = probe_all(&s, key, &out_of_scope).await;
    let n = probe_all(&s, key, &unknown).await;
    for (x, y) in o.iter().zip(&n) {
        assert_eq!((x.1, &x.2), (y.1, &y.2), "{} healthy", x.0);
    }

    // B's carrier fails: out of scope and unknown still answer the same, status and bytes.
    s.sim.set_faults(
        Some(B),
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    let o = probe_all(&s, key, &out_of_scope).await;
    let n = probe_all(&s, key, &unknown).await;
    for (x, y) in o.iter().zip(&n) {
        assert_eq!(
            (x.1, &x.2),
            (y.1, &y.2),
            "{}: out of scope vs unknown with {B} failing",
            x.0
        );
    }
    s.sim.clear_account_faults(B);

    // C's carrier is slow: both wait for every account (neither answers before C has).
    let slow = Duration::from_millis(400);
    s.sim.set_faults(
        Some(C),
        Faults {
            slow_rate: 1.0,
            slow_ms: 400,
            ..Faults::default()
        },
    );
    let o = probe_all(&s, key, &out_of_scope).await;
    let n = probe_all(&s, key, &unknown).await;
    for (x, y) in o.iter().zip(&n) {
        println!(
            "{} with {C} slow: out of scope {:?}, unknown {:?}",
            x.0, x.3, y.3
        );
        assert_eq!((x.1, &x.2), (y.1, &y.2), "{} with {C} slow", x.0);
        assert!(
            x.3 >= slow && y.3 >= slow,
            "{}: out of scope {:?}, unknown {:?}: one answered before the slow account",
            x.0,
            x.3,
            y.3
        );
    }
    // Not vacuous: a parcel in scope is still found while C is slow.
    let v = s.track(key, &visible).await;
    assert_eq!(status_code(&v), "0", "{v}");
    s.shutdown().await;
}

both!(d8_parcel_search_csv_defuses_formula_cells);
async fn d8_parcel_search_csv_defuses_formula_cells(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let u = s
        .user(
            a,
            "csvhostile",
            None,
            None,
            &["ws_postage", "tracking_tool:all"],
        )
        .await;
    let refs = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+33102030405",
        "-2+3",
        "@SUM(A1:A2)",
        "\tTAB",
        "\rCR",
    ];
    for (i, r) in refs.iter().enumerate() {
        let mut body = label_body(None);
        body["letter"]["sender"]["senderParcelRef"] = json!(r);
        body["letter"]["addressee"]["address"]["lastName"] = json!(format!("=cmd|' /C calc'!A{i}"));
        let resp = s
            .http
            .post(format!("{}{LABEL}", s.url))
            .header("apiKey", &u.key)
            .json(&body)
            .send()
            .await
            .expect("label");
        assert_eq!(resp.status(), 200, "{r:?}");
    }
    let resp = s
        .get(
            "/sesame/v1/parcels?format=csv",
            &[("apiKey", u.key.as_str())],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("csv");
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    let text = text.strip_prefix('\u{feff}').expect("BOM");
    let mut r = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let mut seen = Vec::new();
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.expect("record");
        rows += 1;
        for cell in rec.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "live formula cell {cell:?}"
            );
            seen.push(cell.to_owned());
        }
    }
    assert!(rows >= refs.len(), "{rows} rows");
    // Not vacuous: the hostile values are exported, defused with a leading apostrophe.
    for r in refs {
        assert!(seen.contains(&format!("'{r}")), "{r:?} missing: {seen:?}");
    }
    assert!(seen.iter().any(|c| c.starts_with("'=cmd|")), "{seen:?}");
    s.shutdown().await;
}

both!(d9_repeated_members_read_as_the_last_one_and_no_key_is_forwarded);
/// Issue 17 reads tracking and pickup bodies in place: a body naming a member twice must mean
/// what it meant parsed into a map (the last one wins), for the key as for the rest, and none
/// of the keys may reach the carrier.
async fn d9_repeated_members_read_as_the_last_one_and_no_key_is_forwarded(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let b = s.account(B, ALL_RIGHTS).await;
    let ua = s.user(a, "dup-a", None, None, ALL_RIGHTS).await;
    let ub = s.user(b, "dup-b", None, None, ALL_RIGHTS).await;
    let parcel_a = s.sim.parcels(A)[0].number.clone();
    // A raw body (a map cannot hold a name twice), the answer as JSON.
    let stack = &s;
    let ask = |path: &'static str, body: String| async move {
        let r = stack
            .http
            .post(format!("{}{path}", stack.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("answer");
        r.json::<Value>().await.expect("json")
    };
    // B's key first, A's last: the caller is A, who finds A's parcel.
    s.sim.clear_captured();
    let body = format!(
        r#"{{"apiKey":"{kb}","parcelNumber":"6A00000000000","lang":"en_GB","apiKey":"{ka}","parcelNumber":"{parcel_a}","lang":"fr_FR"}}"#,
        kb = ub.key.as_str(),
        ka = ua.key.as_str()
    );
    let v = ask(TRACKING, body).await;
    assert_eq!(
        status_code(&v),
        "0",
        "A's key, the last one, finds A's parcel: {v}"
    );
    let calls = s.sim.captured();
    assert_eq!(calls.len(), 1, "one account holds ws_tracking");
    let sent: Value = serde_json::from_slice(&calls[0].body).expect("JSON to the carrier");
    assert_eq!(sent["parcelNumber"], parcel_a.as_str());
    assert_eq!(sent["lang"], "fr_FR", "the last value of a repeated member");
    let text = String::from_utf8_lossy(&calls[0].body).to_string();
    assert!(
        !text.contains(ua.key.as_str()) && !text.contains(ub.key.as_str()),
        "{text}"
    );
    assert_eq!(text.matches("\"lang\"").count(), 1, "{text}");

    // A's key first, B's last: the caller is B, and A's parcel is not B's.
    let body = format!(
        r#"{{"apiKey":"{ka}","apiKey":"{kb}","parcelNumber":"{parcel_a}"}}"#,
        kb = ub.key.as_str(),
        ka = ua.key.as_str()
    );
    let v = ask(TRACKING, body).await;
    assert_ne!(status_code(&v), "0", "B may not see A's parcel: {v}");

    // A valid key, then garbage under the same name: the garbage is the key, refused.
    let body = format!(
        r#"{{"apiKey":"{ka}","parcelNumber":"{parcel_a}","apiKey":"not a key"}}"#,
        ka = ua.key.as_str()
    );
    let v = ask(TRACKING, body).await;
    assert_ne!(status_code(&v), "0", "{v}");

    // Pickup: the account named twice, B's then A's, with A's key: A's account is asked.
    s.sim.clear_captured();
    let body = format!(
        r#"{{"apikey":"{ka}","accountNumber":"{B}","zipCode":"75001","city":"Paris","countryCode":"FR","weight":"1000","filterRelay":"1","shippingDate":"21/11/2026","accountNumber":"{A}"}}"#,
        ka = ua.key.as_str()
    );
    let v = ask(PICKUP, body).await;
    assert_eq!(v["errorCode"], 0, "pickup {v}");
    let calls = s.sim.captured();
    assert_eq!(calls.len(), 1);
    let text = String::from_utf8_lossy(&calls[0].body).to_string();
    let sent: Value = serde_json::from_slice(&calls[0].body).expect("JSON to the carrier");
    assert_eq!(
        sent["password"],
        sesame_testkit::seed::upstream_password(A),
        "A's credentials: {text}"
    );
    assert_eq!(text.matches("accountNumber").count(), 1, "{text}");
    assert!(!text.contains(ua.key.as_str()), "{text}");
    s.shutdown().await;
}

both!(d9_caller_key_never_reaches_the_carrier_in_any_spelling);
async fn d9_caller_key_never_reaches_the_carrier_in_any_spelling(backend: Backend) {
    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let u = s.user(a, "keyspell", None, None, ALL_RIGHTS).await;
    let key = u.key.as_str();
    let parcel = s.sim.parcels(A)[0].number.clone();
    let invoice = s.sim.invoices(A)[0].number.clone();
    s.sim.clear_captured();

    let spellings = |mut v: Value| {
        for k in [
            "apiKey",
            "apikey",
            "APIKEY",
            "ApiKey",
            "api_key",
            "x-okapi-key",
        ] {
            v[k] = json!(key);
        }
        v
    };
    let post = |path: &'static str, headers: Vec<(&'static str, String)>, body: Value| {
        let mut rb = s.http.post(format!("{}{path}", s.url)).json(&body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    let r = post(
        LABEL,
        vec![("apiKey", key.to_owned())],
        spellings(label_body(None)),
    )
    .await
    .expect("labels");
    assert_eq!(r.status(), 200, "labels");
    let r = post(
        TRACKING,
        vec![],
        spellings(json!({"parcelNumber": parcel, "lang": "fr_FR"})),
    )
    .await
    .expect("tracking");
    let v: Value = r.json().await.expect("json");
    assert_eq!(status_code(&v), "0", "tracking {v}");
    let r = post(
        PICKUP,
        vec![],
        spellings(json!({"zipCode": "75001", "city": "Paris", "countryCode": "FR", "weight": "1000", "filterRelay": "1", "shippingDate": "21/11/2026"})),
    )
    .await
    .expect("pickup");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["errorCode"], 0, "pickup {v}");
    let mut elig = spellings(json!({"partnerClientCode": A, "productCode": "DOM"}));
    elig["credential"] = json!({"apiKey": key, "apikey": key, "APIKEY": key});
    let r = post(ELIG, vec![], elig).await.expect("eligibility");
    assert_eq!(r.status(), 200, "eligibility");
    for q in [
        format!("apikey={key}&lang=fr_FR"),
        format!("lang=fr_FR&APIKEY={key}&%61pikey={key}"),
        format!("x-okapi-key={key}"),
    ] {
        let r = s
            .get(&format!("{V2}{parcel}?{q}"), &[("X-Okapi-Key", key)])
            .await;
        assert_eq!(r.status(), 200, "v2 {q}");
    }
    // The GET services, with the key also in the query where a careless client puts it.
    for (path, header) in [
        (format!("{LINK}?apikey={key}&cab={parcel}"), false),
        (format!("/sesame/v1/parcels?apikey={key}"), true),
        (format!("/sesame/v1/invoices?apiKey={key}"), true),
        (
            format!("/sesame/v1/invoices/{A}/{invoice}/pdf?apikey={key}"),
            true,
        ),
    ] {
        let headers: &[(&str, &str)] = if header { &[("apiKey", key)] } else { &[] };
        assert_eq!(s.get(&path, headers).await.status(), 200, "{path}");
    }
    let r = post(
        "/sesame/v1/invoices/zip",
        vec![("apiKey", key.to_owned())],
        spellings(json!({"invoices": [{"accountNumber": A, "number": invoice}]})),
    )
    .await
    .expect("zip");
    assert_eq!(r.status(), 200, "zip");

    let captured = s.sim.captured();
    assert!(captured.len() >= 12, "{} calls captured", captured.len());
    let lower = key.to_lowercase();
    for c in &captured {
        assert!(
            !c.contains(key) && !c.contains(&lower),
            "the caller's key reached the carrier in {} {}",
            c.method,
            c.path
        );
    }
    s.shutdown().await;
}

/// A `MakeWriter` into a shared buffer: the test reads what the gateway logged.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// Current-thread runtime: the gateway's tasks run on this thread, so the thread's default
// subscriber sees every event they emit.
both!(d10_percent_encoded_key_parameter_names_are_redacted_in_debug_logs);
async fn d10_percent_encoded_key_parameter_names_are_redacted_in_debug_logs(backend: Backend) {
    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(buf.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = Stack::new(backend, |_| {}).await;
    let a = s.account(A, ALL_RIGHTS).await;
    let u = s
        .user(a, "logprobe", None, None, &["tracking_tool:all"])
        .await;
    let key = u.key.as_str();
    let parcel = s.sim.parcels(A)[0].number.clone();
    let encoded_value: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let queries = [
        format!("%61pikey={key}&cab={parcel}"),
        format!("%41%50%49%4B%45%59={key}&cab={parcel}"),
        format!("api%6Bey={}&cab={parcel}", key.to_lowercase()),
        format!("apikey={encoded_value}&cab={parcel}"),
        format!("cab={parcel}&apikey={key}&apikey={key}"),
        format!("cab={parcel}&other={key}"),
        format!("cab={parcel}&%70assword=Secret-{key}"),
    ];
    for (i, q) in queries.iter().enumerate() {
        let r = s.get(&format!("{LINK}?{q}"), &[]).await;
        // The tracking link really opens with these spellings (the key is live in the query).
        if [0, 4].contains(&i) {
            assert_eq!(r.status(), 200, "{q}");
        }
    }
    s.shutdown().await;
    let logs = String::from_utf8(buf.0.lock().expect("log buffer").clone()).expect("utf-8");
    // Not vacuous: the debug access log logged those requests.
    assert!(
        logs.matches(LINK).count() >= queries.len(),
        "access log lines missing: {logs}"
    );
    for secret in [key.to_owned(), key.to_lowercase(), encoded_value] {
        assert!(
            !logs.contains(&secret),
            "the key reached the debug log: {}",
            logs.lines()
                .find(|l| l.contains(&secret))
                .unwrap_or_default()
        );
    }
}

/// Every `sesame_*` metric name in the shipped alert rules and dashboards, with the label
/// pairs they select by equality (`instance`/`job` are Prometheus' own).
fn deploy_references() -> Vec<(String, Vec<(String, String)>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("deploy dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_some_and(|x| x == "yml" || x == "yaml" || x == "json")
            {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut refs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .expect("deploy file")
            .replace("\\\"", "\"");
        let b = text.as_bytes();
        let mut i = 0;
        while let Some(at) = text[i..].find("sesame_") {
            let start = i + at;
            let boundary =
                start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            i = end;
            if !boundary {
                continue;
            }
            let name = text[start..end].to_owned();
            let mut labels = Vec::new();
            if b.get(end) == Some(&b'{') {
                if let Some(close) = text[end..].find('}') {
                    for m in text[end + 1..end + close].split(',') {
                        if let Some((k, v)) = m.split_once('=') {
                            let k = k.trim();
                            if v.starts_with('~')
                                || k.ends_with('!')
                                || k == "instance"
                                || k == "job"
                            {
                                continue;
                            }
                            labels.push((k.to_owned(), v.trim().trim_matches('"').to_owned()));
                        }
                    }
                }
            }
            refs.push((name, labels));
        }
    }
    refs
}

both!(d12_fresh_gateway_exports_every_metric_the_deploy_files_query);
async fn d12_fresh_gateway_exports_every_metric_the_deploy_files_query(backend: Backend) {
    let refs = deploy_references();
    // Not vacuous: the dashboards and alerts do query the families of the issue.
    for family in [
        "sesame_fanout_width_bucket",
        "sesame_principal_cache_evictions_total",
        "sesame_rate_limited_total",
    ] {
        assert!(refs.iter().any(|(n, _)| n == family), "{family}");
    }
    let s = Stack::new(backend, |_| {}).await;
    // No traffic at all on the public listener.
    let m = s.metrics().await;
    let series: Vec<&str> = m.lines().filter(|l| !l.starts_with('#')).collect();
    let mut missing = Vec::new();
    for (name, labels) in &refs {
        let found = series.iter().any(|l| {
            let rest = match l.strip_prefix(name.as_str()) {
                Some(r) if r.starts_with('{') || r.starts_with(' ') => r,
                _ => return false,
            };
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        });
        if !found {
            missing.push(format!("{name}{labels:?}"));
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "a fresh /metrics lacks what deploy/ queries: {missing:?}\n{m}"
    );
    s.shutdown().await;
}
