//! A JSON object body edited in place (issue 17): its top-level members found in one pass, each
//! value kept as the caller's own bytes, so the body the carrier gets is the caller's members
//! copied through with the key dropped and the account's credentials written in front, instead
//! of a `Map` of owned strings serialised back.
//!
//! Only the tracking path, the proxy's busiest, reads bodies this way; any body this reader
//! does not take (not an object, invalid JSON, many members) goes the general way
//! (`request::parse_object`), which also words the error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// Above this many members the body goes the general way: dropping duplicate names here is a
/// scan per member (quadratic), which stays cheap only for the handful a real body has.
const MAX_MEMBERS: usize = 32;

/// A member's name: borrowed from the body unless it had escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object body, in the caller's order: each name, and its value as the
/// caller's own text (a valid JSON value).
#[derive(Debug, PartialEq)]
pub(crate) struct Members<'a> {
    members: Vec<(Cow<'a, str>, Raw<'a>)>,
}

/// A member's value as the caller wrote it.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Raw<'a> {
    text: &'a str,
    /// A string with nothing to decode (see [`plain_string`]), known from the reading: its
    /// text is read without a second scan.
    plain: bool,
}

impl<'de> de::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(4);
                while let Some((Name(k), v)) = map.next_entry::<Name<'de>, &'de RawValue>()? {
                    if members.len() == MAX_MEMBERS {
                        return Err(de::Error::custom("too many members"));
                    }
                    let plain = plain_string(v.get());
                    if !plain {
                        // A raw value is checked for its syntax only: a number out of range, a
                        // lone surrogate or too deep a nesting would pass here and fail the
                        // parser. Anything but a plain string is parsed once to be sure it
                        // reads the same (found by the `service_bodies` fuzz target).
                        serde_json::from_str::<Value>(v.get()).map_err(de::Error::custom)?;
                    }
                    members.push((
                        k,
                        Raw {
                            text: v.get(),
                            plain,
                        },
                    ));
                }
                Ok(Members { members })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Members<'a> {
    /// The body's members, or `None` for any body this reader leaves to the general parser.
    pub fn parse(body: &'a [u8]) -> Option<Members<'a>> {
        match Members::scan(body) {
            Some(m) => Some(m),
            None => Members::parse_with_serde(body),
        }
    }

    /// Any object body, through serde_json (values other than plain strings are checked by
    /// parsing them once).
    fn parse_with_serde(body: &'a [u8]) -> Option<Members<'a>> {
        serde_json::from_slice(body).ok()
    }

    /// The bodies real clients send, read in one pass without serde: an object whose names
    /// and values are all plain strings (no escape), as every tracking and pickup-point body
    /// is. `None` for anything else, which [`Self::parse_with_serde`] then reads: this pass
    /// accepts a subset of JSON and reads it as the parser does (the fuzz target
    /// `service_bodies` checks both readings agree).
    fn scan(body: &'a [u8]) -> Option<Members<'a>> {
        // One UTF-8 check for the whole body (ASCII goes a word at a time); after it, any
        // slice cut at a quote is a `str`.
        let text = std::str::from_utf8(body).ok()?;
        let b = text.as_bytes();
        let mut members = Vec::with_capacity(4);
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            return (skip_ws(b, i + 1) == b.len()).then_some(Members { members });
        }
        loop {
            if members.len() == MAX_MEMBERS {
                return None;
            }
            let (name, after) = plain(text, i)?;
            i = skip_ws(b, after);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let v = skip_ws(b, i + 1);
            let (_, after) = plain(text, v)?;
            let value = Raw {
                text: text.get(v..after)?,
                plain: true,
            };
            members.push((Cow::Borrowed(name), value));
            i = skip_ws(b, after);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => break,
                _ => return None,
            }
        }
        (skip_ws(b, i + 1) == b.len()).then_some(Members { members })
    }

    /// The raw value of `name`: the last one when the name repeats, as a parsed object keeps.
    fn raw(&self, name: &str) -> Option<Raw<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    /// A string member's text (`None`: absent, or not a string).
    pub fn str(&self, name: &str) -> Option<Cow<'a, str>> {
        string(self.raw(name)?)
    }

    /// A text field as `request::text` reads it: a non-blank string, trimmed, or a number.
    /// Borrowed from the body when it is a string without escapes (the usual case).
    pub fn text(&self, name: &str) -> Option<Cow<'a, str>> {
        let raw = self.raw(name)?;
        if let Some(s) = string(raw) {
            return match s {
                Cow::Borrowed(b) => {
                    let t = b.trim();
                    (!t.is_empty()).then_some(Cow::Borrowed(t))
                }
                Cow::Owned(o) => {
                    let t = o.trim();
                    (!t.is_empty()).then(|| Cow::Owned(t.to_owned()))
                }
            };
        }
        match serde_json::from_str::<Value>(raw.text).ok()? {
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    /// The members `keep` accepts, written as `"name":value` separated by commas (what goes
    /// between braces), values as the caller wrote them. A repeated name is written once, with
    /// its last value.
    pub fn write_except(&self, out: &mut Vec<u8>, keep: impl Fn(&str) -> bool) {
        for (i, (k, v)) in self.members.iter().enumerate() {
            if !keep(k) || self.members[i + 1..].iter().any(|(later, _)| later == k) {
                continue;
            }
            if !out.is_empty() {
                out.push(b',');
            }
            match k {
                // Read from the body without escapes: it needs none (JSON forbids raw quotes
                // and control characters in strings).
                Cow::Borrowed(k) => {
                    out.push(b'"');
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'"');
                }
                Cow::Owned(k) => write_str(out, k),
            }
            out.push(b':');
            out.extend_from_slice(v.text.as_bytes());
        }
    }
}

