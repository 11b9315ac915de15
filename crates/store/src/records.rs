//! Writes several resources share, inside one [`WriteTx`]: a user row, a link, a single-use token,
//! a profile update, re-reading a user, ending a user's sessions. The resource modules compose
//! them; these know nothing of rules (the callers check those first).

use sesame_domain::model::{
    now_millis, Invitation, Millis, User, UserKind, UserStatus, ValidationStatus,
};
use sesame_domain::secrets::new_token;
use sesame_domain::{Email, Login, Profile, Right, RightSet, Tag, UserKey};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::error::{Result, RuleViolation, StoreError};
use crate::rows::{user_from_row, USER_COLS};
use crate::write::WriteTx;

/// Binds the eleven stored profile fields in column order (civility to country), as they are
/// stored: trimmed, the country defaulting to France.
fn bind_profile<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    p: &'q Profile,
) -> Query<'q, Any, AnyArguments<'q>> {
    let country = match p.country.trim() {
        "" => "France",
        c => c,
    };
    query
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
        .bind(country)
}

/// One e-mail, one advanced identity (SPEC §2, issue 15): refuses `email` when an advanced user
/// other than `except` holds it (compared case-insensitively). Checked inside the write, where
/// writers are serialised, so two concurrent creations cannot both pass.
pub(crate) async fn check_email_free(
    w: &mut WriteTx<'_>,
    email: Option<&Email>,
    except: Option<i64>,
) -> Result<()> {
    let Some(email) = email else { return Ok(()) };
    let taken = sqlx::query(
        "SELECT 1 AS x FROM users WHERE kind = 'advanced' AND LOWER(email) = LOWER($1) \
         AND ($2 IS NULL OR id <> $2) LIMIT 1",
    )
    .bind(email.as_str().to_owned())
    .bind(except)
    .fetch_optional(&mut *w.tx)
    .await?;
    match taken {
        Some(_) => Err(StoreError::Rule(RuleViolation::EmailTaken)),
        None => Ok(()),
    }
}

/// Sets the tag this account gives the user (per link).
pub(crate) async fn update_link_tag(
    w: &mut WriteTx<'_>,
    user_id: i64,
    account_id: i64,
    tag: Option<&Tag>,
) -> Result<()> {
    sqlx::query("UPDATE links SET tag = $1 WHERE user_id = $2 AND account_id = $3")
        .bind(tag.map(|t| t.as_str().to_owned()))
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

/// Replaces the rights of a link.
pub(crate) async fn update_link_rights(
    w: &mut WriteTx<'_>,
    user_id: i64,
    account_id: i64,
    rights: RightSet,
) -> Result<()> {
    sqlx::query("UPDATE links SET rights = $1 WHERE user_id = $2 AND account_id = $3")
        .bind(rights.to_db())
        .bind(user_id)
        .bind(account_id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

pub(crate) struct UserRow<'a> {
    pub kind: UserKind,
    pub profile: &'a Profile,
    pub login: Option<&'a Login>,
    pub password_hash: Option<String>,
    pub department_id: Option<i64>,
    pub status: UserStatus,
    pub validation: ValidationStatus,
    pub user_key: Option<UserKey>,
    pub home_account_id: Option<i64>,
    pub main_contact: bool,
}

pub(crate) async fn insert_user_row(w: &mut WriteTx<'_>, r: UserRow<'_>) -> Result<i64> {
    let now = now_millis();
    let p = r.profile;
    let query = sqlx::query(
        "INSERT INTO users (kind, civility, last_name, first_name, function, phone, email, fax, address, \
         postal_code, city, country, login, password_hash, department_id, status, validation, user_key, \
         home_account_id, main_contact, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21) \
         RETURNING id",
    )
    .bind(r.kind.as_str());
    let row = bind_profile(query, p)
        .bind(r.login.map(|l| l.as_str().to_owned()))
        .bind(r.password_hash)
        .bind(r.department_id)
        .bind(r.status.as_str())
        .bind(r.validation.as_str())
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
    tag: Option<&Tag>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO links (user_id, account_id, rights, tag, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(account_id)
    .bind(rights.to_db())
    .bind(tag.map(|t| t.as_str().to_owned()))
    .bind(now_millis())
    .execute(&mut *w.tx)
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::Rule(RuleViolation::AlreadyLinked),
        other => other,
    })?;
    Ok(())
}

pub(crate) async fn user_after_insert(w: &mut WriteTx<'_>, id: i64) -> Result<User> {
    let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1"))
        .bind(id)
        .fetch_one(&mut *w.tx)
        .await?;
    user_from_row(&row)
}

pub(crate) async fn update_profile(w: &mut WriteTx<'_>, id: i64, p: &Profile) -> Result<()> {
    let query = sqlx::query(
        "UPDATE users SET civility = $1, last_name = $2, first_name = $3, function = $4, phone = $5, email = $6, \
         fax = $7, address = $8, postal_code = $9, city = $10, country = $11, updated_at = $12 WHERE id = $13",
    );
    bind_profile(query, p)
        .bind(now_millis())
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_token(
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

/// Spends a single-use link (invitation, password reset) inside a write: only the first of
/// concurrent submissions matches the `UPDATE`; the others get `LinkUsed`.
pub(crate) async fn spend_link(
    w: &mut WriteTx<'_>,
    link_id: i64,
    kind: crate::error::LinkKind,
) -> Result<()> {
    let used = sqlx::query("UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(now_millis())
        .bind(link_id)
        .execute(&mut *w.tx)
        .await?;
    if used.rows_affected() != 1 {
        return Err(StoreError::Rule(RuleViolation::LinkUsed(kind)));
    }
    Ok(())
}

/// Revokes every live session of a user (password change, reset, deletion), inside a write.
pub(crate) async fn revoke_user_sessions(w: &mut WriteTx<'_>, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now_millis())
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

/// A collaborator whose new rights withdraw "Accès au site" is signed out at once (seed 004 §3:
/// without it, it cannot be signed in), inside the write that withdraws it.
pub(crate) async fn end_sessions_without_site_access(
    w: &mut WriteTx<'_>,
    user: &User,
    old: RightSet,
    new: RightSet,
) -> Result<()> {
    if user.kind == UserKind::Standard && old.has(Right::SiteAccess) && !new.has(Right::SiteAccess)
    {
        revoke_user_sessions(w, user.id).await?;
    }
    Ok(())
}
