//! The console's posted forms: url-encoded fields, read only once the CSRF token is checked
//! (`Form`, the only way a handler gets a form), and the page that refuses a forged post.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;

use super::csrf;
use super::layout;
use super::session::Visitor;
use crate::error::ApiResult;
use crate::extract::parse_value;
use crate::AppState;

/// Runs the API's function `f` on the form read as the API's request type `T` (`json`, from
/// [`Fields::to_json`]): the rule, its field names and its audit are the API's.
pub async fn through_api<T, U, F, Fut>(json: &serde_json::Value, f: F) -> ApiResult<U>
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = ApiResult<U>>,
{
    f(parse_value::<T>(json)?).await
}

/// Largest console form body (the import's file travels as multipart, bounded on its own).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The refusal of a post without a valid token: a page saying what happened and what to do.
pub fn refused(v: &Visitor) -> Response {
    layout::message_page(
        v,
        StatusCode::FORBIDDEN,
        v.t("Formulaire refusé", "Form refused"),
        v.t(
            "Ce formulaire a expiré ou ne vient pas de cette console (jeton de sécurité absent ou invalide) : rien n'a été enregistré. Rechargez la page et recommencez.",
            "This form has expired or did not come from this console (missing or invalid security token): nothing was saved. Reload the page and try again.",
        ),
    )
}

/// The fields of a url-encoded form, in order (a checkbox list repeats its name).
#[derive(Default, Debug)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed, if not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
    /// The first value of `name` as sent (passwords are not trimmed).
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The JSON object the API's request type reads: each of `texts` present and not blank as
    /// a string, each of `lists` as an array. The form is then parsed by the API's own type, so
    /// its rules and field names are the API's.
    pub fn to_json(&self, texts: &[&str], lists: &[&str]) -> serde_json::Value {
        let mut o = serde_json::Map::new();
        for t in texts {
            if let Some(v) = self.get(t) {
                o.insert((*t).to_owned(), serde_json::Value::from(v));
            }
        }
        for l in lists {
            let vs: Vec<serde_json::Value> = self
                .all(l)
                .into_iter()
                .map(serde_json::Value::from)
                .collect();
            o.insert((*l).to_owned(), serde_json::Value::Array(vs));
        }
        serde_json::Value::Object(o)
    }
    /// Adds `name: value` to that JSON object (what the form does not carry, e.g. `lang`).
    pub fn set(json: &mut serde_json::Value, name: &str, value: &str) {
        if let Some(o) = json.as_object_mut() {
            o.insert(name.to_owned(), value.into());
        }
    }
    /// `name` as an integer field of that JSON object, when given; a value that is not a
    /// number is left as text for the API's type to refuse, naming the field.
    pub fn set_int(&self, json: &mut serde_json::Value, name: &str) {
        if let (Some(v), Some(o)) = (self.get(name), json.as_object_mut()) {
            let value = v
                .parse::<i64>()
                .map_or_else(|_| serde_json::Value::from(v), serde_json::Value::from);
            o.insert(name.to_owned(), value);
        }
    }
}

/// A posted console form whose CSRF token is valid (the only way a handler gets a form).
pub struct Form {
    pub v: Visitor,
    pub fields: Fields,
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let v = Visitor::from_request_parts(&mut parts, state)
            .await
            .map_err(axum::response::IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let bytes = match axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return Err(layout::message_page(
                    &v,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    v.t("Formulaire trop volumineux", "Form too large"),
                    v.t(
                        "Ce formulaire dépasse la taille admise : rien n'a été enregistré.",
                        "This form is larger than allowed: nothing was saved.",
                    ),
                ))
            }
        };
        let fields: Vec<(String, String)> = match form_pairs(&bytes) {
            Some(f) => f,
            None => return Err(refused(&v)),
        };
        let fields = Fields(fields);
        if !csrf::valid(
            &v.csrf,
            fields
                .0
                .iter()
                .find(|(k, _)| k == csrf::FIELD)
                .map(|(_, t)| t.as_str()),
        ) {
            return Err(refused(&v));
        }
        Ok(Form { v, fields })
    }
}

/// `application/x-www-form-urlencoded` pairs, or `None` when the body is not that.
fn form_pairs(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decoding with `+` as a space; invalid UTF-8 or escapes refuse the form.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decode_and_refuse_garbage() {
        assert_eq!(
            form_pairs(b"a=1&r=x%3Ay&r=z&n=J%C3%A9r%C3%B4me+D"),
            Some(vec![
                ("a".into(), "1".into()),
                ("r".into(), "x:y".into()),
                ("r".into(), "z".into()),
                ("n".into(), "Jérôme D".into())
            ])
        );
        assert_eq!(form_pairs(b"a=%zz"), None);
        assert_eq!(form_pairs(b"a=%C3"), None);
        assert_eq!(form_pairs(b"a=%4"), None);
    }
}
