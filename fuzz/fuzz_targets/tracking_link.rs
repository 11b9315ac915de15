//! The two GET services whose input is all in the URL: tracking v2 (`/suivi/v2/idships/{id}`,
//! key in `X-Okapi-Key`) and the tracking link (`/entreprise/colis/login/parcel?apikey=…&cab=…`),
//! from a request target as hyper parses it, through the router and the handlers' own
//! extraction (decode, trim, upper-case). Invariants: no panic; the v2 id is one non-empty
//! segment; the link's key and parcel are what the query says, trimmed and non-empty.
#![no_main]

use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;
use sesame_gateway::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let prefix: &[u8] = if sel & 1 == 0 {
        b"/suivi/v2/idships/"
    } else {
        b"/entreprise/colis/login/parcel?"
    };
    let target = [prefix, rest].concat();
    let Ok(uri) = Uri::try_from(target.as_slice()) else {
        return;
    };
    let route = fuzzing::route(&Method::GET, uri.path());
    if sel & 1 == 0 {
        let params = fuzzing::route_params(&Method::GET, uri.path());
        if let [id] = params.as_slice() {
            assert!(!id.is_empty() && !id.contains('/'));
            // What the handler forwards is built from this (upper-cased, decoded id).
            let id = fuzzing::percent_decode(id).trim().to_ascii_uppercase();
            let _ = id.len();
        } else {
            assert!(!route.starts_with("TrackingV2"));
        }
        return;
    }
    assert_eq!(route, "Link", "{uri}");
    let q = uri.query();
    for name in ["apikey", "cab"] {
        if let Some(v) = fuzzing::query_param(q, name) {
            assert!(!v.is_empty() && v.trim() == v, "{name}={v:?}");
            let _ = v.to_ascii_uppercase();
        }
    }
});
