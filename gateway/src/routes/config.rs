//! The route table as the operator writes it (`[[gateway.routes]]`, `[gateway.upstreams.*]`):
//! plain serde types, checked and compiled by `table.rs` into the typed table requests use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// What `[[gateway.routes]]` and `[gateway.upstreams.*]` hold, as read from the configuration
/// (start-up) or read again (reload).
#[derive(Clone, Debug, Default)]
pub struct RouteTableConfig {
    pub routes: Vec<RouteConfig>,
    pub upstreams: BTreeMap<String, UpstreamConfig>,
}

/// One declared route: which calls it answers, where they go, and what the caller needs.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Metrics label, trace name and log field: `[a-z0-9_]`, unique, not a built-in's label.
    pub name: String,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Path pattern; `{name}` matches one path segment (letters, digits, `.`, `_`, `~`, `-`).
    pub path: String,
    /// A key of `[gateway.upstreams]`.
    pub upstream: String,
    /// Path at the upstream, with the same `{name}` parameters; default: `path`.
    #[serde(default)]
    pub upstream_path: Option<String>,
    /// The right the selected account must hold: a plain right (`order_create`) or a scoped
    /// one (`invoices`: any scope but none).
    pub right: String,
    /// Where the connection key may sit, tried in order: `header:<name>`, `query:<name>`,
    /// `body:<field>`.
    #[serde(default)]
    pub key: Vec<String>,
    /// Accept the portal's session tokens (`Authorization: Bearer …`).
    #[serde(default)]
    pub sessions: bool,
    /// Accept the legacy login/password (`Authorization: Basic`, or body fields `login` /
    /// `contractNumber` / `accountNumber` + `password`).
    #[serde(default)]
    pub legacy: bool,
    /// Where the account number sits: `path:<param>`, `query:<name>`, `header:<name>`,
    /// `body:<field>`; absent (or absent from the call): the only linked account holding the
    /// right.
    #[serde(default)]
    pub account: Option<String>,
    /// Answer filtering by the scope of `right` (a scoped right).
    #[serde(default)]
    pub scope: Option<ScopeConfig>,
    /// The route's own JSON error envelope; absent: Sesame's own.
    #[serde(default)]
    pub error: Option<ErrorConfig>,
}

/// What of an answer the caller's scope may see. Exactly one of `items`, `item`, `lookup`.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// JSON pointer to the array of the answer whose items are filtered (`/documents`).
    #[serde(default)]
    pub items: Option<String>,
    /// The answer is one item (`true`): outside the scope it is answered as unknown.
    #[serde(default)]
    pub item: bool,
    /// An upstream path (same parameters) answering the item as JSON, checked before the call
    /// is forwarded (a PDF of a document, say): outside the scope ≡ unknown.
    #[serde(default)]
    pub lookup: Option<String>,
    /// Field of an item naming its owner.
    pub owner: String,
    /// What the owner field holds: the caller's `user_key` or `user_id`.
    #[serde(default)]
    pub owner_is: OwnerIs,
    /// Field of an item naming its department.
    pub department: String,
}

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OwnerIs {
    #[default]
    UserKey,
    UserId,
}

/// A route's error envelope: `body` is JSON in which the strings `{code}`, `{message}`,
/// `{status}`, `{right}` and `{field}` are replaced.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ErrorConfig {
    /// A fixed status for every error (`200` for APIs that answer errors in 200); absent: the
    /// refusal's own status.
    #[serde(default)]
    pub status: Option<u16>,
    pub body: String,
}

/// A named upstream origin: its own pool, timeouts, TLS and the way each account's own
/// credentials are presented.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `http://host:port` or `https://host[/prefix]`.
    pub url: String,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_request_ms")]
    pub request_timeout_ms: u64,
    /// Extra certificate authorities (PEM) trusted for this origin.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How the account's upstream login and password are sent.
    pub credentials: UpstreamAuth,
}

fn default_connect_ms() -> u64 {
    1_000
}
fn default_request_ms() -> u64 {
    10_000
}

/// How an account's own credentials reach the upstream.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum UpstreamAuth {
    /// `Authorization: Basic base64(login:password)`.
    Basic,
    /// The password in header `password`, the login in header `login` if set.
    Header {
        #[serde(default)]
        login: Option<String>,
        password: String,
    },
    /// JSON body fields.
    Body { login: String, password: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_route_and_an_upstream() {
        #[derive(Deserialize)]
        struct T {
            routes: Vec<RouteConfig>,
            upstreams: BTreeMap<String, UpstreamConfig>,
        }
        let t: T = toml::from_str(
            r#"
            [[routes]]
            name = "orders"
            method = "POST"
            path = "/shop/{account}/orders"
            upstream = "shop"
            right = "order_create"
            key = ["header:X-Api-Key"]
            account = "path:account"
            error = { status = 200, body = '{"ok":false,"why":"{message}"}' }
            [upstreams.shop]
            url = "http://127.0.0.1:1"
            credentials = { kind = "header", password = "X-Secret" }
            "#,
        )
        .expect("valid");
        assert_eq!(
            t.routes[0].error.as_ref().map(|e| e.status),
            Some(Some(200))
        );
        assert_eq!(t.upstreams["shop"].request_timeout_ms, 10_000);
        assert!(toml::from_str::<T>("routes = [{ nam = 1 }]\n[upstreams]").is_err());
    }
}
