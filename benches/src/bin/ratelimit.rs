//! Issue 18: what shared rate limits cost and how accurate they are.
//!
//! 1. Added latency of one rate-limit check (p50/p99/p99.9), interleaved rounds: the local
//!    governor bucket (`backend = "local"`), the Redis backend's check (`SharedRate::check`:
//!    leased tokens, refills in the background), and for reference one Redis round trip (the GCRA
//!    script straight, what a check would cost without leases).
//! 2. Over-limit error across 2 replicas (two links, two connections, each replica on its own
//!    thread, hammering one bucket as fast as it can): admitted vs allowed (capacity + rate × t),
//!    at 20/s (the done-means test's limit), 1 000/s and 5 000/s, and with an uneven spread.
//!
//! Needs Redis at `SESAME_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`; see
//! scripts/ensure-redis.sh). `cargo run --release -p sesame-benches --bin ratelimit [-- 200000]`
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use sesame_limits::{Link, LinkMetrics, Rate, RedisSettings, SharedRate, Verdict};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn url() -> String {
    std::env::var("SESAME_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn link(prefix: &str) -> Arc<Link> {
    let m = LinkMetrics::register(&prometheus::Registry::new()).unwrap();
    let s = RedisSettings {
        url: url(),
        prefix: prefix.to_owned(),
        timeout_ms: 50,
        lease_ms: 25,
    };
    let l = Link::connect(&s, m).await.unwrap();
    assert!(l.healthy(), "no Redis at {}", url());
    l
}

fn pct(v: &mut [u64], q: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

fn summary(name: &str, v: &mut [u64]) {
    println!(
        "  {name:<34} p50 {:>6} ns   p99 {:>7} ns   p99.9 {:>8} ns   (n = {})",
        pct(v, 0.50),
        pct(v, 0.99),
        pct(v, 0.999),
        v.len()
    );
}

async fn latency(n: usize, prefix: &str) {
    println!("1. Added latency of one check (interleaved rounds, {n} checks each):");
    let high = Rate {
        per_sec: 1_000_000,
        capacity: 1_000_000,
    };
    let local = RateLimiter::keyed(
        Quota::per_second(NonZeroU32::new(high.per_sec).unwrap())
            .allow_burst(NonZeroU32::new(high.capacity).unwrap()),
    );
    let shared = SharedRate::new(link(prefix).await);
    let (mut l, mut s, mut rt) = (Vec::new(), Vec::new(), Vec::new());
    let mut fell_back = 0u64;
    let rounds = 5;
    for round in 0..rounds {
        for i in 0..n / rounds {
            let key = (i % 1000) as i64;
            let t = Instant::now();
            let ok = local.check_key(&key).is_ok();
            l.push(t.elapsed().as_nanos() as u64);
            assert!(ok);
            let t = Instant::now();
            let v = shared.check("key", key, high);
            s.push(t.elapsed().as_nanos() as u64);
            // A Redis call slower than the 50 ms timeout on this busy machine falls back.
            fell_back += u64::from(v == Verdict::Local);
            if i.is_multiple_of(1000) {
                // Let the background refills run, as a server's other requests would.
                tokio::task::yield_now().await;
            }
        }
        for i in 0..(n / rounds / 100).max(100) {
            let t = Instant::now();
            let got = shared
                .lease_now("rt", (round * 1000 + i) as i64, high, 1, 0)
                .await;
            rt.push(t.elapsed().as_nanos() as u64);
            fell_back += u64::from(got.is_none());
        }
    }
    summary("local (governor)", &mut l);
    summary("redis backend (leased)", &mut s);
    summary("one Redis round trip (reference)", &mut rt);
    println!("  checks decided locally (Redis over its 50 ms timeout): {fell_back}");
}

/// Two replicas hammer one bucket for `secs`; `b_every` slows replica B (1 = as fast as A).
async fn accuracy(prefix: &str, per_sec: u32, secs: f64, b_every: u32) -> (u64, f64, f64) {
    let rate = Rate {
        per_sec,
        capacity: per_sec,
    };
    let admitted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let t0 = Instant::now();
    for (replica, every) in [(0, 1), (1, b_every)] {
        let r = SharedRate::new(link(prefix).await);
        let (admitted, stop) = (admitted.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if i.is_multiple_of(u64::from(every)) {
                    match r.check("key", 1, rate) {
                        Verdict::Allow => {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        Verdict::Deny { .. } => {}
                        Verdict::Local => {
                            eprintln!("replica {replica}: Redis over its timeout, local limits");
                        }
                    }
                }
                if i.is_multiple_of(64) {
                    tokio::time::sleep(Duration::from_micros(50)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    for t in tasks {
        t.await.unwrap();
    }
    let got = admitted.load(Ordering::Relaxed);
    let allowed = f64::from(rate.capacity) + f64::from(per_sec) * elapsed;
    let over = (got as f64 - allowed) / (f64::from(per_sec) * elapsed) * 100.0;
    (got, allowed, over)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let run = std::process::id();
    rt.block_on(async move {
        latency(n, &format!("sesame-bench:{run}:lat:")).await;
        println!("2. Over-limit error across 2 replicas (allowed = capacity + rate × t; error = (admitted − allowed) / (rate × t)):");
        for (i, (per_sec, secs, b_every)) in [(20, 5.0, 1), (1_000, 5.0, 1), (5_000, 5.0, 1), (1_000, 5.0, 10)]
            .into_iter()
            .enumerate()
        {
            let (got, allowed, over) =
                accuracy(&format!("sesame-bench:{run}:acc{i}:"), per_sec, secs, b_every).await;
            let spread = if b_every == 1 { "even" } else { "uneven (B 1/10 of A)" };
            println!(
                "  {per_sec:>5}/s for {secs} s, {spread:<21}: admitted {got:>6}, allowed {allowed:>8.0}, error {over:+.1} %"
            );
        }
    });
}
