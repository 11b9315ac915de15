//! The carrier's multipart answers, as its clients split them: the label service's
//! `multipart/mixed` (a `jsonInfos` JSON part, then the label) and the SOAP service's MTOM/XOP
//! `multipart/related` (the envelope, then the label it references by `cid:`).

use bytes::Bytes;

/// One part of a multipart answer.
pub(crate) struct Part<'a> {
    pub content_type: &'a str,
    /// Without the angle brackets (`jsonInfos`, `label`, …).
    pub content_id: &'a str,
    pub body: &'a [u8],
}

/// A boundary in the carrier's shape: `uuid:` and a random version-4 UUID (the carrier's
/// clients look for `boundary="…"` and do not care about its content, but some log it).
pub(crate) fn boundary() -> String {
    let b: [u8; 16] = rand::random();
    let hex = hex::encode(b);
    format!(
        "uuid:{}-{}-4{}-{:x}{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        8 | (b[8] & 3),
        &hex[17..20],
        &hex[20..32]
    )
}

/// The body: every part with its headers, CRLF line ends, the closing delimiter last.
pub(crate) fn render(boundary: &str, parts: &[Part<'_>]) -> Bytes {
    let size = parts.iter().map(|p| p.body.len() + 160).sum::<usize>() + 2 * boundary.len();
    let mut out = Vec::with_capacity(size);
    for p in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(p.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <");
        out.extend_from_slice(p.content_id.as_bytes());
        out.extend_from_slice(b">\r\n\r\n");
        out.extend_from_slice(p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    Bytes::from(out)
}

/// An answer with a multipart body (`content_type` carries the boundary; a boundary is hex and
/// dashes, so the header value is always valid).
pub(crate) fn answer(
    status: http::StatusCode,
    content_type: &str,
    body: Bytes,
) -> crate::response::Resp {
    let mut resp = http::Response::new(http_body_util::Full::new(body));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// The body of the part named `<id>` (its `Content-ID`) in a multipart body whose content type
/// is `content_type`; `None` when the type has no boundary or no part has that id. Parts are
/// split on the delimiter lines (RFC 2046), headers compared without case.
pub(crate) fn part<'b>(content_type: &str, body: &'b [u8], id: &str) -> Option<&'b [u8]> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary.as_bytes());
    // The first delimiter may open the body (no CRLF before it).
    let mut rest = body.strip_prefix(&delimiter[2..])?;
    loop {
        let end = find(rest, &delimiter).unwrap_or(rest.len());
        let (chunk, after) = rest.split_at(end);
        let chunk = chunk.strip_prefix(b"\r\n")?;
        let head_end = find(chunk, b"\r\n\r\n")?;
        let named = chunk[..head_end].split(|b| *b == b'\n').any(|line| {
            let line = String::from_utf8_lossy(line);
            line.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("content-id")
                    && v.trim().trim_start_matches('<').trim_end_matches('>') == id
            })
        });
        if named {
            return Some(&chunk[head_end + 4..]);
        }
        rest = after.get(delimiter.len()..)?;
        if rest.starts_with(b"--") {
            return None;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_is_a_uuid_and_parts_are_delimited() {
        let b = boundary();
        let uuid = b.strip_prefix("uuid:").unwrap_or_default();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{b}");
        assert_eq!(uuid.as_bytes()[14], b'4');
        let body = render(
            "B",
            &[Part {
                content_type: "application/json",
                content_id: "jsonInfos",
                body: b"{}",
            }],
        );
        assert_eq!(
            &body[..],
            b"--B\r\nContent-Type: application/json\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <jsonInfos>\r\n\r\n{}\r\n--B--\r\n"
        );
        let ct = "multipart/mixed; boundary=\"B\"; start=\"<jsonInfos>\"";
        assert_eq!(part(ct, &body, "jsonInfos"), Some(&b"{}"[..]));
        assert_eq!(part(ct, &body, "label"), None);
        assert_eq!(part("application/json", &body, "jsonInfos"), None);
        assert_eq!(part(ct, b"--B\r\nno blank line", "jsonInfos"), None);
    }
}
