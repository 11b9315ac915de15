//! Sesame's store: one interface over SQLite (the embedded default) and PostgreSQL (shared by
//! several nodes).
//!
//! Both backends go through `sqlx::Any` with portable SQL (`$n` placeholders, integer times,
//! integer booleans), so there is one code path and one test suite. The two schemas live in
//! `migrations/sqlite` and `migrations/postgres`.
//!
//! **Invariant**: every write goes through [`WriteTx`], which refuses to commit unless the
//! transaction recorded at least one change-log entry and one audit entry
//! ([`WriteTx::finish`] appends both and commits). Writers are serialised (a PostgreSQL
//! advisory lock, SQLite's single writer), so change-log versions become visible in order and a
//! gateway that reads "everything after version N" never skips one.
//!
//! Layout, lowest first (a module uses only those above it):
//! - `error`, `password_gate`, `db` (the handle), `changes` (the change log as read),
//!   `write` (`WriteTx`);
//! - `rows` (column lists, decoders, snapshots), `records` (in-transaction writes shared by
//!   resources), `identity` (who may change a user's identity), `collaborators` (seed 004's
//!   sub-accounts module and validation status: the rules, and the operator's two writes);
//! - one module per resource, each an `impl Store` block over the layers above: `accounts`,
//!   `departments`, `users`, `links`, `erasure`, `invitations`, `keys`, `passwords`, `sessions`, `segments`,
//!   `principals` (what the gateway loads on a miss), `imports`, `outbox`, `audit`. They call
//!   each other's methods on `Store` but import nothing from each other, except `accounts`
//!   using the department-name rule of `departments`.

mod accounts;
mod audit;
mod changes;
mod collaborators;
mod db;
mod departments;
mod erasure;
mod error;
mod feed;
mod identity;
mod imports;
mod invitations;
mod keys;
mod links;
mod outbox;
mod password_gate;
mod passwords;
mod pins;
mod principals;
mod records;
mod rows;
mod segments;
mod sessions;
mod users;
mod write;

#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::{AccountFilter, AccountSummary, NewAccount};
pub use audit::AuditFilter;
pub use changes::NOTIFY_CHANNEL;
pub use db::{Backend, Store, StoreSecrets};
pub use erasure::ERASED_NAME;
pub use error::{LinkKind, Result, RuleViolation, StoreError};
pub use feed::ChangeFeed;
pub use invitations::Activation;
pub use outbox::OutboxMail;
pub use password_gate::PasswordLimits;
pub use passwords::{ResetTarget, PASSWORD_RESET_TTL_MILLIS};
pub use pins::{Pin, MAX_PINS};
pub use principals::{PrincipalLink, PrincipalRecord};
pub use segments::{Segment, MAX_SEGMENTS};
pub use sessions::{NewSession, Session, SessionKind};
pub use users::{AccountUser, NewAdvancedUser, NewStandardUser, UserFilter, UserUpdate};
pub use write::{NewAudit, NewChange, WriteTx};
