//! Connection keys: regenerating one, with an optional grace period for the old key.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Millis, UserKind, UserStatus};
use sesame_domain::{ConnectionKey, FieldError, KeyHash};
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, RuleViolation, StoreError};
use crate::write::{NewAudit, NewChange};

impl Store {
    /// Regenerates the connection key (seed 000 §8). The old key stops working now, or after
    /// `grace_millis` if the holder asks for a grace period. Returns the new key, in clear, once.
    pub async fn regenerate_connection_key(
        &self,
        actor: Actor,
        user_id: i64,
        grace_millis: Option<Millis>,
    ) -> Result<ConnectionKey> {
        let holder = self.user(user_id).await?;
        self.check_identity_editor(&actor, &holder, "connectionKey")
            .await?;
        let row = self
            .row_or_not_found(
                sqlx::query("SELECT kind, status, conn_key_hash FROM users WHERE id = $1")
                    .bind(user_id),
                "user",
            )
            .await?;
        let kind: String = row.try_get("kind")?;
        if kind != UserKind::Advanced.as_str() {
            return Err(StoreError::Rule(RuleViolation::KeyNeedsAdvancedUser));
        }
        let status: String = row.try_get("status")?;
        if status == UserStatus::Invited.as_str() {
            return Err(StoreError::Rule(RuleViolation::InvitationPending));
        }
        let old: Option<Vec<u8>> = row.try_get("conn_key_hash")?;
        let old = old.as_deref().and_then(KeyHash::from_slice);
        let grace = grace_millis.filter(|g| *g > 0);
        if let Some(g) = grace {
            if g > 7 * 24 * 3600 * 1000 {
                return Err(FieldError::new("graceSeconds", "must be at most 7 days").into());
            }
        }
        let key = ConnectionKey::generate();
        let new_hash = self.hasher().hash_key(&key);
        let mut w = self.write(actor).await?;
        sqlx::query(
            "UPDATE users SET conn_key_hash = $1, prev_key_hash = $2, prev_key_expires_at = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(new_hash.0.to_vec())
        .bind(grace.and(old).map(|h| h.0.to_vec()))
        .bind(grace.map(|g| now_millis() + g))
        .bind(now_millis())
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?;
        w.finish(
            NewChange::new(ChangeKind::Key, None, Some(user_id)).with_key(old),
            NewAudit::new("user.key_regenerate", None, Some(user_id))
                .after(json!({"graceMillis": grace})),
        )
        .await?;
        Ok(key)
    }
}
