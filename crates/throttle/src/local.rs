//! The in-memory backend: sharded maps behind mutexes. A reservation locks the shards of its
//! keys in index order (no deadlock) and holds them from the check to the count, so the check
//! and the count are one step.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::{delay, Attempt, Backend, BoxFuture, Refused, Reservation, ThrottleConfig};

const SHARDS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    Login(Arc<str>),
    Pair(Arc<str>, IpAddr),
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    failures: u32,
    /// When the last failure was counted (ms since the backend started).
    last_ms: u64,
    /// Known good (a success from this address on this login) until then.
    good_until_ms: u64,
    /// Last change, for eviction when full.
    touched_ms: u64,
}

#[derive(Clone, Copy)]
enum Curve {
    Address,
    Login,
    Shared,
}

pub struct Local {
    cfg: ThrottleConfig,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<Key, Entry>>]>,
    per_shard: usize,
    start: Instant,
}

impl Local {
    pub fn new(cfg: ThrottleConfig) -> Local {
        let per_shard = (cfg.max_entries / SHARDS).max(8);
        Local {
            cfg,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn shard_of(&self, k: &Key) -> usize {
        (self.hasher.hash_one(k) as usize) % SHARDS
    }

    fn free(&self, c: Curve) -> u32 {
        match c {
            Curve::Address => self.cfg.address_free_failures,
            Curve::Login => self.cfg.login_free_failures,
            Curve::Shared => self.cfg.shared_free_failures,
        }
    }

    fn delay_ms(&self, e: &Entry, c: Curve) -> u64 {
        delay(e.failures, self.free(c), self.cfg.base(), self.cfg.cap()).as_millis() as u64
    }

    /// The entry as it stands at `now`: an expired one reads as empty.
    fn live(&self, e: Option<&Entry>, c: Curve, now: u64) -> Entry {
        let Some(e) = e.copied() else {
            return Entry::default();
        };
        let forget = self.cfg.forget_after_secs.saturating_mul(1000);
        let failures_live = now < e.last_ms + self.delay_ms(&e, c) + forget;
        Entry {
            failures: if failures_live { e.failures } else { 0 },
            good_until_ms: e.good_until_ms,
            ..e
        }
    }

    fn expired(&self, e: &Entry, now: u64) -> bool {
        // The longest curve bounds every key's delay: checking with it never drops a live one.
        let forget = self.cfg.forget_after_secs.saturating_mul(1000);
        let worst = delay(e.failures, 0, self.cfg.base(), self.cfg.cap()).as_millis() as u64;
        now >= e.last_ms + worst + forget && now >= e.good_until_ms
    }

    /// `Some(until)` when the key's curve says wait.
    fn gate(&self, e: &Entry, c: Curve, now: u64) -> Option<u64> {
        let until = e.last_ms + self.delay_ms(e, c);
        (e.failures >= self.free(c) && now < until).then_some(until)
    }

    /// Locks the shards of `keys` in index order.
    fn lock(&self, keys: &[&Key]) -> Locked<'_> {
        let mut idx: Vec<usize> = keys.iter().map(|k| self.shard_of(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        Locked {
            guards: idx
                .into_iter()
                .map(|i| {
                    (
                        i,
                        self.shards[i]
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner),
                    )
                })
                .collect(),
        }
    }

    fn write(&self, l: &mut Locked<'_>, k: &Key, e: Entry, now: u64) {
        let i = self.shard_of(k);
        let Some(map) = l.map(i) else { return };
        if !map.contains_key(k) && map.len() >= self.per_shard {
            self.make_room(map, now);
        }
        map.insert(
            k.clone(),
            Entry {
                touched_ms: now,
                ..e
            },
        );
    }

    /// Drops expired entries, then the least recently touched down to 90 % of the shard, so
    /// the next clean-up is a tenth of a shard of inserts away (amortised O(1) per insert).
    fn make_room(&self, map: &mut HashMap<Key, Entry>, now: u64) {
        map.retain(|_, e| !self.expired(e, now));
        let target = self.per_shard * 9 / 10;
        if map.len() > target {
            let mut touched: Vec<u64> = map.values().map(|e| e.touched_ms).collect();
            let cut = map.len() - target;
            let (_, nth, _) = touched.select_nth_unstable(cut - 1);
            let cutoff = *nth;
            let mut left = cut;
            map.retain(|_, e| {
                if left > 0 && e.touched_ms <= cutoff {
                    left -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Locks the shards of an attempt's keys (see [`keys_of`]).
    fn lock_attempt(&self, addr_k: &Key, keys: &Option<(Key, Key)>) -> Locked<'_> {
        let mut all: Vec<&Key> = vec![addr_k];
        if let Some((lk, pk)) = keys {
            all.push(lk);
            all.push(pk);
        }
        self.lock(&all)
    }

    fn get(&self, l: &mut Locked<'_>, k: &Key, c: Curve, now: u64) -> Entry {
        let i = self.shard_of(k);
        let e = l.map(i).and_then(|m| m.get(k).copied());
        self.live(e.as_ref(), c, now)
    }

    pub(crate) fn reserve_at(&self, a: &Attempt, now: u64) -> Result<Reservation, Refused> {
        let (addr_k, keys) = keys_of(a);
        let mut l = self.lock_attempt(&addr_k, &keys);
        let mut addr = self.get(&mut l, &addr_k, Curve::Address, now);
        let mut until: Option<u64> = None;
        let mut r = Reservation::default();
        let mut login_entries = None;
        let mut known_good = false;
        if let Some((lk, pk)) = &keys {
            let pair = self.get(&mut l, pk, Curve::Login, now);
            let shared = self.get(&mut l, lk, Curve::Shared, now);
            known_good = pair.good_until_ms > now;
            r.charged_shared = pair.failures == 0 && !known_good;
            until = until.max(self.gate(&pair, Curve::Login, now));
            if r.charged_shared {
                until = until.max(self.gate(&shared, Curve::Shared, now));
            }
            login_entries = Some((pair, shared));
        }
        // A known-good address is past the address curve: another login's attacker behind the
        // same NAT does not keep the real user out.
        r.charged_address = !known_good;
        if r.charged_address {
            until = until.max(self.gate(&addr, Curve::Address, now));
        }
        if let Some(until) = until {
            return Err(Refused {
                retry_after: Duration::from_millis(until.saturating_sub(now)),
            });
        }
        if r.charged_address {
            addr.failures = addr.failures.saturating_add(1);
            addr.last_ms = now;
            self.write(&mut l, &addr_k, addr, now);
        }
        if let (Some((lk, pk)), Some((mut pair, mut shared))) = (&keys, login_entries) {
            pair.failures = pair.failures.saturating_add(1);
            pair.last_ms = now;
            self.write(&mut l, pk, pair, now);
            if r.charged_shared {
                shared.failures = shared.failures.saturating_add(1);
                shared.last_ms = now;
                self.write(&mut l, lk, shared, now);
            }
        }
        Ok(r)
    }

    pub(crate) fn succeeded_at(&self, a: &Attempt, r: Reservation, now: u64) {
        let (addr_k, keys) = keys_of(a);
        let mut l = self.lock_attempt(&addr_k, &keys);
        if r.charged_address {
            let mut e = self.get(&mut l, &addr_k, Curve::Address, now);
            e.failures = e.failures.saturating_sub(1);
            self.write(&mut l, &addr_k, e, now);
        }
        if let Some((lk, pk)) = &keys {
            let remember = self.cfg.remember_success_secs.saturating_mul(1000);
            let pair = Entry {
                failures: 0,
                last_ms: now,
                good_until_ms: now.saturating_add(remember),
                touched_ms: now,
            };
            self.write(&mut l, pk, pair, now);
            if r.charged_shared {
                let mut e = self.get(&mut l, lk, Curve::Shared, now);
                e.failures = e.failures.saturating_sub(1);
                self.write(&mut l, lk, e, now);
            }
        }
    }

    pub(crate) fn address_gate_at(&self, addr: IpAddr, now: u64) -> Result<(), Refused> {
        // Every request with a connection key comes through here: one shard, one hash, no
        // `Locked` (its two vectors are for attempts that span shards).
        let k = Key::Address(addr);
        let e = {
            let map = self.shards[self.shard_of(&k)]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // An empty shard (no failure from any address in it): nothing to look up.
            let found = if map.is_empty() { None } else { map.get(&k) };
            self.live(found, Curve::Address, now)
        };
        match self.gate(&e, Curve::Address, now) {
            Some(until) => Err(Refused {
                retry_after: Duration::from_millis(until - now),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn address_failed_at(&self, addr: IpAddr, now: u64) {
        let k = Key::Address(addr);
        let mut l = self.lock(&[&k]);
        let mut e = self.get(&mut l, &k, Curve::Address, now);
        e.failures = e.failures.saturating_add(1);
        e.last_ms = now;
        self.write(&mut l, &k, e, now);
    }
}

/// An attempt's keys: its address, and (login, pair) when it names a login.
fn keys_of(a: &Attempt) -> (Key, Option<(Key, Key)>) {
    let keys = a
        .login
        .as_ref()
        .map(|l| (Key::Login(l.clone()), Key::Pair(l.clone(), a.addr)));
    (Key::Address(a.addr), keys)
}

struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, HashMap<Key, Entry>>)>,
}

impl Locked<'_> {
    fn map(&mut self, i: usize) -> Option<&mut HashMap<Key, Entry>> {
        self.guards
            .iter_mut()
            .find(|(j, _)| *j == i)
            .map(|(_, g)| &mut **g)
    }
}

impl Backend for Local {
    fn reserve<'a>(&'a self, a: &'a Attempt) -> BoxFuture<'a, Result<Reservation, Refused>> {
        let r = self.reserve_at(a, self.now_ms());
        Box::pin(std::future::ready(r))
    }

    fn succeeded<'a>(&'a self, a: &'a Attempt, r: Reservation) -> BoxFuture<'a, ()> {
        self.succeeded_at(a, r, self.now_ms());
        Box::pin(std::future::ready(()))
    }

    fn address_gate(&self, addr: IpAddr) -> BoxFuture<'_, Result<(), Refused>> {
        let r = self.address_gate_at(addr, self.now_ms());
        Box::pin(std::future::ready(r))
    }

    fn address_gate_now(&self, addr: IpAddr) -> Option<Result<(), Refused>> {
        Some(self.address_gate_at(addr, self.now_ms()))
    }

    fn address_failed(&self, addr: IpAddr) -> BoxFuture<'_, ()> {
        self.address_failed_at(addr, self.now_ms());
        Box::pin(std::future::ready(()))
    }

    fn entries(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            max_entries: 1_000,
            ..ThrottleConfig::small()
        }
    }

    fn at(login: &str, ip: &str) -> Attempt {
        Attempt {
            login: Some(Arc::from(login)),
            addr: ip.parse().unwrap(),
        }
    }

    #[test]
    fn one_address_gets_its_free_failures_then_waits_doubling() {
        let t = Local::new(cfg());
        let a = at("login:x", "10.0.0.1");
        for _ in 0..3 {
            assert!(t.reserve_at(&a, 0).is_ok());
        }
        let r = t.reserve_at(&a, 10).unwrap_err();
        assert_eq!(r.retry_after, Duration::from_millis(990));
        // After the wait, one more attempt, then twice as long.
        assert!(t.reserve_at(&a, 1_000).is_ok());
        assert_eq!(
            t.reserve_at(&a, 1_000).unwrap_err().retry_after,
            Duration::from_secs(2)
        );
        assert!(t.reserve_at(&a, 3_000).is_ok());
        assert_eq!(
            t.reserve_at(&a, 3_000).unwrap_err().retry_after,
            Duration::from_secs(4)
        );
        // Forgotten once the delay and forget_after_secs have passed.
        assert!(t.reserve_at(&a, 3_000 + 4_000 + 100_000).is_ok());
    }

    #[test]
    fn a_clean_address_signs_in_while_another_one_is_throttled() {
        let t = Local::new(cfg());
        let attacker = at("login:x", "10.0.0.1");
        for _ in 0..3 {
            t.reserve_at(&attacker, 0).unwrap();
        }
        assert!(t.reserve_at(&attacker, 0).is_err());
        let real = at("login:x", "10.0.0.2");
        let r = t.reserve_at(&real, 0).unwrap();
        t.succeeded_at(&real, r, 0);
        assert!(
            t.reserve_at(&attacker, 0).is_err(),
            "a success elsewhere does not help the attacker"
        );
    }

    #[test]
    fn rotating_addresses_spend_the_shared_budget() {
        let t = Local::new(cfg());
        let passed = (0..50)
            .filter(|i| {
                t.reserve_at(&at("login:x", &format!("10.0.1.{i}")), 0)
                    .is_ok()
            })
            .count();
        assert_eq!(passed, 2);
        // Another login is not affected.
        assert!(t.reserve_at(&at("login:y", "10.0.1.99"), 0).is_ok());
        // A known-good address passes the spent shared budget.
        let t = Local::new(cfg());
        let home = at("login:x", "10.9.9.9");
        let r = t.reserve_at(&home, 0).unwrap();
        t.succeeded_at(&home, r, 0);
        for i in 0..50 {
            let _ = t.reserve_at(&at("login:x", &format!("10.0.1.{i}")), 1);
        }
        assert!(t.reserve_at(&at("login:x", "10.0.1.200"), 1).is_err());
        assert!(t.reserve_at(&home, 1).is_ok());
    }

    #[test]
    fn successes_credit_their_reservation() {
        let t = Local::new(cfg());
        let a = at("login:x", "10.0.0.1");
        for _ in 0..20 {
            let r = t.reserve_at(&a, 0).unwrap();
            t.succeeded_at(&a, r, 0);
        }
        assert!(t.reserve_at(&a, 0).is_ok());
        assert!(t.address_gate_at("10.0.0.1".parse().unwrap(), 0).is_ok());
    }

    #[test]
    fn one_address_spraying_logins_meets_the_address_curve() {
        let t = Local::new(cfg());
        let passed = (0..50)
            .filter(|i| {
                t.reserve_at(&at(&format!("login:{i}"), "10.0.0.1"), 0)
                    .is_ok()
            })
            .count();
        assert_eq!(passed, 10);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.address_gate_at(ip, 0).is_err());
        assert!(t.address_gate_at("10.0.0.2".parse().unwrap(), 0).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Local::new(ThrottleConfig {
            max_entries: 1_600,
            ..cfg()
        });
        for i in 0..20_000u32 {
            let ip = IpAddr::V4(i.into());
            t.address_failed_at(ip, u64::from(i));
            let _ = t.reserve_at(
                &Attempt {
                    login: Some(Arc::from(format!("login:{i}"))),
                    addr: ip,
                },
                u64::from(i),
            );
        }
        assert!(t.entries() <= 1_600, "{}", t.entries());
        // The newest keys survive.
        assert!(t
            .address_gate_at(IpAddr::V4(19_999u32.into()), 19_999)
            .is_ok());
    }
}
