//! Passwords: a user's or an account admin's own change (the current one required), and
//! password-reset links (issue, read, use). Hashing itself is bounded by
//! [`crate::password_gate`].

use serde_json::json;
use sesame_domain::model::{
    now_millis, Account, AccountStatus, Actor, ChangeKind, Millis, User, UserKind, UserStatus,
};
use sesame_domain::secrets::new_token;
use sesame_domain::{Email, FieldError};
use sqlx::Row;

use crate::db::Store;
use crate::error::{LinkKind, Result, RuleViolation, StoreError};
use crate::records::{revoke_user_sessions, spend_link};
use crate::write::{NewAudit, NewChange};

/// What a password-reset link resets.
#[derive(Clone, Debug)]
pub enum ResetTarget {
    /// A user's password (its login).
    User(Box<User>),
    /// An account admin's password (the 6-digit login).
    AccountAdmin(Account),
}

/// A usable reset link: its row, the user it names, and the account when it resets the account
/// admin's password (the user is then the account's main contact).
struct ResetLink {
    id: i64,
    user_id: i64,
    account_admin: Option<i64>,
}

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

    /// Issues a reset link for an account admin's password ("Mot de passe oublié ?" on the
    /// 6-digit login, seed 000 §3), to go to the main contact's e-mail, the address given at
    /// subscription, when `email_on_file` is that address (compared case-insensitively).
    /// `None` when it is not, when the account is not active or has no such address (the caller
    /// answers the same either way). Earlier admin reset links stop working.
    pub async fn create_admin_password_reset(
        &self,
        actor: Actor,
        account_id: i64,
        email_on_file: &str,
    ) -> Result<Option<(Email, String, Millis)>> {
        let account = self.account(account_id).await?;
        if account.status != AccountStatus::Active {
            return Ok(None);
        }
        let Some(contact) = self.main_contact(account_id).await? else {
            return Ok(None);
        };
        let Some(email) = contact
            .profile
            .email
            .clone()
            .filter(|e| e.as_str().eq_ignore_ascii_case(email_on_file.trim()))
        else {
            return Ok(None);
        };
        let token = new_token();
        let hash = self.hasher().hash_token(&token);
        let now = now_millis();
        let expires = now + PASSWORD_RESET_TTL_MILLIS;
        let mut w = self.write(actor).await?;
        sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE account_id = $2 AND purpose = 'admin_password_reset' \
             AND used_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO invitations (purpose, token_hash, user_id, account_id, rights, expires_at, created_at) \
             VALUES ('admin_password_reset', $1, $2, $3, '', $4, $5)",
        )
        .bind(hash.0.to_vec())
        .bind(contact.id)
        .bind(account_id)
        .bind(expires)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, Some(account_id), None),
            NewAudit::new("account.admin_password_reset_sent", Some(account_id), None)
                .after(json!({"expiresAt": expires})),
        )
        .await?;
        Ok(Some((email, token, expires)))
    }

    /// The main contact of an account (the user created with it), if any.
    async fn main_contact(&self, account_id: i64) -> Result<Option<User>> {
        let row =
            sqlx::query("SELECT id FROM users WHERE home_account_id = $1 AND main_contact = 1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some(self.user(r.try_get("id")?).await?)),
            None => Ok(None),
        }
    }

    /// What a usable password-reset token resets: a user's password, or an account admin's.
    pub async fn password_reset_target(&self, token: &str) -> Result<ResetTarget> {
        let link = self.reset_link(token).await?;
        Ok(match link.account_admin {
            Some(account_id) => ResetTarget::AccountAdmin(self.account(account_id).await?),
            None => ResetTarget::User(Box::new(self.user(link.user_id).await?)),
        })
    }

    /// The user a password-reset token designates, if the link is still usable (a user's
    /// reset link; an account admin's is not a user's).
    pub async fn password_reset_by_token(&self, token: &str) -> Result<(i64, User)> {
        let link = self.reset_link(token).await?;
        if link.account_admin.is_some() {
            return Err(StoreError::NotFound("password reset link"));
        }
        Ok((link.id, self.user(link.user_id).await?))
    }

    /// A usable reset link (user or account admin), or why not.
    async fn reset_link(&self, token: &str) -> Result<ResetLink> {
        let hash = self.hasher().hash_token(token);
        let query = sqlx::query(
            "SELECT id, purpose, user_id, account_id, expires_at, used_at FROM invitations \
             WHERE token_hash = $1 AND purpose IN ('password_reset', 'admin_password_reset')",
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
        let purpose: String = row.try_get("purpose")?;
        Ok(ResetLink {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            account_admin: if purpose == "admin_password_reset" {
                row.try_get("account_id")?
            } else {
                None
            },
        })
    }

    /// Sets a new password through a reset link (single use): the user's (every session of the
    /// user ends), or the account admin's (every admin session of the account ends; the main
    /// contact is returned).
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<User> {
        let link = self.reset_link(token).await?;
        let (id, user) = (link.id, self.user(link.user_id).await?);
        let new_hash = self.passwords.hash_new(password).await?;
        if let Some(account_id) = link.account_admin {
            return self
                .reset_admin_password(id, account_id, user, new_hash)
                .await;
        }
        let mut w = self.write(Actor::User { user_id: user.id }).await?;
        spend_link(&mut w, id, LinkKind::PasswordReset).await?;
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

    async fn reset_admin_password(
        &self,
        link_id: i64,
        account_id: i64,
        contact: User,
        new_hash: String,
    ) -> Result<User> {
        let mut w = self.write(Actor::AccountAdmin { account_id }).await?;
        let now = now_millis();
        spend_link(&mut w, link_id, LinkKind::PasswordReset).await?;
        sqlx::query("UPDATE accounts SET admin_password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now)
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        // Whoever held the old password is signed out.
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE kind = 'admin' AND account_id = $2 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
        w.finish(
            NewChange::new(ChangeKind::Account, Some(account_id), None),
            NewAudit::new("account.admin_password_reset", Some(account_id), None),
        )
        .await?;
        Ok(contact)
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
