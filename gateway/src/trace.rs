//! W3C Trace Context: the caller's `traceparent` (or a new trace when it sent none) follows
//! every upstream call of its request, with Sesame's own span id, so one trace crosses the
//! gateway. Carried in a task-local set per request: fan-outs run inside the request's task, so
//! every upstream call sees it without a parameter threaded through each service.

use std::future::Future;

use http::{HeaderMap, HeaderValue};

tokio::task_local! {
    static CURRENT: TraceParent;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    /// Sesame's span for this request: the parent of the upstream calls.
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// This hop: the caller's trace id and flags with a fresh span id, or a new sampled trace.
    pub fn for_request(headers: &HeaderMap) -> TraceParent {
        let span_id = nonzero(rand::random::<[u8; 8]>());
        match headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse)
        {
            Some((trace_id, flags)) => TraceParent {
                trace_id,
                span_id,
                flags,
            },
            None => TraceParent {
                trace_id: nonzero(rand::random::<[u8; 16]>()),
                span_id,
                flags: 0x01,
            },
        }
    }

    pub fn header_value(&self) -> HeaderValue {
        let s = format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        );
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(
            "00-00000000000000000000000000000001-0000000000000001-00",
        ))
    }

    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

fn nonzero<const N: usize>(mut b: [u8; N]) -> [u8; N] {
    // All-zero ids are invalid in the spec.
    if b.iter().all(|x| *x == 0) {
        b[N - 1] = 1;
    }
    b
}

/// `version-traceid-parentid-flags`; ids must be lower-case hex and not all zeros. Versions
/// other than 00 are read by their first four fields, as the spec asks; `ff` is invalid.
fn parse(s: &str) -> Option<([u8; 16], u8)> {
    let mut parts = s.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let lower_hex = |p: &str, n: usize| {
        p.len() == n
            && p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if !lower_hex(trace, 32) || !lower_hex(parent, 16) || !lower_hex(flags, 2) {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut id = [0u8; 16];
    hex::decode_to_slice(trace, &mut id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((id, flags))
}

/// Runs a request's handling with its trace context.
pub async fn scope<F: Future>(tp: TraceParent, f: F) -> F::Output {
    CURRENT.scope(tp, f).await
}

/// The current request's trace context, if any.
pub fn current() -> Option<TraceParent> {
    CURRENT.try_with(|t| *t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let tp = TraceParent::for_request(&headers(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(hex::encode(tp.span_id), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        let v = tp.header_value();
        let s = v.to_str().unwrap();
        assert!(
            s.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && s.ends_with("-01"),
            "{s}"
        );
        assert_eq!(s.len(), 55);
    }

    #[test]
    fn starts_a_new_trace_on_missing_or_invalid_input() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let h = if bad.is_empty() {
                HeaderMap::new()
            } else {
                headers(bad)
            };
            let tp = TraceParent::for_request(&h);
            assert_ne!(
                tp.trace_id_hex(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert!(
                parse(tp.header_value().to_str().unwrap()).is_some(),
                "a new valid traceparent for {bad:?}"
            );
        }
        // A future version is read by its first four fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
    }
}
