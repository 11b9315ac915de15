//! Finished spans, as the gateway records them, and where they go.
//!
//! The gateway already owns its trace context (W3C `traceparent`, see `gateway/src/trace.rs`):
//! the ids it logs and sends upstream are the ids of the spans recorded here, so a trace seen
//! in a collector matches the logs and the carrier's own traces. Recording is a plain call on a
//! [`SpanSink`]; a sink must never block or fail the request path.
//!
//! [`OtlpExporter`] is the sink that sends them to an OpenTelemetry collector over OTLP/HTTP
//! (protobuf), configured by [`OtlpConfig`] (`[telemetry]`); see `docs/TELEMETRY.md`.

mod config;
mod encode;
mod exporter;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::OtlpConfig;
pub use encode::SCOPE_NAME;
pub use exporter::{OtlpError, OtlpExporter};

/// The OTLP message types the exporter sends (from `opentelemetry-proto`), for whoever needs to
/// read what was exported (tests, a fake collector).
pub mod proto {
    pub use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    pub use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoSpanKind;
    pub use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
    pub use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;

    /// Decodes an export request body (protobuf).
    pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, prost::DecodeError> {
        prost::Message::decode(body)
    }
}

use std::borrow::Cow;
use std::time::SystemTime;

/// What a span stands for, as OpenTelemetry names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// Sesame answering a caller.
    Server,
    /// Sesame calling the carrier.
    Client,
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Str(Cow<'static, str>),
    Int(i64),
    Bool(bool),
}

/// A span that has ended. Attributes never carry a secret: no key, password, credential or
/// URL query (the gateway builds them from route labels, statuses and paths only).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The caller's span for a server span (when it sent a `traceparent`), the request's span
    /// for a client span.
    pub parent_span_id: Option<[u8; 8]>,
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The span failed (5xx answered, upstream unreachable or timed out).
    pub error: bool,
    pub attributes: Vec<(&'static str, Attr)>,
}

/// Where finished spans go. Implementations must return at once (queue, drop when full).
pub trait SpanSink: Send + Sync + 'static {
    fn record(&self, span: Span);

    /// Share of new traces to sample (0.0–1.0); a caller's `traceparent` decides for its own.
    fn sample_ratio(&self) -> f64 {
        1.0
    }
}