/// A string value with nothing to decode: quoted, no escape, no control character. Its text
/// is what is between the quotes, exactly as any JSON parser reads it.
fn plain_string(raw: &str) -> bool {
    raw.len() >= 2
        && raw.starts_with('"')
        && raw.ends_with('"')
        && !needs_escape(&raw.as_bytes()[1..raw.len() - 1])
}

/// A raw value's text if it is a string: borrowed when plain, decoded when it has escapes.
fn string(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    if raw.plain {
        return raw.text.get(1..raw.text.len() - 1).map(Cow::Borrowed);
    }
    serde_json::from_str::<String>(raw.text)
        .ok()
        .map(Cow::Owned)
}

/// `s` as a JSON string. Most texts need no escape: those are copied in one piece.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether any byte is a control character, `"` or `\\`.
fn needs_escape(b: &[u8]) -> bool {
    special(b, 0) < b.len()
}

/// The position of the first control character, `"` or `\\` at or after `from` (`b.len()` if
/// none): eight bytes at a time, with the classic "has a zero byte" / "has a byte less than n"
/// word tricks. Their lowest flagged byte is always a true match (a borrow only runs upwards
/// from a byte that matched), so the lowest bit of the three masks is the first match.
fn special(b: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = from;
    while let Some(w) = b.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let v = u64::from_le_bytes(a);
        let m = (v.wrapping_sub(ONES * 0x20) & !v & HIGH)
            | zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c < 0x20 || c == b'"' || c == b'\\' {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// JSON's whitespace skipped from `i`.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// A string without escapes starting at `i` (its opening quote): its text, and the position
/// after its closing quote. `None` if there is no string there or it has an escape or a control
/// character (those go the general way).
fn plain(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = special(b, i + 1);
    if b.get(end) != Some(&b'"') {
        return None;
    }
    Some((text.get(i + 1..end)?, end + 1))
}

/// The in-place reading agrees with the general one (a `Map`): every field read the same, and
/// the members written out parse back to the same object. `Err` says where they differ. For
/// the property test below and the `service_bodies` fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn agrees_with_map(body: &[u8]) -> Result<(), String> {
    let Some(m) = Members::parse(body) else {
        return Ok(()); // left to the general parser: nothing to compare
    };
    // The one-pass scan, where it reads a body, reads it as serde does.
    if let Some(scanned) = Members::scan(body) {
        let general = Members::parse_with_serde(body);
        if general.as_ref() != Some(&scanned) {
            return Err(format!("scanned {scanned:?}, serde read {general:?}"));
        }
    }
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        other => return Err(format!("read in place, but the parser says {other:?}")),
    };
    for (name, v) in &map {
        if m.str(name).as_deref() != v.as_str() {
            return Err(format!("str({name:?}): {:?} vs {v}", m.str(name)));
        }
        if m.text(name).as_deref() != super::request::text(Some(v)).as_deref() {
            return Err(format!("text({name:?}): {:?} vs {v}", m.text(name)));
        }
    }
    let mut inner = Vec::new();
    m.write_except(&mut inner, |_| true);
    let mut out = b"{".to_vec();
    out.extend_from_slice(&inner);
    out.push(b'}');
    match serde_json::from_slice::<Value>(&out) {
        Ok(Value::Object(back)) if back == map => Ok(()),
        other => Err(format!(
            "written {:?}: {other:?}",
            String::from_utf8_lossy(&out)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;
    use serde_json::json;

    fn written(body: &str, keep: impl Fn(&str) -> bool) -> Value {
        let m = Members::parse(body.as_bytes()).expect("an object");
        let mut out = Vec::new();
        m.write_except(&mut out, keep);
        let mut whole = b"{".to_vec();
        whole.extend_from_slice(&out);
        whole.push(b'}');
        serde_json::from_slice(&whole).expect("valid JSON")
    }

    #[test]
    fn members_are_copied_as_written_and_a_repeated_name_keeps_its_last_value() {
        let body = r#"{"apiKey":"K","lang":"fr_FR","n":1.50,"o":{"a":[1,"\u00e9"]},"lang":"en","w\"x":null}"#;
        let v = written(body, |k| k != "apiKey");
        assert_eq!(
            v,
            json!({"lang": "en", "n": 1.50, "o": {"a": [1, "é"]}, "w\"x": null})
        );
        // Numbers keep the caller's spelling (no float round trip).
        let m = Members::parse(body.as_bytes()).expect("object");
        let mut out = Vec::new();
        m.write_except(&mut out, |k| k == "n");
        assert_eq!(out, br#""n":1.50"#);
    }

    #[test]
    fn fields_read_like_the_general_parser() {
        let m = Members::parse(
            br#"{"apiKey":"A\u0042","parcelNumber":"  8R1  ","p2":123456,"p3":"   ","p4":true,"apiKey":"C"}"#,
        )
        .expect("object");
        assert_eq!(m.str("apiKey").as_deref(), Some("C"));
        assert_eq!(m.text("parcelNumber").as_deref(), Some("8R1"));
        assert_eq!(m.text("p2").as_deref(), Some("123456"));
        assert_eq!(m.text("p3"), None);
        assert_eq!(m.text("p4"), None);
        assert_eq!(m.str("p2"), None);
        assert_eq!(m.str("missing"), None);
        let escaped = Members::parse(br#"{"k":"a\"b"}"#).expect("object");
        assert_eq!(escaped.str("k").as_deref(), Some("a\"b"));
    }

    #[test]
    fn plain_bodies_are_read_in_one_pass_and_others_by_serde_alike() {
        let tracking = br#"{"apiKey":"89E10BC6B5CDDF4C9A50228E5A0B36F4","parcelNumber":"6A39138643271","lang":"fr_FR"}"#;
        let m = Members::scan(tracking).expect("read in one pass");
        assert_eq!(Members::parse_with_serde(tracking).as_ref(), Some(&m));
        assert_eq!(m.str("lang").as_deref(), Some("fr_FR"));
        for body in [
            &b" \r\n\t{ \"a\" : \"b\" , \"c\":\"\" }\n"[..],
            b"{}",
            b" { } ",
            "{\"é\":\"€\",\"é\":\"x\"}".as_bytes(),
        ] {
            let m = Members::scan(body).expect("read in one pass");
            assert_eq!(Members::parse_with_serde(body), Some(m), "{body:?}");
        }
        // Everything else goes to serde, which reads it or refuses it.
        for body in [
            &br#"{"a":1}"#[..],
            br#"{"a":"b\"c"}"#,
            br#"{"a\u0041":"b"}"#,
            br#"{"a":"b",}"#,
            br#"{"a":"b""c":"d"}"#,
            br#"{"a" "b"}"#,
            br#"{"a":"b"} x"#,
            br#"{"a":"b"}}"#,
            br#"{"a":"b"#,
            b"{\"a\":\"b\x01\"}",
            b"{\"a\":\"\xff\"}",
            b"[]",
            b"",
        ] {
            assert!(
                Members::scan(body).is_none(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
            assert!(agrees_with_map(body).is_ok());
        }
        let many = |n: usize| {
            format!(
                "{{{}}}",
                (0..n)
                    .map(|i| format!("\"m{i}\":\"{i}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        assert!(Members::scan(many(MAX_MEMBERS).as_bytes()).is_some());
        assert!(Members::scan(many(MAX_MEMBERS + 1).as_bytes()).is_none());
        assert!(Members::parse(many(MAX_MEMBERS + 1).as_bytes()).is_none());
    }

    #[test]
    fn bodies_left_to_the_general_parser() {
        for body in [
            &b"[1,2]"[..],
            b"\"text\"",
            b"{\"a\":1",
            b"{\"a\":1}x",
            b"",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                Members::parse(body).is_none(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let many: String = format!(
            "{{{}}}",
            (0..=MAX_MEMBERS)
                .map(|i| format!("\"m{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(Members::parse(many.as_bytes()).is_none());
    }

    #[test]
    fn the_word_test_agrees_with_the_byte_test() {
        let byte = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        // Every byte value at every position of a 19-byte text (two words and a tail).
        for pos in 0..19 {
            for c in 0..=255u8 {
                let mut t = *b"abcdefghijklmnopqrs";
                t[pos] = c;
                assert_eq!(needs_escape(&t), byte(&t), "byte {c:#x} at {pos}");
            }
        }
        // The position too, with a second match after the first (a borrow runs upwards).
        let first = |b: &[u8]| {
            b.iter()
                .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
                .unwrap_or(b.len())
        };
        for pos in 0..19 {
            for c in 0..=255u8 {
                let mut t = *b"abcdefghijklmnopqrs";
                t[pos] = c;
                t[(pos + 3) % 19] = 0;
                for from in [0, 1, 8] {
                    let want = first(&t[from..]) + from;
                    assert_eq!(special(&t, from), want, "byte {c:#x} at {pos} from {from}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape(
            "é€ plain ~\x7f and more than eight".as_bytes()
        ));
    }

    proptest::proptest! {
        /// Objects with repeated names, escapes in names and values, numbers, nesting: read
        /// in place exactly as the general parser reads them.
        #[test]
        fn reading_in_place_agrees_with_the_parser(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        r#""apiKey""#, r#""apikey""#, r#""parcelNumber""#, r#""lang""#,
                        r#""a\u0070iKey""#, r#""x\"y""#, r#""""#, r#""é""#,
                    ]),
                    proptest::prop_oneof![
                        proptest::sample::select(vec![
                            "null", "true", "0", "-1.50", "1e3", "123456", r#""""#, r#""  ""#,
                            r#"" 8R1 ""#, r#""a\"b""#, r#""\u00e9\n""#, r#"{"a":[1,{"b":null}]}"#,
                            "[]", r#""89E10BC6B5CDDF4C9A50228E5A0B36F4""#,
                        ]).prop_map(str::to_owned),
                        "[ -~é]{0,12}".prop_map(|t| serde_json::to_string(&t).unwrap_or_default()),
                    ],
                ),
                0..12,
            ),
            spaces in proptest::bool::ANY,
        ) {
            let sep = if spaces { " , " } else { "," };
            let body = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| if spaces { format!("{k} : {v}") } else { format!("{k}:{v}") })
                    .collect::<Vec<_>>()
                    .join(sep)
            );
            proptest::prop_assert!(Members::parse(body.as_bytes()).is_some(), "{}", body);
            let agreed = agrees_with_map(body.as_bytes());
            proptest::prop_assert!(agreed.is_ok(), "{}: {:?}", body, agreed);
        }
    }

    /// Values whose syntax is right but which the parser refuses: the body goes the general
    /// way, which words the error (the first was found by the fuzz target).
    #[test]
    fn values_the_parser_refuses_are_refused_here_too() {
        let huge = format!("{{\"apiKey\":\"K\",\"n\":7{}}}", "0".repeat(320));
        let deep = format!(
            "{{\"apiKey\":\"K\",\"n\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        for body in [
            huge.as_str(),
            deep.as_str(),
            r#"{"apiKey":"K","s":"\ud800"}"#,
            "{\"apiKey\":\"K\",\"s\":\"a\u{1}b\"}",
        ] {
            assert!(serde_json::from_str::<Value>(body).is_err(), "{body}");
            assert!(Members::parse(body.as_bytes()).is_none(), "{body}");
            assert!(agrees_with_map(body.as_bytes()).is_ok());
        }
        // In range, it reads as the parser reads it.
        let big = format!("{{\"n\":7{}}}", "0".repeat(300));
        assert!(agrees_with_map(big.as_bytes()).is_ok());
        assert!(Members::parse(big.as_bytes()).is_some());
    }

    #[test]
    fn strings_are_escaped_only_when_they_need_it() {
        for s in ["plain", "é€", "a\"b", "back\\slash", "tab\there", "\u{1}"] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(serde_json::from_slice::<String>(&out).expect("JSON"), s);
        }
    }
}
