//! The store's behaviour, one module per resource, each test run once on SQLite and once on
//! PostgreSQL (`both!`), each on a fresh database.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

mod accounts;
mod changes;
mod identity;
mod imports;
mod invitations;
mod keys;
mod passwords;
mod principals;
mod secrets;
mod sessions;
mod users;
