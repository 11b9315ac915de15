//! Which cached principals a change made stale, without an index from users to their cache
//! entries.
//!
//! A user changed (rights, status, key, an account of theirs) gets a tombstone: the instant of
//! the change. A cache entry of that user loaded before its tombstone is stale: the read that
//! finds it drops it and loads again. An index (user → the key hashes of its entries, to remove
//! them at once) cost ~100 bytes per cached principal, a fifth of a million principals' memory
//! (benches/README.md); tombstones cost one entry per user changed within a cache TTL.
//!
//! The hit path stays one atomic load: an entry loaded after the latest tombstone of anyone needs
//! no lookup. Tombstones older than the longest cache TTL are pruned, since no entry loaded
//! before them can still be served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Tombstones kept before old ones are pruned (pruning walks the map).
const PRUNE_AT: usize = 4_096;

pub(crate) struct Tombstones {
    base: Instant,
    /// The latest tombstone (nanoseconds since `base`, plus one; 0: none yet).
    latest: AtomicU64,
    by_user: RwLock<HashMap<i64, u64>>,
    /// The longest TTL of the caches checked against these tombstones.
    ttl: Duration,
    /// Size after the last prune: the next one waits until the map doubles, so pruning stays
    /// amortised O(1) per tombstone even when every tombstone is recent.
    pruned_at: AtomicU64,
}

impl Tombstones {
    pub fn new(ttl: Duration) -> Tombstones {
        Tombstones {
            base: Instant::now(),
            latest: AtomicU64::new(0),
            by_user: RwLock::new(HashMap::new()),
            ttl,
            pruned_at: AtomicU64::new(0),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        let ns = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1
    }

    /// Every entry of `user_id` loaded until now is stale.
    pub fn bury(&self, user_id: i64) {
        let now = Instant::now();
        let t = self.stamp(now);
        let mut m = self.by_user.write().unwrap_or_else(PoisonError::into_inner);
        let last = usize::try_from(self.pruned_at.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if m.len() >= PRUNE_AT.max(last.saturating_mul(2)) {
            let horizon = self.stamp(now.checked_sub(self.ttl).unwrap_or(self.base));
            m.retain(|_, at| *at > horizon);
            self.pruned_at.store(
                u64::try_from(m.len()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        m.insert(user_id, t);
        // Published after the map holds it: a reader that sees the new `latest` finds the entry.
        self.latest.fetch_max(t, Ordering::Release);
    }

    /// Whether an entry of `user_id` loaded at `loaded` predates a change of that user.
    pub fn stale(&self, user_id: i64, loaded: Instant) -> bool {
        let l = self.stamp(loaded);
        if l > self.latest.load(Ordering::Acquire) {
            return false;
        }
        self.by_user
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user_id)
            .is_some_and(|t| *t >= l)
    }

    /// After every cache was emptied: no entry is older than now, the tombstones can go.
    pub fn clear(&self) {
        self.by_user
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_user
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_loaded_before_its_users_tombstone_is_stale_and_only_that_one() {
        let t = Tombstones::new(Duration::from_secs(60));
        let before = Instant::now();
        assert!(!t.stale(1, before), "no tombstone yet");
        t.bury(1);
        assert!(t.stale(1, before));
        assert!(!t.stale(2, before), "another user is untouched");
        let after = Instant::now();
        assert!(!t.stale(1, after), "reloaded after the change: fresh");
        t.clear();
        assert!(!t.stale(1, before));
    }

    #[test]
    fn old_tombstones_are_pruned_and_the_map_stays_bounded() {
        let t = Tombstones::new(Duration::ZERO);
        for u in 0..(PRUNE_AT as i64 * 3) {
            t.bury(u);
        }
        assert!(t.len() <= PRUNE_AT * 2, "{}", t.len());
        // Recent tombstones are kept while the TTL covers them.
        let t = Tombstones::new(Duration::from_secs(3600));
        for u in 0..(PRUNE_AT as i64 + 10) {
            t.bury(u);
        }
        assert_eq!(t.len(), PRUNE_AT + 10);
        assert!(t.stale(0, t.base));
    }
}
