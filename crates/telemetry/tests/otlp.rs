//! The OTLP exporter against a fake collector speaking real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use sesame_telemetry::proto::{any_value, KeyValue, ProtoSpanKind, StatusCode};
use sesame_telemetry::testing::{FakeCollector, Reply};
use sesame_telemetry::{Attr, OtlpConfig, OtlpExporter, Span, SpanKind};

fn cfg(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(endpoint),
        batch_delay_ms: 50,
        ..OtlpConfig::default()
    }
}

fn span(i: u32) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[..4].copy_from_slice(&i.to_be_bytes());
    trace_id[15] = 1;
    let mut span_id = [0u8; 8];
    span_id[..4].copy_from_slice(&i.to_be_bytes());
    span_id[7] = 2;
    let end = SystemTime::now();
    Span {
        trace_id,
        span_id,
        parent_span_id: None,
        name: Cow::Owned(format!("span {i}")),
        kind: SpanKind::Client,
        start: end - Duration::from_millis(3),
        end,
        error: false,
        attributes: vec![("i", Attr::Int(i64::from(i)))],
    }
}

/// A counter's value from the registry, as `/metrics` would show it.
fn counter(registry: &prometheus::Registry, name: &str, label: Option<(&str, &str)>) -> u64 {
    for mf in registry.gather() {
        if mf.name() != name {
            continue;
        }
        for m in mf.get_metric() {
            let matches = match label {
                None => true,
                Some((k, v)) => m
                    .get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v),
            };
            if matches {
                return m.get_counter().get_value() as u64;
            }
        }
    }
    panic!("{name} {label:?} is not registered")
}

fn exported(r: &prometheus::Registry) -> u64 {
    counter(r, "sesame_otlp_spans_exported_total", None)
}
fn dropped(r: &prometheus::Registry, reason: &str) -> u64 {
    counter(
        r,
        "sesame_otlp_spans_dropped_total",
        Some(("reason", reason)),
    )
}
fn requests(r: &prometheus::Registry, result: &str) -> u64 {
    counter(
        r,
        "sesame_otlp_export_requests_total",
        Some(("result", result)),
    )
}

