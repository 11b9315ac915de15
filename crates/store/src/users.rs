use serde::Deserialize;
use serde_json::json;
use sesame_domain::model::{
    now_millis, Actor, ChangeKind, Invitation, Link, Millis, User, UserKind, UserStatus,
    INVITATION_TTL_MILLIS,
};
use sesame_domain::secrets::{check_password_policy, new_token};
use sesame_domain::{
    Civility, ConnectionKey, Email, FieldError, KeyHash, Login, Profile, RightSet, Tag, UserKey,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::corrupt;
use crate::{Result, Store, StoreError, WriteTx};

/// A standard user as the admin creates it (seed 000 §4, seed 004 §3): login and password set
/// by the admin, rights from the standard catalogue.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewStandardUser {
    #[serde(flatten)]
    pub profile: Profile,
    pub login: Login,
    pub password: String,
    #[serde(default)]
    pub rights: RightSet,
    #[serde(default)]
    pub department_id: Option<i64>,
}

/// An advanced user as the admin creates it (seed 000 §5.1): identity, optional tag, rights on
/// the admin's account. Login and password come later, from the user, through the invitation.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAdvancedUser {
    #[serde(flatten)]
    pub profile: Profile,
    #[serde(default)]
    pub tag: Option<Tag>,
    #[serde(default)]
    pub rights: RightSet,
    #[serde(default)]
    pub department_id: Option<i64>,
}

/// The result of accepting an invitation: the active user and its connection key, in clear for
/// this one answer only.
#[derive(Debug)]
pub struct Activation {
    pub user: User,
    pub connection_key: ConnectionKey,
    pub account_id: i64,
    pub rights: RightSet,
}

/// A link as the API shows it. The main contact's link is stored with every right so that it
/// follows the account's entitlements; it is shown as those entitlements, never as the catalogue.
const LINK_COLS: &str = "l.user_id, l.account_id, \
     CASE WHEN u.main_contact <> 0 THEN a.entitlements ELSE l.rights END AS rights, l.created_at \
     FROM links l JOIN users u ON u.id = l.user_id JOIN accounts a ON a.id = l.account_id";

/// The profile fields (API names) whose stored values would differ, compared as they are stored
/// (trimmed, country defaulting to France), so resubmitting a form unchanged changes nothing.
pub(crate) fn changed_profile_fields(old: &Profile, new: &Profile) -> Vec<&'static str> {
    let country = |p: &Profile| {
        let c = p.country.trim();
        if c.is_empty() {
            "France".to_owned()
        } else {
            c.to_owned()
        }
    };
    let mut out = Vec::new();
    if old.civility.map(|c| c.as_str()) != new.civility.map(|c| c.as_str()) {
        out.push("civility");
    }
    for (field, a, b) in [
        ("lastName", &old.last_name, &new.last_name),
        ("firstName", &old.first_name, &new.first_name),
        ("function", &old.function, &new.function),
        ("phone", &old.phone, &new.phone),
        ("address", &old.address, &new.address),
        ("postalCode", &old.postal_code, &new.postal_code),
        ("city", &old.city, &new.city),
    ] {
        if a.trim() != b.trim() {
            out.push(field);
        }
    }
    if old.email != new.email {
        out.push("email");
    }
    if old.fax != new.fax {
        out.push("fax");
    }
    if country(old) != country(new) {
        out.push("country");
    }
    out
}

pub(crate) struct UserRow<'a> {
    pub kind: UserKind,
    pub profile: &'a Profile,
    pub login: Option<&'a Login>,
    pub password_hash: Option<String>,
    pub tag: Option<&'a Tag>,
    pub department_id: Option<i64>,
    pub status: UserStatus,
    pub user_key: Option<UserKey>,
    pub home_account_id: Option<i64>,
    pub main_contact: bool,
}

