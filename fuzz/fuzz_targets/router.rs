//! The gateway router (phase 1): method + request target → route, on what hyper hands over
//! (`Uri` parsed from the request line). Invariants: no panic; the path parameters borrowed out
//! of the path are never empty and never span a `/` (they become one segment upstream); a path
//! that is not one of the service's paths is `NotFound`.
#![no_main]

use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use sesame_gateway::fuzzing;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    let Some((&m, target)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(m) % METHODS.len()].clone();
    // What a client can put on the request line; hyper refuses the rest before routing.
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let path = uri.path();
    let route = fuzzing::route(&method, path);
    for p in fuzzing::route_params(&method, path) {
        assert!(
            !p.is_empty(),
            "empty path parameter in {route} for {path:?}"
        );
        assert!(
            !p.contains('/'),
            "path parameter {p:?} spans segments ({path:?})"
        );
    }
    if !path.starts_with('/') {
        assert_eq!(route, "NotFound", "{path:?}");
    }
    // The v2 tracking route is GET only; every other method gets a 404, never the handler.
    if route.starts_with("TrackingV2") {
        assert_eq!(method, Method::GET);
    }
    // The envelope choice reads `Accept`: any header value is fine.
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(target) {
        h.insert(http::header::ACCEPT, v);
    }
    let _ = fuzzing::route_service(&method, path, &h);
});
