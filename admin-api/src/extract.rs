//! Extractors that turn every malformed request into an [`ApiError`] naming the field.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Malformed JSON is a 400; a value of the wrong type, an unknown or missing field,
/// or a value its type refuses is a 422 naming the field (`rights[1]`, `login`, …).
pub struct Json<T>(pub T);

/// Builds the dotted field name of a serde error: the path where it happened, plus the field the
/// message names for unknown/missing fields (reported at the enclosing object).
fn field_of(path: &str, message: &str) -> String {
    let named = ["unknown field `", "missing field `"].iter().find_map(|p| {
        message
            .split_once(p)
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(f, _)| f.to_owned())
    });
    let base = if path == "." { "" } else { path };
    match named {
        Some(f) if !base.ends_with(&f) => {
            if base.is_empty() {
                f
            } else {
                format!("{base}.{f}")
            }
        }
        _ if base.is_empty() => "body".to_owned(),
        _ => base.to_owned(),
    }
}

/// Marks the path of an error raised inside a flattened struct (see [`flattened`]).
const FLAT_PATH: char = '\u{1f}';

/// `#[serde(flatten, deserialize_with = "crate::extract::flattened")]`: serde deserializes a
/// flattened struct from buffered values, out of sight of the path tracking, so a wrong value
/// there would name no field. This tracks the path inside and carries it in the message, which
/// [`parse_json`] reads back: the error names the field as if the struct were not flattened.
pub fn flattened<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde_path_to_error::deserialize(d).map_err(|e| {
        let path = e.path().to_string();
        serde::de::Error::custom(format_args!(
            "{FLAT_PATH}{path}{FLAT_PATH}{}",
            e.into_inner()
        ))
    })
}

/// The path and message of an error, with a flattened struct's inner path joined on.
fn unflatten(path: String, message: String) -> (String, String) {
    let Some((inner, message)) = message
        .strip_prefix(FLAT_PATH)
        .and_then(|m| m.split_once(FLAT_PATH))
    else {
        return (path, message);
    };
    let path = match (path.as_str(), inner) {
        (".", i) => i.to_owned(),
        (p, ".") => p.to_owned(),
        (p, i) => format!("{p}.{i}"),
    };
    (path, message.to_owned())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (path, message) = unflatten(path, inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::malformed_json(
                format!("malformed JSON: {message}"),
                Some(field_of(&path, &message)),
            ),
            serde_json::error::Category::Data => {
                let field = field_of(&path, &message);
                // Strip serde's " at line L column C": the field says where.
                let clean = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                ApiError::invalid(field.clone(), format!("{field}: {clean}"))
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::malformed_json(format!("malformed JSON: {e}"), None))?;
    Ok(value)
}

/// A request type read from a JSON value (the console's forms, converted at the edge): the same
/// type, rules and field names as the API's body.
pub fn parse_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("form as JSON: {e}")))?;
    parse_json(&bytes)
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::Framework(e.status())
                } else {
                    ApiError::bad_request("cannot read the request body")
                }
            })?;
        if bytes.is_empty() {
            return Err(ApiError::malformed_json(
                "a JSON body is required",
                Some("body".to_owned()),
            ));
        }
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be left out (empty or blank): then `T::default()`. Parsed by the
/// handler after its own checks, so a caller who may not act learns nothing from the body.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(bytes)
}

/// Query parameters, read leniently and converted by the handlers with named errors.
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let q = axum::extract::Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("malformed query string"))?;
        Ok(Query(q.0))
    }
}

impl Query {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::invalid(name, format!("{name}: must be an integer")))
            })
            .transpose()
    }
    /// A time filter: milliseconds since the epoch, an RFC 3339 date-time, or a `YYYY-MM-DD` date
    /// (start of day UTC; `end_of_day` for the end of a range).
    pub fn time(&self, name: &str, end_of_day: bool) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.str(name) else {
            return Ok(None);
        };
        let v = v.trim();
        if let Ok(ms) = v.parse::<i64>() {
            return Ok(Some(ms));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.timestamp_millis()));
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let t = if end_of_day {
                d.and_hms_milli_opt(23, 59, 59, 999)
            } else {
                d.and_hms_opt(0, 0, 0)
            };
            if let Some(t) = t {
                return Ok(Some(t.and_utc().timestamp_millis()));
            }
        }
        Err(ApiError::invalid(
            name,
            format!("{name}: expected epoch milliseconds, RFC 3339 or YYYY-MM-DD"),
        ))
    }
    /// `page` (from 1) and `perPage` (1..=max), as offset and limit.
    pub fn page(&self, default_per_page: i64, max: i64) -> Result<(i64, i64, i64), ApiError> {
        let page = self.int("page")?.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::invalid("page", "page: must be at least 1"));
        }
        let per = self.int("perPage")?.unwrap_or(default_per_page);
        if !(1..=max).contains(&per) {
            return Err(ApiError::invalid(
                "perPage",
                format!("perPage: must be 1 to {max}"),
            ));
        }
        Ok((page, per, (page - 1).saturating_mul(per)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct T {
        last_name: String,
        rights: sesame_domain::RightSet,
        n: Option<u32>,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<T>(br#"{"lastName":"a","rights":[],"bogus":1}"#).unwrap_err();
        assert_eq!(e.field(), Some("bogus"));
        assert_eq!(e.status(), 422);
        let e = parse_json::<T>(br#"{"lastName":5,"rights":[]}"#).unwrap_err();
        assert_eq!(e.field(), Some("lastName"));
        let e = parse_json::<T>(br#"{"lastName":"x","rights":["teleport"]}"#).unwrap_err();
        assert_eq!(e.field(), Some("rights"));
        let e = parse_json::<T>(br#"{"rights":[]}"#).unwrap_err();
        assert_eq!(e.field(), Some("lastName"));
        let e = parse_json::<T>(br#"{"lastName":"x","rights":[],"n":"7"}"#).unwrap_err();
        assert_eq!(e.field(), Some("n"));
        let e = parse_json::<T>(br#"{"lastName":"x","#).unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        last_name: String,
        email: Option<sesame_domain::Email>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Flat {
        #[serde(flatten, deserialize_with = "flattened")]
        inner: Inner,
        n: Option<u32>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        form: Flat,
    }

    #[test]
    fn errors_in_flattened_fields_name_the_field() {
        let e = parse_json::<Flat>(br#"{"lastName":5}"#).unwrap_err();
        assert_eq!((e.status().as_u16(), e.field()), (422, Some("lastName")));
        assert_eq!(
            e.message(),
            "lastName: invalid type: integer `5`, expected a string"
        );
        let e = parse_json::<Flat>(br#"{"lastName":"x","email":"nope"}"#).unwrap_err();
        assert_eq!(e.field(), Some("email"));
        let e = parse_json::<Flat>(br#"{"n":1}"#).unwrap_err();
        assert_eq!(e.field(), Some("lastName"));
        assert_eq!(e.message(), "lastName: missing field `lastName`");
        let e = parse_json::<Flat>(br#"{"lastName":"x","bogus":1}"#).unwrap_err();
        assert_eq!(e.field(), Some("bogus"));
        let e = parse_json::<Flat>(br#"{"lastName":"x","n":"1"}"#).unwrap_err();
        assert_eq!(e.field(), Some("n"));
        let e = parse_json::<Outer>(br#"{"form":{"lastName":[]}}"#).unwrap_err();
        assert_eq!(e.field(), Some("form.lastName"));
        assert!(parse_json::<Flat>(br#"{"lastName":"x","email":null}"#).is_ok());
    }
}
