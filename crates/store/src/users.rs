//! Users: creating standard and advanced users, reading them, the users table of an account,
//! editing, enabling, disabling and deleting them, and user sign-in.

use serde_json::json;
use sesame_domain::model::{
    now_millis, Actor, ChangeKind, Invitation, User, UserKind, UserStatus, ValidationStatus,
    INVITATION_TTL_MILLIS,
};
use sesame_domain::{FieldError, Login, Profile, Right, RightSet, Tag, UserKey};
use sqlx::Row;

use crate::collaborators::{check_sub_accounts, check_validated, initial_validation};
use crate::db::Store;
use crate::error::{corrupt, Result, RuleViolation, StoreError};
use crate::records::{
    check_email_free, end_sessions_without_site_access, insert_link, insert_token, insert_user_row,
    revoke_user_sessions, update_link_rights, update_link_tag, update_profile, user_after_insert,
    UserRow,
};
use crate::rows::{like_pattern, parse_opt, user_from_row, user_snapshot as snapshot, USER_COLS};
use crate::write::{NewAudit, NewChange};

/// A standard user as the admin creates it (seed 000 §4, seed 004 §3): login and password set
/// by the admin, rights from the standard catalogue.
#[derive(Clone, Debug)]
pub struct NewStandardUser {
    pub profile: Profile,
    pub login: Login,
    pub password: String,
    pub rights: RightSet,
    pub department_id: Option<i64>,
}

/// An advanced user as the admin creates it (seed 000 §5.1): identity, optional tag, rights on
/// the admin's account. Login and password come later, from the user, through the invitation.
#[derive(Clone, Debug)]
pub struct NewAdvancedUser {
    pub profile: Profile,
    pub tag: Option<Tag>,
    pub rights: RightSet,
    pub department_id: Option<i64>,
}

/// Filters of the users table (seed 000 §7).
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub kind: Option<UserKind>,
    /// Case-insensitive search in last name, first name, e-mail and login.
    pub q: Option<String>,
    /// Only the contacts of this segment (seed 004 §4, the operator's back office).
    pub segment_id: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

/// A row of the users table: the user, and the rights and tag of its link with the account.
#[derive(Clone, Debug)]
pub struct AccountUser {
    pub user: User,
    pub rights: RightSet,
    /// The tag this account gives the user (per link).
    pub tag: Option<Tag>,
}

/// A full replacement of a user's editable data, as the edit form submits it (seed 000 §8).
#[derive(Clone, Debug)]
pub struct UserUpdate {
    pub profile: Profile,
    /// The tag of the user's link with the editing account (per link: other accounts' tags are
    /// untouched).
    pub tag: Option<Tag>,
    pub department_id: Option<i64>,
    /// New rights of the link with the account; `None` keeps them.
    pub rights: Option<RightSet>,
}

