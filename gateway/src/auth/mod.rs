//! Authentication: connection key (or legacy login/password) → cached [`Principal`].
//!
//! The hot path is one HMAC of the key (remembered for recent keys: `key_memo.rs`) and one
//! cache lookup (`cache.rs`). Misses are single-flight (concurrent misses on one key make one
//! database read). Eviction is driven by the change log (see `follower.rs`): a changed user gets a tombstone (`tombstones.rs`) and its
//! entries loaded before it are dropped when next read (an account change buries the users the
//! store lists as linked to it); the TTL is only a backstop.
//!
//! `principal.rs` is the caller as requests see it, `cache.rs` the one cache type, `intern.rs`
//! the account data shared between principals, `slowdown.rs` what a failed guess costs.

mod cache;
mod intern;
mod key_memo;
mod principal;
mod session;
mod slowdown;
mod tombstones;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sesame_domain::model::now_millis;
use sesame_domain::secrets::KeyHasher;
use sesame_domain::{ConnectionKey, KeyHash};
use sesame_store::{PrincipalRecord, Store};

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;

use cache::{Evictions, TtlCache};
#[cfg(test)]
pub(crate) use principal::AccountInfo;
pub use principal::{Link, Principal};

/// The principal cache and everything that keeps it correct.
pub struct Authenticator {
    store: Store,
    hasher: KeyHasher,
    /// Recent connection keys' hashes (`key_memo.rs`): the HMAC skipped on the hot path.
    key_hashes: key_memo::KeyHashes,
    /// Connection-key hash → principal.
    cache: TtlCache<Arc<Principal>>,
    /// HMAC(login, password) → principal, for legacy callers (short TTL).
    pw_cache: TtlCache<Arc<Principal>>,
    /// Key hashes the store does not know.
    negative: TtlCache<()>,
    /// Users changed since their entries were loaded.
    tombstones: tombstones::Tombstones,
    /// Interned account data (see [`Link::account`]); bounded by the number of accounts.
    accounts: intern::Accounts,
    /// Bumped by every eviction: a load that raced with one is retried (see `load`).
    epoch: AtomicU64,
    /// The password-guessing throttle (legacy login/password) and the failed-key slow-down.
    slowdown: slowdown::Slowdown,
    metrics: Metrics,
}

impl Authenticator {
    pub fn new(cfg: &GatewayConfig, store: Store, metrics: Metrics) -> Authenticator {
        Authenticator {
            hasher: store.hasher().clone(),
            key_hashes: key_memo::KeyHashes::new(store.hasher().clone()),
            store,
            cache: TtlCache::new(
                cfg.cache_capacity,
                Duration::from_secs(cfg.cache_ttl_secs.max(1)),
                Some(Evictions::of(&metrics)),
            ),
            pw_cache: TtlCache::new(
                cfg.cache_capacity / 10 + 1,
                Duration::from_secs(cfg.password_cache_ttl_secs.max(1)),
                None,
            ),
            negative: TtlCache::new(
                cfg.negative_cache_capacity,
                Duration::from_secs(cfg.negative_ttl_secs.max(1)),
                None,
            ),
            tombstones: tombstones::Tombstones::new(Duration::from_secs(
                cfg.cache_ttl_secs.max(cfg.password_cache_ttl_secs).max(1),
            )),
            accounts: intern::Accounts::default(),
            epoch: AtomicU64::new(0),
            slowdown: slowdown::Slowdown::new(sesame_throttle::Throttle::local(
                cfg.throttle.clone(),
            )),
            metrics,
        }
    }

    /// Uses `throttle` (e.g. on Redis, issue 18) instead of the in-memory one.
    pub fn with_throttle(mut self, throttle: sesame_throttle::Throttle) -> Authenticator {
        self.slowdown = slowdown::Slowdown::new(throttle);
        self
    }

    /// Principals cached.
    pub async fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Authenticates a connection key as written by the client (32 hex characters).
    pub async fn by_key(&self, raw: &[u8], ip: IpAddr) -> Result<Arc<Principal>, GatewayError> {
        self.slowdown.before_key(ip).await;
        let Ok(key) = ConnectionKey::parse_bytes(raw) else {
            return Err(Box::pin(self.key_failed(ip, "malformed_key")).await);
        };
        let hash = self.key_hashes.hash_key(&key);
        match self.principal(&hash).await {
            Ok(Some(p)) if p.usable(now_millis()) => Ok(p),
            Ok(Some(_)) => Err(Box::pin(self.key_failed(ip, "disabled_or_expired")).await),
            Ok(None) => Err(Box::pin(self.key_failed(ip, "unknown_key")).await),
            Err(e) => Err(e),
        }
    }

