//! The portal's session tokens as credentials of declared routes (`sessions = true`): a
//! collaborator signed in to the portal calls with `Authorization: Bearer <token>`.

use std::net::IpAddr;
use std::sync::Arc;

use sesame_domain::model::now_millis;
use sesame_store::SessionKind;

use super::{Authenticator, LoadError, Principal};
use crate::error::GatewayError;

/// Longest token looked up (the admin API's are 43 characters); longer ones are refused
/// without a database read.
const MAX_TOKEN: usize = 128;

impl Authenticator {
    /// The user a live session speaks for: its own (`user`) or the impersonated user's;
    /// account-admin sessions act for no user and are refused. The session itself is read on
    /// every call (one indexed row), so a sign-out or an expiry applies at once; the user's
    /// principal is cached like any other and evicted with the user.
    pub async fn by_session(
        &self,
        token: &str,
        ip: IpAddr,
    ) -> Result<Arc<Principal>, GatewayError> {
        self.slowdown.before_key(ip).await;
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(self.key_failed(ip, "malformed_key").await);
        }
        let session = match self.store.session_by_token(token).await {
            Ok(s) => s,
            Err(e) if e.is_unavailable() => return Err(GatewayError::StoreUnavailable),
            Err(e) => return Err(GatewayError::Internal(e.to_string())),
        };
        let Some(user_id) = session
            .filter(|s| s.kind != SessionKind::Admin)
            .and_then(|s| s.user_id)
        else {
            return Err(self.key_failed(ip, "unknown_session").await);
        };
        let hash = self
            .hasher
            .hash_bytes(format!("session-user\0{user_id}").as_bytes());
        let p = match self.cached(&self.pw_cache, &hash) {
            Some(p) => {
                self.metrics.cache_hits.inc();
                p
            }
            None => {
                self.metrics.cache_misses.inc();
                let store = &self.store;
                match self.load(|| store.principal_by_user(user_id)).await {
                    Ok(Some(p)) => {
                        self.pw_cache.insert(hash, p.clone());
                        p
                    }
                    Ok(None) | Err(LoadError::Unknown) => {
                        return Err(self.key_failed(ip, "unknown_session").await)
                    }
                    Err(LoadError::Unavailable) => return Err(GatewayError::StoreUnavailable),
                    Err(LoadError::Busy) => return Err(GatewayError::Busy),
                    Err(LoadError::Other(m)) => return Err(GatewayError::Internal(m)),
                }
            }
        };
        if p.usable(now_millis()) {
            Ok(p)
        } else {
            Err(self.rejected("disabled_or_expired"))
        }
    }
}
