//! The query-string and percent-decoding helpers (tracking link `apikey`/`cab`, search filters,
//! paging, invoice numbers, v2 ids), checked against the form encoding's definition built on the
//! `percent-encoding` crate (`+` is a space, `%` + two hex digits is a byte, anything else is
//! literal). Invariants: no panic; the same bytes as the reference; a parameter is found exactly
//! when the reference finds it, with the same value; paging and dates are refused, not mangled.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_gateway::fuzzing;

/// WHATWG `application/x-www-form-urlencoded` value parsing: `+` becomes a space, then the
/// `percent-encoding` crate decodes (`%` + two hex digits is a byte, anything else is literal).
fn reference_decode(s: &str) -> String {
    percent_encoding::percent_decode(s.replace('+', " ").as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

fn reference_param(q: &str, name: &str) -> Option<String> {
    let (_, v) = q
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| reference_decode(k) == name)?;
    let v = reference_decode(v);
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(
        fuzzing::percent_decode(q),
        reference_decode(q),
        "decoding {q:?}"
    );
    for name in ["apikey", "cab", "page", "from", "account", "format"] {
        assert_eq!(
            fuzzing::query_param(Some(q), name),
            reference_param(q, name),
            "parameter {name} of {q:?}"
        );
    }
    match fuzzing::search_params(Some(q)) {
        Ok((page, period)) => {
            assert!(page >= 1);
            // Only the two period keys are forwarded, as strings.
            assert!(period.keys().all(|k| k == "from" || k == "to"));
            assert!(period.values().all(|v| v.is_string()));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
