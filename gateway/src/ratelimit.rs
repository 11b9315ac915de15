//! Rate limits (governor): per connection key (i.e. per user), per account, with per-user
//! overrides. Over a limit the caller gets 429 with `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Principal;
use crate::config::RateLimitConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;

pub struct Limits {
    per_key: Option<DefaultKeyedRateLimiter<i64>>,
    per_account: Option<DefaultKeyedRateLimiter<i64>>,
    /// user id → own limiter (replaces the per-key limit for that user).
    by_user_id: HashMap<i64, DefaultKeyedRateLimiter<i64>>,
    /// user key (uppercase) → own limiter.
    by_user_key: HashMap<String, DefaultKeyedRateLimiter<i64>>,
    clock: DefaultClock,
    metrics: Metrics,
}

fn quota(per_sec: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    pub fn new(cfg: &RateLimitConfig, metrics: Metrics) -> Limits {
        let mut by_user_id = HashMap::new();
        let mut by_user_key = HashMap::new();
        for o in &cfg.overrides {
            // An override of 0 means "unlimited": a limiter with a huge quota.
            let q = quota(o.per_sec, cfg.burst.max(o.per_sec))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX));
            if let Some(id) = o.user_id {
                by_user_id.insert(id, RateLimiter::keyed(q));
            }
            if let Some(k) = &o.user_key {
                by_user_key.insert(k.trim().to_ascii_uppercase(), RateLimiter::keyed(q));
            }
        }
        Limits {
            per_key: quota(cfg.per_key_per_sec, cfg.burst).map(RateLimiter::keyed),
            per_account: quota(cfg.per_account_per_sec, cfg.burst).map(RateLimiter::keyed),
            by_user_id,
            by_user_key,
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

    fn verdict(
        &self,
        l: &DefaultKeyedRateLimiter<i64>,
        key: i64,
        which: &'static str,
    ) -> Result<(), GatewayError> {
        l.check_key(&key).map_err(|not_until| {
            self.metrics.rate_limited.with_label_values(&[which]).inc();
            let wait = not_until.wait_time_from(self.clock.now());
            GatewayError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets idle keys so the limiters do not grow without bound.
    pub fn housekeeping(&self) {
        if let Some(l) = &self.per_key {
            l.retain_recent();
        }
        if let Some(l) = &self.per_account {
            l.retain_recent();
        }
    }
}
