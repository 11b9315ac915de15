//! Rate limits shared across replicas: GCRA in Redis, spent locally in leased batches.
//!
//! # Scheme
//!
//! Redis holds one GCRA bucket per limited user or account (`gcra.lua`, atomic). A replica
//! never asks Redis on the request path: [`SharedRate::check`] is synchronous and decides from
//! the replica's lease of that bucket:
//!
//! 1. tokens in hand → spend one; at half a batch left, a background task tops the lease up
//!    (one request in flight per bucket and replica);
//! 2. no tokens, and Redis said "empty until T" → refuse until T, without asking again;
//! 3. no tokens otherwise (first call, lease spent) → admit *on credit* (at most one batch of
//!    credit per bucket) and fetch a lease; the next fetch charges the credit to the bucket, so
//!    every admitted call is counted in Redis, late at worst.
//!
//! A batch is [`batch_size`]: `lease_ms` of the rate (at least 1). At any moment a replica holds
//! at most one batch of tokens and one of credit, so across N replicas the calls admitted in
//! any interval of t seconds stay within `capacity + rate·t + 2·N·batch`: with the default
//! `lease_ms = 25`, 2 replicas exceed the limit by at most 10 % of one second's rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::Script;

use crate::Link;

/// Leases unused this long are dropped (their tokens are lost, never spent late).
const LEASE_LIFE: Duration = Duration::from_secs(1);
/// Buckets this long untouched are forgotten by [`SharedRate::housekeeping`].
const IDLE: Duration = Duration::from_secs(10);
const SHARDS: usize = 16;

/// One limit: `per_sec` steady, `capacity` at once (both at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u32,
    pub capacity: u32,
}

/// What the shared limiter decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny {
        retry_after: Duration,
    },
    /// Redis is not usable: decide with the local limiter.
    Local,
}

/// Tokens leased per fetch: `lease_ms` worth of the rate, at least 1, at most the capacity.
pub fn batch_size(rate: Rate, lease_ms: u64) -> u32 {
    let b = u64::from(rate.per_sec).saturating_mul(lease_ms) / 1000;
    (b.clamp(1, u64::from(rate.capacity.max(1)))) as u32
}

#[derive(Default)]
struct Lease {
    tokens: u32,
    /// Admitted on credit, not yet charged (includes what a fetch in flight carries).
    debt: u32,
    /// Part of `debt` carried by the fetch in flight.
    sending: u32,
    inflight: bool,
    expires: Option<Instant>,
    blocked_until: Option<Instant>,
    touched: Option<Instant>,
}

