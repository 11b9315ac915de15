//! The GCRA script, the lease logic and the throttle backend against a real Redis
//! (`SESAME_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`; `scripts/ensure-redis.sh` starts
//! the machine's). These tests FAIL when Redis does not answer: they never skip. Each uses its
//! own key prefix, so parallel runs never share keys.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_limits::{Link, LinkMetrics, Rate, RedisSettings, RedisThrottle, SharedRate, Verdict};
use sesame_throttle::{Throttle, ThrottleConfig};

fn url() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "sesame-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        timeout_ms: 200,
        lease_ms: 25,
    }
}

/// A replica's link: its own connection and metrics. Panics when Redis does not answer.
async fn replica(prefix: &str) -> Arc<Link> {
    let m = LinkMetrics::register(&prometheus::Registry::new()).unwrap();
    let link = Link::connect(&settings(&url(), prefix), m).await.unwrap();
    assert!(
        link.healthy(),
        "Redis does not answer at {} (run scripts/ensure-redis.sh)",
        url()
    );
    link
}

#[tokio::test]
async fn gcra_script_grants_the_capacity_then_the_rate_and_charges_debt() {
    let p = prefix("gcra");
    let r = SharedRate::new(replica(&p).await);
    let rate = Rate {
        per_sec: 20,
        capacity: 20,
    };
    // A fresh bucket is full: 20 of 25 wanted, then one token every 50 ms.
    let (granted, wait_us) = r.lease_now("key", 1, rate, 25, 0).await.unwrap();
    assert_eq!(granted, 20);
    assert!((40_000..=50_000).contains(&wait_us), "{wait_us}");
    let (granted, _) = r.lease_now("key", 1, rate, 1, 0).await.unwrap();
    assert_eq!(granted, 0);
    tokio::time::sleep(Duration::from_millis(110)).await;
    let (granted, _) = r.lease_now("key", 1, rate, 5, 0).await.unwrap();
    assert_eq!(granted, 2, "110 ms at 20/s");
    // Debt (calls admitted on credit) pushes the bucket past empty: 10 calls = 500 ms.
    let (granted, wait_us) = r.lease_now("key", 1, rate, 1, 10).await.unwrap();
    assert_eq!(granted, 0);
    assert!((450_000..=560_000).contains(&wait_us), "{wait_us}");
    // Another bucket is untouched, and the key expires on its own.
    assert_eq!(r.lease_now("key", 2, rate, 3, 0).await.unwrap().0, 3);
    let client = redis::Client::open(url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{p}rl:key:1"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((500..=3_000).contains(&ttl), "{ttl}");
}

/// Spends `rate` from two replicas as fast as they can for `secs`: the calls admitted.
async fn hammer(a: &SharedRate, b: &SharedRate, rate: Rate, secs: f64) -> u32 {
    let start = Instant::now();
    let mut admitted = 0;
    while start.elapsed().as_secs_f64() < secs {
        for r in [a, b] {
            match r.check("key", 7, rate) {
                Verdict::Allow => admitted += 1,
                Verdict::Deny { .. } => {}
                Verdict::Local => panic!("Redis went away"),
            }
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_limit_within_the_bound() {
    let p = prefix("lease");
    let a = SharedRate::new(replica(&p).await);
    let b = SharedRate::new(replica(&p).await);
    // 200/s with a capacity of 200: in 2 s, 200 + 400 = 600 allowed; batch 5, so at most
    // 2 × 2 × 5 = 20 over.
    let rate = Rate {
        per_sec: 200,
        capacity: 200,
    };
    let admitted = hammer(&a, &b, rate, 2.0).await;
    println!("two replicas, 200/s for 2 s: {admitted} admitted (600 allowed)");
    assert!((540..=620).contains(&admitted), "{admitted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_key_is_never_refused() {
    let p = prefix("quiet");
    let a = SharedRate::new(replica(&p).await);
    let rate = Rate {
        per_sec: 10,
        capacity: 10,
    };
    // Well under the limit, each call after the previous lease expired or was spent: every
    // call passes (first calls on credit), none waits for Redis (the cost is in the benchmark).
    for _ in 0..8 {
        assert_eq!(a.check("account", 3, rate), Verdict::Allow);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn an_unreachable_redis_means_local_limits_counted_once() {
    // Nothing listens on port 1.
    let registry = prometheus::Registry::new();
    let m = LinkMetrics::register(&registry).unwrap();
    let t = Instant::now();
    let link = Link::connect(&settings("redis://127.0.0.1:1", &prefix("down")), m.clone())
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(!link.healthy());
    assert_eq!(m.fallback.get(), 1);
    assert_eq!(m.degraded.get(), 1);
    let r = SharedRate::new(link.clone());
    let rate = Rate {
        per_sec: 1,
        capacity: 1,
    };
    for _ in 0..3 {
        assert_eq!(r.check("key", 1, rate), Verdict::Local);
    }
    // The throttle falls back to memory: the same model, per process.
    let cfg = ThrottleConfig {
        login_free_failures: 2,
        ..ThrottleConfig::default()
    };
    let th = Throttle::with_backend(
        cfg.clone(),
        Arc::new(RedisThrottle::new(link.clone(), "gateway", cfg)),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    assert!(th.reserve("login:x", ip).await.is_ok());
    assert!(th.reserve("login:x", ip).await.is_ok());
    assert!(th.reserve("login:x", ip).await.is_err());
    assert_eq!(m.fallback.get(), 1, "counted once per fall-back");
}

fn throttle_cfg() -> ThrottleConfig {
    ThrottleConfig::small()
}

async fn redis_throttle(p: &str) -> Throttle {
    let cfg = throttle_cfg();
    let link = replica(p).await;
    Throttle::with_backend(
        cfg.clone(),
        Arc::new(RedisThrottle::new(link, "gateway", cfg)),
    )
}

#[tokio::test]
async fn guessing_spread_over_replicas_meets_one_budget() {
    let p = prefix("throttle");
    let (a, b) = (redis_throttle(&p).await, redis_throttle(&p).await);
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    // 3 free failures of (login, address) in all, whichever replica counts them.
    let mut passed = 0;
    for i in 0..10 {
        let t = if i % 2 == 0 { &a } else { &b };
        if t.reserve("login:x", ip).await.is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 3);
    let refused = a.reserve("login:x", ip).await.err().unwrap();
    assert!(
        (900..=1_000).contains(&(refused.retry_after.as_millis() as u64)),
        "{refused:?}"
    );
    // Rotating addresses spends the shared budget (2) across replicas too.
    let mut passed = 0;
    for i in 0..20 {
        let t = if i % 2 == 0 { &a } else { &b };
        let ip: IpAddr = format!("10.0.1.{i}").parse().unwrap();
        if t.reserve("login:y", ip).await.is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 2);
    // A success on one replica credits the reservation and marks the address known good,
    // which the other replica sees: it skips the spent shared budget.
    let home: IpAddr = "10.9.9.9".parse().unwrap();
    let permit = a.reserve("login:z", home).await.unwrap();
    permit.succeeded().await;
    for i in 0..20 {
        let ip: IpAddr = format!("10.0.2.{i}").parse().unwrap();
        let _ = a.reserve("login:z", ip).await;
    }
    assert!(b
        .reserve("login:z", "10.0.2.200".parse().unwrap())
        .await
        .is_err());
    assert!(b.reserve("login:z", home).await.is_ok());
}

#[tokio::test]
async fn failed_keys_slow_the_address_on_every_replica() {
    let p = prefix("keys");
    let (a, b) = (redis_throttle(&p).await, redis_throttle(&p).await);
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    for i in 0..10 {
        let t = if i % 2 == 0 { &a } else { &b };
        assert_eq!(t.key_wait(ip).await, Duration::ZERO, "free failure {i}");
        t.key_failed(ip).await;
    }
    let w = b.key_wait(ip).await;
    assert!(w > Duration::from_millis(900), "{w:?}");
    assert_eq!(
        a.key_wait("192.0.2.8".parse().unwrap()).await,
        Duration::ZERO
    );
}
