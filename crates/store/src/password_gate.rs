//! Password hashing off the async threads, within a memory budget.
//!
//! Argon2id costs tens of milliseconds of CPU by design; run inline it would stall every request
//! sharing the thread (with one worker thread, the whole node) during a burst of sign-ins or of
//! password guesses, so tokio's blocking pool takes it. Each check also holds ~19 MiB (the
//! argon2 memory cost) while it runs, and the blocking pool grows to 512 threads: without a
//! bound, 200 concurrent wrong passwords, sent by anyone without authenticating, took a node from
//! 74 MB to 1.78 GB. So every check and every hash first takes a permit of [`PasswordGate`]: at
//! most `permits` run at once, at most `queue` callers wait (each at most `wait`), and the rest
//! are refused at once with [`StoreError::Busy`], which callers answer 503 with `Retry-After`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sesame_domain::secrets::{check_password_policy, hash_password, verify_password};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Result, StoreError};

/// A valid argon2id hash of a random password, verified against when the account is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2VzYW1lLWR1bW15LXNhbHQ$2Tq7jhWb4lF3n0S1yqk4nqJz5x7QxH9X3m7n0e2WQm8";

/// The bound on concurrent password checks and hashes (`[security]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordLimits {
    /// Checks and hashes running at once (each holds ~19 MiB while it runs).
    pub permits: usize,
    /// Callers waiting for a permit at most; beyond, refused at once.
    pub queue: usize,
    /// How long a caller waits for a permit before it is refused.
    pub wait: Duration,
}

impl PasswordLimits {
    /// Two per CPU: enough to keep every core busy while a check waits to be scheduled.
    pub fn default_permits() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
    }
}

impl Default for PasswordLimits {
    fn default() -> Self {
        PasswordLimits {
            permits: Self::default_permits(),
            queue: 64,
            wait: Duration::from_millis(2_000),
        }
    }
}

struct Gate {
    limits: PasswordLimits,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl Gate {
    fn new(limits: PasswordLimits) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(limits.permits.max(1))),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// A permit, or `Busy` when the queue is full or the wait ran out.
    async fn enter(&self) -> Result<OwnedSemaphorePermit> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        // Count ourselves in before waiting so the queue bound holds under a burst.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::Busy);
        }
        let res =
            tokio::time::timeout(self.limits.wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match res {
            Ok(Ok(p)) => Ok(p),
            // Timed out, or the semaphore was closed (never done): refuse, never run unbounded.
            _ => Err(StoreError::Busy),
        }
    }
}

/// Shared by every clone of a [`crate::Store`]; the limits can be replaced while serving (new
/// checks use the new gate, running ones finish under the old one).
#[derive(Clone)]
pub struct PasswordGate(Arc<RwLock<Arc<Gate>>>);

impl Default for PasswordGate {
    fn default() -> Self {
        PasswordGate(Arc::new(RwLock::new(Arc::new(Gate::new(
            PasswordLimits::default(),
        )))))
    }
}

impl std::fmt::Debug for PasswordGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PasswordGate").field(&self.limits()).finish()
    }
}

impl PasswordGate {
    pub(crate) fn set(&self, limits: PasswordLimits) {
        let gate = Arc::new(Gate::new(limits));
        match self.0.write() {
            Ok(mut g) => *g = gate,
            Err(poisoned) => *poisoned.into_inner() = gate,
        }
    }

    pub(crate) fn limits(&self) -> PasswordLimits {
        self.current().limits
    }

    fn current(&self) -> Arc<Gate> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether `password` matches `hash`. With no hash (unknown login, no password set) a dummy
    /// hash is checked anyway, so the answer takes the same time and does not reveal which
    /// logins exist. `Busy` when too many checks are under way.
    pub(crate) async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let permit = self.current().enter().await?;
        let known = hash.is_some();
        let password = password.to_owned();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        // The permit moves into the blocking task: if the caller gives up (client gone), the
        // check still runs to its end and its memory still counts against the bound.
        let ok = tokio::task::spawn_blocking(move || {
            let ok = verify_password(&password, &hash);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false);
        Ok(ok && known)
    }

    /// The argon2id hash of a new password (the policy is checked by the caller).
    pub(crate) async fn hash(&self, password: &str) -> Result<String> {
        let permit = self.current().enter().await?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let h = hash_password(&password);
            drop(permit);
            h
        })
        .await
        .map_err(|e| StoreError::PasswordHash(e.to_string()))?
        .map_err(|e| StoreError::PasswordHash(e.to_string()))
    }

    /// The hash of a password chosen now: the policy first (error names `password`), then the
    /// bounded hash.
    pub(crate) async fn hash_new(&self, password: &str) -> Result<String> {
        check_password_policy(password)?;
        self.hash(password).await
    }
}
