//! Fresh databases for tests (feature `testing`): one SQLite file or one PostgreSQL database per
//! test, so tests never share state.
//!
//! PostgreSQL tests use `SESAME_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`,
//! the machine's server) only to create and drop their own `sesame_t_*` databases. If the server
//! is unreachable the test fails: a PostgreSQL test never passes by skipping.

use sesame_domain::secrets::{Cipher, KeyHasher};

use crate::db::{Backend, Store, StoreSecrets};

/// An account's entitlements in the store and admin tests: everything they grant, but neither
/// `ws_pickup_point` nor `collection` (the delegation tests ask for those).
pub const ENTITLEMENTS: &[&str] = &[
    "ws_postage",
    "ws_tracking",
    "ws_eligibility",
    "tracking_tool:all",
    "invoices:all",
    "dashboard",
    "tariff_conditions",
];

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn pg_admin_url() -> String {
    std::env::var("SESAME_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// Fixed, well-known secrets: tests only.
pub fn test_secrets() -> StoreSecrets {
    StoreSecrets {
        hasher: KeyHasher::new(b"test-server-secret-0123456789abcdef").expect("32+ bytes"),
        cipher: Cipher::new(b"test-master-key-0123456789abcdef").expect("32 bytes"),
    }
}

/// Keeps the database alive; dropping it removes the file or database.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async context: use a private runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async move {
                        use sqlx::Connection;
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut c)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A URL to a brand-new empty database of the given backend.
pub async fn fresh_url(backend: Backend) -> (String, TestDb) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("sesame.db").display());
            (url, TestDb::Sqlite(dir))
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let admin_url = pg_admin_url();
            let name = format!(
                "sesame_t_{}_{:016x}",
                std::process::id(),
                rand::random::<u64>()
            );
            let mut c = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL test server at {admin_url} unreachable: {e}")
                });
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            (
                format!("{base}/{name}"),
                TestDb::Postgres { admin_url, name },
            )
        }
    }
}

/// A migrated store on a brand-new database.
pub async fn fresh_store(backend: Backend) -> (Store, TestDb) {
    let (url, db) = fresh_url(backend).await;
    let store = Store::connect(&url, test_secrets())
        .await
        .expect("connect and migrate");
    (store, db)
}

impl Store {
    /// Raw access for tests that must look under the interface (e.g. "no secret stored in clear").
    pub fn raw_pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}

/// Runs one async test body against both backends, as two tests (`<name>::sqlite` and
/// `<name>::postgres`), each on a fresh database: `both_backends!(name, |store: Store| async
/// move { … });`
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let (store, _db) = $crate::testing::fresh_store($crate::Backend::Sqlite).await;
                ($body)(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                let (store, _db) = $crate::testing::fresh_store($crate::Backend::Postgres).await;
                ($body)(store).await;
            }
        }
    };
}

/// A complete profile (the store refuses incomplete ones); the e-mail is `<name>@example.fr`.
pub fn profile(name: &str) -> sesame_domain::Profile {
    sesame_domain::Profile {
        last_name: name.into(),
        first_name: "Jean".into(),
        function: "Logisticien".into(),
        phone: "0102030405".into(),
        email: Some(
            sesame_domain::Email::parse(&format!("{}@example.fr", name.to_lowercase()))
                .expect("email"),
        ),
        address: "1 rue de la Poste".into(),
        postal_code: "75001".into(),
        city: "Paris".into(),
        country: "France".into(),
        ..sesame_domain::Profile::default()
    }
}
