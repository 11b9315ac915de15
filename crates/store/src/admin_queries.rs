//! Queries and writes the admin API needs beyond the core store: the users table, editing and
//! deleting users, self-service password changes, password-reset links and back-office messages.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Millis, User, UserKind, UserStatus};
use sesame_domain::secrets::{check_password_policy, new_token};
use sesame_domain::{FieldError, Profile, RightSet, Tag};
use sqlx::Row;

use crate::error::corrupt;
use crate::users::{snapshot, user_from_row, USER_COLS};
use crate::{Result, Store, StoreError};

/// Password-reset links are valid 24 hours.
pub const PASSWORD_RESET_TTL_MILLIS: Millis = 24 * 3600 * 1000;

/// Filters of the users table (seed 000 §7).
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub kind: Option<UserKind>,
    /// Case-insensitive search in last name, first name, e-mail and login.
    pub q: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// A row of the users table: the user and the rights of its link with the account.
#[derive(Clone, Debug)]
pub struct AccountUser {
    pub user: User,
    pub rights: RightSet,
}

/// A full replacement of a user's editable data, as the edit form submits it (seed 000 §8).
#[derive(Clone, Debug)]
pub struct UserUpdate {
    pub profile: Profile,
    pub tag: Option<Tag>,
    pub department_id: Option<i64>,
    /// New rights of the link with the account; `None` keeps them.
    pub rights: Option<RightSet>,
}

fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    /// The users table of an account: its standard users and the advanced users linked to it,
    /// with the link's rights; returns the page and the total count.
    pub async fn list_account_users(
        &self,
        account_id: i64,
        f: &UserFilter,
    ) -> Result<(Vec<AccountUser>, i64)> {
        let kind = f.kind.map(|k| k.as_str().to_owned());
        let q =
            f.q.as_deref()
                .filter(|q| !q.trim().is_empty())
                .map(like_pattern);
        const WHERE: &str = "FROM users u JOIN links l ON l.user_id = u.id AND l.account_id = $1 \
             JOIN accounts a ON a.id = l.account_id \
             WHERE ($2 IS NULL OR u.kind = $2) AND ($3 IS NULL OR LOWER(u.last_name) LIKE $3 ESCAPE '\\' \
             OR LOWER(u.first_name) LIKE $3 ESCAPE '\\' OR LOWER(COALESCE(u.email, '')) LIKE $3 ESCAPE '\\' \
             OR LOWER(COALESCE(u.login, '')) LIKE $3 ESCAPE '\\')";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {WHERE}"))
            .bind(account_id)
            .bind(kind.clone())
            .bind(q.clone())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!(
            // The main contact's link holds every right; it is shown as the account's entitlements.
            "SELECT {USER_COLS}, CASE WHEN u.main_contact <> 0 THEN a.entitlements ELSE l.rights END \
             AS link_rights {WHERE} \
             ORDER BY u.main_contact DESC, u.kind DESC, LOWER(u.last_name), LOWER(u.first_name), u.id LIMIT $4 OFFSET $5"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(q)
        .bind(f.limit.clamp(1, 100_000))
        .bind(f.offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        let users = rows
            .iter()
            .map(|r| {
                let rights: String = r.try_get("link_rights")?;
                Ok(AccountUser {
                    user: user_from_row(r)?,
                    rights: RightSet::from_db(&rights).map_err(|e| corrupt("links", e))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((users, total))
    }

    async fn department_of(&self, account_id: i64, department_id: Option<i64>) -> Result<()> {
        if let Some(d) = department_id {
            let found = sqlx::query("SELECT id FROM departments WHERE id = $1 AND account_id = $2")
                .bind(d)
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
                return Err(
                    FieldError::new("departmentId", "is not a department of this account").into(),
                );
            }
        }
        Ok(())
    }

    /// Edits a user seen from an account: details, tag, department and (optionally) the link's
    /// rights, all in one transaction. Every rule is checked before anything is written.
    pub async fn update_user(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
        upd: UserUpdate,
    ) -> Result<User> {
        let before = self.user_in_account(account_id, user_id).await?;
        upd.profile.check_complete()?;
        if before.kind == UserKind::Standard && upd.tag.is_some() {
            return Err(FieldError::new("tag", "only advanced users carry a tag").into());
        }
        // Departments are per account: a shared user's department may be another account's, and
        // keeping it is no reason to refuse this account's edit. Only a new value is checked.
        if upd.department_id != before.department_id {
            self.department_of(account_id, upd.department_id).await?;
        }
        let old_rights = self.link(user_id, account_id).await?.rights;
        if let Some(rights) = upd.rights {
            match before.kind {
                UserKind::Advanced => rights.check_advanced()?,
                UserKind::Standard => rights.check_standard()?,
            }
            if before.main_contact && rights != old_rights {
                return Err(StoreError::Rule(
                    "the main contact always has the account's rights".into(),
                ));
            }
            let account = self.account(account_id).await?;
            RightSet::check_delegation(rights, account.entitlements)?;
        }
        let changed = crate::users::changed_profile_fields(&before.profile, &upd.profile);
        if let Some(first) = changed.first() {
            if let Err(e) = self.check_identity_editor(&actor, &before, first).await {
                self.record_identity_refusal(actor, Some(account_id), user_id, &changed)
                    .await?;
                return Err(e);
            }
        }
        let mut w = self.write(actor).await?;
        crate::users::update_profile(&mut w, user_id, &upd.profile).await?;
        sqlx::query("UPDATE users SET tag = $1, department_id = $2 WHERE id = $3")
            .bind(upd.tag.as_ref().map(|t| t.as_str().to_owned()))
            .bind(upd.department_id)
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        let rights = upd.rights.unwrap_or(old_rights);
        if rights != old_rights {
            sqlx::query("UPDATE links SET rights = $1 WHERE user_id = $2 AND account_id = $3")
                .bind(rights.to_db())
                .bind(user_id)
                .bind(account_id)
                .execute(&mut *w.tx)
                .await?;
            w.change(ChangeKind::Link, Some(account_id), Some(user_id), None)
                .await?;
        }
        let after = crate::users::user_after_insert(&mut w, user_id).await?;
        w.change(ChangeKind::User, Some(account_id), Some(user_id), None)
            .await?;
        let mut b = snapshot(&before);
        b["rights"] = json!(old_rights);
        let mut a = snapshot(&after);
        a["rights"] = json!(rights);
        w.audit(
            "user.update",
            Some(account_id),
            Some(user_id),
            Some(b),
            Some(a),
            None,
        )
        .await?;
        w.commit().await?;
        Ok(after)
    }

    /// Deletes a standard user of the account (never the main contact, never an advanced user:
    /// those are unlinked instead).
    pub async fn delete_standard_user(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
    ) -> Result<()> {
        let before = self.user_in_account(account_id, user_id).await?;
        if before.kind != UserKind::Standard || before.home_account_id != Some(account_id) {
            return Err(StoreError::Rule(
                "an advanced user is unlinked, not deleted".into(),
            ));
        }
        if before.main_contact {
            return Err(StoreError::Rule(
                "the main contact cannot be deleted".into(),
            ));
        }
        let mut w = self.write(actor).await?;
        crate::sessions::revoke_user_sessions(&mut w, user_id).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        w.change(ChangeKind::User, Some(account_id), Some(user_id), None)
            .await?;
        w.audit(
            "user.delete",
            Some(account_id),
            Some(user_id),
            Some(snapshot(&before)),
            None,
            None,
        )
        .await?;
        w.commit().await
    }

    /// A user edits its own details ("Mon compte > Editer mon compte").
    pub async fn update_own_profile(
        &self,
        actor: Actor,
        user_id: i64,
        profile: Profile,
    ) -> Result<User> {
        let before = self.user(user_id).await?;
        profile.check_complete()?;
        // An impersonated change shows in the impersonating account's log.
        let account = match actor {
            Actor::Impersonating { account_id, .. }
            | Actor::OperatorImpersonating { account_id, .. } => Some(account_id),
            _ => None,
        };
        let changed = crate::users::changed_profile_fields(&before.profile, &profile);
        if let Some(first) = changed.first() {
            if let Err(e) = self.check_identity_editor(&actor, &before, first).await {
                self.record_identity_refusal(actor, account, user_id, &changed)
                    .await?;
                return Err(e);
            }
        }
        let mut w = self.write(actor).await?;
        crate::users::update_profile(&mut w, user_id, &profile).await?;
        let after = crate::users::user_after_insert(&mut w, user_id).await?;
        w.change(ChangeKind::User, account, Some(user_id), None)
            .await?;
        w.audit(
            "user.update_self",
            account,
            Some(user_id),
            Some(snapshot(&before)),
            Some(snapshot(&after)),
            None,
        )
        .await?;
        w.commit().await?;
        Ok(after)
    }

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
        let row = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        let hash: Option<String> = row.try_get("password_hash")?;
        if !self.passwords.verify(current, hash.as_deref()).await? {
            return Err(FieldError::new("currentPassword", "is not the current password").into());
        }
        check_password_policy(new)?;
        let new_hash = self.passwords.hash(new).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        w.change(ChangeKind::User, None, Some(user_id), None)
            .await?;
        w.audit(
            "user.password_change",
            None,
            Some(user_id),
            None,
            None,
            None,
        )
        .await?;
        w.commit().await
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
            return Err(StoreError::Rule(
                "the user has no login yet: resend the invitation instead".into(),
            ));
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
        w.change(ChangeKind::User, account_id, Some(user_id), None)
            .await?;
        w.audit(
            "user.password_reset_sent",
            account_id,
            Some(user_id),
            None,
            Some(json!({"expiresAt": expires})),
            None,
        )
        .await?;
        w.commit().await?;
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
        let row = sqlx::query(
            "SELECT id, user_id, expires_at, used_at FROM invitations WHERE token_hash = $1 AND purpose = 'password_reset'",
        )
        .bind(hash.0.to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("password reset link"))?;
        let used: Option<i64> = row.try_get("used_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        if used.is_some() {
            return Err(StoreError::Rule(
                "this password reset link has already been used".into(),
            ));
        }
        if expires <= now_millis() {
            return Err(StoreError::Rule(
                "this password reset link has expired; ask for a new one".into(),
            ));
        }
        let id: i64 = row.try_get("id")?;
        let user_id: i64 = row.try_get("user_id")?;
        Ok((id, self.user(user_id).await?))
    }

    /// Sets a new password through a reset link (single use). Every session of the user ends.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<User> {
        let (id, user) = self.password_reset_by_token(token).await?;
        check_password_policy(password)?;
        let new_hash = self.passwords.hash(password).await?;
        let mut w = self.write(Actor::User { user_id: user.id }).await?;
        let used =
            sqlx::query("UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now_millis())
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Rule(
                "this password reset link has already been used".into(),
            ));
        }
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(user.id)
            .execute(&mut *w.tx)
            .await?;
        crate::sessions::revoke_user_sessions(&mut w, user.id).await?;
        w.change(ChangeKind::User, None, Some(user.id), None)
            .await?;
        w.audit("user.password_reset", None, Some(user.id), None, None, None)
            .await?;
        w.commit().await?;
        Ok(user)
    }

    /// A user by login (for "mot de passe oublié"), if any.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u WHERE u.login = $1"
        ))
        .bind(login.trim())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
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
        check_password_policy(new)?;
        let new_hash = self.passwords.hash(new).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE accounts SET admin_password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(new_hash)
            .bind(now_millis())
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        w.change(ChangeKind::Account, Some(account_id), None, None)
            .await?;
        w.audit(
            "account.admin_password_change",
            Some(account_id),
            None,
            None,
            None,
            None,
        )
        .await?;
        w.commit().await
    }

    /// Records that the back office wrote an e-mail to a user (seed 004 §4 "Ecrire un e-mail").
    /// The audit line keeps the subject, not the body.
    pub async fn record_user_message(
        &self,
        actor: Actor,
        account_id: Option<i64>,
        user_id: i64,
        subject: &str,
    ) -> Result<()> {
        self.record_note(
            actor,
            "user.message",
            account_id,
            user_id,
            json!({"subject": subject}),
        )
        .await
    }

    /// An audit entry about a user with nothing else written (a message sent, a refusal): a
    /// control-plane change, so no cached principal is evicted for it.
    pub(crate) async fn record_note(
        &self,
        actor: Actor,
        action: &str,
        account_id: Option<i64>,
        user_id: i64,
        after: serde_json::Value,
    ) -> Result<()> {
        let mut w = self.write(actor).await?;
        w.change(ChangeKind::ControlPlane, account_id, Some(user_id), None)
            .await?;
        w.audit(action, account_id, Some(user_id), None, Some(after), None)
            .await?;
        w.commit().await
    }
}
