//! W3C Trace Context: the caller's `traceparent` (or a new trace when it sent none) follows
//! every upstream call of its request, with Sesame's own span id, so one trace crosses the
//! gateway. Carried in a task-local set per request: fan-outs run inside the request's task, so
//! every upstream call sees it without a parameter threaded through each service.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::HeaderMap;
use sesame_telemetry::{Attr, Span, SpanKind, SpanSink};

/// Built once: a name given as `&str` is parsed and hashed on every lookup.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

thread_local! {
    /// The trace context of the request whose handling this thread is polling: set around each
    /// poll by [`Scoped`].
    static CURRENT: Cell<Option<TraceParent>> = const { Cell::new(None) };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    /// This hop's span: Sesame's request span, or one upstream call's span (see [`Self::child`]).
    pub span_id: [u8; 8],
    /// The span this one continues: the caller's (from its `traceparent`) for a request span,
    /// the request span for an upstream call.
    pub parent_id: Option<[u8; 8]>,
    pub flags: u8,
}

impl TraceParent {
    /// This hop: the caller's trace id and flags with a fresh span id, or a new trace, sampled
    /// with probability `sample_ratio` (the caller's `sampled` flag decides for its own trace).
    pub fn for_request(headers: &HeaderMap, sample_ratio: f64) -> TraceParent {
        let span_id = nonzero(ids::random());
        match headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse)
        {
            Some((trace_id, parent, flags)) => TraceParent {
                trace_id,
                span_id,
                parent_id: Some(parent),
                flags,
            },
            None => TraceParent {
                trace_id: nonzero(ids::random()),
                span_id,
                parent_id: None,
                flags: u8::from(sample_ratio >= 1.0 || ids::unit() < sample_ratio),
            },
        }
    }

    /// A span for one upstream call, child of this one: the carrier sees it as its parent.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            span_id: nonzero(ids::random()),
            parent_id: Some(self.span_id),
            flags: self.flags,
        }
    }

    /// Whether the trace is sampled (W3C `sampled` flag): only sampled spans are exported.
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// The header's text, `00-trace-span-flags`, written on the stack: one per upstream call,
    /// copied straight into the request head (no `HeaderValue`, no allocation).
    pub fn encoded(&self) -> [u8; 55] {
        let mut b = [b'-'; 55];
        b[..2].copy_from_slice(b"00");
        hex_into(&self.trace_id, &mut b[3..35]);
        hex_into(&self.span_id, &mut b[36..52]);
        hex_into(&[self.flags], &mut b[53..55]);
        b
    }

    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

/// Lower-case hex of `bytes` into `out` (twice as long): both digits of a byte from one table
/// entry, built at compile time (a digit at a time cost ~250 instructions per upstream call).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
            i += 1;
        }
        t
    };
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&PAIRS[usize::from(*b)]);
    }
}

/// Ids drawn per request and per upstream call (three or more a request). They need to be
/// unique, not secret, so a per-thread wyrand seeded from the OS does, instead of `rand`'s
/// ChaCha12 thread RNG (about 600 instructions a request, issue 17).
mod ids {
    use std::cell::Cell;

    thread_local! {
        static STATE: Cell<u64> = Cell::new(rand::random());
    }