/// A bucket: what is limited (`key`, `account`) and its id. Redis key: `<prefix>rl:<kind>:<id>`.
type Bucket = (&'static str, i64);

pub struct SharedRate {
    link: Arc<Link>,
    script: Arc<Script>,
    shards: Arc<[Mutex<HashMap<Bucket, Lease>>]>,
}

impl SharedRate {
    pub fn new(link: Arc<Link>) -> SharedRate {
        SharedRate {
            link,
            script: Arc::new(Script::new(include_str!("gcra.lua"))),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    fn shard(&self, bucket: Bucket) -> usize {
        (bucket.1.unsigned_abs() as usize ^ bucket.0.len()) % SHARDS
    }

    /// Checks one call against the bucket of `kind` (`key`, `account`) and `id`, limited to
    /// `rate`. Never waits on Redis.
    pub fn check(&self, kind: &'static str, id: i64, rate: Rate) -> Verdict {
        let bucket = (kind, id);
        if !self.link.healthy() {
            return Verdict::Local;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Verdict::Local;
        };
        let batch = batch_size(rate, self.link.lease_ms());
        let now = Instant::now();
        let mut map = self.shards[self.shard(bucket)]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lease = map.entry(bucket).or_default();
        lease.touched = Some(now);
        if lease.expires.is_some_and(|e| now >= e) {
            lease.tokens = 0;
            lease.expires = None;
        }
        let verdict = if let Some(until) = lease.blocked_until.filter(|u| now < *u) {
            Verdict::Deny {
                retry_after: until - now,
            }
        } else if lease.tokens > 0 {
            lease.tokens -= 1;
            Verdict::Allow
        } else if lease.debt < batch {
            lease.debt += 1;
            Verdict::Allow
        } else {
            // A batch already on credit and its fetch not back yet (at most the timeout).
            Verdict::Deny {
                retry_after: Duration::from_secs(1),
            }
        };
        if !lease.inflight && lease.blocked_until.is_none_or(|u| now >= u) {
            let want = batch.saturating_sub(lease.tokens);
            if lease.tokens <= batch / 2 && want > 0 {
                lease.inflight = true;
                lease.sending = lease.debt;
                let debt = lease.debt;
                drop(map);
                rt.spawn(self.fetch(bucket, rate, want, debt));
            }
        }
        verdict
    }

    fn fetch(
        &self,
        bucket: Bucket,
        rate: Rate,
        want: u32,
        debt: u32,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let link = self.link.clone();
        let script = self.script.clone();
        let shards = self.shards.clone();
        let shard = self.shard(bucket);
        async move {
            let got = lease(&link, &script, bucket, rate, want, debt).await;
            let now = Instant::now();
            let mut map = shards[shard].lock().unwrap_or_else(PoisonError::into_inner);
            let Some(lease) = map.get_mut(&bucket) else {
                return;
            };
            lease.inflight = false;
            // Charged (or lost with Redis: the local limiter takes over anyway).
            lease.debt = lease.debt.saturating_sub(lease.sending);
            lease.sending = 0;
            match got {
                Some((granted, wait_us)) => {
                    lease.tokens = lease.tokens.saturating_add(granted);
                    lease.expires = Some(now + LEASE_LIFE);
                    lease.blocked_until = (granted == 0 && lease.tokens == 0)
                        .then(|| now + Duration::from_micros(wait_us.max(1)));
                }
                None => {
                    lease.tokens = 0;
                    lease.blocked_until = None;
                }
            }
        }
    }

    /// One lease straight from Redis, bypassing this replica's state (tests, benchmarks):
    /// `(granted, wait_us)`, or `None` when Redis is not usable.
    pub async fn lease_now(
        &self,
        kind: &'static str,
        id: i64,
        rate: Rate,
        want: u32,
        debt: u32,
    ) -> Option<(u32, u64)> {
        lease(&self.link, &self.script, (kind, id), rate, want, debt).await
    }

    /// Forgets buckets idle for a while, so the map does not grow without bound.
    pub fn housekeeping(&self) {
        let now = Instant::now();
        for s in self.shards.iter() {
            s.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, l| l.inflight || l.touched.is_some_and(|t| now - t < IDLE));
        }
    }

    /// Buckets tracked by this replica.
    pub fn buckets(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Charges `debt` to the bucket and takes up to `want` tokens (`gcra.lua`).
async fn lease(
    link: &Link,
    script: &Script,
    bucket: Bucket,
    rate: Rate,
    want: u32,
    debt: u32,
) -> Option<(u32, u64)> {
    let key = format!("{}rl:{}:{}", link.prefix(), bucket.0, bucket.1);
    let interval_us = 1_000_000f64 / f64::from(rate.per_sec.max(1));
    let args = [
        format!("{interval_us}"),
        rate.capacity.max(1).to_string(),
        want.to_string(),
        debt.to_string(),
    ];
    link.eval(script, &[&key], &args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_lease_ms_of_the_rate() {
        let r = |per_sec, capacity| Rate { per_sec, capacity };
        assert_eq!(batch_size(r(20, 20), 25), 1);
        assert_eq!(batch_size(r(5_000, 5_000), 25), 125);
        assert_eq!(batch_size(r(5_000, 50), 25), 50, "never above the capacity");
        assert_eq!(batch_size(r(0, 0), 25), 1);
    }
}