fn attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr(kvs: &[KeyValue], key: &str) -> String {
    match attr(kvs, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test]
async fn spans_arrive_with_ids_kinds_attributes_status_resource_and_headers() {
    let collector = FakeCollector::start().await.unwrap();
    let registry = prometheus::Registry::new();
    let mut c = cfg(collector.url());
    c.service_name = "sesame-test".into();
    c.service_instance_id = Some("node-7".into());
    c.headers = BTreeMap::from([("x-api-key".to_owned(), "vendor-key-42".to_owned())]);
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    let sink = exporter.sink();

    let trace_id: [u8; 16] = *b"0123456789abcdef";
    let caller = *b"CALLER01";
    let server_id = *b"SERVER01";
    let client_id = *b"CLIENT01";
    let end = SystemTime::now();
    let start = end - Duration::from_millis(12);
    sink.record(Span {
        trace_id,
        span_id: server_id,
        parent_span_id: Some(caller),
        name: "tracking".into(),
        kind: SpanKind::Server,
        start,
        end,
        error: true,
        attributes: vec![
            ("http.request.method", Attr::Str("POST".into())),
            ("http.response.status_code", Attr::Int(502)),
            ("sesame.cached", Attr::Bool(true)),
        ],
    });
    sink.record(Span {
        trace_id,
        span_id: client_id,
        parent_span_id: Some(server_id),
        name: "upstream tracking".into(),
        kind: SpanKind::Client,
        start,
        end,
        error: false,
        attributes: vec![],
    });
    let spans = collector.wait_for_spans(2, Duration::from_secs(5)).await;
    assert_eq!(spans.len(), 2, "{spans:?}");
    let server = spans.iter().find(|s| s.name == "tracking").unwrap();
    let client = spans
        .iter()
        .find(|s| s.name == "upstream tracking")
        .unwrap();
    assert_eq!(server.trace_id, trace_id);
    assert_eq!(server.span_id, server_id);
    assert_eq!(server.parent_span_id, caller);
    assert_eq!(server.kind, ProtoSpanKind::Server as i32);
    assert_eq!(client.trace_id, trace_id);
    assert_eq!(client.span_id, client_id);
    assert_eq!(client.parent_span_id, server_id);
    assert_eq!(client.kind, ProtoSpanKind::Client as i32);
    assert_eq!(server.flags & 0x301, 0x301, "sampled, remote parent");
    assert_eq!(client.flags & 0x301, 0x101, "sampled, local parent");
    let nanos = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert_eq!(server.start_time_unix_nano, nanos(start));
    assert_eq!(server.end_time_unix_nano, nanos(end));
    assert_eq!(
        server.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert!(
        client
            .status
            .as_ref()
            .is_none_or(|s| s.code == StatusCode::Unset as i32),
        "{:?}",
        client.status
    );
    assert_eq!(str_attr(&server.attributes, "http.request.method"), "POST");
    assert_eq!(
        attr(&server.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(502))
    );
    assert_eq!(
        attr(&server.attributes, "sesame.cached"),
        Some(&any_value::Value::BoolValue(true))
    );

    let received = collector.received();
    assert_eq!(received.len(), 1, "one batch");
    let r = &received[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/traces"));
    assert_eq!(r.headers["content-type"], "application/x-protobuf");
    assert_eq!(r.headers["x-api-key"], "vendor-key-42");
    let req = r.request.as_ref().expect("a valid protobuf body");
    let rs = &req.resource_spans[0];
    let res = rs.resource.as_ref().unwrap();
    assert_eq!(str_attr(&res.attributes, "service.name"), "sesame-test");
    assert_eq!(
        str_attr(&res.attributes, "service.version"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(str_attr(&res.attributes, "service.instance.id"), "node-7");
    assert_eq!(str_attr(&res.attributes, "sesame.role"), "gateway");
    let scope = rs.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "sesame-gateway");

    counted_ok(&registry).await;
    assert_eq!(exported(&registry), 2);
    assert_eq!(requests(&registry, "ok"), 1);
    exporter.shutdown().await;
}

#[tokio::test]
async fn the_instance_id_defaults_to_the_host_name() {
    let collector = FakeCollector::start().await.unwrap();
    let registry = prometheus::Registry::new();
    let exporter = OtlpExporter::start(&cfg(collector.url()), "all", &registry).unwrap();
    exporter.sink().record(span(1));
    exporter.shutdown().await;
    let r = collector.received();
    let res = r[0].request.as_ref().unwrap().resource_spans[0]
        .resource
        .clone()
        .unwrap();
    let id = str_attr(&res.attributes, "service.instance.id");
    let host = hostname::get().unwrap().into_string().unwrap();
    assert_eq!(id, host);
    assert_eq!(str_attr(&res.attributes, "service.name"), "sesame");
    assert_eq!(str_attr(&res.attributes, "sesame.role"), "all");
}

#[tokio::test]
async fn a_thousand_spans_go_in_several_batches_and_none_is_lost() {
    let collector = FakeCollector::start().await.unwrap();
    let registry = prometheus::Registry::new();
    let mut c = cfg(collector.url());
    c.max_batch = 300;
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    let sink = exporter.sink();
    for i in 0..1000 {
        sink.record(span(i));
    }
    let spans = collector
        .wait_for_spans(1000, Duration::from_secs(10))
        .await;
    let ids: BTreeSet<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), 1000, "every span once");
    assert_eq!(spans.len(), 1000, "no span twice");
    let received = collector.received();
    assert!(
        received.len() >= 4,
        "1000 / 300 → ≥ 4 requests, got {}",
        received.len()
    );
    for r in &received {
        let n: usize = r.request.as_ref().unwrap().resource_spans[0].scope_spans[0]
            .spans
            .len();
        assert!(n <= 300, "batch of {n}");
    }
    assert_eq!(exported(&registry), 1000);
    assert_eq!(dropped(&registry, "queue_full"), 0);
    exporter.shutdown().await;
}

/// The collector holds the spans before the exporter has read its 200 and counted it: wait for
/// that count (bounded) instead of racing it.
async fn counted_ok(registry: &prometheus::Registry) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while requests(registry, "ok") < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn transient_failures_are_retried_and_nothing_is_lost() {
    let collector = FakeCollector::start().await.unwrap();
    collector.script([
        Reply::status(503),
        Reply {
            status: 429,
            retry_after: Some("1".into()),
        },
        Reply::status(502),
    ]);
    let registry = prometheus::Registry::new();
    let exporter = OtlpExporter::start(&cfg(collector.url()), "gateway", &registry).unwrap();
    for i in 0..10 {
        exporter.sink().record(span(i));
    }
    let t = Instant::now();
    let spans = collector.wait_for_spans(10, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 10);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({:?})",
        t.elapsed()
    );
    let statuses: Vec<u16> = collector.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 502, 200]);
    // The same batch each time.
    let bodies: BTreeSet<_> = collector
        .received()
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(bodies.len(), 1);
    counted_ok(&registry).await;
    assert_eq!(requests(&registry, "retry"), 3);
    assert_eq!(requests(&registry, "ok"), 1);
    assert_eq!(requests(&registry, "error"), 0);
    assert_eq!(exported(&registry), 10);
    assert_eq!(dropped(&registry, "export_failed"), 0);
    exporter.shutdown().await;
}

