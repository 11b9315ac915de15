//! Answers as the gateway builds them: whole bodies in memory (`Full<Bytes>`).

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::Value;

pub type Resp = http::Response<Full<Bytes>>;

/// The metric outcome of an answer that is a refusal although its handler built it (the SOAP
/// service answers some refusals as its operation's answer); read by the request's metrics.
#[derive(Debug, Clone, Copy)]
pub struct Outcome(pub &'static str);

pub fn json_resp(status: StatusCode, body: &Value) -> Resp {
    bytes_resp(
        status,
        "application/json;charset=UTF-8",
        Bytes::from(body.to_string()),
    )
}

pub fn html_resp(status: StatusCode, html: String) -> Resp {
    bytes_resp(status, "text/html; charset=utf-8", Bytes::from(html))
}

pub fn bytes_resp(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut r = http::Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Escapes text for HTML bodies and double-quoted attributes (`&`, `<`, `>`, `"`; apostrophes
/// stay readable: the seed's message is full of them). The one escaper of the gateway's pages.
pub fn html_escape(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_quotes_but_not_apostrophes() {
        assert_eq!(
            super::html_escape(r#"<a href="x">l'&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;l'&amp;&lt;/a&gt;"
        );
    }
}
