//! Erasing an identity (right to erasure, issue 15): the operator's, in one write. The user row
//! stays as an anonymised reference (its id), so the audit log keeps every entry and still
//! names who they were about, without the person.

use serde_json::{json, Value};
use sesame_domain::model::{now_millis, Actor, ChangeKind};
use sesame_domain::KeyHash;
use sqlx::Row;

use crate::db::Store;
use crate::error::{Result, RuleViolation, StoreError};
use crate::records::revoke_user_sessions;
use crate::write::{NewAudit, NewChange};

/// The last name an erased identity keeps: what every list shows instead of the person.
pub const ERASED_NAME: &str = "Identité effacée";

/// The audit snapshot keys that hold personal data (`rows::user_snapshot` and the profile's
/// fields); erasure removes them from every entry about the user.
const PERSONAL_KEYS: [&str; 4] = ["profile", "login", "userKey", "tag"];

impl Store {
    /// Erases a user's identity, operator only: every link removed (each linked account's audit
    /// log says so), every key revoked at once on every gateway (a `key` change per hash), every
    /// session and pending link ended, every pin removed, the personal fields, login, password
    /// and user key blanked, queued e-mails to the address dropped, and the personal data scrubbed from the
    /// audit entries about the user, which are kept. The main contact is its account's and is
    /// never erased.
    pub async fn erase_user(
        &self,
        actor: Actor,
        user_id: i64,
        comment: Option<&str>,
    ) -> Result<()> {
        if !matches!(actor, Actor::Operator | Actor::System) {
            return Err(StoreError::Forbidden {
                code: "forbidden",
                field: "id",
                message: "only the operator erases an identity".to_owned(),
            });
        }
        let user = self.user(user_id).await?;
        if user.main_contact {
            return Err(StoreError::Rule(RuleViolation::MainContactDeletion));
        }
        let row =
            sqlx::query("SELECT conn_key_hash, prev_key_hash, erased_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        if row.try_get::<Option<i64>, _>("erased_at")?.is_some() {
            return Err(StoreError::NotFound("user"));
        }
        let hashes: Vec<KeyHash> = ["conn_key_hash", "prev_key_hash"]
            .into_iter()
            .map(|c| row.try_get::<Option<Vec<u8>>, _>(c))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .filter_map(|h| KeyHash::from_slice(&h))
            .collect();
        let accounts = self.links_of_user(user_id).await?;
        let email = user.profile.email.as_ref().map(|e| e.as_str().to_owned());
        let now = now_millis();

        let mut w = self.write(actor).await?;
        sqlx::query("DELETE FROM links WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "UPDATE users SET civility = NULL, last_name = $1, first_name = '', function = '', \
             phone = '', email = NULL, fax = NULL, address = '', postal_code = '', city = '', \
             country = '', login = NULL, password_hash = NULL, tag = NULL, department_id = NULL, \
             status = 'disabled', home_account_id = NULL, user_key = NULL, conn_key_hash = NULL, prev_key_hash = NULL, \
             prev_key_expires_at = NULL, erased_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(ERASED_NAME)
        .bind(now)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?;
        revoke_user_sessions(&mut w, user_id).await?;
        // The parcels the person pinned say what it followed: gone with the identity.
        sqlx::query("DELETE FROM pins WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        if let Some(email) = &email {
            sqlx::query("DELETE FROM outbox WHERE LOWER(to_addr) = LOWER($1)")
                .bind(email)
                .execute(&mut *w.tx)
                .await?;
        }
        scrub_audit(&mut w, user_id).await?;
        // Each revoked hash is named, so every gateway drops it from its cache at once.
        for h in hashes {
            w.change(NewChange::new(ChangeKind::Key, None, Some(user_id)).with_key(Some(h)))
                .await?;
        }
        for l in &accounts {
            w.change(NewChange::new(
                ChangeKind::Link,
                Some(l.account_id),
                Some(user_id),
            ))
            .await?;
            w.audit(
                NewAudit::new("link.delete", Some(l.account_id), Some(user_id))
                    .before(json!({"rights": l.rights}))
                    .comment(Some("identity erased by the operator")),
            )
            .await?;
        }
        let linked: Vec<i64> = accounts.iter().map(|l| l.account_id).collect();
        w.finish(
            NewChange::new(ChangeKind::User, None, Some(user_id)),
            NewAudit::new("user.erase", None, Some(user_id))
                .after(json!({"erased": true, "accounts": linked}))
                .comment(comment),
        )
        .await
    }
}

/// Removes the personal data from the audit entries about `user_id` (their snapshots), keeping
/// the entries, their actions and the user's id.
async fn scrub_audit(w: &mut crate::write::WriteTx<'_>, user_id: i64) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, before_json, after_json FROM audit_log WHERE user_id = $1 \
         AND (before_json IS NOT NULL OR after_json IS NOT NULL)",
    )
    .bind(user_id)
    .fetch_all(&mut *w.tx)
    .await?;
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let before: Option<String> = r.try_get("before_json")?;
        let after: Option<String> = r.try_get("after_json")?;
        sqlx::query("UPDATE audit_log SET before_json = $1, after_json = $2 WHERE id = $3")
            .bind(before.as_deref().map(scrub))
            .bind(after.as_deref().map(scrub))
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
    }
    Ok(())
}

/// A snapshot without its personal keys; what does not parse as JSON is dropped whole.
fn scrub(snapshot: &str) -> String {
    match serde_json::from_str::<Value>(snapshot) {
        Ok(Value::Object(mut m)) => {
            for k in PERSONAL_KEYS {
                if m.remove(k).is_some() {
                    m.insert(k.to_owned(), json!("(effacé)"));
                }
            }
            Value::Object(m).to_string()
        }
        Ok(other @ (Value::Null | Value::Bool(_) | Value::Number(_))) => other.to_string(),
        _ => json!("(effacé)").to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrub_keeps_the_entry_and_drops_the_person() {
        let s = super::scrub(
            r#"{"profile":{"lastName":"Dupont","email":"j@d.fr"},"login":"jd","rights":["ws_tracking"],"status":"active"}"#,
        );
        assert!(
            !s.contains("Dupont") && !s.contains("j@d.fr") && !s.contains("\"jd\""),
            "{s}"
        );
        assert!(s.contains("ws_tracking") && s.contains("active"), "{s}");
        assert_eq!(super::scrub("\"Dupont\""), "\"(effacé)\"");
    }
}
