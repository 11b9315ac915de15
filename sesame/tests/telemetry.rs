//! OpenTelemetry export end to end: Sesame (every role in one process, as `sesame serve`) with
//! `telemetry.endpoint` pointing at a fake OTLP collector, the carrier simulator upstream, a
//! user seeded through the admin API, and one tracking call carrying a W3C `traceparent`.
//! The exported spans must continue the caller's trace, match the `traceparent` the carrier
//! received, and carry no secret.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use sesame::app::{self, Parts, Role, ShutdownRx};
use sesame::settings::{self, Settings};
use sesame_simulator::{SimAccount, Simulator};
use sesame_telemetry::proto::{any_value, KeyValue, ProtoSpanKind};
use sesame_telemetry::testing::FakeCollector;

const PASSWORD: &str = "Telemetry-pass-2026";
const ACCOUNT: &str = "900138";

fn settings_for(dir: &std::path::Path, collector: &str) -> Settings {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let env: Vec<(String, String)> = [
        (
            "SESAME__DATABASE__URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        ),
        ("SESAME__LISTEN__PUBLIC", "127.0.0.1:0".into()),
        ("SESAME__LISTEN__ADMIN", "127.0.0.1:0".into()),
        ("SESAME__LISTEN__OPS", "127.0.0.1:0".into()),
        ("SESAME__SECRETS__SERVER_SECRET", "11".repeat(32)),
        ("SESAME__SECRETS__MASTER_KEY", "22".repeat(32)),
        (
            "SESAME__SECRETS__OPERATOR_TOKEN",
            "operator-token-for-the-telemetry-test".into(),
        ),
        // Exactly as an operator would switch export on.
        ("SESAME__TELEMETRY__ENDPOINT", collector.into()),
        // A call through the gateway makes two spans (request + one upstream call): they
        // leave as one full batch at once. A lone span waits a minute: only the shutdown
        // flush can send it.
        ("SESAME__TELEMETRY__MAX_BATCH", "2".into()),
        ("SESAME__TELEMETRY__BATCH_DELAY_MS", "60000".into()),
        ("SESAME__TELEMETRY__SERVICE_INSTANCE_ID", "e2e-node".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let s = settings::load(&[root.join("default.toml")], env).expect("settings");
    s.validate().expect("valid settings");
    s
}

/// The demo's admin client; a failed call fails the test.
struct Admin(sesame::demo::AdminClient);

impl Admin {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        self.0
            .call(method, path, bearer, body)
            .await
            .expect("admin API call")
    }
}

/// Operator creates the account (upstream credentials known to the simulator too); its admin
/// invites an advanced user, who accepts: returns the user's connection key.
async fn seed(admin_base: &str, operator: &str, sim: &Simulator, upstream_pw: &str) -> String {
    use reqwest::Method;
    let api = Admin(sesame::demo::AdminClient::new(admin_base));
    api.call(
        Method::POST,
        "/admin/v1/accounts",
        Some(operator),
        Some(serde_json::json!({
            "number": ACCOUNT, "company": "TELINTRANS", "contractType": "PRIVILEGE",
            "entitlements": ["ws_tracking", "tracking_tool:all"], "adminPassword": PASSWORD,
            "upstreamLogin": ACCOUNT, "upstreamPassword": upstream_pw, "departments": [],
        })),
    )
    .await;
    sim.add_account(SimAccount::new(ACCOUNT, upstream_pw, "TELINTRANS"));
    let session = api
        .call(
            Method::POST,
            "/admin/v1/sessions",
            None,
            Some(serde_json::json!({"accountNumber": ACCOUNT, "password": PASSWORD})),
        )
        .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let email = "trace.user@example.fr";
    api.call(
        Method::POST,
        &format!("/admin/v1/accounts/{ACCOUNT}/advanced-users"),
        Some(&token),
        Some(serde_json::json!({
            "lastName": "Trace", "firstName": "User", "function": "Logistique",
            "phone": "0241742088", "email": email, "emailConfirmation": email,
            "address": "11 rue d'Epluches", "postalCode": "95310", "city": "Saint-Ouen",
            "rights": ["ws_tracking", "tracking_tool:all"],
        })),
    )
    .await;
    let mails = api
        .call(Method::GET, "/admin/v1/outbox", Some(operator), None)
        .await;
    let invitation = sesame::demo::invitation_token(&mails, email).expect("an invitation e-mail");
    let accepted = api
        .call(
            Method::POST,
            &format!("/admin/v1/invitations/{invitation}"),
            None,
            Some(serde_json::json!({
                "login": "trace-user", "password": PASSWORD, "passwordConfirmation": PASSWORD,
            })),
        )
        .await;
    accepted["connectionKey"].as_str().unwrap().to_owned()
}

fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_call_exports_server_and_client_spans_in_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let collector = FakeCollector::start().await.unwrap();
    let mut settings = settings_for(dir.path(), &collector.url());

    let sim = Simulator::new(settings.simulator.clone());
    let sim_handle = sim.spawn().await.unwrap();
    settings.gateway.upstream_url = sim_handle.base_url();
    let parts = Parts::bind(&settings, Role::All).await.unwrap();
    let addr = |l: &Option<tokio::net::TcpListener>| l.as_ref().unwrap().local_addr().unwrap();
    let (public, admin, ops) = (addr(&parts.public), addr(&parts.admin), addr(&parts.ops));
    settings.admin.public_url = format!("http://{admin}");
    let store = app::open_store(&settings).await.unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = ShutdownRx::new(async move {
        let _ = stop_rx.await;
    });
    let run_settings = settings.clone();
    let done = tokio::spawn(async move { parts.run(run_settings, store, shutdown).await });

    let upstream_pw = format!("upstream-pw-{}", rand::random::<u64>());
    let operator = settings.secrets.operator_token.expose().to_owned();
    let key = seed(&format!("http://{admin}"), &operator, &sim, &upstream_pw).await;
    let parcel = sim
        .parcels(ACCOUNT)
        .into_iter()
        .next()
        .expect("the simulator has parcels")
        .number;

    // Seeding does not go through the gateway: anything exported so far is not ours.
    sim.clear_captured();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let resp = reqwest::Client::new()
        .get(format!(
            "http://{public}/suivi/v2/idships/{parcel}?lang=fr_FR"
        ))
        .header("X-Okapi-Key", &key)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");

    // What the carrier received: the traceparent of the gateway's upstream call.
    let upstream_parents: Vec<String> = sim
        .captured()
        .iter()
        .filter_map(|r| r.header("traceparent").map(str::to_owned))
        .filter(|tp| tp.contains(trace_id))
        .map(|tp| tp.split('-').nth(2).unwrap().to_owned())
        .collect();
    assert_eq!(
        upstream_parents.len(),
        1,
        "one account, one parcel: one upstream call in our trace: {:?}",
        sim.captured()
    );

    let ours = |spans: &[sesame_telemetry::proto::ProtoSpan]| {
        spans
            .iter()
            .filter(|s| hex(&s.trace_id) == trace_id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let want = 1 + upstream_parents.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let s = ours(&collector.accepted_spans());
        if s.len() >= want || tokio::time::Instant::now() >= deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == ProtoSpanKind::Server as i32)
        .collect();
    let clients: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == ProtoSpanKind::Client as i32)
        .collect();
    assert_eq!(servers.len(), 1, "one server span: {spans:#?}");
    assert_eq!(
        clients.len(),
        upstream_parents.len(),
        "one client span per upstream call: {spans:#?}"
    );
    let server = servers[0];
    assert_eq!(hex(&server.parent_span_id), caller_span, "parent = caller");
    assert_ne!(hex(&server.span_id), caller_span);
    assert_eq!(
        attr(&server.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        attr(&server.attributes, "http.request.method"),
        Some(&any_value::Value::StringValue("GET".into()))
    );
    for c in &clients {
        assert_eq!(c.parent_span_id, server.span_id, "client ← server");
        assert!(c.name.starts_with("upstream "), "{}", c.name);
        assert!(
            upstream_parents.contains(&hex(&c.span_id)),
            "client span {} is not the parent the carrier saw ({upstream_parents:?})",
            hex(&c.span_id)
        );
        assert!(c.start_time_unix_nano >= server.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= server.end_time_unix_nano);
    }

    // The resource says who exported.
    let received = collector.received();
    let req = received
        .iter()
        .find_map(|r| r.request.as_ref())
        .expect("a decoded export request");
    let res = req.resource_spans[0].resource.as_ref().unwrap();
    assert_eq!(
        attr(&res.attributes, "service.instance.id"),
        Some(&any_value::Value::StringValue("e2e-node".into()))
    );
    assert_eq!(
        attr(&res.attributes, "sesame.role"),
        Some(&any_value::Value::StringValue("all".into()))
    );

    // No secret in anything exported, byte for byte.
    for r in &received {
        assert!(
            !contains(&r.body, key.as_bytes()),
            "connection key exported"
        );
        assert!(
            !contains(&r.body, upstream_pw.as_bytes()),
            "upstream password exported"
        );
    }

    // The exporter's counters are on the ops /metrics beside the gateway's.
    let metrics = reqwest::get(format!("http://{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sesame_otlp_spans_exported_total "))
        .unwrap_or_else(|| panic!("no sesame_otlp_spans_exported_total in:\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(exported >= want as f64, "{exported}");
    for line in [
        "sesame_otlp_spans_dropped_total{reason=\"queue_full\"} 0",
        "sesame_otlp_spans_dropped_total{reason=\"export_failed\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing");
    }

    // A last call refused before any upstream call (unknown key): one server span, alone in
    // its batch. Then stop: the node's stop waits for the flush, which sends it.
    let last_trace = "0af7651916cd43dd8448eb211c80319c";
    let resp = reqwest::Client::new()
        .get(format!(
            "http://{public}/suivi/v2/idships/{parcel}?lang=fr_FR"
        ))
        .header("X-Okapi-Key", "not-a-key-of-anyone")
        .header(
            "traceparent",
            format!("00-{last_trace}-b7ad6b7169203331-01"),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = |c: &FakeCollector| {
        c.accepted_spans()
            .into_iter()
            .filter(|s| hex(&s.trace_id) == last_trace)
            .count()
    };
    assert_eq!(last(&collector), 0, "a lone span waits for its batch");
    let _ = stop.send(());
    done.await.unwrap().expect("clean stop");
    assert_eq!(last(&collector), 1, "the shutdown flush sent the last span");
    sim_handle.shutdown().await.unwrap();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
