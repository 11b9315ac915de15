//! The gateway's one cache type: key hash → value, bounded, with a TTL checked on read and
//! single-flight loads. Principals, legacy password checks and unknown keys all use it.
//!
//! quick_cache rather than moka: a hit is a hash-table probe plus a reference bit (CLOCK-Pro /
//! S3-FIFO family), with no per-read bookkeeping. moka records every read for its TinyLFU policy
//! and replays the records into its LRU deques and frequency sketch; among a million cached
//! principals those replays are random memory accesses, and a hit cost 1.8–4.2 µs instead of
//! < 1 µs (benches/README.md). quick_cache has no TTL: the insertion time is kept in the entry
//! and an expired entry is a miss.

use std::time::{Duration, Instant};

use prometheus::IntCounter;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, UnitWeighter};
use sesame_domain::KeyHash;

use crate::metrics::Metrics;

#[derive(Clone)]
struct Entry<V> {
    value: V,
    loaded: Instant,
}

/// Eviction counters (`sesame_principal_cache_evictions_total{reason}`), resolved once; `None`
/// for the caches that are not counted.
#[derive(Clone)]
pub(crate) struct Evictions {
    size: IntCounter,
    expired: IntCounter,
    change_log: IntCounter,
}

impl Evictions {
    pub fn of(metrics: &Metrics) -> Evictions {
        let c = |reason: &str| metrics.cache_evictions.with_label_values(&[reason]);
        Evictions {
            size: c("size"),
            expired: c("expired"),
            change_log: c("change_log"),
        }
    }
}

/// Counts evictions for lack of room.
#[derive(Clone)]
struct CountEvictions(Option<IntCounter>);

impl<V> Lifecycle<KeyHash, Entry<V>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: KeyHash, _val: Entry<V>) {
        if let Some(c) = &self.0 {
            c.inc();
        }
    }
}

/// Key hashes are HMAC outputs, already uniformly random: hashing them again (SipHash) only
/// costs time. The first 8 bytes are the hash.
#[derive(Clone, Default)]
pub(crate) struct KeyHashHasher(u64);

impl std::hash::Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `KeyHash` hashes as its 32 bytes (a length prefix may come first: mixed in too).
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

type Build = std::hash::BuildHasherDefault<KeyHashHasher>;

pub(crate) struct TtlCache<V: Clone> {
    inner: Cache<KeyHash, Entry<V>, UnitWeighter, Build, CountEvictions>,
    ttl: Duration,
    evictions: Option<Evictions>,
}

impl<V: Clone> TtlCache<V> {
    /// At most `capacity` entries (at least one), each fresh for `ttl`; evictions counted when
    /// `evictions` is given.
    pub fn new(capacity: u64, ttl: Duration, evictions: Option<Evictions>) -> TtlCache<V> {
        let capacity = capacity.max(1);
        // The table grows with use: start small rather than reserving room for the bound.
        let estimate = usize::try_from(capacity.min(65_536)).unwrap_or(65_536);
        TtlCache {
            inner: Cache::with(
                estimate,
                capacity,
                UnitWeighter,
                Build::default(),
                CountEvictions(evictions.as_ref().map(|e| e.size.clone())),
            ),
            ttl,
            evictions,
        }
    }

    fn fresh(&self, e: Entry<V>) -> Option<V> {
        // The poll's clock reading (`sesame_serve::clock`): a TTL of seconds does not mind
        // microseconds. (`loaded` is read afresh, so it may be later than this reading.)
        let age = sesame_serve::clock::now().saturating_duration_since(e.loaded);
        (age < self.ttl).then_some(e.value)
    }

    /// A cached, unexpired value. An expired one is removed (and counted).
    pub fn get(&self, hash: &KeyHash) -> Option<V> {
        self.get_unless(hash, |_, _| false)
    }

    /// A cached, unexpired value that `stale` (given the value and when it was loaded) does not
    /// reject; a rejected one is removed and counted as a change-log eviction.
    pub fn get_unless(&self, hash: &KeyHash, stale: impl Fn(&V, Instant) -> bool) -> Option<V> {
        let e = self.inner.get(hash)?;
        if stale(&e.value, e.loaded) {
            self.invalidate(hash);
            return None;
        }
        match self.fresh(e) {
            Some(v) => Some(v),
            None => {
                self.expire(hash);
                None
            }
        }
    }

    pub fn contains(&self, hash: &KeyHash) -> bool {
        self.get(hash).is_some()
    }

    fn expire(&self, hash: &KeyHash) {
        if self.inner.remove(hash).is_some() {
            if let Some(e) = &self.evictions {
                e.expired.inc();
            }
        }
    }

    /// The cached value, else the one `load` returns, cached. Concurrent callers for one key
    /// wait for a single load (quick_cache's guard); if it fails, the next waiter loads in its
    /// turn (the negative cache makes that cheap for unknown keys).
    pub async fn get_or_load<E, F, Fut>(&self, hash: &KeyHash, load: F) -> Result<V, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        loop {
            match self.inner.get_value_or_guard_async(hash).await {
                Ok(e) => match self.fresh(e) {
                    Some(v) => return Ok(v),
                    None => self.expire(hash),
                },
                Err(guard) => {
                    let v = load().await?;
                    let _ = guard.insert(Entry {
                        value: v.clone(),
                        loaded: Instant::now(),
                    });
                    return Ok(v);
                }
            }
        }
    }

    pub fn insert(&self, hash: KeyHash, value: V) {
        self.inner.insert(
            hash,
            Entry {
                value,
                loaded: Instant::now(),
            },
        );
    }

    /// Removes an entry because of a change (counted as `change_log`).
    pub fn invalidate(&self, hash: &KeyHash) {
        if self.inner.remove(hash).is_some() {
            if let Some(e) = &self.evictions {
                e.change_log.inc();
            }
        }
    }

    pub fn invalidate_all(&self) {
        self.inner.clear();
    }

    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.inner.len()).unwrap_or(u64::MAX)
    }
}
