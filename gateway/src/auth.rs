//! Authentication: connection key (or legacy login/password) → cached [`Principal`].
//!
//! The hot path is one HMAC of the key and one cache lookup (`cache.rs`). Misses are
//! single-flight (concurrent misses on one key make one database read). Eviction is driven by
//! the change log (see `follower.rs`) through a secondary index (user → key hashes; an account
//! change evicts the users the store lists as linked to it); the TTL is only a backstop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use http::HeaderValue;
use sesame_domain::model::{now_millis, Millis, UserStatus};
use sesame_domain::secrets::KeyHasher;
use sesame_domain::{
    AccountNumber, ConnectionKey, KeyHash, Right, RightSet, ScopedRight, Tag, UserKey,
};
use sesame_store::{PrincipalRecord, Store};

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;

/// A caller as the gateway needs it on every request: immutable, shared.
#[derive(Debug)]
pub struct Principal {
    pub user_id: i64,
    pub active: bool,
    pub user_key: Option<UserKey>,
    pub tag: Option<Tag>,
    pub department: Option<String>,
    /// Set for a regenerated key still in its grace period.
    pub key_expires_at: Option<Millis>,
    pub links: Box<[Link]>,
}

/// One account the principal may act for, with its effective rights.
#[derive(Debug)]
pub struct Link {
    pub account_id: i64,
    pub number: AccountNumber,
    pub rights: RightSet,
    /// Shared by every principal linked to the account (a million principals over a few
    /// thousand accounts would otherwise hold a million copies of the same credentials).
    pub account: Arc<AccountInfo>,
}

/// What the gateway needs about an account to call the carrier for it.
pub struct AccountInfo {
    pub company: String,
    pub upstream_login: String,
    pub upstream_password: String,
    /// `Basic base64(login:password)` computed once (tracking v2 authenticates this way).
    pub basic_auth: Option<HeaderValue>,
}

impl std::fmt::Debug for AccountInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The upstream password never reaches a log line.
        f.debug_struct("AccountInfo")
            .field("upstream_login", &self.upstream_login)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// Whether the principal may authenticate now (disabled user, expired grace period).
    pub fn usable(&self, now: Millis) -> bool {
        self.active && self.key_expires_at.is_none_or(|t| t > now)
    }

    pub fn link(&self, number: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.number.as_str() == number.trim())
    }

    /// Links holding a plain right.
    pub fn with_right(&self, r: Right) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.rights.has(r))
    }

    /// Whether a parcel/document owned by (`user_key`, `tag`) is inside `scope` for this caller.
    /// Own = the item bears the caller's user key; group = the item bears the caller's tag.
    pub fn in_scope(
        &self,
        scope: sesame_domain::Scope,
        user_key: Option<&str>,
        tag: Option<&str>,
    ) -> bool {
        let owner = matches!((self.user_key.as_ref(), user_key), (Some(mine), Some(k)) if mine.as_str().eq_ignore_ascii_case(k));
        let group = matches!((self.tag.as_ref(), tag), (Some(mine), Some(t)) if mine.as_str() == t);
        scope.allows(owner, group)
    }

    /// Document scope: own = contact user key, group = same department.
    pub fn doc_in_scope(
        &self,
        scope: sesame_domain::Scope,
        contact: Option<&str>,
        department: Option<&str>,
    ) -> bool {
        let owner = matches!((self.user_key.as_ref(), contact), (Some(mine), Some(k)) if mine.as_str().eq_ignore_ascii_case(k));
        let group =
            matches!((self.department.as_deref(), department), (Some(mine), Some(d)) if mine == d);
        scope.allows(owner, group)
    }

    /// The union of the tracking-tool scopes on one link (with or without customer service).
    pub fn tool_scope(l: &Link) -> sesame_domain::Scope {
        l.rights
            .scope(ScopedRight::TrackingTool)
            .union(l.rights.scope(ScopedRight::TrackingToolCs))
    }
}

/// id → key hashes. Most users hold one key (two during a grace period): a small `Vec` costs
/// less memory than a set at a million principals.
type Index = Mutex<HashMap<i64, Vec<KeyHash>>>;

