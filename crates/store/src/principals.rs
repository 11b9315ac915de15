//! What the gateway loads on a cache miss: a caller and its links with effective rights.

use sesame_domain::model::{
    now_millis, AccountStatus, Millis, UpstreamCredentials, UserKind, UserStatus,
};
use sesame_domain::{AccountNumber, KeyHash, RightSet, Tag, UserKey};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::{corrupt, Result};
use crate::rows::parse_opt;

/// A caller as the gateway caches it.
#[derive(Clone, Debug)]
pub struct PrincipalRecord {
    pub user_id: i64,
    pub kind: UserKind,
    pub status: UserStatus,
    pub user_key: Option<UserKey>,
    /// The user's department name: the `group` of document scopes.
    pub department: Option<String>,
    /// Set when the key matched is a regenerated key still in its grace period.
    pub key_expires_at: Option<Millis>,
    /// Links to active accounts only, with **effective** rights (link ∩ entitlements).
    pub links: Vec<PrincipalLink>,
}

impl PrincipalRecord {
    /// Whether this principal may authenticate at all (SPEC §3: a disabled user, a disabled
    /// account or a revoked key authenticates nothing).
    pub fn is_usable(&self, now: Millis) -> bool {
        self.status == UserStatus::Active && self.key_expires_at.is_none_or(|t| t > now)
    }
}

#[derive(Clone, Debug)]
pub struct PrincipalLink {
    pub account_id: i64,
    pub number: AccountNumber,
    pub company: String,
    pub rights: RightSet,
    /// The tag this account gives the user: the `group` of parcel scopes on this link, and what
    /// labels posted for this account are stamped with.
    pub tag: Option<Tag>,
    pub upstream: UpstreamCredentials,
}

const PRINCIPAL_COLS: &str = "u.id, u.kind, u.status, u.user_key, u.conn_key_hash, \
     u.prev_key_expires_at, d.name AS department";

impl Store {
    /// The principal holding this connection key (current key, or the previous one during its
    /// grace period). `None` if no such key exists.
    pub async fn principal_by_key_hash(&self, hash: &KeyHash) -> Result<Option<PrincipalRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLS} FROM users u LEFT JOIN departments d ON d.id = u.department_id \
             WHERE u.conn_key_hash = $1 OR (u.prev_key_hash = $1 AND u.prev_key_expires_at > $2)"
        ))
        .bind(hash.0.to_vec())
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let current: Option<Vec<u8>> = row.try_get("conn_key_hash")?;
        let is_current = current.as_deref() == Some(&hash.0[..]);
        let mut p = self.principal_from_row(&row).await?;
        if is_current {
            p.key_expires_at = None;
        }
        Ok(Some(p))
    }

    /// Legacy login/password on the web services (SPEC §4): an account admin (6-digit account
    /// number) acts as the account's main contact; a standard user as itself. Advanced users use
    /// their connection key.
    pub async fn principal_by_password(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<PrincipalRecord>> {
        let user_id = if let Ok(number) = AccountNumber::parse(login) {
            let Some(account) = self.verify_account_admin(&number, password).await? else {
                return Ok(None);
            };
            let row =
                sqlx::query("SELECT id FROM users WHERE home_account_id = $1 AND main_contact = 1")
                    .bind(account.id)
                    .fetch_optional(&self.pool)
                    .await?;
            match row {
                Some(r) => r.try_get::<i64, _>("id")?,
                None => return Ok(None),
            }
        } else {
            match self.verify_user_login(login, password).await? {
                Some(u) if u.kind == UserKind::Standard => u.id,
                _ => return Ok(None),
            }
        };
        self.principal_by_user(user_id).await
    }

    pub async fn principal_by_user(&self, user_id: i64) -> Result<Option<PrincipalRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLS} FROM users u LEFT JOIN departments d ON d.id = u.department_id WHERE u.id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.principal_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn principal_from_row(&self, row: &AnyRow) -> Result<PrincipalRecord> {
        let c = |e| corrupt("users", e);
        let user_id: i64 = row.try_get("id")?;
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        let links = sqlx::query(
            "SELECT l.account_id, l.rights, l.tag, a.number, a.company, a.entitlements, a.status, a.upstream_login, \
             a.upstream_secret FROM links l JOIN accounts a ON a.id = l.account_id WHERE l.user_id = $1 ORDER BY a.number",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(links.len());
        for l in &links {
            let status: String = l.try_get("status")?;
            if AccountStatus::parse(&status).map_err(|e| corrupt("accounts", e))?
                != AccountStatus::Active
            {
                continue;
            }
            let rights: String = l.try_get("rights")?;
            let ent: String = l.try_get("entitlements")?;
            let number: String = l.try_get("number")?;
            out.push(PrincipalLink {
                account_id: l.try_get("account_id")?,
                number: AccountNumber::parse(&number).map_err(|e| corrupt("accounts", e))?,
                company: l.try_get("company")?,
                rights: RightSet::effective(
                    RightSet::from_db(&rights).map_err(|e| corrupt("links", e))?,
                    RightSet::from_db(&ent).map_err(|e| corrupt("accounts", e))?,
                ),
                tag: parse_opt(l, "tag", "links", Tag::parse)?,
                upstream: self.decrypt_upstream(l)?,
            });
        }
        Ok(PrincipalRecord {
            user_id,
            kind: UserKind::parse(&kind).map_err(c)?,
            status: UserStatus::parse(&status).map_err(c)?,
            user_key: parse_opt(row, "user_key", "users", UserKey::parse)?,
            department: row.try_get("department")?,
            key_expires_at: row.try_get("prev_key_expires_at")?,
            links: out,
        })
    }
}
