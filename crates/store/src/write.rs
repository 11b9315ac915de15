//! Every write: a transaction that commits only with its change-log and audit entries.

use sesame_domain::model::{now_millis, Actor, ChangeKind};
use sesame_domain::KeyHash;
use sqlx::{Any, Row};

use crate::changes::NOTIFY_CHANNEL;
use crate::db::{Backend, Store};
use crate::error::{Result, StoreError};

/// Arbitrary constant for the advisory lock that serialises writers on PostgreSQL.
const WRITE_LOCK_KEY: i64 = 0x5e5a_3e00;

/// A change-log entry to append: gateways evict what it names.
#[derive(Clone, Copy, Debug)]
pub struct NewChange {
    pub kind: ChangeKind,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    /// A connection key that stopped working (its cached principal is evicted by key).
    pub key_hash: Option<KeyHash>,
}

impl NewChange {
    pub fn new(kind: ChangeKind, account_id: Option<i64>, user_id: Option<i64>) -> NewChange {
        NewChange {
            kind,
            account_id,
            user_id,
            key_hash: None,
        }
    }

    pub fn with_key(self, key_hash: Option<KeyHash>) -> NewChange {
        NewChange { key_hash, ..self }
    }
}

/// An audit entry to append. `before`/`after` are JSON snapshots that never hold a secret.
#[derive(Clone, Debug)]
pub struct NewAudit<'a> {
    pub action: &'a str,
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub comment: Option<&'a str>,
}

impl<'a> NewAudit<'a> {
    pub fn new(action: &'a str, account_id: Option<i64>, user_id: Option<i64>) -> NewAudit<'a> {
        NewAudit {
            action,
            account_id,
            user_id,
            before: None,
            after: None,
            comment: None,
        }
    }

    pub fn before(self, before: serde_json::Value) -> NewAudit<'a> {
        NewAudit {
            before: Some(before),
            ..self
        }
    }

    pub fn after(self, after: serde_json::Value) -> NewAudit<'a> {
        NewAudit {
            after: Some(after),
            ..self
        }
    }

    pub fn comment(self, comment: Option<&'a str>) -> NewAudit<'a> {
        NewAudit { comment, ..self }
    }
}

impl Store {
    /// Opens a write transaction on behalf of `actor`.
    pub async fn write(&self, actor: Actor) -> Result<WriteTx<'_>> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
        }
        Ok(WriteTx {
            tx,
            store: self,
            actor,
            last_version: None,
            audited: false,
        })
    }
}

/// One write: the change, its change-log entries and its audit entries, committed together or
/// not at all.
pub struct WriteTx<'s> {
    pub(crate) tx: sqlx::Transaction<'static, Any>,
    pub(crate) store: &'s Store,
    actor: Actor,
    last_version: Option<i64>,
    audited: bool,
}

impl WriteTx<'_> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Appends a change-log entry; gateways evict what it names.
    pub async fn change(&mut self, c: NewChange) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO change_log (at, kind, account_id, user_id, key_hash) \
             VALUES ($1, $2, $3, $4, $5) RETURNING version",
        )
        .bind(now_millis())
        .bind(c.kind.as_str())
        .bind(c.account_id)
        .bind(c.user_id)
        .bind(c.key_hash.map(|k| k.0.to_vec()))
        .fetch_one(&mut *self.tx)
        .await?;
        let version: i64 = row.try_get("version")?;
        if self.store.backend == Backend::Postgres {
            // Delivered at commit, and only if the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(version.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.last_version = Some(version);
        Ok(version)
    }

    /// Appends an audit entry.
    pub async fn audit(&mut self, a: NewAudit<'_>) -> Result<()> {
        let (actor_account, actor_user) = self.actor.ids();
        sqlx::query(
            "INSERT INTO audit_log (at, actor_kind, actor_account_id, actor_user_id, account_id, \
             user_id, action, before_json, after_json, comment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(now_millis())
        .bind(self.actor.kind())
        .bind(actor_account)
        .bind(actor_user)
        .bind(a.account_id)
        .bind(a.user_id)
        .bind(a.action)
        .bind(a.before.map(|v| v.to_string()))
        .bind(a.after.map(|v| v.to_string()))
        .bind(a.comment)
        .execute(&mut *self.tx)
        .await?;
        self.audited = true;
        Ok(())
    }

    /// The tail of every write: appends the change-log entry and the audit entry, then commits.
    pub async fn finish(mut self, change: NewChange, audit: NewAudit<'_>) -> Result<()> {
        self.change(change).await?;
        self.audit(audit).await?;
        self.commit().await
    }

    /// Commits; refuses a write that recorded no change-log or no audit entry.
    pub async fn commit(self) -> Result<()> {
        let Some(version) = self.last_version else {
            return Err(StoreError::Unrecorded("change-log entry"));
        };
        if !self.audited {
            return Err(StoreError::Unrecorded("audit entry"));
        }
        self.tx.commit().await?;
        self.store.committed.send_if_modified(|v| {
            let newer = version > *v;
            if newer {
                *v = version;
            }
            newer
        });
        Ok(())
    }
}
