//! Password hashing off the async threads. Argon2id costs tens of milliseconds of CPU by design;
//! run inline it would stall every request sharing the thread (with one worker thread, the whole
//! node) during a burst of sign-ins or of password guesses. tokio's blocking pool takes it.

use sesame_domain::secrets::{hash_password, verify_password};

use crate::error::StoreError;
use crate::Result;

/// Whether `password` matches `hash`. With no hash (unknown login, no password set) a dummy
/// hash is checked anyway, so the answer takes the same time and does not reveal which logins
/// exist.
pub(crate) async fn verify(password: &str, hash: Option<&str>) -> bool {
    let known = hash.is_some();
    let password = password.to_owned();
    let hash = hash.unwrap_or(crate::accounts::DUMMY_HASH).to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    ok && known
}

/// The argon2id hash of a new password (the policy is checked by the caller).
pub(crate) async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Rule(format!("password hashing failed: {e}")))?
        .map_err(|e| StoreError::Rule(e.to_string()))
}
