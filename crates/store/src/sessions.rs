//! Admin API bearer sessions: random tokens stored only as a keyed hash, expiring and revocable.
//!
//! Opening and revoking a session are writes like any other (change-log entry and audit entry in
//! the same transaction), so sign-ins and impersonations appear in the audit log.

use serde_json::json;
use sesame_domain::model::{now_millis, Actor, ChangeKind, Millis};
use sesame_domain::secrets::new_token;
use sesame_domain::FieldError;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::{corrupt, Result};
use crate::write::{NewAudit, NewChange};

/// Who a session speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// An account admin (signed in with the account number).
    Admin,
    /// A user managing its own profile (signed in with its login).
    User,
    /// An account admin acting as a user for a short while.
    Impersonation,
    /// The operator acting as a user for a short while (audited as the operator's).
    OperatorImpersonation,
    /// The operator in the web console: opened by proving the operator token once, so the
    /// token itself never sits in a browser cookie (and a sign-out ends it).
    Operator,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Admin => "admin",
            SessionKind::User => "user",
            SessionKind::Impersonation => "impersonation",
            SessionKind::OperatorImpersonation => "operator_impersonation",
            SessionKind::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "admin" => Ok(SessionKind::Admin),
            "user" => Ok(SessionKind::User),
            "impersonation" => Ok(SessionKind::Impersonation),
            "operator_impersonation" => Ok(SessionKind::OperatorImpersonation),
            "operator" => Ok(SessionKind::Operator),
            _ => Err(FieldError::new(
                "kind",
                format!("unknown session kind '{s}'"),
            )),
        }
    }
}

/// A live session, as loaded from its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub kind: SessionKind,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Impersonation only: the account the back-office admin acts from (the user's account).
    pub impersonator_account_id: Option<i64>,
    pub expires_at: Millis,
    pub created_at: Millis,
}

impl Session {
    /// The actor every write made with this session is recorded under.
    pub fn actor(&self) -> Actor {
        match (
            self.kind,
            self.account_id,
            self.user_id,
            self.impersonator_account_id,
        ) {
            (SessionKind::Admin, Some(account_id), ..) => Actor::AccountAdmin { account_id },
            (SessionKind::User, _, Some(user_id), _) => Actor::User { user_id },
            (SessionKind::Impersonation, _, Some(user_id), Some(account_id)) => {
                Actor::Impersonating {
                    account_id,
                    user_id,
                }
            }
            (SessionKind::OperatorImpersonation, _, Some(user_id), Some(account_id)) => {
                Actor::OperatorImpersonating {
                    account_id,
                    user_id,
                }
            }
            (SessionKind::Operator, None, None, None) => Actor::Operator,
            // Rows are written by `create_session` only; anything else acts as nobody in particular.
            _ => Actor::System,
        }
    }
}

/// What to open.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub kind: SessionKind,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    pub impersonator_account_id: Option<i64>,
    pub ttl_millis: Millis,
}

fn session_from_row(row: &AnyRow) -> Result<Session> {
    let kind: String = row.try_get("kind")?;
    Ok(Session {
        kind: SessionKind::parse(&kind).map_err(|e| corrupt("sessions", e))?,
        account_id: row.try_get("account_id")?,
        user_id: row.try_get("user_id")?,
        impersonator_account_id: row.try_get("impersonator_account_id")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Opens a session on behalf of `actor` (the one signing in, or the impersonator). Returns the
    /// clear token, for this one answer; only its keyed hash is stored.
    pub async fn create_session(
        &self,
        actor: Actor,
        new: NewSession,
        comment: Option<&str>,
    ) -> Result<(String, Session)> {
        if new.ttl_millis <= 0 {
            return Err(FieldError::new("ttl", "must be positive").into());
        }
        let token = new_token();
        let hash = self.hasher().hash_token(&token);
        let now = now_millis();
        let session = Session {
            kind: new.kind,
            account_id: new.account_id,
            user_id: new.user_id,
            impersonator_account_id: new.impersonator_account_id,
            expires_at: now + new.ttl_millis,
            created_at: now,
        };
        let mut w = self.write(actor).await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, kind, account_id, user_id, impersonator_account_id, expires_at, \
             revoked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(hash.0.to_vec())
        .bind(new.kind.as_str())
        .bind(new.account_id)
        .bind(new.user_id)
        .bind(new.impersonator_account_id)
        .bind(session.expires_at)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        let account = new.account_id.or(new.impersonator_account_id);
        // A session is no cached principal's business: versioned and audited, nothing evicted.
        let action = match new.kind {
            SessionKind::Impersonation | SessionKind::OperatorImpersonation => {
                "session.impersonate"
            }
            _ => "session.create",
        };
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, account, new.user_id),
            NewAudit::new(action, account, new.user_id)
                .after(json!({"kind": new.kind.as_str(), "expiresAt": session.expires_at}))
                .comment(comment),
        )
        .await?;
        Ok((token, session))
    }

    /// The live session a token designates: `None` if unknown, expired or revoked.
    pub async fn session_by_token(&self, token: &str) -> Result<Option<Session>> {
        let hash = self.hasher().hash_token(token);
        let row = sqlx::query(
            "SELECT kind, account_id, user_id, impersonator_account_id, expires_at, created_at FROM sessions \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(hash.0.to_vec())
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Revokes a session (sign-out). Revoking an unknown or already revoked token is a no-op
    /// that still leaves an audit line.
    pub async fn revoke_session(&self, actor: Actor, token: &str) -> Result<()> {
        let hash = self.hasher().hash_token(token);
        let existing = self.session_by_token(token).await?;
        let mut w = self.write(actor).await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now_millis())
        .bind(hash.0.to_vec())
        .execute(&mut *w.tx)
        .await?;
        let (account, user) = existing
            .as_ref()
            .map(|s| (s.account_id.or(s.impersonator_account_id), s.user_id))
            .unwrap_or((None, None));
        w.finish(
            NewChange::new(ChangeKind::ControlPlane, account, user),
            NewAudit::new("session.revoke", account, user),
        )
        .await
    }
}