#[tokio::test]
async fn a_permanent_refusal_is_not_retried() {
    let collector = FakeCollector::start().await.unwrap();
    collector.script([Reply::status(400)]);
    let registry = prometheus::Registry::new();
    let exporter = OtlpExporter::start(&cfg(collector.url()), "gateway", &registry).unwrap();
    for i in 0..5 {
        exporter.sink().record(span(i));
    }
    exporter.shutdown().await;
    assert_eq!(collector.received().len(), 1);
    assert_eq!(requests(&registry, "error"), 1);
    assert_eq!(dropped(&registry, "export_failed"), 5);
    assert_eq!(exported(&registry), 0);
}

#[tokio::test]
async fn a_collector_that_is_down_never_slows_record_and_spans_are_counted_dropped() {
    // A port nobody listens on: bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let registry = prometheus::Registry::new();
    let mut c = cfg(format!("http://127.0.0.1:{port}/v1/traces"));
    c.max_retries = 2;
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    let sink = exporter.sink();
    let t = Instant::now();
    for i in 0..100 {
        sink.record(span(i));
    }
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "record returns at once ({:?})",
        t.elapsed()
    );
    // Batch after 50 ms, then 2 retries (≈ 200 + 400 ms of backoff), then dropped.
    let until = Instant::now() + Duration::from_secs(10);
    while dropped(&registry, "export_failed") < 100 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dropped(&registry, "export_failed"), 100);
    assert_eq!(requests(&registry, "retry"), 2);
    assert_eq!(requests(&registry, "error"), 1);
    assert_eq!(exported(&registry), 0);
    exporter.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let collector = FakeCollector::start().await.unwrap();
    let registry = prometheus::Registry::new();
    let mut c = cfg(collector.url());
    c.queue_capacity = 10;
    c.max_batch = 10;
    c.batch_delay_ms = 10_000;
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    let sink = exporter.sink();
    // A current-thread runtime: the export task cannot run between these calls, so exactly
    // `queue_capacity` spans fit and the rest are dropped, without waiting.
    for i in 0..25 {
        sink.record(span(i));
    }
    assert_eq!(dropped(&registry, "queue_full"), 15);
    exporter.shutdown().await;
    assert_eq!(
        exported(&registry),
        10,
        "the shutdown flush sends what was queued"
    );
    assert_eq!(collector.accepted_spans().len(), 10);
}

#[tokio::test]
async fn shutdown_flushes_what_is_queued() {
    let collector = FakeCollector::start().await.unwrap();
    let registry = prometheus::Registry::new();
    let mut c = cfg(collector.url());
    c.batch_delay_ms = 60_000; // only the shutdown can send them
    c.max_batch = 100;
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    for i in 0..250 {
        exporter.sink().record(span(i));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        collector.received().len(),
        2,
        "two full batches left at once"
    );
    let t = Instant::now();
    exporter.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(collector.accepted_spans().len(), 250);
    assert_eq!(exported(&registry), 250);
}

#[tokio::test]
async fn the_shutdown_flush_is_bounded_by_its_timeout() {
    let collector = FakeCollector::start().await.unwrap();
    // The collector keeps asking to come back in 30 s.
    collector.script((0..5).map(|_| Reply {
        status: 503,
        retry_after: Some("30".into()),
    }));
    let registry = prometheus::Registry::new();
    let mut c = cfg(collector.url());
    c.batch_delay_ms = 60_000;
    c.flush_timeout_ms = 500;
    let exporter = OtlpExporter::start(&c, "gateway", &registry).unwrap();
    for i in 0..7 {
        exporter.sink().record(span(i));
    }
    let t = Instant::now();
    exporter.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(dropped(&registry, "export_failed"), 7);
    assert_eq!(exported(&registry), 0);
}

#[tokio::test]
async fn start_refuses_a_bad_or_missing_endpoint_naming_the_key() {
    let registry = prometheus::Registry::new();
    let e = OtlpExporter::start(&OtlpConfig::default(), "gateway", &registry)
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("endpoint:"), "{e}");
    let mut c = cfg("ftp://collector".into());
    c.queue_capacity = 0;
    let e = OtlpExporter::start(&c, "gateway", &registry).err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("endpoint:") && msg.contains("queue_capacity:"),
        "{msg}"
    );
    // Nothing was registered by the refused starts: a good one still can.
    let collector = FakeCollector::start().await.unwrap();
    let ok = OtlpExporter::start(&cfg(collector.url()), "gateway", &registry).unwrap();
    ok.shutdown().await;
}
