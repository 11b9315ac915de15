//! Benchmark hooks for `sesame-benches`, built with the `bench` feature (not an API: changes with the code
//! it exposes). Each function runs the gateway's own phase code without the sockets around it.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value};
use sesame_domain::{KeyHash, Right};
use sesame_store::PrincipalRecord;

use crate::auth::{Link, Principal};
use crate::error::GatewayError;
use crate::services;
use crate::Gateway;

pub use crate::services::ParcelFilter;
/// The web services whose body carries the key or the account (their parse phase).
pub use crate::services::Service as BodyService;

/// Caches a principal as a load from the store would (shared account data, user index), without
/// the database read: memory benchmarks fill the cache with a million of them.
pub async fn cache_principal(gw: &Gateway, hash: KeyHash, rec: PrincipalRecord) {
    gw.inner.auth.insert_loaded(hash, rec).await;
}

/// Lets pending cache upkeep run, so counts and memory are settled. quick_cache does its
/// upkeep on insert: nothing is left pending (kept so the memory benchmark reads the same).
pub async fn settle_cache(_gw: &Gateway) {}

/// Phases 3+4 as a request with a connection key runs them: the caller's rate limit, then the
/// account (explicit, else the only one holding the right), the right on it, the account's rate
/// limit.
pub fn authorize<'p>(
    gw: &Gateway,
    p: &'p Principal,
    explicit: Option<&str>,
    right: Right,
) -> Result<&'p Link, GatewayError> {
    gw.inner.limits.check_user(p)?;
    services::select(&gw.inner, p, explicit, right, "contractNumber")
}

/// The parse phase's JSON object parser (every body-carrying service).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    services::parse_object(body)
}

pub use crate::services::Credentials;

/// Key and account out of a request body, as each handler's parse phase reads them.
pub fn key_and_account(
    svc: BodyService,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Credentials, GatewayError> {
    let m = services::parse_object(body)?;
    Ok(services::credentials(svc, headers, &m))
}

/// The tracking-tool search after the fan-out, with the search's own phases: each account's
/// upstream answer parsed and merged (`keep_items` with the search's filter), sorted, paged by
/// 25 and serialised.
pub fn search_page(
    p: &Principal,
    answers: &[(&str, Bytes)],
    filter: &ParcelFilter,
    page: usize,
) -> Bytes {
    let mut items: Vec<Value> = Vec::new();
    let mut accounts = Vec::new();
    for (number, body) in answers {
        let Some(l) = p
            .link(number)
            .filter(|l| !Principal::tool_scope(l).is_none())
        else {
            continue;
        };
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            services::keep_items(&mut items, l, v, "parcels", &|l, x| {
                services::keep_parcel(p, l, filter, x)
            });
        }
        accounts.push(services::account_ok(l));
    }
    services::sort_parcels(&mut items);
    Bytes::from(
        services::parcel_page_answer(items, page, services::PAGE_SIZE, accounts).to_string(),
    )
}

/// Whether a parcel (owner key, tag) is visible on a link: the filter phase's per-parcel check.
pub fn parcel_visible(p: &Principal, l: &Link, user_key: Option<&str>, tag: Option<&str>) -> bool {
    p.in_scope(l, Principal::tool_scope(l), user_key, tag)
}
