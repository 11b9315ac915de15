//! Lists across accounts (parcel search, invoices): each account's list fetched from Sesame's
//! private upstream API, merged through the caller's filter, sorted, paged.

use serde_json::{json, Map, Value};

use super::fanout::{account_failed, account_ok, fan_all};
use super::kind::Service;
use super::phases::{forward_private, private_creds};
use super::request::query_param;
use crate::auth::{Link, Principal};
use crate::error::{GatewayError, R};
use crate::state::Inner;

/// Page size of the parcel search (the tracking tool's "Afficher: 25"), default of the others.
pub const PAGE_SIZE: usize = 25;

/// `page` of a list request: from 1 (default 1).
pub(crate) fn page_param(q: Option<&str>) -> R<usize> {
    match query_param(q, "page") {
        None => Ok(1),
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| GatewayError::BadRequest("page : entier positif attendu".into())),
    }
}

/// `from` and `to` (`YYYY-MM-DD`), forwarded as they are.
pub(crate) fn period(q: Option<&str>) -> R<Map<String, Value>> {
    let mut m = Map::new();
    for k in ["from", "to"] {
        if let Some(v) = query_param(q, k) {
            if chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d").is_err() {
                return Err(GatewayError::BadRequest(format!(
                    "{k} : date attendue au format AAAA-MM-JJ"
                )));
            }
            m.insert(k.into(), Value::String(v));
        }
    }
    Ok(m)
}

/// Case-insensitive substring.
pub(crate) fn contains_ci(hay: Option<&str>, needle: &str) -> bool {
    hay.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

/// Links for an optional `account` filter among those passing `has`; none → forbidden.
pub(crate) fn scoped_links<'p>(
    p: &'p Principal,
    account: Option<&str>,
    right: &'static str,
    has: impl Fn(&Link) -> bool,
) -> R<Vec<&'p Link>> {
    let links: Vec<&Link> = p
        .links
        .iter()
        .filter(|l| has(l))
        .filter(|l| account.is_none_or(|a| l.number.as_str() == a))
        .collect();
    if links.is_empty() {
        return Err(GatewayError::Forbidden(right));
    }
    Ok(links)
}

/// Per-account results of a fan-out over Sesame's private upstream API.
pub(crate) struct Fanned {
    pub items: Vec<Value>,
    pub accounts: Vec<Value>,
}

/// Calls `path` for every link with `extra`, keeps the array at `field` filtered by `keep`.
pub(crate) async fn fan_private<F>(
    gw: &Inner,
    svc: Service,
    links: &[&Link],
    path: &str,
    extra: &Map<String, Value>,
    field: &str,
    keep: F,
) -> Fanned
where
    F: Fn(&Link, &Value) -> bool,
{
    let results = fan_all(gw, svc, links, |l| {
        let mut body = private_creds(l);
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
        async move {
            gw.limits.check_account(l.account_id)?;
            let up = forward_private(gw, svc, path, body, true).await?;
            if !up.status.is_success() {
                return Err(GatewayError::UpstreamUnavailable(format!(
                    "upstream answered {}",
                    up.status
                )));
            }
            up.json()
                .ok_or_else(|| GatewayError::UpstreamUnavailable("unreadable answer".into()))
        }
    })
    .await;
    let mut items = Vec::new();
    let mut accounts = Vec::new();
    for (l, res) in links.iter().zip(results) {
        match res {
            Ok(v) => {
                keep_items(&mut items, l, v, field, &keep);
                accounts.push(account_ok(l));
            }
            Err(e) => accounts.push(account_failed(l, &e)),
        }
    }
    Fanned { items, accounts }
}

/// Merge phase of a fan-out: moves the items of one account's answer (the array at `field`)
/// that `keep` accepts into `items` (moved, not copied: answers can hold thousands).
pub(crate) fn keep_items<F>(
    items: &mut Vec<Value>,
    l: &Link,
    mut answer: Value,
    field: &str,
    keep: &F,
) where
    F: Fn(&Link, &Value) -> bool,
{
    if let Some(Value::Array(list)) = answer.get_mut(field).map(Value::take) {
        items.extend(list.into_iter().filter(|x| keep(l, x)));
    }
}

/// Most recent first by the `date` field, then by the `id` field (dates are ISO 8601: text
/// order is time order). Compares borrowed strings: no allocation per comparison.
pub(crate) fn sort_recent_first(items: &mut [Value], date: &str, id: &str) {
    fn s<'a>(x: &'a Value, k: &str) -> &'a str {
        x.get(k).and_then(Value::as_str).unwrap_or("")
    }
    items.sort_by(|a, b| {
        s(b, date)
            .cmp(s(a, date))
            .then_with(|| s(a, id).cmp(s(b, id)))
    });
}

/// Page `page` (from 1) of `size` sorted items, with the paging fields every list answers with:
/// `{"total", "page", "pageSize", "pages", <field>: [...], "accounts"}`.
pub(crate) fn page_answer(
    items: Vec<Value>,
    field: &str,
    page: usize,
    size: usize,
    accounts: Vec<Value>,
) -> Value {
    let total = items.len();
    let pages = total.div_ceil(size).max(1);
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let mut m = Map::new();
    m.insert("total".into(), json!(total));
    m.insert("page".into(), json!(page));
    m.insert("pageSize".into(), json!(size));
    m.insert("pages".into(), json!(pages));
    m.insert(field.into(), Value::Array(page_items));
    m.insert("accounts".into(), Value::Array(accounts));
    Value::Object(m)
}
