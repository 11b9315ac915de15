//! The Redis connection every shared limit goes through, and the switch to local limits.
//!
//! One [`Link`] per process: the gateway's rate limits, its throttle and (in a node running
//! both) the admin sign-in throttle share it, so they fall back and come back together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, Registry};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Script};

use crate::RedisSettings;

/// How often a degraded link tries Redis again.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The fallback's metrics. Registered by every gateway (exported at zero with the local
/// backend too, so dashboards and alerts find them).
#[derive(Clone)]
pub struct LinkMetrics {
    /// Times this process switched from Redis to its local limits.
    pub fallback: IntCounter,
    /// 1 while this process uses its local limits although Redis is configured.
    pub degraded: IntGauge,
}

impl LinkMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<LinkMetrics> {
        let fallback = IntCounter::new(
            "sesame_ratelimit_backend_fallback_total",
            "Times this process fell back from Redis to its local rate limits and throttle",
        )?;
        let degraded = IntGauge::new(
            "sesame_ratelimit_backend_degraded",
            "1 while Redis is configured for limits but unreachable: local limits apply",
        )?;
        registry.register(Box::new(fallback.clone()))?;
        registry.register(Box::new(degraded.clone()))?;
        Ok(LinkMetrics { fallback, degraded })
    }
}

/// A shared connection to Redis with its health.
pub struct Link {
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    healthy: AtomicBool,
    prefix: String,
    timeout: Duration,
    lease_ms: u64,
    metrics: LinkMetrics,
}

impl Link {
    /// Connects (waiting at most the timeout) and starts the health probe. Redis being down at
    /// start-up is not an error: the link starts degraded and the probe connects later.
    pub async fn connect(s: &RedisSettings, metrics: LinkMetrics) -> Result<Arc<Link>, String> {
        let client = redis::Client::open(s.url.as_str())
            .map_err(|e| format!("rate_limit.redis_url: {e}"))?;
        let link = Arc::new(Link {
            client,
            conn: Mutex::new(None),
            healthy: AtomicBool::new(false),
            prefix: s.prefix.clone(),
            timeout: Duration::from_millis(s.timeout_ms.max(1)),
            lease_ms: s.lease_ms.max(1),
            metrics,
        });
        if link.try_connect().await {
            link.healthy.store(true, Ordering::Release);
            tracing::info!(url = %crate::redacted(&s.url), "limits shared through Redis");
        } else {
            link.fall_back("unreachable at start-up");
        }
        tokio::spawn(probe(Arc::downgrade(&link)));
        Ok(link)
    }

    /// Redis answers: shared limits apply. `false`: the caller uses its local limiter.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    pub fn metrics(&self) -> &LinkMetrics {
        &self.metrics
    }

    /// Runs `script` within the timeout. `None` when the link is degraded or the call failed
    /// (which degrades it): the caller decides locally.
    pub async fn eval<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> Option<T> {
        if !self.healthy() {
            return None;
        }
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(a.as_str());
        }
        match tokio::time::timeout(self.timeout, inv.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.fall_back(&format!("error: {e}"));
                None
            }
            Err(_) => {
                self.fall_back("timed out");
                None
            }
        }
    }

    /// Switches to local limits: logs and counts only the transition.
    fn fall_back(&self, why: &str) {
        if self.healthy.swap(false, Ordering::AcqRel) || self.metrics.degraded.get() == 0 {
            self.metrics.fallback.inc();
            self.metrics.degraded.set(1);
            tracing::warn!(
                reason = why,
                "Redis unavailable: rate limits and throttles fall back to this replica's local limits"
            );
        }
    }

    async fn try_connect(&self) -> bool {
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout.max(Duration::from_millis(200)))
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1)
            .set_max_delay(PROBE_EVERY.as_millis() as u64);
        let fut = self.client.get_connection_manager_with_config(cfg);
        match tokio::time::timeout(self.timeout.max(Duration::from_millis(500)), fut).await {
            Ok(Ok(c)) => {
                *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(c);
                true
            }
            _ => false,
        }
    }

    /// One health check of a degraded link: connects if needed, then PING.
    async fn recover(&self) {
        let existing = self
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut conn = match existing {
            Some(c) => c,
            None => {
                if !self.try_connect().await {
                    return;
                }
                match self
                    .conn
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                {
                    Some(c) => c,
                    None => return,
                }
            }
        };
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        if let Ok(Ok(_)) = tokio::time::timeout(self.timeout, ping).await {
            self.healthy.store(true, Ordering::Release);
            self.metrics.degraded.set(0);
            tracing::info!("Redis is back: rate limits and throttles are shared again");
        }
    }
}

async fn probe(link: Weak<Link>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(link) = link.upgrade() else { return };
        if !link.healthy() {
            link.recover().await;
        }
    }
}
