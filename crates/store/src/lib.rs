//! Sesame's store: one interface over SQLite (the embedded default) and PostgreSQL (shared by
//! several nodes).
//!
//! Both backends go through `sqlx::Any` with portable SQL (`$n` placeholders, integer times,
//! integer booleans), so there is one code path and one test suite. The two schemas live in
//! `migrations/sqlite` and `migrations/postgres`.
//!
//! **Invariant**: every write goes through [`WriteTx`], which refuses to commit unless the
//! transaction recorded at least one change-log entry and one audit entry. Writers are
//! serialised (a PostgreSQL advisory lock, SQLite's single writer), so change-log versions
//! become visible in order and a gateway that reads "everything after version N" never skips one.
#![forbid(unsafe_code)]

mod accounts;
mod admin_queries;
mod audit;
mod db;
mod error;
mod feed;
mod gateway_queries;
mod imports;
mod outbox;
mod passwords;
mod principals;
mod sessions;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::NewAccount;
pub use admin_queries::{AccountUser, UserFilter, UserUpdate, PASSWORD_RESET_TTL_MILLIS};
pub use audit::AuditFilter;
pub use db::{Backend, Store, StoreSecrets, WriteTx, NOTIFY_CHANNEL};
pub use error::StoreError;
pub use feed::ChangeFeed;
pub use outbox::OutboxMail;
pub use passwords::PasswordLimits;
pub use principals::{PrincipalLink, PrincipalRecord};
pub use sessions::{NewSession, Session, SessionKind};
pub use users::{Activation, NewAdvancedUser, NewStandardUser};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
