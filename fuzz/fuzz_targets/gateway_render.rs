//! The gateway's renderers of text it does not control: the tracking link's parcel page (HTML
//! built from the carrier's answer) and every service's error envelope (JSON, or the link's HTML
//! page); the first byte picks the renderer. Invariants: no panic; escaped text contains no `<`,
//! `>` or `"`; a page holds exactly the markup of the same page rendered from harmless text (no
//! input reaches it as markup); JSON envelopes parse back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sesame_gateway::fuzzing::{self, Envelope, Lang};
use sesame_gateway::GatewayError;

/// The same JSON with every string replaced by letters of the same character count.
fn harmless(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String("x".repeat(s.chars().count())),
        Value::Array(a) => Value::Array(a.iter().map(harmless).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), harmless(v))).collect())
        }
        other => other.clone(),
    }
}

/// Counts of `<`, `>` and `"`. A byte histogram rather than three searches: every comparison in
/// an instrumented build calls into libFuzzer, and pages are a few KiB.
fn markup(html: &str) -> [usize; 3] {
    let mut n = [0usize; 256];
    for b in html.bytes() {
        n[usize::from(b)] += 1;
    }
    [
        n[usize::from(b'<')],
        n[usize::from(b'>')],
        n[usize::from(b'"')],
    ]
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks one envelope and one error (one render per execution keeps the
    // target fast enough for millions of runs); the rest is the text.
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let esc = fuzzing::escape(&text);
    assert!(!esc.contains(['<', '>', '"']), "{esc:?}");

    if sel & 0x80 == 0 {
        // The parcel page, from the input as a carrier answer (or as every text field of one).
        let answer = serde_json::from_slice::<Value>(data).unwrap_or_else(|_| {
            let s = Value::String(text.to_string());
            serde_json::json!({"parcel": {
                "parcelNumber": s, "statusLabel": s, "product": s, "weight": s, "depositDate": s,
                "recipient": {"name": s, "postalCode": s, "city": s, "country": s},
                "event": [{"date": s, "labelLong": s, "siteName": s}],
                "step": [{"labelShort": s, "status": s}],
            }})
        });
        let page = fuzzing::parcel_page(&answer);
        let reference = fuzzing::parcel_page(&harmless(&answer));
        // Harmless text may switch a step off (`STEP_STATUS_ACTIVE`): compare markup counts,
        // which the class name does not change.
        assert_eq!(
            markup(&page),
            markup(&reference),
            "markup from input in {page}"
        );
        return;
    }

    // An error envelope with the input as message and as the portal URL.
    let envelopes = [
        Envelope::Messages,
        Envelope::LabelParts,
        Envelope::Status,
        Envelope::ReturnCode { lang: Lang::FrFr },
        Envelope::ErrorCode,
        Envelope::Own,
        Envelope::Soap,
        Envelope::Link { json: true },
        Envelope::Link { json: false },
    ];
    let svc = envelopes[usize::from(sel) % envelopes.len()];
    let error = |t: &str| match (sel >> 3) & 0x3 {
        0 => GatewayError::BadRequest(t.to_owned()),
        1 => GatewayError::UnknownParcel { id: t.to_owned() },
        _ => GatewayError::UpstreamUnavailable(t.to_owned()),
    };
    let plain = "x".repeat(text.chars().count());
    let (status, ct, body) = fuzzing::error_answer(error(&text), svc, &text);
    assert!(status >= 400 || status == 200);
    if ct.starts_with("application/json") {
        let v: Value = serde_json::from_slice(&body).expect("JSON envelope parses");
        assert!(v.is_object());
    } else if ct.starts_with("multipart/mixed") {
        // The label service's `jsonInfos` part: between the blank line and the closing delimiter.
        let text = String::from_utf8(body).expect("UTF-8 parts");
        let json = text
            .split_once("\r\n\r\n")
            .and_then(|(_, rest)| rest.rsplit_once("\r\n--"))
            .map(|(json, _)| json)
            .expect("one part");
        let v: Value = serde_json::from_str(json).expect("jsonInfos parses");
        assert!(v["messages"][0]["messageContent"].is_string());
    } else if ct.starts_with("text/xml") || ct.starts_with("multipart/related") {
        // SOAP: the text is escaped, the markup is the same as with harmless text.
        let xml = String::from_utf8(body).expect("UTF-8 XML");
        let (_, _, reference) = fuzzing::error_answer(error(&plain), svc, &plain);
        let reference = String::from_utf8_lossy(&reference);
        // (The multipart boundary is random: compare the envelope's markup only.)
        let envelope = |x: &str| {
            x.split_once("<soap:Envelope")
                .map(|(_, e)| e.to_owned())
                .unwrap_or_default()
        };
        assert_eq!(
            markup(&envelope(&xml)),
            markup(&envelope(&reference)),
            "markup from input in {xml}"
        );
    } else {
        assert!(ct.starts_with("text/html"), "{ct}");
        let html = String::from_utf8(body).expect("UTF-8 page");
        let (_, _, reference) = fuzzing::error_answer(error(&plain), svc, &plain);
        assert_eq!(
            markup(&html),
            markup(&String::from_utf8_lossy(&reference)),
            "markup from input in {html}"
        );
    }
});
