//! The change log as its readers see it: the latest version, everything after a version, the
//! versions this process committed, the PostgreSQL channel that announces the others', and who
//! to evict when an account changes. Entries are appended by [`crate::WriteTx`].

use sesame_domain::model::{Change, ChangeKind};
use sesame_domain::KeyHash;
use sqlx::any::AnyRow;
use sqlx::Row;
use tokio::sync::watch;

use crate::db::Store;
use crate::error::{corrupt, Result};

/// The PostgreSQL channel on which every committed change announces its version.
pub const NOTIFY_CHANNEL: &str = "sesame_changes";

impl Store {
    /// Versions committed by this process, for same-node eviction without a round trip.
    pub fn subscribe_local(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }

    pub async fn latest_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM change_log")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }

    /// Every change after `version`, oldest first (at most `limit`).
    pub async fn changes_since(&self, version: i64, limit: i64) -> Result<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT version, at, kind, account_id, user_id, key_hash FROM change_log \
             WHERE version > $1 ORDER BY version LIMIT $2",
        )
        .bind(version)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_from_row).collect()
    }

    /// Every user linked to an account, whatever the account's status: when an account changes
    /// (disabled, re-enabled, entitlements, credentials), the gateway evicts all of them, including
    /// principals cached while the account was disabled (their cached links omit it).
    pub async fn gateway_users_of_account(&self, account_id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT user_id FROM links WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("user_id")?))
            .collect()
    }
}

fn change_from_row(row: &AnyRow) -> Result<Change> {
    let kind: String = row.try_get("kind")?;
    let key: Option<Vec<u8>> = row.try_get("key_hash")?;
    Ok(Change {
        version: row.try_get("version")?,
        at: row.try_get("at")?,
        kind: ChangeKind::parse(&kind).map_err(|e| corrupt("change_log", e))?,
        account_id: row.try_get("account_id")?,
        user_id: row.try_get("user_id")?,
        key_hash: key.as_deref().and_then(KeyHash::from_slice),
    })
}