    /// The principal behind a key hash, from the cache or the store. `Ok(None)`: unknown key.
    pub async fn principal(&self, hash: &KeyHash) -> Result<Option<Arc<Principal>>, GatewayError> {
        if let Some(p) = self.cached(&self.cache, hash) {
            self.metrics.cache_hits.inc();
            return Ok(Some(p));
        }
        if self.negative.contains(hash) {
            self.metrics.cache_hits.inc();
            return Ok(None);
        }
        // Boxed: the store read's state would otherwise sit in every request's future, which
        // is moved whole, though nearly every request is a cache hit.
        Box::pin(self.principal_from_store(hash)).await
    }

    /// [`Self::principal`] on a cache miss.
    async fn principal_from_store(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<Arc<Principal>>, GatewayError> {
        let store = &self.store;
        let epoch = self.epoch.load(Ordering::Acquire);
        let res = self
            .cache
            .get_or_load(hash, || async {
                // A waiter whose turn comes after a load found the key unknown: no second read.
                if self.negative.contains(hash) {
                    return Err(LoadError::Unknown);
                }
                // Counted here, not before: concurrent misses on one key wait for this single
                // read, and the metric shows database reads.
                self.metrics.cache_misses.inc();
                match self.load(|| store.principal_by_key_hash(hash)).await? {
                    Some(p) => Ok(p),
                    None => {
                        self.negative.insert(*hash, ());
                        Err(LoadError::Unknown)
                    }
                }
            })
            .await;
        match res {
            Ok(p) => {
                // An eviction that ran between the read and the cache's insert found nothing to
                // evict: drop the entry so the next request reloads (this one may use it: it
                // started before the change).
                if self.epoch.load(Ordering::Acquire) != epoch {
                    self.cache.invalidate(hash);
                }
                Ok(Some(p))
            }
            Err(e) => match e {
                LoadError::Unknown => Ok(None),
                LoadError::Unavailable => Err(GatewayError::StoreUnavailable),
                LoadError::Busy => Err(GatewayError::Busy),
                LoadError::Other(ref m) => Err(GatewayError::Internal(m.clone())),
            },
        }
    }

    /// Reads a principal from the store; retried if an eviction happened meanwhile, so an entry
    /// loaded from the state before a change is not cached after that change's eviction.
    async fn load<F, Fut>(&self, read: F) -> Result<Option<Arc<Principal>>, LoadError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = sesame_store::Result<Option<PrincipalRecord>>>,
    {
        let mut attempt = 0;
        loop {
            let before = self.epoch.load(Ordering::Acquire);
            let rec = read().await.map_err(|e| {
                if e.is_unavailable() {
                    LoadError::Unavailable
                } else if e.is_busy() {
                    LoadError::Busy
                } else {
                    LoadError::Other(e.to_string())
                }
            })?;
            attempt += 1;
            if self.epoch.load(Ordering::Acquire) == before || attempt >= 3 {
                return Ok(rec.map(|r| Arc::new(self.accounts.build(r))));
            }
        }
    }

    /// A cached principal, unless a change of its user came after it was loaded.
    fn cached(&self, cache: &TtlCache<Arc<Principal>>, hash: &KeyHash) -> Option<Arc<Principal>> {
        cache.get_unless(hash, |p, loaded| self.tombstones.stale(p.user_id, loaded))
    }

    /// Legacy login/password (account admin as main contact, or a standard user).
    ///
    /// A check not in the password cache is reserved with the throttle first (per login and
    /// per address, counted before argon2 runs): refused, it answers 429 unverified. A cache
    /// hit proves this exact password was verified already, so it is no guess and skips the
    /// throttle (legacy callers send their password on every call).
    pub async fn by_password(
        &self,
        login: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<Arc<Principal>, GatewayError> {
        let login = login.trim();
        let hash = self.legacy_hash(login, password);
        if let Some(p) = self.cached(&self.pw_cache, &hash) {
            self.metrics.cache_hits.inc();
            if p.usable(now_millis()) {
                return Ok(p);
            }
            return Err(self.rejected("disabled_or_expired"));
        }
        if login.is_empty() {
            return Err(self.rejected("missing_credentials"));
        }
        let permit = self
            .slowdown
            .reserve_password(login, ip)
            .await
            .map_err(|r| {
                self.metrics
                    .auth_failures
                    .with_label_values(&["throttled"])
                    .inc();
                GatewayError::RateLimited {
                    retry_after_secs: r.retry_after_secs(),
                }
            })?;
        self.metrics.cache_misses.inc();
        let store = &self.store;
        match self
            .load(|| store.principal_by_password(login, password))
            .await
        {
            Ok(Some(p)) => {
                self.pw_cache.insert(hash, p.clone());
                if p.usable(now_millis()) {
                    permit.succeeded().await;
                    Ok(p)
                } else {
                    Err(self.rejected("disabled_or_expired"))
                }
            }
            Ok(None) => Err(self.rejected("bad_password")),
            Err(LoadError::Unavailable) => Err(GatewayError::StoreUnavailable),
            Err(LoadError::Busy) => Err(GatewayError::Busy),
            Err(LoadError::Unknown) => Err(self.rejected("bad_password")),
            Err(LoadError::Other(m)) => Err(GatewayError::Internal(m)),
        }
    }

    /// A client that only has login/password fields: the connection key may stand in the
    /// password when the login names an account linked to the key's holder (seed: the key
    /// replaces login/password). `Ok((p, true))`: a key caller acting for that account;
    /// `Ok((p, false))`: a legacy caller ([`Self::by_password`]).
    ///
    /// A verified legacy password (cached) is answered first, so a legacy password that
    /// happens to look like a key costs no key lookup. A key that does not fit counts on the
    /// caller's address like a bad `apiKey` header (the slow-down), then the pair is tried as a
    /// password, under the password throttle: guessing keys here is no cheaper than in a header.
    pub async fn by_login(
        &self,
        login: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<(Arc<Principal>, bool), GatewayError> {
        let login = login.trim();
        let cached = self
            .cached(&self.pw_cache, &self.legacy_hash(login, password))
            .is_some();
        if !cached {
            if let Ok(key) = ConnectionKey::parse_bytes(password.as_bytes()) {
                self.slowdown.before_key(ip).await;
                let hash = self.key_hashes.hash_key(&key);
                match self.principal(&hash).await? {
                    Some(p) if p.usable(now_millis()) && p.link(login).is_some() => {
                        return Ok((p, true))
                    }
                    _ => self.slowdown.key_failed(ip).await,
                }
            }
        }
        self.by_password(login, password, ip)
            .await
            .map(|p| (p, false))
    }

    /// The legacy cache's key of a login/password pair.
    fn legacy_hash(&self, login: &str, password: &str) -> KeyHash {
        let mut material = Vec::with_capacity(login.len() + password.len() + 8);
        material.extend_from_slice(b"legacy\0");
        material.extend_from_slice(login.as_bytes());
        material.push(0);
        material.extend_from_slice(password.as_bytes());
        self.hasher.hash_bytes(&material)
    }

    fn rejected(&self, reason: &'static str) -> GatewayError {
        self.metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
        GatewayError::Unauthenticated
    }

    /// A failed connection key: counted on the caller's address (the slow-down).
    async fn key_failed(&self, ip: IpAddr, reason: &'static str) -> GatewayError {
        self.slowdown.key_failed(ip).await;
        self.rejected(reason)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    async fn evict_hashes(&self, hashes: impl IntoIterator<Item = KeyHash>) {
        for h in hashes {
            self.cache.invalidate(&h);
            self.pw_cache.invalidate(&h);
        }
    }

    pub async fn evict_key(&self, hash: &KeyHash) {
        self.bump();
        self.negative.invalidate(hash);
        self.evict_hashes([*hash]).await;
    }

    pub async fn evict_user(&self, user_id: i64) {
        self.bump();
        self.tombstones.bury(user_id);
    }

    /// Everything: after a gap in the change log too large to replay.
    pub fn evict_all(&self) {
        self.bump();
        self.cache.invalidate_all();
        self.pw_cache.invalidate_all();
        self.negative.invalidate_all();
        self.tombstones.clear();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Caches a principal exactly as a load from the store does (account data interned, user
    /// index updated), without the database read. Benchmarks only (the `bench` feature).
    #[cfg(feature = "bench")]
    pub(crate) async fn insert_loaded(&self, hash: KeyHash, rec: PrincipalRecord) {
        let p = Arc::new(self.accounts.build(rec));
        self.cache.insert(hash, p);
    }
}

#[derive(Debug)]
enum LoadError {
    Unknown,
    Unavailable,
    /// Too many password checks under way (the store's bound): 503, not a failed attempt.
    Busy,
    Other(String),
}
