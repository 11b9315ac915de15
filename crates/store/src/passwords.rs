//! Passwords: a user's or an account admin's own change (the current one required), and
//! password-reset links (issue, read, use). Hashing itself is bounded by
//! [`crate::password_gate`].

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Millis, User, UserKind, UserStatus};
use sesame_domain::secrets::new_token;
use sesame_domain::FieldError;
use sqlx::Row;

use crate::db::Store;
use crate::error::{LinkKind, Result, RuleViolation, StoreError};
use crate::records::revoke_user_sessions;
use crate::write::{NewAudit, NewChange};

/// Password-reset links are valid 24 hours.
pub const PASSWORD_RESET_TTL_MILLIS: Millis = 24 * 3600 * 1000;

impl Store {
    /// Changes a user's password; the current one is required (error names `currentPassword`).
    pub async fn change_password(
        &self,
        actor: Actor,
        user_id: i64,
        current: &str,
        new: &str,
    ) -> Result<()> {
        let holder = self.user(user_id).await?;
        self.check_identity_editor(&actor, &holder, "password")
            .await?;
        let row = self
            .row_or_not_found(
                sqlx::query("SELECT password_hash FROM users WHERE id = $1").bind(user_id),
                "user",
            )
            .await?;
        let hash: Option<String> = row.try_get("password_hash")?;
        if !self.passwords.verify(current, hash.as_deref()).await? {
            return Err(FieldError::new("currentPassword", "is not the current password").into());
        }
        let new_hash = self.passwords.hash_new(new).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        w.finish(
            NewChange::new(ChangeKind::User, None, Some(user_id)),
            NewAudit::new("user.password_change", None, Some(user_id)),
        )
        .await
    }

    /// Issues a password-reset link for a user (seed 004 §4 "Renvoyer le mot de passe"). Returns
    /// the clear token for the e-mail and its expiry; earlier reset links stop working.
    pub async fn create_password_reset(
        &self,
        actor: Actor,
        account_id: Option<i64>,
        user_id: i64,
    ) -> Result<(User, String, Millis)> {
        let user = self.user(user_id).await?;
        self.check_reset_sender(&actor, &user).await?;
        if user.login.is_none() || user.status == UserStatus::Invited {
            return Err(StoreError::Rule(RuleViolation::NoLoginYet));
        }
        if user.profile.email.is_none() {
            return Err(FieldError::new("email", "the user has no e-mail address").into());
        }
        let token = new_token();
        let hash = self.hasher().hash_token(&token);
        let now = now_millis();
        let expires = now + PASSWORD_RESET_TTL_MILLIS;
        let mut w = self.write(actor).await?;
        sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND purpose = 'password_reset' AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO invitations (purpose, token_hash, user_id, account_id, rights, expires_at, created_at) \
             VALUES ('password_reset', $1, $2, $3, '', $4, $5)",
        )
        .bind(hash.0.to_vec())
        .bind(user_id)
        .bind(account_id)
        .bind(expires)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.finish(
            NewChange::new(ChangeKind::User, account_id, Some(user_id)),
            NewAudit::new("user.password_reset_sent", account_id, Some(user_id))
                .after(json!({"expiresAt": expires})),
        )
        .await?;
        Ok((user, token, expires))
    }

    /// Who may send a user a password-reset link. The link goes to the user's own e-mail, which
    /// no linked account can change; still, an account sends it only to a user it holds alone
    /// (its standard user, or an advanced user linked to it and to no other account), so one
    /// account of a shared identity never triggers resets the others did not ask for.
    async fn check_reset_sender(&self, actor: &Actor, user: &User) -> Result<()> {
        let account_id = match *actor {
            Actor::AccountAdmin { account_id } | Actor::Impersonating { account_id, .. } => {
                account_id
            }
            _ => return Ok(()),
        };
        let links = self.links_of_user(user.id).await?;
        if !links.iter().any(|l| l.account_id == account_id) {
            return Err(StoreError::NotFound("user"));
        }
        if user.kind == UserKind::Advanced && links.iter().any(|l| l.account_id != account_id) {
            return Err(StoreError::Forbidden {
                code: "shared_user",
                field: "userId",
                message: "this advanced user is linked to other accounts: only the user (forgotten password) or the operator resets its password".into(),
            });
        }
        Ok(())
    }

    /// The user a password-reset token designates, if the link is still usable.
    pub async fn password_reset_by_token(&self, token: &str) -> Result<(i64, User)> {
        let hash = self.hasher().hash_token(token);
        let query = sqlx::query(
            "SELECT id, user_id, expires_at, used_at FROM invitations \
             WHERE token_hash = $1 AND purpose = 'password_reset'",
        )
        .bind(hash.0.to_vec());
        let row = self.row_or_not_found(query, "password reset link").await?;
        let used: Option<i64> = row.try_get("used_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        if used.is_some() {
            return Err(StoreError::Rule(RuleViolation::LinkUsed(
                LinkKind::PasswordReset,
            )));
        }
        if expires <= now_millis() {
            return Err(StoreError::Rule(RuleViolation::LinkExpired(
                LinkKind::PasswordReset,
            )));
        }
        let id: i64 = row.try_get("id")?;
        let user_id: i64 = row.try_get("user_id")?;
        Ok((id, self.user(user_id).await?))
    }

    /// Sets a new password through a reset link (single use). Every session of the user ends.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<User> {
        let (id, user) = self.password_reset_by_token(token).await?;
        let new_hash = self.passwords.hash_new(password).await?;
        let mut w = self.write(Actor::User { user_id: user.id }).await?;
        let used =
            sqlx::query("UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now_millis())
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Rule(RuleViolation::LinkUsed(
                LinkKind::PasswordReset,
            )));
        }
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(user.id)
            .execute(&mut *w.tx)
            .await?;
        revoke_user_sessions(&mut w, user.id).await?;
        w.finish(
            NewChange::new(ChangeKind::User, None, Some(user.id)),
            NewAudit::new("user.password_reset", None, Some(user.id)),
        )
        .await?;
        Ok(user)
    }

    /// The account admin changes its own password; the current one is required.
    pub async fn change_admin_password(
        &self,
        actor: Actor,
        account_id: i64,
        current: &str,
        new: &str,
    ) -> Result<()> {
        let account = self.account(account_id).await?;
        if self
            .verify_account_admin(&account.number, current)
            .await?
            .is_none()
        {
            return Err(FieldError::new("currentPassword", "is not the current password").into());
        }
        let new_hash = self.passwords.hash_new(new).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE accounts SET admin_password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("account.admin_password_change", Some(account_id), None),
        )
        .await
    }
}