impl Store {
    pub async fn user(&self, id: i64) -> Result<User> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        user_from_row(
            &self
                .row_or_not_found(sqlx::query(&sql).bind(id), "user")
                .await?,
        )
    }

    /// A user as seen from an account: its own standard users and the advanced users linked to
    /// it. Anything else is "not found", so an admin cannot probe other accounts' users.
    pub async fn user_in_account(&self, account_id: i64, user_id: i64) -> Result<User> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users u WHERE u.id = $1 AND (u.home_account_id = $2 OR EXISTS \
             (SELECT 1 FROM links l WHERE l.user_id = u.id AND l.account_id = $2))"
        );
        let query = sqlx::query(&sql).bind(user_id).bind(account_id);
        user_from_row(&self.row_or_not_found(query, "user").await?)
    }

    /// Finds an advanced user by its public user key (seed 000 §6). Standard users are never
    /// found this way.
    pub async fn find_advanced_by_user_key(&self, key: &UserKey) -> Result<User> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users u WHERE u.user_key = $1 AND u.kind = 'advanced'"
        );
        let query = sqlx::query(&sql).bind(key.as_str());
        user_from_row(&self.row_or_not_found(query, "user").await?)
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

    /// User sign-in with login and password. `None` for any mismatch.
    pub async fn verify_user_login(&self, login: &str, password: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.login = $1"
        ))
        .bind(login.trim())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            self.passwords.verify(password, None).await?;
            return Ok(None);
        };
        let hash: Option<String> = row.try_get("password_hash")?;
        let ok = self.passwords.verify(password, hash.as_deref()).await?;
        if !ok {
            return Ok(None);
        }
        Ok(Some(user_from_row(&row)?))
    }

    /// A user signing in to Sesame's own pages (admin API `POST /admin/v1/sessions` with a
    /// login, the console, the portal): `verify_user_login`, then the seeds' gates. `None` for a
    /// wrong login or password and for a disabled or invited user (no oracle). Once the password
    /// is right, a collaborator (standard user) whose effective rights on its account lack "Accès
    /// au site" (seed 004 §3: "s'il n'a pas les accès, il ne pourra pas se connecter") is
    /// refused with `Forbidden { code: "no_site_access" }`. Advanced users sign in to manage
    /// their own identity: their catalogue has no site access to withhold.
    pub async fn sign_in_user(&self, login: &str, password: &str) -> Result<Option<User>> {
        let Some(user) = self.verify_user_login(login, password).await? else {
            return Ok(None);
        };
        if user.status != UserStatus::Active {
            return Ok(None);
        }
        check_validated(&user)?;
        self.check_site_access(&user).await?;
        Ok(Some(user))
    }

    /// Refuses a standard user whose effective rights on its home account lack `site_access`.
    pub async fn check_site_access(&self, user: &User) -> Result<()> {
        let (UserKind::Standard, Some(home)) = (user.kind, user.home_account_id) else {
            return Ok(());
        };
        let account = self.account(home).await?;
        let link = self.link(user.id, home).await?;
        if RightSet::effective(link.rights, account.entitlements).has(Right::SiteAccess) {
            Ok(())
        } else {
            Err(StoreError::Forbidden {
                code: "no_site_access",
                field: "login",
                message: "Accès au site non autorisé : ce collaborateur ne peut pas se connecter \
                          (droit « Accès au site » non attribué). Adressez-vous à l'administrateur \
                          de votre compte."
                    .to_owned(),
            })
        }
    }

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
             OR LOWER(COALESCE(u.login, '')) LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR EXISTS (SELECT 1 FROM segment_members m WHERE m.user_id = u.id \
             AND m.segment_id = $4))";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {WHERE}"))
            .bind(account_id)
            .bind(kind.clone())
            .bind(q.clone())
            .bind(f.segment_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(&format!(
            // The main contact's link holds every right; it is shown as the account's entitlements.
            "SELECT {USER_COLS}, CASE WHEN u.main_contact <> 0 THEN a.entitlements ELSE l.rights END \
             AS link_rights, l.tag AS link_tag {WHERE} \
             ORDER BY u.main_contact DESC, u.kind DESC, LOWER(u.last_name), LOWER(u.first_name), u.id LIMIT $5 OFFSET $6"
        ))
        .bind(account_id)
        .bind(kind)
        .bind(q)
        .bind(f.segment_id)
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
                    tag: parse_opt(r, "link_tag", "links", Tag::parse)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((users, total))
    }

    /// Creates a standard user of `account_id` with the rights the admin gives (delegation rule).
    pub async fn create_standard_user(
        &self,
        actor: Actor,
        account_id: i64,
        new: NewStandardUser,
    ) -> Result<User> {
        new.profile.check_complete()?;
        new.rights.check_standard()?;
        if new.login.looks_like_account() {
            return Err(FieldError::new("login", "must not be a 6-digit account number").into());
        }
        let account = self.account(account_id).await?;
        check_sub_accounts(&actor, &account)?;
        RightSet::check_delegation(new.rights, account.entitlements)?;
        self.check_department(account_id, new.department_id).await?;
        let validation = initial_validation(&actor, &account);
        let password_hash = self.passwords.hash_new(&new.password).await?;
        let mut w = self.write(actor).await?;
        let id = insert_user_row(
            &mut w,
            UserRow {
                kind: UserKind::Standard,
                profile: &new.profile,
                login: Some(&new.login),
                password_hash: Some(password_hash),
                department_id: new.department_id,
                status: UserStatus::Active,
                validation,
                user_key: None,
                home_account_id: Some(account_id),
                main_contact: false,
            },
        )
        .await?;
        insert_link(&mut w, id, account_id, new.rights, None).await?;
        let user = user_after_insert(&mut w, id).await?;
        let mut after = snapshot(&user);
        after["rights"] = json!(new.rights);
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(id)),
            NewAudit::new("user.create_standard", Some(account_id), Some(id)).after(after),
        )
        .await?;
        Ok(user)
    }

    /// Creates an advanced user (status `invited`, with its user key), links it to the account
    /// with the given rights, and issues the invitation. Returns the clear invitation token for
    /// the e-mail; only its hash is stored.
    pub async fn create_advanced_user(
        &self,
        actor: Actor,
        account_id: i64,
        new: NewAdvancedUser,
    ) -> Result<(User, Invitation, String)> {
        new.profile.check_complete()?;
        new.rights.check_advanced()?;
        let account = self.account(account_id).await?;
        RightSet::check_delegation(new.rights, account.entitlements)?;
        self.check_department(account_id, new.department_id).await?;
        let mut w = self.write(actor).await?;
        check_email_free(&mut w, new.profile.email.as_ref(), None).await?;
        let id = insert_user_row(
            &mut w,
            UserRow {
                kind: UserKind::Advanced,
                profile: &new.profile,
                login: None,
                password_hash: None,
                department_id: new.department_id,
                status: UserStatus::Invited,
                validation: ValidationStatus::Accepted,
                user_key: Some(UserKey::generate()),
                home_account_id: None,
                main_contact: false,
            },
        )
        .await?;
        insert_link(&mut w, id, account_id, new.rights, new.tag.as_ref()).await?;
        let (invitation, token) = insert_token(
            &mut w,
            "invitation",
            id,
            Some(account_id),
            new.rights,
            INVITATION_TTL_MILLIS,
        )
        .await?;
        let user = user_after_insert(&mut w, id).await?;
        let mut after = snapshot(&user);
        after["rights"] = json!(new.rights);
        after["tag"] = json!(new.tag);
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(id)),
            NewAudit::new("user.create_advanced", Some(account_id), Some(id)).after(after),
        )
        .await?;
        Ok((user, invitation, token))
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
        if before.kind == UserKind::Standard && !before.main_contact {
            check_sub_accounts(&actor, &self.account(account_id).await?)?;
        }
        upd.profile.check_complete()?;
        if before.kind == UserKind::Standard && upd.tag.is_some() {
            return Err(FieldError::new("tag", "only advanced users carry a tag").into());
        }
        // Departments are per account: a shared user's department may be another account's, and
        // keeping it is no reason to refuse this account's edit. Only a new value is checked.
        if upd.department_id != before.department_id {
            self.check_department(account_id, upd.department_id).await?;
        }
        let old_link = self.link(user_id, account_id).await?;
        let old_rights = old_link.rights;
        if let Some(rights) = upd.rights {
            self.check_link_rights(&before, account_id, rights, rights == old_rights)
                .await?;
        }
        self.check_profile_edit(&actor, &before, &upd.profile, Some(account_id))
            .await?;
        let mut w = self.write(actor).await?;
        if before.kind == UserKind::Advanced && upd.profile.email != before.profile.email {
            check_email_free(&mut w, upd.profile.email.as_ref(), Some(user_id)).await?;
        }
        update_profile(&mut w, user_id, &upd.profile).await?;
        sqlx::query("UPDATE users SET department_id = $1 WHERE id = $2")
            .bind(upd.department_id)
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        let rights = upd.rights.unwrap_or(old_rights);
        if rights != old_rights {
            update_link_rights(&mut w, user_id, account_id, rights).await?;
            end_sessions_without_site_access(&mut w, &before, old_rights, rights).await?;
        }
        if upd.tag != old_link.tag {
            update_link_tag(&mut w, user_id, account_id, upd.tag.as_ref()).await?;
        }
        // The gateway caches the link (rights and tag): evict it.
        if rights != old_rights || upd.tag != old_link.tag {
            w.change(NewChange::new(
                ChangeKind::Link,
                Some(account_id),
                Some(user_id),
            ))
            .await?;
        }
        let after = user_after_insert(&mut w, user_id).await?;
        let mut b = snapshot(&before);
        b["rights"] = json!(old_rights);
        b["tag"] = json!(old_link.tag);
        let mut a = snapshot(&after);
        a["rights"] = json!(rights);
        a["tag"] = json!(upd.tag);
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(user_id)),
            NewAudit::new("user.update", Some(account_id), Some(user_id))
                .before(b)
                .after(a),
        )
        .await?;
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
            return Err(StoreError::Rule(RuleViolation::AdvancedUserDeletion));
        }
        if before.main_contact {
            return Err(StoreError::Rule(RuleViolation::MainContactDeletion));
        }
        check_sub_accounts(&actor, &self.account(account_id).await?)?;
        let mut w = self.write(actor).await?;
        revoke_user_sessions(&mut w, user_id).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        w.finish(
            NewChange::new(ChangeKind::User, Some(account_id), Some(user_id)),
            NewAudit::new("user.delete", Some(account_id), Some(user_id)).before(snapshot(&before)),
        )
        .await
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
        self.check_profile_edit(&actor, &before, &profile, account)
            .await?;
        let mut w = self.write(actor).await?;
        if before.kind == UserKind::Advanced && profile.email != before.profile.email {
            check_email_free(&mut w, profile.email.as_ref(), Some(user_id)).await?;
        }
        update_profile(&mut w, user_id, &profile).await?;
        let after = user_after_insert(&mut w, user_id).await?;
        w.finish(
            NewChange::new(ChangeKind::User, account, Some(user_id)),
            NewAudit::new("user.update_self", account, Some(user_id))
                .before(snapshot(&before))
                .after(snapshot(&after)),
        )
        .await?;
        Ok(after)
    }

    /// Enables or disables a user's access, with the comment the back office leaves (seed 004 §4).
    pub async fn set_user_status(
        &self,
        actor: Actor,
        account_id: Option<i64>,
        user_id: i64,
        enabled: bool,
        comment: Option<&str>,
    ) -> Result<User> {
        let before = self.user(user_id).await?;
        if before.status == UserStatus::Invited && enabled {
            return Err(StoreError::Rule(RuleViolation::InvitationPending));
        }
        let status = if enabled {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        };
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        if !enabled {
            // Every session speaking for the user (its own and impersonations) ends now.
            revoke_user_sessions(&mut w, user_id).await?;
        }
        let after = user_after_insert(&mut w, user_id).await?;
        w.finish(
            NewChange::new(ChangeKind::User, account_id, Some(user_id)),
            NewAudit::new("user.status", account_id, Some(user_id))
                .before(snapshot(&before))
                .after(snapshot(&after))
                .comment(comment),
        )
        .await?;
        Ok(after)
    }
}
