//! The query-string and percent-decoding helpers (tracking link `apikey`/`cab`, search filters,
//! paging, invoice numbers, v2 ids), checked against a reference decoder written from the form
//! encoding's definition (`+` is a space, `%` + two hex digits is a byte, anything else is
//! literal). Invariants: no panic; the same bytes as the reference; a parameter is found exactly
//! when the reference finds it, with the same value; paging and dates are refused, not mangled.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_gateway::fuzzing;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn reference_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