pub(crate) const USER_COLS: &str = "u.id, u.kind, u.civility, u.last_name, u.first_name, u.function, u.phone, \
     u.email, u.fax, u.address, u.postal_code, u.city, u.country, u.login, u.tag, u.department_id, u.status, \
     u.user_key, u.home_account_id, u.main_contact, u.created_at, u.updated_at";

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User> {
    let c = |e: FieldError| corrupt("users", e);
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let civility: Option<String> = row.try_get("civility")?;
    let email: Option<String> = row.try_get("email")?;
    let login: Option<String> = row.try_get("login")?;
    let tag: Option<String> = row.try_get("tag")?;
    let user_key: Option<String> = row.try_get("user_key")?;
    Ok(User {
        id: row.try_get("id")?,
        kind: UserKind::parse(&kind).map_err(c)?,
        profile: Profile {
            civility: civility
                .as_deref()
                .map(Civility::parse)
                .transpose()
                .map_err(c)?,
            last_name: row.try_get("last_name")?,
            first_name: row.try_get("first_name")?,
            function: row.try_get("function")?,
            phone: row.try_get("phone")?,
            email: email.as_deref().map(Email::parse).transpose().map_err(c)?,
            fax: row.try_get("fax")?,
            address: row.try_get("address")?,
            postal_code: row.try_get("postal_code")?,
            city: row.try_get("city")?,
            country: row.try_get("country")?,
        },
        login: login.as_deref().map(Login::parse).transpose().map_err(c)?,
        tag: tag.as_deref().map(Tag::parse).transpose().map_err(c)?,
        department_id: row.try_get("department_id")?,
        status: UserStatus::parse(&status).map_err(c)?,
        user_key: user_key
            .as_deref()
            .map(UserKey::parse)
            .transpose()
            .map_err(c)?,
        home_account_id: row.try_get("home_account_id")?,
        main_contact: row.try_get::<i64, _>("main_contact")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// What the audit log records of a user: identity and status, never a secret.
pub(crate) fn snapshot(u: &User) -> serde_json::Value {
    json!({
        "kind": u.kind.as_str(), "profile": u.profile, "login": u.login, "tag": u.tag,
        "departmentId": u.department_id, "status": u.status.as_str(), "userKey": u.user_key,
    })
}

pub(crate) async fn insert_user_row(w: &mut WriteTx<'_>, r: UserRow<'_>) -> Result<i64> {
    let now = now_millis();
    let p = r.profile;
    let row = sqlx::query(
        "INSERT INTO users (kind, civility, last_name, first_name, function, phone, email, fax, address, \
         postal_code, city, country, login, password_hash, tag, department_id, status, user_key, \
         home_account_id, main_contact, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21) \
         RETURNING id",
    )
    .bind(r.kind.as_str())
    .bind(p.civility.map(|c| c.as_str()))
    .bind(p.last_name.trim())
    .bind(p.first_name.trim())
    .bind(p.function.trim())
    .bind(p.phone.trim())
    .bind(p.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(p.fax.clone())
    .bind(p.address.trim())
    .bind(p.postal_code.trim())
    .bind(p.city.trim())
    .bind(if p.country.trim().is_empty() { "France" } else { p.country.trim() })
    .bind(r.login.map(|l| l.as_str().to_owned()))
    .bind(r.password_hash)
    .bind(r.tag.map(|t| t.as_str().to_owned()))
    .bind(r.department_id)
    .bind(r.status.as_str())
    .bind(r.user_key.map(|k| k.as_str().to_owned()))
    .bind(r.home_account_id)
    .bind(i64::from(r.main_contact))
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    Ok(row.try_get("id")?)
}

pub(crate) async fn insert_link(
    w: &mut WriteTx<'_>,
    user_id: i64,
    account_id: i64,
    rights: RightSet,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO links (user_id, account_id, rights, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(account_id)
    .bind(rights.to_db())
    .bind(now_millis())
    .execute(&mut *w.tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            StoreError::Rule("the user is already linked to this account".into())
        }
        other => other,
    })?;
    Ok(())
}

async fn hash_new_password(
    gate: &crate::passwords::PasswordGate,
    password: &str,
) -> Result<String> {
    check_password_policy(password)?;
    gate.hash(password).await
}

impl Store {
    pub async fn user(&self, id: i64) -> Result<User> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    /// A user as seen from an account: its own standard users and the advanced users linked to
    /// it. Anything else is "not found", so an admin cannot probe other accounts' users.
    pub async fn user_in_account(&self, account_id: i64, user_id: i64) -> Result<User> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u WHERE u.id = $1 AND (u.home_account_id = $2 OR EXISTS \
             (SELECT 1 FROM links l WHERE l.user_id = u.id AND l.account_id = $2))"
        ))
        .bind(user_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    /// Finds an advanced user by its public user key (seed 000 §6). Standard users are never
    /// found this way.
    pub async fn find_advanced_by_user_key(&self, key: &UserKey) -> Result<User> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users u WHERE u.user_key = $1 AND u.kind = 'advanced'"
        ))
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    pub async fn links_of_user(&self, user_id: i64) -> Result<Vec<Link>> {
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLS} WHERE l.user_id = $1 ORDER BY l.account_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(link_from_row).collect()
    }

    pub async fn link(&self, user_id: i64, account_id: i64) -> Result<Link> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLS} WHERE l.user_id = $1 AND l.account_id = $2"
        ))
        .bind(user_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("link"))?;
        link_from_row(&row)
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
        RightSet::check_delegation(new.rights, account.entitlements)?;
        self.check_department(account_id, new.department_id).await?;
        let password_hash = hash_new_password(&self.passwords, &new.password).await?;
        let mut w = self.write(actor).await?;
        let id = insert_user_row(
            &mut w,
            UserRow {
                kind: UserKind::Standard,
                profile: &new.profile,
                login: Some(&new.login),
                password_hash: Some(password_hash),
                tag: None,
                department_id: new.department_id,
                status: UserStatus::Active,
                user_key: None,
                home_account_id: Some(account_id),
                main_contact: false,
            },
        )
        .await?;
        insert_link(&mut w, id, account_id, new.rights).await?;
        let user = user_after_insert(&mut w, id).await?;
        w.change(ChangeKind::User, Some(account_id), Some(id), None)
            .await?;
        let mut after = snapshot(&user);
        after["rights"] = json!(new.rights);
        w.audit(
            "user.create_standard",
            Some(account_id),
            Some(id),
            None,
            Some(after),
            None,
        )
        .await?;
        w.commit().await?;
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
        let id = insert_user_row(
            &mut w,
            UserRow {
                kind: UserKind::Advanced,
                profile: &new.profile,
                login: None,
                password_hash: None,
                tag: new.tag.as_ref(),
                department_id: new.department_id,
                status: UserStatus::Invited,
                user_key: Some(UserKey::generate()),
                home_account_id: None,
                main_contact: false,
            },
        )
        .await?;
        insert_link(&mut w, id, account_id, new.rights).await?;
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
        w.change(ChangeKind::User, Some(account_id), Some(id), None)
            .await?;
        let mut after = snapshot(&user);
        after["rights"] = json!(new.rights);
        w.audit(
            "user.create_advanced",
            Some(account_id),
            Some(id),
            None,
            Some(after),
            None,
        )
        .await?;
        w.commit().await?;
        Ok((user, invitation, token))
    }

    /// Issues a fresh invitation for an invited user (the previous ones stop working).
    pub async fn resend_invitation(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
    ) -> Result<(User, Invitation, String)> {
        let user = self.user_in_account(account_id, user_id).await?;
        if user.status != UserStatus::Invited {
            return Err(StoreError::Rule(
                "the user has already completed the invitation".into(),
            ));
        }
        let link = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND purpose = 'invitation' AND used_at IS NULL")
            .bind(now_millis())
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?;
        let (inv, token) = insert_token(
            &mut w,
            "invitation",
            user_id,
            Some(account_id),
            link.rights,
            INVITATION_TTL_MILLIS,
        )
        .await?;
        w.change(ChangeKind::User, Some(account_id), Some(user_id), None)
            .await?;
        w.audit(
            "user.invitation_resend",
            Some(account_id),
            Some(user_id),
            None,
            None,
            None,
        )
        .await?;
        w.commit().await?;
        Ok((user, inv, token))
    }

    /// The invitation a token designates, if it is still usable. The error says why not.
    pub async fn invitation_by_token(&self, token: &str) -> Result<(Invitation, User)> {
        let hash = self.hasher().hash_token(token);
        let row = sqlx::query(
            "SELECT id, user_id, account_id, rights, expires_at, used_at, created_at FROM invitations \
             WHERE token_hash = $1 AND purpose = 'invitation'",
        )
        .bind(hash.0.to_vec())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("invitation"))?;
        let mut inv = invitation_from_row(&row)?;
        if inv.used_at.is_some() {
            return Err(StoreError::Rule(
                "this invitation link has already been used".into(),
            ));
        }
        if inv.expires_at <= now_millis() {
            return Err(StoreError::Rule(
                "this invitation link has expired (valid 48 hours); ask for a new one".into(),
            ));
        }
        let user = self.user(inv.user_id).await?;
        // The invitation shows and grants the link as it is now: rights edited since it was sent
        // show as edited, and a removed link voids it (for rows voided before unlink did so).
        let link = match self.link(inv.user_id, inv.account_id).await {
            Ok(l) => l,
            Err(StoreError::NotFound(_)) => {
                return Err(StoreError::Rule(
                    "this invitation link has already been used or was withdrawn".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        inv.rights = link.rights;
        Ok((inv, user))
    }

    /// The confirmation form (seed 000 §5.1): the invited user sets login and password (and may
    /// correct its details); the user becomes active and gets its connection key.
    pub async fn accept_invitation(
        &self,
        token: &str,
        login: &Login,
        password: &str,
        profile: Option<Profile>,
    ) -> Result<Activation> {
        let (inv, user) = self.invitation_by_token(token).await?;
        if login.looks_like_account() {
            return Err(FieldError::new("login", "must not be a 6-digit account number").into());
        }
        let profile = profile.unwrap_or_else(|| user.profile.clone());
        profile.check_complete()?;
        let password_hash = hash_new_password(&self.passwords, password).await?;
        let key = ConnectionKey::generate();
        let key_hash = self.hasher().hash_key(&key);
        let mut w = self.write(Actor::User { user_id: user.id }).await?;
        // Single use even under concurrent submissions: only the first UPDATE matches.
        let used =
            sqlx::query("UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now_millis())
                .bind(inv.id)
                .execute(&mut *w.tx)
                .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Rule(
                "this invitation link has already been used".into(),
            ));
        }
        update_profile(&mut w, user.id, &profile).await?;
        sqlx::query(
            "UPDATE users SET login = $1, password_hash = $2, status = 'active', conn_key_hash = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(login.as_str())
        .bind(password_hash)
        .bind(key_hash.0.to_vec())
        .bind(now_millis())
        .bind(user.id)
        .execute(&mut *w.tx)
        .await?;
        let after = user_after_insert(&mut w, user.id).await?;
        w.change(ChangeKind::User, Some(inv.account_id), Some(user.id), None)
            .await?;
        w.audit(
            "user.activate",
            Some(inv.account_id),
            Some(user.id),
            Some(snapshot(&user)),
            Some(snapshot(&after)),
            None,
        )
        .await?;
        w.commit().await?;
        Ok(Activation {
            user: after,
            connection_key: key,
            account_id: inv.account_id,
            rights: inv.rights,
        })
    }

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
        let row = sqlx::query("SELECT kind, status, conn_key_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        let kind: String = row.try_get("kind")?;
        if kind != UserKind::Advanced.as_str() {
            return Err(StoreError::Rule(
                "only advanced users hold a connection key".into(),
            ));
        }
        let status: String = row.try_get("status")?;
        if status == UserStatus::Invited.as_str() {
            return Err(StoreError::Rule(
                "the user has not completed the invitation yet".into(),
            ));
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
        w.change(ChangeKind::Key, None, Some(user_id), old).await?;
        w.audit(
            "user.key_regenerate",
            None,
            Some(user_id),
            None,
            Some(json!({"graceMillis": grace})),
            None,
        )
        .await?;
        w.commit().await?;
        Ok(key)
    }

    /// Links an existing advanced user to an account with rights (seed 000 §6).
    pub async fn associate(
        &self,
        actor: Actor,
        account_id: i64,
        user_key: &UserKey,
        rights: RightSet,
    ) -> Result<User> {
        rights.check_advanced()?;
        let account = self.account(account_id).await?;
        RightSet::check_delegation(rights, account.entitlements)?;
        let user = self.find_advanced_by_user_key(user_key).await?;
        // Before confirmation the invited profile is the inviting account's business alone.
        if user.status == UserStatus::Invited {
            return Err(StoreError::Rule(
                "the user has not completed the invitation yet".into(),
            ));
        }
        let mut w = self.write(actor).await?;
        insert_link(&mut w, user.id, account_id, rights).await?;
        w.change(ChangeKind::Link, Some(account_id), Some(user.id), None)
            .await?;
        w.audit(
            "link.create",
            Some(account_id),
            Some(user.id),
            None,
            Some(json!({"rights": rights})),
            None,
        )
        .await?;
        w.commit().await?;
        Ok(user)
    }

    /// Replaces the rights of a link (delegation rule applies).
    pub async fn set_link_rights(
        &self,
        actor: Actor,
        account_id: i64,
        user_id: i64,
        rights: RightSet,
    ) -> Result<Link> {
        let user = self.user_in_account(account_id, user_id).await?;
        match user.kind {
            UserKind::Advanced => rights.check_advanced()?,
            UserKind::Standard => rights.check_standard()?,
        }
        if user.main_contact {
            return Err(StoreError::Rule(
                "the main contact always has the account's rights".into(),
            ));
        }
        let account = self.account(account_id).await?;
        RightSet::check_delegation(rights, account.entitlements)?;
        let before = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("UPDATE links SET rights = $1 WHERE user_id = $2 AND account_id = $3")
            .bind(rights.to_db())
            .bind(user_id)
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        w.change(ChangeKind::Link, Some(account_id), Some(user_id), None)
            .await?;
        w.audit(
            "link.rights",
            Some(account_id),
            Some(user_id),
            Some(json!({"rights": before.rights})),
            Some(json!({"rights": rights})),
            None,
        )
        .await?;
        w.commit().await?;
        self.link(user_id, account_id).await
    }

    /// Removes the link between an advanced user and an account, keeping the user (seed 000 §7).
    pub async fn unlink(&self, actor: Actor, account_id: i64, user_id: i64) -> Result<()> {
        let user = self.user_in_account(account_id, user_id).await?;
        if user.kind != UserKind::Advanced {
            return Err(StoreError::Rule(
                "a standard user belongs to its account; delete it instead".into(),
            ));
        }
        let before = self.link(user_id, account_id).await?;
        let mut w = self.write(actor).await?;
        sqlx::query("DELETE FROM links WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut *w.tx)
            .await?;
        // A removed user's pending invitation from this account dies with the link; with no link
        // left, every pending link (invitation or password reset) of the user does.
        sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL AND \
             (account_id = $3 OR NOT EXISTS (SELECT 1 FROM links l WHERE l.user_id = $2))",
        )
        .bind(now_millis())
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
        w.change(ChangeKind::Link, Some(account_id), Some(user_id), None)
            .await?;
        w.audit(
            "link.delete",
            Some(account_id),
            Some(user_id),
            Some(json!({"rights": before.rights})),
            None,
            None,
        )
        .await?;
        w.commit().await
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
            return Err(StoreError::Rule(
                "the user has not completed the invitation yet".into(),
            ));
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
            crate::sessions::revoke_user_sessions(&mut w, user_id).await?;
        }
        let after = user_after_insert(&mut w, user_id).await?;
        w.change(ChangeKind::User, account_id, Some(user_id), None)
            .await?;
        w.audit(
            "user.status",
            account_id,
            Some(user_id),
            Some(snapshot(&before)),
            Some(snapshot(&after)),
            comment,
        )
        .await?;
        w.commit().await?;
        Ok(after)
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

    /// SPEC §2 "Identity ownership", the one implementation of the rule: who may change a user's
    /// identity (profile, e-mail, login, password, keys). A confirmed advanced user's identity is
    /// its own: no account that links it (nor an account admin impersonating it) changes it,
    /// since any of them could otherwise redirect the e-mail and take the password reset. Before
    /// confirmation only the inviting account edits the invited profile. A standard user's
    /// identity is its home account's. The operator (and Sesame itself) may always.
    /// `field` names the first field the refused change touches.
    pub(crate) async fn check_identity_editor(
        &self,
        actor: &Actor,
        user: &User,
        field: &'static str,
    ) -> Result<()> {
        let refuse = |message: &str| {
            Err(StoreError::Forbidden {
                code: "identity_owned",
                field,
                message: format!("{field}: {message}"),
            })
        };
        match *actor {
            Actor::Operator | Actor::OperatorImpersonating { .. } | Actor::System => Ok(()),
            Actor::User { user_id } if user_id == user.id => Ok(()),
            Actor::User { .. } => refuse("a user changes only its own identity"),
            Actor::AccountAdmin { account_id } | Actor::Impersonating { account_id, .. } => {
                match user.kind {
                    UserKind::Standard if user.home_account_id == Some(account_id) => Ok(()),
                    UserKind::Standard => refuse("the user belongs to another account"),
                    UserKind::Advanced
                        if user.status == UserStatus::Invited
                            && matches!(actor, Actor::AccountAdmin { .. }) =>
                    {
                        if self.inviting_account(user.id).await? == Some(account_id) {
                            Ok(())
                        } else {
                            refuse("before confirmation, only the account that invited the user edits its profile")
                        }
                    }
                    UserKind::Advanced => refuse(
                        "a confirmed advanced user's identity belongs to the user: an account edits only its link (rights, tag)",
                    ),
                }
            }
        }
    }

    /// The account whose invitation created an advanced user: its first invitation's.
    async fn inviting_account(&self, user_id: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT account_id FROM invitations WHERE user_id = $1 AND purpose = 'invitation' \
             ORDER BY id LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("account_id")?,
            None => None,
        })
    }

    /// Records a refused identity change, so every account linked to the user sees the attempt
    /// in its audit log (the refusal itself writes nothing else).
    pub(crate) async fn record_identity_refusal(
        &self,
        actor: Actor,
        account_id: Option<i64>,
        user_id: i64,
        fields: &[&'static str],
    ) -> Result<()> {
        self.record_note(
            actor,
            "user.identity_change_refused",
            account_id,
            user_id,
            json!({ "fields": fields }),
        )
        .await
    }

    async fn check_department(&self, account_id: i64, department_id: Option<i64>) -> Result<()> {
        if let Some(d) = department_id {
            if !self
                .departments(account_id)
                .await?
                .iter()
                .any(|x| x.id == d)
            {
                return Err(
                    FieldError::new("departmentId", "is not a department of this account").into(),
                );
            }
        }
        Ok(())
    }
}

pub(crate) async fn user_after_insert(w: &mut WriteTx<'_>, id: i64) -> Result<User> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
        .bind(id)
        .fetch_one(&mut *w.tx)
        .await?;
    user_from_row(&row)
}

pub(crate) async fn update_profile(w: &mut WriteTx<'_>, id: i64, p: &Profile) -> Result<()> {
    sqlx::query(
        "UPDATE users SET civility = $1, last_name = $2, first_name = $3, function = $4, phone = $5, email = $6, \
         fax = $7, address = $8, postal_code = $9, city = $10, country = $11, updated_at = $12 WHERE id = $13",
    )
    .bind(p.civility.map(|c| c.as_str()))
    .bind(p.last_name.trim())
    .bind(p.first_name.trim())
    .bind(p.function.trim())
    .bind(p.phone.trim())
    .bind(p.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(p.fax.clone())
    .bind(p.address.trim())
    .bind(p.postal_code.trim())
    .bind(p.city.trim())
    .bind(if p.country.trim().is_empty() { "France" } else { p.country.trim() })
    .bind(now_millis())
    .bind(id)
    .execute(&mut *w.tx)
    .await?;
    Ok(())
}

async fn insert_token(
    w: &mut WriteTx<'_>,
    purpose: &str,
    user_id: i64,
    account_id: Option<i64>,
    rights: RightSet,
    ttl: Millis,
) -> Result<(Invitation, String)> {
    let token = new_token();
    let hash = w.store.hasher().hash_token(&token);
    let now = now_millis();
    let row = sqlx::query(
        "INSERT INTO invitations (purpose, token_hash, user_id, account_id, rights, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(purpose)
    .bind(hash.0.to_vec())
    .bind(user_id)
    .bind(account_id)
    .bind(rights.to_db())
    .bind(now + ttl)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    let inv = Invitation {
        id: row.try_get("id")?,
        user_id,
        account_id: account_id.unwrap_or_default(),
        rights,
        expires_at: now + ttl,
        used_at: None,
        created_at: now,
    };
    Ok((inv, token))
}

fn invitation_from_row(row: &AnyRow) -> Result<Invitation> {
    let rights: String = row.try_get("rights")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        account_id: row
            .try_get::<Option<i64>, _>("account_id")?
            .unwrap_or_default(),
        rights: RightSet::from_db(&rights).map_err(|e| corrupt("invitations", e))?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        created_at: row.try_get("created_at")?,
    })
}

fn link_from_row(row: &AnyRow) -> Result<Link> {
    let rights: String = row.try_get("rights")?;
    Ok(Link {
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        rights: RightSet::from_db(&rights).map_err(|e| corrupt("links", e))?,
        created_at: row.try_get("created_at")?,
    })
}
