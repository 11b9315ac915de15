//! Limits that hold across gateway replicas (issue 18): the rate limits and the
//! password-guessing throttle kept in Redis, with each replica's in-memory limiter as the
//! fallback when Redis is down or slow.
//!
//! - [`Link`]: the Redis connection, its health, the fallback switch and its metrics
//!   (`sesame_ratelimit_backend_fallback_total`, `sesame_ratelimit_backend_degraded`). Every
//!   call is bounded by `redis_timeout_ms`; a failure flips the link to *degraded* at once
//!   (one warning), a probe every [`PROBE_EVERY`] flips it back when Redis answers again.
//! - [`SharedRate`]: GCRA in one Lua script per lease ([`rate`]); each replica leases small
//!   token batches and spends them locally, so most checks never wait on Redis.
//! - [`RedisThrottle`]: `sesame_throttle::Backend` on Redis (one Lua script per operation, the
//!   same model as `sesame_throttle::Local`, which it falls back to).
//!
//! Only a single Redis (or a Sentinel-managed primary) is supported, not Redis Cluster: a
//! throttle reservation touches up to three keys in one script.

mod link;
mod rate;
mod throttle;

use serde::Deserialize;

pub use link::{Link, LinkMetrics, PROBE_EVERY};
pub use rate::{batch_size, Rate, SharedRate, Verdict};
pub use throttle::RedisThrottle;

/// Where limits are kept (`gateway.rate_limit.backend`).
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In each process's memory (a key gets N × its rate across N replicas).
    #[default]
    Local,
    /// In Redis, shared by every replica, with the local limiter as the fallback.
    Redis,
}

/// The Redis settings, as found in `[gateway.rate_limit]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` is refused: no TLS built in).
    pub url: String,
    /// Prepended to every key, so several deployments (or tests) can share one Redis.
    pub prefix: String,
    /// Longest wait for one Redis call before the replica falls back to local limits.
    pub timeout_ms: u64,
    /// A lease holds about this many milliseconds of a limit's rate (see [`batch_size`]).
    pub lease_ms: u64,
}

impl RedisSettings {
    /// Every problem with the values, each naming its key relative to `table` (e.g.
    /// `rate_limit`).
    pub fn problems(&self, table: &str) -> Vec<String> {
        let mut p = Vec::new();
        match redis::parse_redis_url(&self.url) {
            Some(u) if u.scheme() == "redis" => {}
            Some(_) => p.push(format!(
                "{table}.redis_url: must start with redis:// (no TLS client is built in)"
            )),
            None => p.push(format!(
                "{table}.redis_url: not a Redis URL (redis://host:port[/db])"
            )),
        }
        if self.prefix.is_empty() || self.prefix.len() > 64 {
            p.push(format!("{table}.redis_prefix: must be 1 to 64 characters"));
        }
        if !(1..=5_000).contains(&self.timeout_ms) {
            p.push(format!("{table}.redis_timeout_ms: must be 1 to 5000"));
        }
        if !(1..=1_000).contains(&self.lease_ms) {
            p.push(format!("{table}.lease_ms: must be 1 to 1000"));
        }
        p
    }
}

/// The password-guessing throttle on the configured backend: in memory without a link, on
/// Redis (falling back to memory) with one. `namespace` separates whose counters (`gateway`,
/// `admin`), as they are separate in memory.
pub fn throttle(
    cfg: &sesame_throttle::ThrottleConfig,
    link: Option<&std::sync::Arc<Link>>,
    namespace: &str,
) -> sesame_throttle::Throttle {
    match link {
        None => sesame_throttle::Throttle::local(cfg.clone()),
        Some(l) => sesame_throttle::Throttle::with_backend(
            cfg.clone(),
            std::sync::Arc::new(RedisThrottle::new(l.clone(), namespace, cfg.clone())),
        ),
    }
}

/// The URL without its password, for logs.
pub fn redacted(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        None => "(invalid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned(),
            prefix: "sesame:".to_owned(),
            timeout_ms: 50,
            lease_ms: 25,
        }
    }

    #[test]
    fn problems_name_their_key() {
        assert!(settings("redis://127.0.0.1:6379").problems("t").is_empty());
        let p = settings("http://x").problems("rate_limit");
        assert!(p[0].starts_with("rate_limit.redis_url"), "{p:?}");
        let p = RedisSettings {
            prefix: String::new(),
            timeout_ms: 0,
            lease_ms: 0,
            ..settings("redis://h")
        }
        .problems("rate_limit");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("rate_limit.redis_prefix"));
        assert!(p[1].starts_with("rate_limit.redis_timeout_ms"));
        assert!(p[2].starts_with("rate_limit.lease_ms"));
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let r = redacted("redis://:hunter2@cache:6379/0");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("cache:6379"), "{r}");
    }
}
