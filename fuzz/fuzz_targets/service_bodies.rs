//! Each web service's parse phase: the JSON body, then the connection key, the legacy
//! login/password, the account and the parcel, read where that service's clients put them
//! (labels: `apiKey` header + `contractNumber`/free field; tracking and pickup points: body key;
//! eligibility: `credential` object). Invariants: no panic; a body that is not a JSON object is
//! refused; what is extracted is what the body holds (a key is read, never invented, and a key
//! excludes legacy credentials); the in-place reading of tracking and pickup bodies
//! (`services/members.rs`) agrees with the parser on every field and on what it writes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sesame_gateway::fuzzing::{self, BodyService};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let svc = match sel % 4 {
        0 => BodyService::Labels,
        1 => BodyService::Tracking,
        2 => BodyService::Pickup,
        _ => BodyService::Eligibility,
    };
    // Labels read the key from the `apiKey` header: take it from the input's first line.
    let (header, body) = match svc {
        BodyService::Labels if sel & 0x80 != 0 => match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        },
        _ => (None, rest),
    };
    // Tracking and pickup read their common bodies in place: the same as the parser, always.
    if let Err(e) = fuzzing::members_agree(body) {
        panic!("in-place reading differs: {e}");
    }
    let (m, c) = match fuzzing::body_credentials(svc, header, body) {
        Ok(x) => x,
        Err(_) => {
            // Refused bodies are exactly the non-objects.
            assert!(!matches!(
                serde_json::from_slice::<Value>(body),
                Ok(Value::Object(_))
            ));
            return;
        }
    };
    if c.key.is_some() {
        assert!(c.legacy.is_none(), "a key and legacy credentials at once");
    }
    if let Some(k) = &c.key {
        fn from_body(v: Option<&Value>) -> Option<&[u8]> {
            v.and_then(Value::as_str).map(str::as_bytes)
        }
        let expected = match svc {
            BodyService::Labels => None,
            BodyService::Tracking => from_body(m.get("apiKey")),
            BodyService::Pickup => from_body(m.get("apikey")),
            BodyService::Eligibility => {
                from_body(m.get("credential").and_then(|c| c.get("apiKey")))
            }
            // The other kinds carry no key in a JSON body.
            _ => None,
        };
        if let Some(e) = expected {
            assert_eq!(k.as_slice(), e);
        }
    }
    if let Some((login, _)) = &c.legacy {
        assert!(!login.trim().is_empty());
    }
    // The labels free field, read for any key (the handler asks for ACCOUNT_NUMBER).
    for key in ["ACCOUNT_NUMBER", "USER_KEY", ""] {
        if let Some(v) = fuzzing::free_field(&m, key) {
            assert!(!v.is_empty());
        }
    }
    // The tracking answer's code reader, on the same bytes (upstream answers are JSON too).
    let _ = fuzzing::timeline_code(body);
});
