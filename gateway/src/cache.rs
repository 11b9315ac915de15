//! The principal cache: key hash → [`Principal`], bounded, with a TTL backstop and single-flight
//! loads.
//!
//! quick_cache rather than moka: a hit is a hash-table probe plus a reference bit (CLOCK-Pro /
//! S3-FIFO family), with no per-read bookkeeping. moka records every read for its TinyLFU policy
//! and replays the records into its LRU deques and frequency sketch; among a million cached
//! principals those replays are random memory accesses, and a hit cost 1.8–4.2 µs instead of
//! < 1 µs (benches/README.md). quick_cache has no TTL: the load time is kept in the entry and an
//! expired entry is a miss.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, UnitWeighter};
use sesame_domain::KeyHash;

use crate::auth::Principal;
use crate::metrics::Metrics;

#[derive(Clone)]
struct Entry {
    principal: Arc<Principal>,
    loaded: Instant,
}

/// Counts evictions for lack of room (`sesame_principal_cache_evictions_total{reason="size"}`).
#[derive(Clone)]
struct CountEvictions(Metrics);

impl Lifecycle<KeyHash, Entry> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: KeyHash, _val: Entry) {
        self.0.cache_evictions.with_label_values(&["size"]).inc();
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

pub(crate) struct PrincipalCache {
    inner: Cache<KeyHash, Entry, UnitWeighter, Build, CountEvictions>,
    ttl: Duration,
    metrics: Metrics,
}

impl PrincipalCache {
    pub fn new(capacity: u64, ttl: Duration, metrics: Metrics) -> PrincipalCache {
        // The table grows with use: start small rather than reserving room for the bound.
        let estimate = usize::try_from(capacity.min(65_536)).unwrap_or(65_536);
        PrincipalCache {
            inner: Cache::with(
                estimate,
                capacity,
                UnitWeighter,
                Build::default(),
                CountEvictions(metrics.clone()),
            ),
            ttl,
            metrics,
        }
    }

    fn fresh(&self, e: Entry) -> Option<Arc<Principal>> {
        (e.loaded.elapsed() < self.ttl).then_some(e.principal)
    }

    /// A cached, unexpired principal. An expired one is removed (and counted).
    pub fn get(&self, hash: &KeyHash) -> Option<Arc<Principal>> {
        let e = self.inner.get(hash)?;
        match self.fresh(e) {
            Some(p) => Some(p),
            None => {
                self.expire(hash);
                None
            }
        }
    }

    fn expire(&self, hash: &KeyHash) {
        if self.inner.remove(hash).is_some() {
            self.metrics
                .cache_evictions
                .with_label_values(&["expired"])
                .inc();
        }
    }

    /// The cached principal, else the one `load` returns, cached. Concurrent callers for one
    /// key wait for a single load; if it fails, the next waiter loads in its turn (the caller's
    /// negative cache makes that cheap for unknown keys).
    pub async fn get_or_load<E, F, Fut>(&self, hash: &KeyHash, load: F) -> Result<Arc<Principal>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Principal>, E>>,
    {
        loop {
            match self.inner.get_value_or_guard_async(hash).await {
                Ok(e) => match self.fresh(e) {
                    Some(p) => return Ok(p),
                    None => self.expire(hash),
                },
                Err(guard) => {
                    let p = load().await?;
                    let _ = guard.insert(Entry {
                        principal: p.clone(),
                        loaded: Instant::now(),
                    });
                    return Ok(p);
                }
            }
        }
    }

    pub fn insert(&self, hash: KeyHash, p: Arc<Principal>) {
        self.inner.insert(
            hash,
            Entry {
                principal: p,
                loaded: Instant::now(),
            },
        );
    }

    /// Removes an entry because of a change (counted as `change_log`).
    pub fn invalidate(&self, hash: &KeyHash) {
        if self.inner.remove(hash).is_some() {
            self.metrics
                .cache_evictions
                .with_label_values(&["change_log"])
                .inc();
        }
    }

    pub fn invalidate_all(&self) {
        self.inner.clear();
    }

    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.inner.len()).unwrap_or(u64::MAX)
    }
}
