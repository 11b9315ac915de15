//! Finished spans → an OTLP `ExportTraceServiceRequest` (protobuf).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Status};
use prost::Message;

use crate::{Attr, Span, SpanKind};

/// Instrumentation scope of every exported span.
pub const SCOPE_NAME: &str = "sesame-gateway";

/// W3C `sampled` (only sampled spans are recorded) in the low byte; bit 8 says bit 9 is
/// meaningful, bit 9 says the parent is remote (OTLP `SpanFlags`).
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// What every export request carries besides the spans.
#[derive(Clone, Debug)]
pub(crate) struct ResourceInfo {
    pub attributes: Vec<KeyValue>,
}

impl ResourceInfo {
    pub fn new(service_name: &str, instance_id: &str, role: &str) -> ResourceInfo {
        ResourceInfo {
            attributes: vec![
                kv("service.name", Attr::Str(service_name.to_owned().into())),
                kv(
                    "service.version",
                    Attr::Str(env!("CARGO_PKG_VERSION").into()),
                ),
                kv(
                    "service.instance.id",
                    Attr::Str(instance_id.to_owned().into()),
                ),
                kv("sesame.role", Attr::Str(role.to_owned().into())),
            ],
        }
    }
}

fn kv(key: &str, value: Attr) -> KeyValue {
    let value = match value {
        Attr::Str(s) => any_value::Value::StringValue(s.into_owned()),
        Attr::Int(i) => any_value::Value::IntValue(i),
        Attr::Bool(b) => any_value::Value::BoolValue(b),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn to_proto(s: Span) -> opentelemetry_proto::tonic::trace::v1::Span {
    let kind = match s.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
    };
    // A server span's parent is the caller's (remote); a client span's parent is our own.
    let remote_parent = s.kind == SpanKind::Server && s.parent_span_id.is_some();
    let flags = FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | if remote_parent { FLAG_IS_REMOTE } else { 0 };
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags,
        name: s.name.into_owned(),
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(s.start),
        end_time_unix_nano: unix_nanos(s.end),
        attributes: s.attributes.into_iter().map(|(k, v)| kv(k, v)).collect(),
        // Only errors are marked: OpenTelemetry leaves a successful span's status unset.
        status: s.error.then(|| Status {
            code: status::StatusCode::Error as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One request: one resource, one scope, every span of the batch.
pub(crate) fn encode(resource: &ResourceInfo, spans: Vec<Span>) -> Vec<u8> {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource.attributes.clone(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: spans.into_iter().map(to_proto).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    req.encode_to_vec()
}
