//! Memory benchmark (SPEC §8: a million cached principals in under 1 GiB; issue 17: 512 MiB).
//!
//!     cargo run --release -p sesame-benches --bin memory [-- PRINCIPALS [LINKS]]
//!
//! Fills a real gateway's principal cache (fresh SQLite store) with PRINCIPALS principals
//! (default 1,000,000) of LINKS links each (default 3, over 5,000 accounts) exactly as loads from
//! the store would (account data shared, user index), then prints the time to warm them, the
//! resident memory they added (VmRSS) and the peak (VmHWM), per principal, and the cache-hit
//! latency (key → principal, HMAC included) at that size.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The allocator the `sesame` binary runs with: measured as it is deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use sesame_benches::{gateway, proc_status_kib, synthetic_key, synthetic_principal, SplitMix};
use sesame_domain::ConnectionKey;
use sesame_gateway::bench as gb;
use sesame_gateway::GatewayConfig;
use sesame_store::Backend;

fn main() {
    let args = sesame_benches::args();
    let n: u64 = sesame_benches::arg(&args, 0, 1_000_000);
    let links: usize = sesame_benches::arg(&args, 1, 3);
    let rt = sesame_benches::runtime();
    rt.block_on(async move {
        let (gw, _store, _db) = gateway(Backend::Sqlite, GatewayConfig::default()).await;
        let hasher = sesame_store::testing::test_secrets().hasher;
        let rss_before = proc_status_kib("VmRSS");
        let hwm_before = proc_status_kib("VmHWM");
        let t = Instant::now();
        for i in 0..n {
            let key = ConnectionKey::parse(&synthetic_key(i)).expect("key");
            let rec = synthetic_principal(i as i64 + 1, links, "NORD");
            gb::cache_principal(&gw, hasher.hash_key(&key), rec).await;
        }
        gb::settle_cache(&gw).await;
        let warm = t.elapsed();
        let cached = gw.cached_principals().await;
        let rss_after = proc_status_kib("VmRSS");
        let hwm_after = proc_status_kib("VmHWM");
        let added = rss_after.saturating_sub(rss_before) * 1024;
        let peak = hwm_after.saturating_sub(rss_before) * 1024;

        // Cache hits at this size, keys in a pseudo-random order.
        let mut rng = SplitMix(42);
        let keys: Vec<String> = (0..100_000)
            .map(|_| synthetic_key(rng.below(n)))
            .collect();
        for k in keys.iter().take(1_000) {
            assert!(gw.authenticate_key(k).await.is_ok(), "cached key refused");
        }
        let t = Instant::now();
        for k in &keys {
            std::hint::black_box(gw.authenticate_key(k).await.is_ok());
        }
        let hit = t.elapsed() / keys.len() as u32;

        let gib = 1024.0 * 1024.0 * 1024.0;
        println!("principals cached           {cached} ({links} links each, over 5,000 accounts)");
        println!(
            "time to warm                {:.2} s ({:.2} µs per principal: HMAC + build + insert, no database read)",
            warm.as_secs_f64(),
            warm.as_secs_f64() * 1e6 / n as f64
        );
        println!(
            "resident before / after     {} MiB / {} MiB (VmRSS)",
            rss_before / 1024,
            rss_after / 1024
        );
        println!(
            "peak (VmHWM)                {} MiB (was {} MiB before filling)",
            hwm_after / 1024,
            hwm_before / 1024
        );
        println!(
            "added by the principals     {} MiB resident, {} MiB at peak: {} bytes/principal ({} at peak)",
            added / (1024 * 1024),
            peak / (1024 * 1024),
            added / n.max(1),
            peak / n.max(1)
        );
        println!(
            "whole process peak          {:.3} GiB (target: 1M principals under 512 MiB) -> {}",
            hwm_after as f64 * 1024.0 / gib,
            if (hwm_after as f64 * 1024.0) < gib / 2.0 * (n as f64 / 1e6) {
                "met"
            } else {
                "MISSED"
            }
        );
        println!("cache hit at this size      {hit:?} per key -> principal (parse + HMAC + lookup)");
    });
}