fn index_add(map: &mut HashMap<i64, Vec<KeyHash>>, id: i64, hash: &KeyHash) {
    let v = map.entry(id).or_default();
    if !v.contains(hash) {
        v.push(*hash);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The principal cache and everything that keeps it correct.
pub struct Authenticator {
    store: Store,
    hasher: KeyHasher,
    /// Connection-key hash → principal.
    cache: crate::cache::PrincipalCache,
    /// HMAC(login, password) → principal, for legacy callers (short TTL).
    pw_cache: moka::future::Cache<KeyHash, Arc<Principal>>,
    /// Key hashes the store does not know.
    negative: moka::sync::Cache<KeyHash, ()>,
    by_user: Index,
    /// Interned account data (see [`Link::account`]); bounded by the number of accounts.
    accounts: Mutex<HashMap<i64, Arc<AccountInfo>>>,
    /// Bumped by every eviction: a load that raced with one is retried (see `load`).
    epoch: AtomicU64,
    /// The password-guessing throttle (legacy login/password) and the failed-key slow-down.
    throttle: sesame_throttle::Throttle,
    metrics: Metrics,
}

impl Authenticator {
    pub fn new(cfg: &GatewayConfig, store: Store, metrics: Metrics) -> Authenticator {
        Authenticator {
            hasher: store.hasher().clone(),
            store,
            cache: crate::cache::PrincipalCache::new(
                cfg.cache_capacity,
                Duration::from_secs(cfg.cache_ttl_secs.max(1)),
                metrics.clone(),
            ),
            pw_cache: moka::future::Cache::builder()
                .max_capacity(cfg.cache_capacity / 10 + 1)
                .time_to_live(Duration::from_secs(cfg.password_cache_ttl_secs.max(1)))
                .build(),
            negative: moka::sync::Cache::builder()
                .max_capacity(cfg.negative_cache_capacity)
                .time_to_live(Duration::from_secs(cfg.negative_ttl_secs.max(1)))
                .build(),
            by_user: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            throttle: sesame_throttle::Throttle::local(cfg.throttle.clone()),
            metrics,
        }
    }

    /// Uses `throttle` (e.g. on Redis, issue 18) instead of the in-memory one.
    pub fn with_throttle(mut self, throttle: sesame_throttle::Throttle) -> Authenticator {
        self.throttle = throttle;
        self
    }

    /// Principals cached.
    pub async fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Authenticates a connection key as written by the client (32 hex characters).
    pub async fn by_key(&self, raw: &[u8], ip: IpAddr) -> Result<Arc<Principal>, GatewayError> {
        self.slow_down(ip).await;
        let Ok(key) = ConnectionKey::parse_bytes(raw) else {
            return Err(self.key_failed(ip, "malformed_key").await);
        };
        let hash = self.hasher.hash_key(&key);
        match self.principal(&hash).await {
            Ok(Some(p)) if p.usable(now_millis()) => Ok(p),
            Ok(Some(_)) => Err(self.key_failed(ip, "disabled_or_expired").await),
            Ok(None) => Err(self.key_failed(ip, "unknown_key").await),
            Err(e) => Err(e),
        }
    }

    /// The principal behind a key hash, from the cache or the store. `Ok(None)`: unknown key.
    pub async fn principal(&self, hash: &KeyHash) -> Result<Option<Arc<Principal>>, GatewayError> {
        if let Some(p) = self.cache.get(hash) {
            self.metrics.cache_hits.inc();
            return Ok(Some(p));
        }
        if self.negative.contains_key(hash) {
            self.metrics.cache_hits.inc();
            return Ok(None);
        }
        let store = &self.store;
        let epoch = self.epoch.load(Ordering::Acquire);
        let res = self
            .cache
            .get_or_load(hash, || async {
                // A waiter whose turn comes after a load found the key unknown: no second read.
                if self.negative.contains_key(hash) {
                    return Err(LoadError::Unknown);
                }
                // Counted here, not before: concurrent misses on one key wait for this single
                // read, and the metric shows database reads.
                self.metrics.cache_misses.inc();
                match self.load(|| store.principal_by_key_hash(hash)).await? {
                    Some(p) => {
                        self.index(hash, &p);
                        Ok(p)
                    }
                    None => {
                        self.negative.insert(*hash, ());
                        Err(LoadError::Unknown)
                    }
                }
            })
            .await;
        match res {
            Ok(p) => {
                // An eviction that ran between the read and moka's insert found nothing to
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
                return Ok(rec.map(|r| Arc::new(self.build(r))));
            }
        }
    }

    fn index(&self, hash: &KeyHash, p: &Principal) {
        index_add(&mut lock(&self.by_user), p.user_id, hash);
    }

    /// Turns a store record into a cached principal, sharing account data with other
    /// principals when it is unchanged (a changed account gets a fresh shared entry).
    fn build(&self, r: PrincipalRecord) -> Principal {
        let mut accounts = lock(&self.accounts);
        let links = r
            .links
            .into_iter()
            .map(|l| {
                let same = accounts.get(&l.account_id).filter(|a| {
                    a.upstream_login == l.upstream.login
                        && a.upstream_password == l.upstream.password
                        && a.company == l.company
                });
                let account = match same {
                    Some(a) => a.clone(),
                    None => {
                        let basic = base64::engine::general_purpose::STANDARD
                            .encode(format!("{}:{}", l.upstream.login, l.upstream.password));
                        let a = Arc::new(AccountInfo {
                            company: l.company,
                            basic_auth: HeaderValue::from_str(&format!("Basic {basic}")).ok(),
                            upstream_login: l.upstream.login,
                            upstream_password: l.upstream.password,
                        });
                        accounts.insert(l.account_id, a.clone());
                        a
                    }
                };
                Link {
                    account_id: l.account_id,
                    number: l.number,
                    rights: l.rights,
                    account,
                }
            })
            .collect();
        Principal {
            user_id: r.user_id,
            active: r.status == UserStatus::Active,
            user_key: r.user_key,
            tag: r.tag,
            department: r.department,
            key_expires_at: r.key_expires_at,
            links,
        }
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
        let mut material = Vec::with_capacity(login.len() + password.len() + 8);
        material.extend_from_slice(b"legacy\0");
        material.extend_from_slice(login.as_bytes());
        material.push(0);
        material.extend_from_slice(password.as_bytes());
        let hash = self.hasher.hash_bytes(&material);
        if let Some(p) = self.pw_cache.get(&hash).await {
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
            .throttle
            .reserve(&throttle_key(login), ip)
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
                self.index(&hash, &p);
                self.pw_cache.insert(hash, p.clone()).await;
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

    fn rejected(&self, reason: &'static str) -> GatewayError {
        self.metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
        GatewayError::Unauthenticated
    }

    /// A failed connection key: counted on the caller's address (the slow-down below).
    async fn key_failed(&self, ip: IpAddr, reason: &'static str) -> GatewayError {
        self.throttle.key_failed(ip).await;
        self.rejected(reason)
    }

    /// Callers with recent failed keys wait before each attempt, on the throttle's address
    /// curve, at most `key_max_wait_ms`. Keys are not guessable (128 bits): this only keeps a
    /// bad-key loop from costing much; honest clients with a typo see nothing.
    async fn slow_down(&self, ip: IpAddr) {
        let wait = self.throttle.key_wait(ip).await;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    async fn evict_hashes(&self, hashes: impl IntoIterator<Item = KeyHash>) {
        for h in hashes {
            self.cache.invalidate(&h);
            self.pw_cache.invalidate(&h).await;
        }
    }

    pub async fn evict_key(&self, hash: &KeyHash) {
        self.bump();
        self.negative.invalidate(hash);
        self.evict_hashes([*hash]).await;
    }

    pub async fn evict_user(&self, user_id: i64) {
        self.bump();
        let hashes = lock(&self.by_user).remove(&user_id);
        if let Some(h) = hashes {
            self.evict_hashes(h).await;
        }
    }

    /// Everything: after a gap in the change log too large to replay.
    pub fn evict_all(&self) {
        self.bump();
        self.cache.invalidate_all();
        self.pw_cache.invalidate_all();
        self.negative.invalidate_all();
        lock(&self.by_user).clear();
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Caches a principal exactly as a load from the store does (account data interned, user
    /// index updated), without the database read. Benchmarks only (`crate::bench`).
    pub(crate) async fn insert_loaded(&self, hash: KeyHash, rec: PrincipalRecord) {
        let p = Arc::new(self.build(rec));
        self.index(&hash, &p);
        self.cache.insert(hash, p);
    }

    /// Lets pending cache upkeep run (benchmarks: so counts and memory are settled). The
    /// principal cache has none; the other caches (moka) do.
    pub(crate) async fn settle(&self) {
        self.pw_cache.run_pending_tasks().await;
    }
}

/// The throttle key of a legacy login, as the admin API's sign-in keys it: an account number
/// is the account admin, anything else a user login.
fn throttle_key(login: &str) -> String {
    match AccountNumber::parse(login) {
        Ok(n) => format!("account:{n}"),
        Err(_) => format!("login:{login}"),
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
