//! The portal's session tokens as credentials of declared routes (`sessions = true`): a
//! collaborator signed in to the portal calls with `Authorization: Bearer <token>`.

use std::net::IpAddr;
use std::sync::Arc;

use sesame_domain::model::now_millis;
use sesame_store::SessionKind;

use super::{Authenticator, LoadError, Principal};
use crate::error::GatewayError;

/// Longest token looked up (the admin API's are 43 characters); longer ones are refused
/// without a hash or a database read.
const MAX_TOKEN: usize = 128;

impl Authenticator {
    /// The user a live session speaks for: its own (`user`) or the impersonated user's.
    /// Account-admin sessions act for no user and are refused. Cached like a legacy password
    /// (`password_cache_ttl_secs`, evicted with the user), so a revoked session may serve for
    /// up to that long on a gateway that cached it.
    pub async fn by_session(
        &self,
        token: &str,
        ip: IpAddr,
    ) -> Result<Arc<Principal>, GatewayError> {
        self.slowdown.before_key(ip).await;
        if token.len() > MAX_TOKEN || token.is_empty() {
            return Err(self.key_failed(ip, "malformed_key").await);
        }
        let mut material = Vec::with_capacity(token.len() + 8);
        material.extend_from_slice(b"session\0");
        material.extend_from_slice(token.as_bytes());
        let hash = self.hasher.hash_bytes(&material);
        if let Some(p) = self.pw_cache.get(&hash) {
            self.metrics.cache_hits.inc();
            if p.usable(now_millis()) {
                return Ok(p);
            }
            return Err(self.rejected("disabled_or_expired"));
        }
        self.metrics.cache_misses.inc();
        let store = &self.store;
        let loaded = self
            .load(|| async {
                let user = match store.session_by_token(token).await? {
                    Some(s) if s.kind != SessionKind::Admin => s.user_id,
                    _ => None,
                };
                match user {
                    Some(id) => store.principal_by_user(id).await,
                    None => Ok(None),
                }
            })
            .await;
        match loaded {
            Ok(Some(p)) => {
                self.index(&hash, &p);
                self.pw_cache.insert(hash, p.clone());
                if p.usable(now_millis()) {
                    Ok(p)
                } else {
                    Err(self.rejected("disabled_or_expired"))
                }
            }
            Ok(None) | Err(LoadError::Unknown) => Err(self.key_failed(ip, "unknown_session").await),
            Err(LoadError::Unavailable) => Err(GatewayError::StoreUnavailable),
            Err(LoadError::Busy) => Err(GatewayError::Busy),
            Err(LoadError::Other(m)) => Err(GatewayError::Internal(m)),
        }
    }
}
