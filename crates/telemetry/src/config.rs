//! `[telemetry]`: where and how finished spans are exported (OTLP/HTTP, protobuf).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// OTLP/HTTP export of traces. Disabled unless `endpoint` is set.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// The collector's traces URL, e.g. `http://otel-collector:4318/v1/traces` (the full path:
    /// nothing is appended). Unset or empty: no export.
    pub endpoint: Option<String>,
    /// Share of new traces (requests that came without a `traceparent`) that are sampled and
    /// exported, from 0.0 to 1.0. A caller's own `traceparent` decides for its trace (its
    /// `sampled` flag is followed), so a trace is never half exported.
    pub sample_ratio: f64,
    /// Resource attribute `service.name`.
    pub service_name: String,
    /// Resource attribute `service.instance.id`; unset: the host name (a pod's name on
    /// Kubernetes), or a random id when the host name cannot be read.
    pub service_instance_id: Option<String>,
    /// Extra request headers, e.g. a vendor's API key. Values are secrets: never printed.
    #[serde(deserialize_with = "header_values")]
    pub headers: BTreeMap<String, String>,
    /// Spans waiting for export at most; more are dropped (and counted), never waited for.
    pub queue_capacity: usize,
    /// Spans per export request at most.
    pub max_batch: usize,
    /// How long a span may wait for its batch to fill before the batch is sent anyway.
    pub batch_delay_ms: u64,
    /// Per export request (connect, send, answer).
    pub timeout_ms: u64,
    /// Retries of a batch after a transient failure (connection refused, 429, 502, 503, 504).
    pub max_retries: u32,
    /// At shutdown, how long queued spans may take to be sent before they are dropped.
    pub flush_timeout_ms: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            sample_ratio: 1.0,
            service_name: "sesame".into(),
            service_instance_id: None,
            headers: BTreeMap::new(),
            queue_capacity: 8192,
            max_batch: 512,
            batch_delay_ms: 1000,
            timeout_ms: 5000,
            max_retries: 3,
            flush_timeout_ms: 5000,
        }
    }
}

/// Header values as text even when they read as numbers or booleans (an environment override
/// `…__HEADERS__X_KEY=123456` arrives as an integer). Serde's own type errors would quote the
/// value, which is a secret: this one never does.
fn header_values<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    let map = BTreeMap::<String, Scalar>::deserialize(d).map_err(|_| {
        serde::de::Error::custom("every header must be a name = \"value\" string pair")
    })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Text(s) => s,
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
                Scalar::Bool(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// Retries wait at most this long each (a collector's `Retry-After` included), so a hostile or
/// confused collector cannot park the exporter for hours.
pub(crate) const MAX_RETRY_WAIT_SECS: u64 = 30;
const MAX_RETRIES: u32 = 10;

impl OtlpConfig {
    /// The endpoint when export is enabled (an empty string counts as unset, so an environment
    /// override can switch export off).
    pub fn enabled_endpoint(&self) -> Option<&str> {
        self.endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }

    /// Every problem, each naming its key (without a section prefix). Header values are never
    /// quoted: they are secrets.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(e) = self.enabled_endpoint() {
            if parse_endpoint(e).is_none() {
                p.push(
                    "endpoint: must be an http:// or https:// URL, e.g. http://otel-collector:4318/v1/traces"
                        .to_owned(),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            p.push("sample_ratio: must be between 0.0 and 1.0".to_owned());
        }
        if self.service_name.trim().is_empty() {
            p.push("service_name: must not be empty".to_owned());
        }
        if self
            .service_instance_id
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            p.push(
                "service_instance_id: must not be empty (leave it unset to use the host name)"
                    .to_owned(),
            );
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.push(format!("headers.{name}: not a valid HTTP header name"));
            } else if http::HeaderValue::from_str(value).is_err() {
                p.push(format!(
                    "headers.{name}: the value is not a valid HTTP header value"
                ));
            }
        }
        if self.queue_capacity == 0 {
            p.push("queue_capacity: must be at least 1".to_owned());
        }
        if self.max_batch == 0 {
            p.push("max_batch: must be at least 1".to_owned());
        } else if self.max_batch > self.queue_capacity && self.queue_capacity > 0 {
            p.push("max_batch: must not exceed queue_capacity".to_owned());
        }
        if self.batch_delay_ms == 0 {
            p.push("batch_delay_ms: must be at least 1".to_owned());
        }
        if self.timeout_ms == 0 {
            p.push("timeout_ms: must be at least 1".to_owned());
        }
        if self.max_retries > MAX_RETRIES {
            p.push(format!("max_retries: must be at most {MAX_RETRIES}"));
        }
        if self.flush_timeout_ms == 0 {
            p.push("flush_timeout_ms: must be at least 1".to_owned());
        }
        p
    }
}

