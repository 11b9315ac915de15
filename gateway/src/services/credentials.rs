//! Where each service's clients put the connection key, the legacy login/password and the
//! account (SPEC §4), and the names a key goes by.

use http::HeaderMap;
use serde_json::{Map, Value};

use super::kind::Service;
use super::request::{header_bytes, text};

/// What the parse phase reads off a request: the connection key (or legacy login/password),
/// the explicit account, and for tracking the parcel.
#[derive(Debug, Default)]
pub struct Credentials {
    pub key: Option<Vec<u8>>,
    pub legacy: Option<(String, String)>,
    pub account: Option<String>,
    /// Tracking: the parcel number (the account is the parcel's own).
    pub parcel: Option<String>,
}

/// Labels take the key in the `apiKey` header and the account in `contractNumber` or the free
/// field ACCOUNT_NUMBER; tracking and pickup points take the key in the body; eligibility inside
/// `credential`. A legacy caller's account field is its login: it acts for its own account
/// only. Services whose key is not in a JSON body read nothing here.
pub fn credentials(svc: Service, headers: &HeaderMap, m: &Map<String, Value>) -> Credentials {
    let field = |k: &str| text(m.get(k));
    let body_key = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
    };
    match svc {
        Service::Labels | Service::Tracking | Service::Pickup => {
            let key = match svc {
                Service::Labels => header_bytes(headers, "apikey").map(<[u8]>::to_vec),
                Service::Tracking => body_key("apiKey"),
                _ => body_key("apikey"),
            };
            let legacy = if key.is_none() { legacy_creds(m) } else { None };
            let account = match svc {
                _ if key.is_none() => None,
                Service::Labels => {
                    field("contractNumber").or_else(|| free_field(m, "ACCOUNT_NUMBER"))
                }
                // Tracking: every linked account holding the right is asked for the parcel.
                Service::Tracking => None,
                _ => field("accountNumber").or_else(|| field("codTiersPourPartenaire")),
            };
            let parcel = match svc {
                Service::Tracking => field("parcelNumber"),
                _ => None,
            };
            Credentials {
                key,
                legacy,
                account,
                parcel,
            }
        }
        Service::Eligibility => {
            let cred = m.get("credential").and_then(Value::as_object);
            let key = cred
                .and_then(|c| c.get("apiKey"))
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec());
            let legacy = if key.is_none() {
                cred.and_then(|c| {
                    Some((
                        text(c.get("login"))?,
                        c.get("password")?.as_str()?.to_owned(),
                    ))
                })
            } else {
                None
            };
            Credentials {
                key,
                legacy,
                account: field("partnerClientCode"),
                parcel: None,
            }
        }
        _ => Credentials::default(),
    }
}

/// The legacy credentials in a body: (`contractNumber` | `login` | `accountNumber`) + `password`.
pub(crate) fn legacy_creds(m: &Map<String, Value>) -> Option<(String, String)> {
    let password = m.get("password").and_then(Value::as_str)?.to_owned();
    let login = ["contractNumber", "login", "accountNumber"]
        .iter()
        .find_map(|k| text(m.get(*k)))?;
    Some((login, password))
}

/// The labels free field `fields.field[{key, value}]` named `key`.
pub(crate) fn free_field(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get("fields")?
        .get("field")?
        .as_array()?
        .iter()
        .find(|f| f.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|f| text(f.get("value")))
}

/// Whether a field or parameter name is a spelling of the connection key (`apiKey`, `apikey`,
/// `APIKEY`, `api_key`, `X-Okapi-Key`…): callers send it under several, sometimes at once, and
/// none may reach the carrier. Compared without case, `-` or `_`.
pub(crate) fn is_key_name(name: &str) -> bool {
    // Every spelling ends in `key`: most names (`parcelNumber`, `lang`) are out at their last
    // letter, without folding them (this runs for every member of every body).
    let last = name.bytes().rev().find(|b| !matches!(b, b'-' | b'_'));
    if !matches!(last, Some(b'y' | b'Y')) {
        return false;
    }
    let folded = name
        .bytes()
        .filter(|b| !matches!(b, b'-' | b'_'))
        .map(|b| b.to_ascii_lowercase());
    ["apikey", "xokapikey", "okapikey"]
        .iter()
        .any(|w| folded.clone().eq(w.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_spelling_of_the_key_is_one_and_nothing_else() {
        for k in [
            "apiKey",
            "apikey",
            "APIKEY",
            "api_key",
            "Api-Key",
            "X-Okapi-Key",
            "x_okapi_key",
            "okapiKey",
            "apikey_",
            "-a_p-i_k-e_y-",
        ] {
            assert!(is_key_name(k), "{k}");
        }
        for k in [
            "parcelNumber",
            "lang",
            "key",
            "apikeys",
            "myapikey",
            "monkey",
            "",
            "-",
            "apiKe",
            "xokapikeyy",
        ] {
            assert!(!is_key_name(k), "{k}");
        }
    }

    #[test]
    fn legacy_credentials_need_a_login_and_a_password() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            legacy_creds(&m(json!({"contractNumber": 123456, "password": "p"}))),
            Some(("123456".into(), "p".into()))
        );
        assert_eq!(
            legacy_creds(&m(json!({"login": "jdupont", "password": "p"}))),
            Some(("jdupont".into(), "p".into()))
        );
        assert_eq!(legacy_creds(&m(json!({"login": "jdupont"}))), None);
        assert_eq!(legacy_creds(&m(json!({"password": "p"}))), None);
    }
}
