//! Queries only the gateway needs (cache eviction).

use sqlx::Row;

use crate::{Result, Store};

impl Store {
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