/// An `http`/`https` URI with a host; anything else is refused.
pub(crate) fn parse_endpoint(s: &str) -> Option<http::Uri> {
    let uri: http::Uri = s.parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http") | Some("https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    (scheme_ok && host_ok).then_some(uri)
}

/// The endpoint as it may be logged: scheme, host, port and path; no user info, no query.
pub(crate) fn loggable_endpoint(s: &str) -> String {
    match parse_endpoint(s) {
        Some(u) => {
            let port = u.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{}{}",
                u.scheme_str().unwrap_or("http"),
                u.host().unwrap_or_default(),
                port,
                u.path()
            )
        }
        None => "<invalid endpoint>".to_owned(),
    }
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are credentials; an endpoint may carry some in its user info or query.
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        let endpoint = self.endpoint.as_deref().map(|e| {
            if e.trim().is_empty() {
                String::new()
            } else {
                loggable_endpoint(e.trim())
            }
        });
        f.debug_struct("OtlpConfig")
            .field("endpoint", &endpoint)
            .field("service_name", &self.service_name)
            .field("service_instance_id", &self.service_instance_id)
            .field("headers", &headers)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("batch_delay_ms", &self.batch_delay_ms)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_retries", &self.max_retries)
            .field("flush_timeout_ms", &self.flush_timeout_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_disabled() {
        let c = OtlpConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.enabled_endpoint(), None);
        let c = OtlpConfig {
            endpoint: Some("  ".into()),
            ..OtlpConfig::default()
        };
        assert_eq!(c.enabled_endpoint(), None, "empty means disabled");
    }

    #[test]
    fn every_problem_names_its_key() {
        let mut headers = BTreeMap::new();
        headers.insert("bad name".to_owned(), "v".to_owned());
        headers.insert("x-api-key".to_owned(), "line\nbreak-secret".to_owned());
        let c = OtlpConfig {
            endpoint: Some("ftp://collector/v1/traces".into()),
            sample_ratio: 1.5,
            service_name: " ".into(),
            service_instance_id: Some(String::new()),
            headers,
            queue_capacity: 0,
            max_batch: 0,
            batch_delay_ms: 0,
            timeout_ms: 0,
            max_retries: 11,
            flush_timeout_ms: 0,
        };
        let p = c.problems();
        let keys: Vec<&str> = p.iter().map(|m| m.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "endpoint",
                "sample_ratio",
                "service_name",
                "service_instance_id",
                "headers.bad name",
                "headers.x-api-key",
                "queue_capacity",
                "max_batch",
                "batch_delay_ms",
                "timeout_ms",
                "max_retries",
                "flush_timeout_ms"
            ]
        );
        assert!(!p.iter().any(|m| m.contains("secret")), "{p:?}");
        let c = OtlpConfig {
            queue_capacity: 10,
            max_batch: 11,
            ..OtlpConfig::default()
        };
        assert_eq!(c.problems(), ["max_batch: must not exceed queue_capacity"]);
        for ok in [
            "http://c:4318/v1/traces",
            "https://otlp.vendor.example/v1/traces",
        ] {
            let c = OtlpConfig {
                endpoint: Some(ok.into()),
                ..OtlpConfig::default()
            };
            assert!(c.problems().is_empty(), "{ok}: {:?}", c.problems());
        }
        for bad in ["collector:4318", "http://", "/v1/traces", "not a url"] {
            let c = OtlpConfig {
                endpoint: Some(bad.into()),
                ..OtlpConfig::default()
            };
            assert_eq!(c.problems().len(), 1, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut headers = BTreeMap::new();
        headers.insert("x-api-key".to_owned(), "vendor-secret-123".to_owned());
        let c = OtlpConfig {
            endpoint: Some(
                "https://user:pw-secret@otlp.example:4318/v1/traces?token=q-secret".into(),
            ),
            headers,
            ..OtlpConfig::default()
        };
        let d = format!("{c:?}");
        assert!(d.contains("x-api-key"), "{d}");
        assert!(d.contains("https://otlp.example:4318/v1/traces"), "{d}");
        for secret in ["vendor-secret-123", "pw-secret", "q-secret"] {
            assert!(!d.contains(secret), "{secret} in {d}");
        }
    }
}