    /// wyrand: 64 bits of output per step, period 2^64 per thread.
    fn next() -> u64 {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
            s.set(x);
            let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
            ((t >> 64) as u64) ^ (t as u64)
        })
    }

    pub fn random<const N: usize>() -> [u8; N] {
        let mut b = [0u8; N];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
        }
        b
    }

    /// Uniform in [0, 1).
    pub fn unit() -> f64 {
        (next() >> 11) as f64 / (1u64 << 53) as f64
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
fn parse(s: &str) -> Option<([u8; 16], [u8; 8], u8)> {
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
    let mut parent_id = [0u8; 8];
    hex::decode_to_slice(parent, &mut parent_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((id, parent_id, flags))
}

/// Where finished spans go: set at most once, before serving (unset: nothing is recorded and
/// the cost is one atomic load per span).
#[derive(Clone, Default)]
pub struct Spans(Arc<OnceLock<Arc<dyn SpanSink>>>);

impl Spans {
    /// Share of new traces to sample: the sink's, or all when there is none (the `traceparent`
    /// sent upstream then says "sampled", as before any exporter existed).
    pub fn sample_ratio(&self) -> f64 {
        self.0.get().map_or(1.0, |s| s.sample_ratio())
    }

    /// Sets the sink; false if one was already set.
    pub fn set(&self, sink: Arc<dyn SpanSink>) -> bool {
        self.0.set(sink).is_ok()
    }

    /// The wall-clock start of a span about to begin, if spans are recorded at all (`None`:
    /// no sink, and the span costs nothing more).
    pub fn start(&self) -> Option<SystemTime> {
        self.0.get().map(|_| SystemTime::now())
    }

    /// Records `tp` as a span from `start` (see [`Self::start`]) to now, if the trace is
    /// sampled. `describe` (name and attributes) is only called then. Both ends are read from
    /// the wall clock, so a child span always lies within its parent.
    pub fn record(
        &self,
        tp: &TraceParent,
        kind: SpanKind,
        start: SystemTime,
        error: bool,
        describe: impl FnOnce() -> (Cow<'static, str>, Vec<(&'static str, Attr)>),
    ) {
        let Some(sink) = self.0.get() else {
            return;
        };
        if !tp.sampled() {
            return;
        }
        let end = SystemTime::now().max(start);
        let (name, attributes) = describe();
        sink.record(Span {
            trace_id: tp.trace_id,
            span_id: tp.span_id,
            parent_span_id: tp.parent_id,
            name,
            kind,
            start,
            end,
            error,
            attributes,
        });
    }
}

/// Runs a request's handling with its trace context.
pub fn scope<F: Future + Unpin>(tp: TraceParent, f: F) -> Scoped<F> {
    Scoped { tp, f }
}

/// The current request's trace context, if any.
pub fn current() -> Option<TraceParent> {
    CURRENT.get()
}

/// A request's handling with its trace context, set for the length of each poll (and put back
/// after, even on a panic). What tokio's task-local does, with a `Cell` of a `Copy` value:
/// tokio's swaps an `Option` in and out through a `RefCell` on every poll (~750 instructions a
/// request, issue 17).
pub struct Scoped<F> {
    tp: TraceParent,
    f: F,
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        struct Restore(Option<TraceParent>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.set(self.0);
            }
        }
        let this = &mut *self;
        let _restore = Restore(CURRENT.replace(Some(this.tp)));
        Pin::new(&mut this.f).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_is_set_while_its_handling_runs_and_only_then() {
        let tp = |n: u8| TraceParent {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent_id: None,
            flags: 1,
        };
        assert_eq!(current(), None);
        let inner = scope(
            tp(2),
            Box::pin(async {
                tokio::task::yield_now().await;
                current()
            }),
        );
        let outer = scope(
            tp(1),
            Box::pin(async move {
                let before = current();
                // Pending once in between: the context is set again at the next poll.
                tokio::task::yield_now().await;
                let nested = inner.await;
                (before, nested, current())
            }),
        );
        // Another task polled meanwhile sees none.
        let other = tokio::spawn(async { current() });
        assert_eq!(outer.await, (Some(tp(1)), Some(tp(2)), Some(tp(1))));
        assert_eq!(other.await.unwrap(), None);
        assert_eq!(current(), None);
    }

    #[test]
    fn drawn_ids_do_not_repeat_and_ratios_stay_in_range() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            assert!(seen.insert(ids::random::<8>()));
            let u = ids::unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
        // Another thread draws another sequence.
        let other = std::thread::spawn(ids::random::<16>)
            .join()
            .expect("thread");
        assert!(!seen.contains(&<[u8; 8]>::try_from(&other[..8]).expect("8 bytes")));
        // Sampling by ratio: about a quarter of 40,000 draws.
        let n = (0..40_000).filter(|_| ids::unit() < 0.25).count();
        assert!((9_000..11_000).contains(&n), "{n}");
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("traceparent", http::HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let tp = TraceParent::for_request(
            &headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            1.0,
        );
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(hex::encode(tp.span_id), "00f067aa0ba902b7");
        assert_eq!(
            tp.parent_id.map(hex::encode).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(tp.flags, 1);
        let c = tp.child();
        assert_eq!(
            (c.trace_id, c.parent_id, c.flags),
            (tp.trace_id, Some(tp.span_id), 1)
        );
        assert_ne!(c.span_id, tp.span_id);
        let v = tp.encoded();
        let s = std::str::from_utf8(&v).unwrap();
        assert!(
            s.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && s.ends_with("-01"),
            "{s}"
        );
        assert_eq!(s.len(), 55);
        // Every byte value through the table, against the hex crate.
        let all = TraceParent {
            trace_id: std::array::from_fn(|i| (i * 17) as u8),
            span_id: [0x00, 0x0f, 0xf0, 0xff, 0x7f, 0x80, 0x9a, 0xbc],
            parent_id: None,
            flags: 0xa5,
        };
        let want = format!(
            "00-{}-{}-a5",
            hex::encode(all.trace_id),
            hex::encode(all.span_id)
        );
        assert_eq!(std::str::from_utf8(&all.encoded()).unwrap(), want);
        for b in 0..=255u8 {
            let mut out = [0u8; 18];
            let bytes = [b, b.wrapping_mul(7), 0, 0xff, b ^ 0x5a, 1, 2, 3, b];
            hex_into(&bytes, &mut out);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                hex::encode(bytes),
                "{b}"
            );
        }
    }

    #[test]
    fn new_traces_are_sampled_at_the_ratio_and_callers_decide_for_theirs() {
        let none = HeaderMap::new();
        assert!(!TraceParent::for_request(&none, 0.0).sampled());
        assert!(TraceParent::for_request(&none, 1.0).sampled());
        let sampled = (0..2000)
            .filter(|_| TraceParent::for_request(&none, 0.25).sampled())
            .count();
        assert!((350..650).contains(&sampled), "{sampled} of 2000 at 0.25");
        let caller = |flags: &str| {
            headers(&format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"
            ))
        };
        assert!(TraceParent::for_request(&caller("01"), 0.0).sampled());
        assert!(!TraceParent::for_request(&caller("00"), 1.0).sampled());
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
            let tp = TraceParent::for_request(&h, 1.0);
            assert_ne!(
                tp.trace_id_hex(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
            assert!(
                parse(std::str::from_utf8(&tp.encoded()).unwrap()).is_some(),
                "a new valid traceparent for {bad:?}"
            );
        }
        // A future version is read by its first four fields.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
    }
}
