//! Lists across accounts (parcel search, invoices): each account's list fetched from Sesame's
//! private upstream API, merged through the caller's filter, sorted, paged.

use std::cmp::Ordering;

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

/// `pageSize` of a list whose sizes are fixed (the tracking tool's "Afficher: 25 / 50 / 100"):
/// one of `sizes`, the first by default; anything else is refused naming `pageSize`.
pub(crate) fn page_size_param(q: Option<&str>, sizes: &[usize]) -> R<usize> {
    let Some(s) = query_param(q, "pageSize") else {
        return Ok(sizes.first().copied().unwrap_or(PAGE_SIZE));
    };
    s.parse()
        .ok()
        .filter(|n| sizes.contains(n))
        .ok_or_else(|| GatewayError::InvalidField {
            field: "pageSize",
            message: format!(
                "{} attendu",
                sizes
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// A sortable column of a list: its name in `sort=`, the item's field, and whether the field
/// holds a number (amounts arrive as decimal text).
pub(crate) struct SortField {
    pub name: &'static str,
    pub key: &'static str,
    pub numeric: bool,
}

/// A `sort=<field>` (ascending) or `sort=-<field>` (descending) parameter.
pub(crate) struct SortBy {
    field: &'static SortField,
    desc: bool,
}

/// `sort` among `fields`; absent → `None` (the list's default order); an unknown field is
/// refused naming `sort` and listing the accepted names.
pub(crate) fn sort_param(q: Option<&str>, fields: &'static [SortField]) -> R<Option<SortBy>> {
    let Some(s) = query_param(q, "sort") else {
        return Ok(None);
    };
    let (desc, name) = match s.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, s.as_str()),
    };
    match fields.iter().find(|f| f.name == name) {
        Some(field) => Ok(Some(SortBy { field, desc })),
        None => Err(GatewayError::InvalidField {
            field: "sort",
            message: format!(
                "un de {} attendu (précédé de - pour l'ordre décroissant)",
                fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Sorts by `by`, ties broken by the `ties` fields (ascending) so that pages are stable.
/// Compares borrowed values: no allocation per comparison.
pub(crate) fn sort_by(items: &mut [Value], by: &SortBy, ties: &[&str]) {
    items.sort_by(|a, b| {
        let key = by.field.key;
        let o = compare(a.get(key), b.get(key), by.field.numeric);
        let o = if by.desc { o.reverse() } else { o };
        ties.iter().fold(o, |o, t| {
            o.then_with(|| compare(a.get(*t), b.get(*t), false))
        })
    });
}

/// Order of two cells: absent and null first, then booleans (false first), numbers, text
/// (case-insensitive, then exact); with `numeric`, decimal text compares as a number.
fn compare(a: Option<&Value>, b: Option<&Value>, numeric: bool) -> Ordering {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    if numeric {
        if let (Some(x), Some(y)) = (a.and_then(number), b.and_then(number)) {
            return x.total_cmp(&y);
        }
    }
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x
            .chars()
            .flat_map(char::to_lowercase)
            .cmp(y.chars().flat_map(char::to_lowercase))
            .then_with(|| x.cmp(y)),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
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
