//! Log redaction: URLs as the access log writes them, without the secrets some clients put in
//! them.

use crate::services::{is_key_name, percent_decode};

/// A path and query fit for logs: values of parameters that may hold a secret are replaced.
/// Names are compared after percent-decoding, as the handlers read them (`%61pikey` opens the
/// tracking link like `apikey`), and any name, value or path segment shaped like a connection
/// key is replaced whatever its name.
pub fn redact_uri(path: &str, query: Option<&str>) -> String {
    let mut out = String::with_capacity(path.len() + query.map_or(0, str::len) + 1);
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if holds_key(&percent_decode(seg)) {
            out.push_str("<redacted>");
        } else {
            out.push_str(seg);
        }
    }
    let Some(q) = query else {
        return out;
    };
    out.push('?');
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(k);
        if holds_key(&name) {
            out.push_str("<redacted>");
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let secret = is_key_name(&name)
            || lower == "key"
            || lower.contains("password")
            || lower.contains("token");
        if secret || holds_key(&percent_decode(v)) {
            out.push_str(k);
            out.push_str("=<redacted>");
        } else {
            out.push_str(pair);
        }
    }
    out
}

/// Whether text holds 32 hexadecimal characters in a row: the shape of a connection key, which
/// no parameter Sesame logs legitimately has (parcel numbers are 8 to 20 characters).
fn holds_key(s: &str) -> bool {
    let mut run = 0;
    s.bytes().any(|b| {
        run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
        run >= 32
    })
}

#[cfg(test)]
mod tests {
    use super::redact_uri;

    #[test]
    fn keys_in_urls_are_redacted() {
        let u = redact_uri(
            "/entreprise/colis/login/parcel",
            Some("apikey=0E0AC69EA87355213770755A310BFB32&cab=6A14091083866"),
        );
        assert_eq!(
            u,
            "/entreprise/colis/login/parcel?apikey=<redacted>&cab=6A14091083866"
        );
        assert!(!redact_uri("/x", Some("APIKEY=abc&password=p")).contains("abc"));
        assert_eq!(redact_uri("/x", None), "/x");
        let k = "0E0AC69EA87355213770755A310BFB32";
        for q in [
            format!("%61pikey={k}"),
            format!("API%5FKEY={k}"),
            format!("cab=6A1&other={}", k.to_lowercase()),
            format!("{k}=1"),
            format!("%70assword=p{k}"),
        ] {
            assert!(!redact_uri("/x", Some(&q)).contains(k), "{q}");
        }
        assert_eq!(
            redact_uri(&format!("/suivi/v2/idships/{k}"), Some("lang=fr_FR")),
            "/suivi/v2/idships/<redacted>?lang=fr_FR"
        );
    }
}
