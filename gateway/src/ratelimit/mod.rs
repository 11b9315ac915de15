//! Rate limits: per connection key (i.e. per user), per account, with per-user overrides. Over
//! a limit the caller gets 429 with `Retry-After`.
//!
//! With `backend = "local"` the buckets are governor's, in this process. With `backend =
//! "redis"` they are shared by every replica (`sesame-limits`: GCRA in Redis, spent here in
//! leased batches, never a Redis round trip on the request path); the governor buckets remain
//! the fallback while Redis is down or slow. The same choice drives the password-guessing
//! throttle ([`throttle`]).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use sesame_limits::{BackendKind, Link, LinkMetrics, Rate, RedisSettings, SharedRate, Verdict};

use crate::auth::Principal;
use crate::config::RateLimitConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::startup::StartupError;

mod ids;

/// A local keyed bucket per user or account id (`ids.rs`: hashed by one multiplication).
type Local = RateLimiter<i64, ids::IdStore, DefaultClock>;

fn local(quota: Quota) -> Local {
    RateLimiter::new(quota, ids::IdStore::default(), DefaultClock::default())
}

/// One limit: the local bucket and its rate (the shared bucket's parameters).
struct Limiter {
    local: Local,
    /// `None`: unlimited (an override of 0): nothing to share.
    rate: Option<Rate>,
}

pub struct Limits {
    per_key: Option<Limiter>,
    per_account: Option<Limiter>,
    /// user id → own limiter (replaces the per-key limit for that user).
    by_user_id: HashMap<i64, Limiter>,
    /// user key (uppercase) → own limiter.
    by_user_key: HashMap<String, Limiter>,
    /// The buckets shared through Redis, when configured.
    shared: Option<SharedRate>,
    clock: DefaultClock,
    metrics: Metrics,
}

/// The rate as configured: `per_sec` steady, at least `per_sec` at once.
fn rate(per_sec: u32, burst: u32) -> Option<Rate> {
    (per_sec > 0).then(|| Rate {
        per_sec,
        capacity: burst.max(per_sec),
    })
}

fn limiter(r: Option<Rate>) -> Option<Limiter> {
    let r = r?;
    let rate = NonZeroU32::new(r.per_sec)?;
    let burst = NonZeroU32::new(r.capacity).unwrap_or(rate);
    Some(Limiter {
        local: local(Quota::per_second(rate).allow_burst(burst)),
        rate: Some(r),
    })
}

/// An override of 0 means "unlimited": a limiter with a huge quota, nothing shared.
fn unlimited() -> Limiter {
    Limiter {
        local: local(Quota::per_second(NonZeroU32::MAX)),
        rate: None,
    }
}

impl RateLimitConfig {
    /// The Redis settings of this table.
    pub fn redis_settings(&self) -> RedisSettings {
        RedisSettings {
            url: self.redis_url.clone(),
            prefix: self.redis_prefix.clone(),
            timeout_ms: self.redis_timeout_ms,
            lease_ms: self.lease_ms,
        }
    }

    /// Problems of the backend keys (named from `rate_limit.`); none with the local backend.
    pub fn backend_problems(&self) -> Vec<String> {
        match self.backend {
            BackendKind::Local => Vec::new(),
            BackendKind::Redis => self.redis_settings().problems("rate_limit"),
        }
    }
}

/// The shared backend's link when `backend = "redis"` (connected, or degraded until Redis
/// answers); `None` with the local backend. The fallback metrics are registered either way.
pub async fn connect(
    cfg: &RateLimitConfig,
    registry: &prometheus::Registry,
) -> Result<Option<Arc<Link>>, StartupError> {
    let metrics =
        LinkMetrics::register(registry).map_err(|e| StartupError::Metrics(e.to_string()))?;
    match cfg.backend {
        BackendKind::Local => Ok(None),
        BackendKind::Redis => Link::connect(&cfg.redis_settings(), metrics)
            .await
            .map(Some)
            .map_err(|e| StartupError::Config(format!("gateway.{e}"))),
    }
}

