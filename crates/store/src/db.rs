//! The handle on the database: connecting, migrating, the backend and the secrets.

use std::sync::Arc;
use std::time::Duration;

use sesame_domain::secrets::{Cipher, KeyHasher};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use tokio::sync::watch;

use crate::error::{Result, StoreError};
use crate::password_gate::{PasswordGate, PasswordLimits};

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
    pub(crate) backend: Backend,
    pub(crate) secrets: Arc<StoreSecrets>,
    /// The highest version this process committed: gateways in the same process evict at once.
    pub(crate) committed: Arc<watch::Sender<i64>>,
    url: Arc<str>,
    /// Bounds concurrent argon2 checks and hashes (memory); shared by every clone.
    pub(crate) passwords: PasswordGate,
}

impl Store {
    /// Replaces the bound on concurrent password checks and hashes, for every clone of this
    /// store (`[security]` in the configuration).
    pub fn set_password_limits(&self, limits: PasswordLimits) {
        self.passwords.set(limits);
    }

    /// The bound in force on concurrent password checks and hashes.
    pub fn password_limits(&self) -> PasswordLimits {
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
            passwords: PasswordGate::default(),
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
            other => StoreError::Migration(other.to_string()),
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
