//! Answers that span accounts: one call per account, concurrently, each answer handed over as
//! it arrives. The one fan-out loop of the gateway (tracking lookups, tracking v2, eligibility,
//! the private lists, the invoice archive).

use std::future::Future;
use std::ops::ControlFlow;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};

use super::kind::Service;
use crate::auth::Link;
use crate::state::Inner;

/// Runs `call` for every item concurrently and gives each result to `each` (with the item's
/// index) in the order they complete; `each` may stop early (`Break`), dropping the calls still
/// running. `fanout` says whether the calls count as a fan-out (width recorded under `svc`'s
/// fan-out label; the callers choose the per-account timeout with it).
pub(crate) async fn fan_out<'i, I, F, Fut, B>(
    gw: &Inner,
    svc: Service,
    fanout: bool,
    items: &'i [I],
    call: F,
    mut each: impl FnMut(usize, &'i I, Fut::Output) -> ControlFlow<B>,
) -> Option<B>
where
    F: Fn(&'i I) -> Fut,
    Fut: Future,
{
    if fanout {
        gw.metrics
            .fanout_width
            .with_label_values(&[svc.fanout_label()])
            .observe(items.len() as f64);
    }
    // One item (a single linked account, the usual case): awaited in place, without the
    // concurrent set's allocation and bookkeeping (issue 17: ~1k instructions per request).
    if let [item] = items {
        return match each(0, item, call(item).await) {
            ControlFlow::Break(b) => Some(b),
            ControlFlow::Continue(()) => None,
        };
    }
    let mut pending: FuturesUnordered<_> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let f = call(item);
            async move { (i, f.await) }
        })
        .collect();
    while let Some((i, out)) = pending.next().await {
        if let ControlFlow::Break(b) = each(i, &items[i], out) {
            return Some(b);
        }
    }
    None
}

/// Every result, in the items' order.
pub(crate) async fn fan_all<'i, I, F, Fut>(
    gw: &Inner,
    svc: Service,
    items: &'i [I],
    call: F,
) -> Vec<Fut::Output>
where
    F: Fn(&'i I) -> Fut,
    Fut: Future,
{
    let mut out: Vec<Option<Fut::Output>> = (0..items.len()).map(|_| None).collect();
    fan_out(gw, svc, true, items, call, |i, _, o| {
        out[i] = Some(o);
        ControlFlow::<()>::Continue(())
    })
    .await;
    out.into_iter().flatten().collect()
}

/// An account that answered, in a fanned-out answer's `accounts`.
pub(crate) fn account_ok(l: &Link) -> Value {
    json!({"accountNumber": l.number.as_str(), "status": "ok"})
}

/// An account that failed, in a fanned-out answer's `accounts`.
pub(crate) fn account_failed(l: &Link, e: &crate::error::GatewayError) -> Value {
    json!({"accountNumber": l.number.as_str(), "status": "error", "error": crate::envelope::account_entry(e)})
}
