use std::sync::Arc;
use std::time::Duration;

use sesame_domain::model::{now_millis, Actor, Change, ChangeKind};
use sesame_domain::secrets::{Cipher, KeyHasher};
use sesame_domain::KeyHash;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row};
use tokio::sync::watch;

use crate::error::corrupt;
use crate::{Result, StoreError};

/// The PostgreSQL channel on which every committed change announces its version.
pub const NOTIFY_CHANNEL: &str = "sesame_changes";

/// Arbitrary constant for the advisory lock that serialises writers on PostgreSQL.
const WRITE_LOCK_KEY: i64 = 0x5e5a_3e00;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The secrets the store needs: the HMAC key for connection keys and tokens, and the AES key for
/// upstream passwords.
#[derive(Clone, Debug)]
pub struct StoreSecrets {
    pub hasher: KeyHasher,
    pub cipher: Cipher,
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) secrets: Arc<StoreSecrets>,
    /// The highest version this process committed: gateways in the same process evict at once.
    committed: Arc<watch::Sender<i64>>,
    url: Arc<str>,
    /// Bounds concurrent argon2 checks and hashes (memory); shared by every clone.
    pub(crate) passwords: crate::passwords::PasswordGate,
}

impl Store {
    /// Replaces the bound on concurrent password checks and hashes, for every clone of this
    /// store (`[security]` in the configuration).
    pub fn set_password_limits(&self, limits: crate::PasswordLimits) {
        self.passwords.set(limits);
    }

    /// The bound in force on concurrent password checks and hashes.
    pub fn password_limits(&self) -> crate::PasswordLimits {
        self.passwords.limits()
    }

    /// Connects (creating the SQLite file if needed) and runs the migrations.
    ///
    /// URLs: `sqlite://path/to/file.db` (or `sqlite:file.db`) and `postgres://user@host/db`.
    pub async fn connect(url: &str, secrets: StoreSecrets) -> Result<Store> {
        Self::connect_with(url, secrets, None).await
    }

    /// Like [`Store::connect`], with the pool size (`database.max_connections`): every node
    /// opens up to this many connections, so PostgreSQL's `max_connections` bounds the replicas.
    pub async fn connect_with(
        url: &str,
        secrets: StoreSecrets,
        max_connections: Option<u32>,
    ) -> Result<Store> {
        let store = Self::connect_only(url, secrets, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating. `max_connections` defaults to 4 on SQLite (one writer) and 16
    /// on PostgreSQL.
    pub async fn connect_only(
        url: &str,
        secrets: StoreSecrets,
        max_connections: Option<u32>,
    ) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(sesame_domain::FieldError::new(
                "database.url",
                "must start with sqlite: or postgres://",
            )
            .into());
        };
        let url_owned = match backend {
            // Create the file on first start: one node needs nothing installed.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        if backend == Backend::Sqlite {
            create_parent_dir(&url_owned);
        }
        let options = AnyPoolOptions::new()
            // SQLite has one writer; a small pool avoids lock churn. PostgreSQL serves several
            // admin requests and the principal loader at once.
            .max_connections(
                max_connections
                    .unwrap_or(if backend == Backend::Sqlite { 4 } else { 16 })
                    .max(1),
            )
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute(
                            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; \
                             PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url_owned).await?;
        let (tx, _rx) = watch::channel(0);
        Ok(Store {
            pool,
            backend,
            secrets: Arc::new(secrets),
            committed: Arc::new(tx),
            url: Arc::from(url),
            passwords: crate::passwords::PasswordGate::default(),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        let res = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await
            }
        };
        res.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Rule(format!("migration failed: {other}")),
        })?;
        let v = self.latest_version().await?;
        self.committed.send_replace(v);
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
    /// The URL the store was opened with (PostgreSQL listeners open their own connection).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn hasher(&self) -> &KeyHasher {
        &self.secrets.hasher
    }
    pub fn cipher(&self) -> &Cipher {
        &self.secrets.cipher
    }
    pub async fn close(&self) {
        self.pool.close().await;
    }
    /// Whether the database answers now (readiness probes).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Versions committed by this process, for same-node eviction without a round trip.
    pub fn subscribe_local(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }

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
}

fn create_parent_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or("");
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            // Best effort: if it fails, the connect error that follows names the path.
            let _ = std::fs::create_dir_all(parent);
        }
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
    pub async fn change(
        &mut self,
        kind: ChangeKind,
        account_id: Option<i64>,
        user_id: Option<i64>,
        key_hash: Option<KeyHash>,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO change_log (at, kind, account_id, user_id, key_hash) \
             VALUES ($1, $2, $3, $4, $5) RETURNING version",
        )
        .bind(now_millis())
        .bind(kind.as_str())
        .bind(account_id)
        .bind(user_id)
        .bind(key_hash.map(|k| k.0.to_vec()))
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

    /// Appends an audit entry. `before`/`after` are JSON snapshots that never hold a secret.
    pub async fn audit(
        &mut self,
        action: &str,
        account_id: Option<i64>,
        user_id: Option<i64>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        comment: Option<&str>,
    ) -> Result<()> {
        let (actor_account, actor_user) = match self.actor {
            Actor::AccountAdmin { account_id } => (Some(account_id), None),
            Actor::User { user_id } => (None, Some(user_id)),
            Actor::Impersonating {
                account_id,
                user_id,
            }
            | Actor::OperatorImpersonating {
                account_id,
                user_id,
            } => (Some(account_id), Some(user_id)),
            Actor::Operator | Actor::System => (None, None),
        };
        sqlx::query(
            "INSERT INTO audit_log (at, actor_kind, actor_account_id, actor_user_id, account_id, \
             user_id, action, before_json, after_json, comment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(now_millis())
        .bind(self.actor.kind())
        .bind(actor_account)
        .bind(actor_user)
        .bind(account_id)
        .bind(user_id)
        .bind(action)
        .bind(before.map(|v| v.to_string()))
        .bind(after.map(|v| v.to_string()))
        .bind(comment)
        .execute(&mut *self.tx)
        .await?;
        self.audited = true;
        Ok(())
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