impl Limits {
    pub fn new(cfg: &RateLimitConfig, metrics: Metrics, link: Option<Arc<Link>>) -> Limits {
        let mut by_user_id = HashMap::new();
        let mut by_user_key = HashMap::new();
        for o in &cfg.overrides {
            let make =
                || limiter(rate(o.per_sec, cfg.burst.max(o.per_sec))).unwrap_or_else(unlimited);
            if let Some(id) = o.user_id {
                by_user_id.insert(id, make());
            }
            if let Some(k) = &o.user_key {
                by_user_key.insert(k.trim().to_ascii_uppercase(), make());
            }
        }
        Limits {
            per_key: limiter(rate(cfg.per_key_per_sec, cfg.burst)),
            per_account: limiter(rate(cfg.per_account_per_sec, cfg.burst)),
            by_user_id,
            by_user_key,
            shared: link.map(SharedRate::new),
            clock: DefaultClock::default(),
            metrics,
        }
    }

    /// Checks the caller's own limit.
    pub fn check_user(&self, p: &Principal) -> Result<(), GatewayError> {
        let limiter = self
            .by_user_id
            .get(&p.user_id)
            .or_else(|| {
                // Most tables have no override by key: skip reading the key then.
                if self.by_user_key.is_empty() {
                    return None;
                }
                p.user_key
                    .as_ref()
                    .and_then(|k| self.by_user_key.get(k.as_str()))
            })
            .or(self.per_key.as_ref());
        match limiter {
            Some(l) => self.verdict(l, p.user_id, "key"),
            None => Ok(()),
        }
    }

    /// Checks the limit of one account acted for.
    pub fn check_account(&self, account_id: i64) -> Result<(), GatewayError> {
        match &self.per_account {
            Some(l) => self.verdict(l, account_id, "account"),
            None => Ok(()),
        }
    }

    fn verdict(&self, l: &Limiter, key: i64, which: &'static str) -> Result<(), GatewayError> {
        if let (Some(shared), Some(rate)) = (&self.shared, l.rate) {
            match shared.check(which, key, rate) {
                Verdict::Allow => return Ok(()),
                Verdict::Deny { retry_after } => return Err(self.limited(which, retry_after)),
                Verdict::Local => {}
            }
        }
        l.local
            .check_key(&key)
            .map_err(|not_until| self.limited(which, not_until.wait_time_from(self.clock.now())))
    }

    fn limited(&self, which: &'static str, wait: std::time::Duration) -> GatewayError {
        self.metrics.rate_limited.with_label_values(&[which]).inc();
        GatewayError::RateLimited {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    }

    /// Forgets idle keys so the limiters do not grow without bound.
    pub fn housekeeping(&self) {
        if let Some(l) = &self.per_key {
            l.local.retain_recent();
        }
        if let Some(l) = &self.per_account {
            l.local.retain_recent();
        }
        if let Some(s) = &self.shared {
            s.housekeeping();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::GatewayConfig;

    #[test]
    fn the_backend_is_chosen_and_checked_naming_its_keys() {
        let cfg: GatewayConfig = toml::from_str(
            "[rate_limit]\nbackend = \"redis\"\nredis_url = \"http://cache:6379\"\nlease_ms = 0",
        )
        .expect("valid TOML");
        let p = cfg.problems();
        assert!(
            p.iter().any(|m| m.starts_with("rate_limit.redis_url")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|m| m.starts_with("rate_limit.lease_ms")),
            "{p:?}"
        );
        // The local backend ignores the Redis keys.
        let local: GatewayConfig =
            toml::from_str("[rate_limit]\nredis_url = \"http://cache\"").expect("valid");
        assert!(local.rate_limit.backend_problems().is_empty());
        let err = toml::from_str::<GatewayConfig>("[rate_limit]\nbackend = \"memcached\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("backend") || err.contains("memcached"),
            "{err}"
        );
    }
}
