//! The caller as every request sees it: a [`Principal`] (immutable, shared) and its [`Link`]s to
//! the accounts it may act for, with effective rights and the account's upstream credentials.

use std::sync::Arc;

use base64::Engine as _;
use http::HeaderValue;
use sesame_domain::model::Millis;
use sesame_domain::{AccountNumber, Right, RightSet, ScopedRight, UserKey};

/// A caller as the gateway needs it on every request: immutable, shared.
#[derive(Debug)]
pub struct Principal {
    pub user_id: i64,
    pub active: bool,
    pub user_key: Option<UserKey>,
    pub department: Option<Shared>,
    /// Set for a regenerated key still in its grace period.
    pub key_expires_at: Option<Millis>,
    pub links: Box<[Link]>,
}

/// One account the principal may act for, with its effective rights.
#[derive(Debug)]
pub struct Link {
    pub account_id: i64,
    pub number: AccountNumber,
    pub rights: RightSet,
    /// The tag this account gives the user (per link): the `group` scope of this account's
    /// parcels, and the tag stamped on labels posted for it.
    pub tag: Option<Shared>,
    /// Shared by every principal linked to the account (a million principals over a few
    /// thousand accounts would otherwise hold a million copies of the same credentials).
    pub account: Arc<AccountInfo>,
}

/// A short text many principals carry (a tag, a department), held once (see `intern.rs`): at a
/// million principals of three tagged links, a `String` each would be three allocations per
/// principal for a few distinct values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shared(pub(crate) Arc<str>);

impl Shared {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}
/// What the gateway needs about an account to call the carrier for it.
pub struct AccountInfo {
    pub company: String,
    pub upstream_login: String,
    pub upstream_password: String,
    /// `Basic base64(login:password)` computed once (tracking v2 authenticates this way).
    pub basic_auth: Option<HeaderValue>,
    /// The login and the password as JSON strings (quoted, escaped), written once: every
    /// tracking and pickup-point call puts them in its body.
    pub login_json: Box<[u8]>,
    pub password_json: Box<[u8]>,
}

impl AccountInfo {
    pub fn new(company: String, upstream_login: String, upstream_password: String) -> AccountInfo {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{upstream_login}:{upstream_password}"));
        // Serialising a string cannot fail.
        let json = |s: &str| serde_json::to_vec(s).unwrap_or_default().into_boxed_slice();
        AccountInfo {
            company,
            basic_auth: HeaderValue::from_str(&format!("Basic {basic}")).ok(),
            login_json: json(&upstream_login),
            password_json: json(&upstream_password),
            upstream_login,
            upstream_password,
        }
    }
}

impl std::fmt::Debug for AccountInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The upstream password never reaches a log line.
        f.debug_struct("AccountInfo")
            .field("upstream_login", &self.upstream_login)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Whether the principal may authenticate now (disabled user, expired grace period).
    pub fn usable(&self, now: Millis) -> bool {
        self.active && self.key_expires_at.is_none_or(|t| t > now)
    }

    pub fn link(&self, number: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.number.as_str() == number.trim())
    }

    /// Links holding a plain right.
    pub fn with_right(&self, r: Right) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.rights.has(r))
    }

    /// Whether a parcel of link `l`'s account owned by (`user_key`, `tag`) is inside `scope` for
    /// this caller. Own = the parcel bears the caller's user key; group = the parcel bears the
    /// tag *that account* gives the caller (tags are per link).
    pub fn in_scope(
        &self,
        l: &Link,
        scope: sesame_domain::Scope,
        user_key: Option<&str>,
        tag: Option<&str>,
    ) -> bool {
        let owner = matches!((self.user_key.as_ref(), user_key), (Some(mine), Some(k)) if mine.as_str().eq_ignore_ascii_case(k));
        let group = matches!((l.tag.as_ref(), tag), (Some(mine), Some(t)) if mine.as_str() == t);
        scope.allows(owner, group)
    }

    /// Document scope: own = contact user key, group = same department.
    pub fn doc_in_scope(
        &self,
        scope: sesame_domain::Scope,
        contact: Option<&str>,
        department: Option<&str>,
    ) -> bool {
        let owner = matches!((self.user_key.as_ref(), contact), (Some(mine), Some(k)) if mine.as_str().eq_ignore_ascii_case(k));
        let group =
            matches!((self.department.as_deref(), department), (Some(mine), Some(d)) if mine == d);
        scope.allows(owner, group)
    }

    /// The union of the tracking-tool scopes on one link (with or without customer service).
    pub fn tool_scope(l: &Link) -> sesame_domain::Scope {
        l.rights
            .scope(ScopedRight::TrackingTool)
            .union(l.rights.scope(ScopedRight::TrackingToolCs))
    }
}
