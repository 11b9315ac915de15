//! governor's keyed state for the gateway's keys: user and account ids (issue 17).
//!
//! governor's default keyed store is a `Mutex<HashMap>` hashed with SipHash under a random key:
//! right for keys a stranger picks, but these ids are assigned by the database and reach the
//! limiter only after authentication, so the hash can be one multiplication. Reads (every
//! request after a key's first) take a shared lock; only a new id takes the exclusive one. The
//! per-key state is governor's own [`InMemoryState`], driven through its public direct-store
//! seam, so the GCRA arithmetic stays governor's.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{PoisonError, RwLock};

use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};

/// Fibonacci hashing of an id: consecutive ids spread over the table's buckets.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `i64` keys are hashed (`write_i64`); anything else still hashes correctly.
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i64(&mut self, i: i64) {
        self.0 = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Map = HashMap<i64, InMemoryState, BuildHasherDefault<IdHasher>>;

/// The keyed store: id → GCRA state.
#[derive(Default)]
pub(crate) struct IdStore(RwLock<Map>);

impl StateStore for IdStore {
    type Key = i64;

    fn measure_and_replace<T, F, E>(&self, key: &i64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The state is an atomic: measuring under the shared lock is what governor does too.
        {
            let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = map.get(key) {
                return state.measure_and_replace(&NotKeyed::NonKey, f);
            }
        }
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(*key)
            .or_default()
            .measure_and_replace(&NotKeyed::NonKey, f)
    }
}

/// Whether a state is no different from a fresh one by `drop_below` (governor's own test,
/// read through the public seam: the closure refuses, so nothing is written).
fn older_than(state: &InMemoryState, drop_below: Nanos) -> bool {
    let r: Result<(), bool> = state.measure_and_replace(&NotKeyed::NonKey, |prev| {
        Err(prev.is_none_or(|t| t <= drop_below))
    });
    r == Err(true)
}

impl ShrinkableKeyedStateStore<i64> for IdStore {
    fn retain_recent(&self, drop_below: Nanos) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| !older_than(s, drop_below));
    }

    fn shrink_to_fit(&self) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use governor::clock::{Clock, FakeRelativeClock};
    use governor::middleware::NoOpMiddleware;
    use governor::{Quota, RateLimiter};

    use super::*;

    /// The same verdicts as governor's own keyed store, key by key, as the clock moves.
    #[test]
    fn verdicts_match_governors_hashmap_store() {
        let quota = Quota::per_second(NonZeroU32::new(5).expect("5"))
            .allow_burst(NonZeroU32::new(3).expect("3"));
        let clock = FakeRelativeClock::default();
        let ours: RateLimiter<i64, IdStore, FakeRelativeClock, NoOpMiddleware<Nanos>> =
            RateLimiter::new(quota, IdStore::default(), clock.clone());
        let theirs = RateLimiter::hashmap_with_clock(quota, clock.clone());
        for step in 0..400i64 {
            let key = step % 7 - 3; // negative ids too
            assert_eq!(
                ours.check_key(&key).is_ok(),
                theirs.check_key(&key).is_ok(),
                "step {step} key {key} at {:?}",
                clock.now()
            );
            clock.advance(Duration::from_millis(if step % 5 == 0 { 90 } else { 13 }));
        }
        assert_eq!(ours.len(), 7);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let quota = Quota::per_second(NonZeroU32::new(10).expect("10"));
        let clock = FakeRelativeClock::default();
        let rl: RateLimiter<i64, IdStore, FakeRelativeClock, NoOpMiddleware<Nanos>> =
            RateLimiter::new(quota, IdStore::default(), clock.clone());
        for id in 0..1000 {
            assert!(rl.check_key(&id).is_ok());
        }
        assert_eq!(rl.len(), 1000);
        rl.retain_recent();
        assert_eq!(rl.len(), 1000, "just used: kept");
        // Past each key's burst tolerance (1 s at 10/s): indistinguishable from fresh.
        clock.advance(Duration::from_secs(2));
        assert!(rl.check_key(&5).is_ok());
        rl.retain_recent();
        assert_eq!(rl.len(), 1, "only the key used since");
        rl.shrink_to_fit();
        assert!(!rl.is_empty());
    }
}
