//! Propagation benchmark (SPEC §8: a revocation visible on every node within 100 ms, p99).
//!
//!     cargo run --release -p sesame-benches --bin propagation [-- REVOCATIONS]
//!
//! PostgreSQL (the server named by `SESAME_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; a fresh `sesame_t_*` database, dropped at the end).
//! Two gateway nodes in this one process, each on its OWN `Store` (own connection pool, own
//! `LISTEN`), both running (listeners, change-log follower): node A shares its store handle with
//! the writer (it hears changes through the same-process channel), node B only through
//! PostgreSQL `LISTEN/NOTIFY` — like a second machine. For each of REVOCATIONS (default 100)
//! rounds: both nodes hold the user's key in cache, the key is regenerated (the old one revoked
//! at once) through store A, and each node is polled (every 0.25 ms) until it refuses the old
//! key. Times are from the commit's return; the write's own duration is printed apart.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The allocator the `sesame` binary runs with: measured as it is deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_benches::{account, ms, quantile, rights, serve, user};
use sesame_domain::model::Actor;
use sesame_gateway::{Gateway, GatewayConfig};
use sesame_store::testing::{fresh_url, test_secrets};
use sesame_store::{Backend, Store};

fn main() {
    let n: usize = sesame_benches::arg(&sesame_benches::args(), 0, 100);
    let rt = sesame_benches::runtime();
    rt.block_on(run(n));
}

/// Polls until `gw` refuses `key`; returns when that was first seen.
async fn refused_at(gw: Gateway, key: Arc<str>) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if gw.authenticate_key(&key).await.is_err() {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "revocation not seen after 5 s");
        tokio::time::sleep(Duration::from_micros(250)).await;
    }
}

async fn run(n: usize) {
    let (url, _db) = fresh_url(Backend::Postgres).await;
    let store_a = Store::connect(&url, test_secrets()).await.expect("store A");
    let store_b = Store::connect(&url, test_secrets()).await.expect("store B");
    let cfg = GatewayConfig::default();
    let poll = cfg.poll_interval_ms;
    let gw_a = Gateway::new(cfg.clone(), store_a.clone(), prometheus::Registry::new())
        .await
        .expect("node A");
    let gw_b = Gateway::new(cfg, store_b.clone(), prometheus::Registry::new())
        .await
        .expect("node B");
    let (_ua, mut stop_a) = serve(gw_a.clone()).await;
    let (_ub, mut stop_b) = serve(gw_b.clone()).await;
    let acc = account(&store_a, "820001").await;
    let u = user(
        &store_a,
        "revoked",
        None,
        &[acc],
        &[rights(&["ws_tracking"])],
    )
    .await;
    // Let both followers start (LISTEN issued) before the first change.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut key: Arc<str> = Arc::from(u.key.as_str());
    let (mut on_a, mut on_b, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        // Both nodes hold the key in cache (a hit: no database read on the next call).
        for gw in [&gw_a, &gw_b] {
            for _ in 0..2 {
                gw.authenticate_key(&key)
                    .await
                    .expect("current key accepted");
            }
        }
        let poll_a = tokio::spawn(refused_at(gw_a.clone(), key.clone()));
        let poll_b = tokio::spawn(refused_at(gw_b.clone(), key.clone()));
        let t0 = Instant::now();
        let new = store_a
            .regenerate_connection_key(Actor::AccountAdmin { account_id: acc }, u.id, None)
            .await
            .expect("regenerate");
        let committed = Instant::now();
        writes.push(committed - t0);
        let (a, b) = (poll_a.await.expect("poll A"), poll_b.await.expect("poll B"));
        on_a.push(a.saturating_duration_since(committed));
        on_b.push(b.saturating_duration_since(committed));
        key = Arc::from(new.expose());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_a.signal();
    stop_b.signal();
    println!(
        "key revocation on PostgreSQL, {n} revocations, 2 nodes in one process on 2 Store handles (poll_interval_ms {poll}: safety-net tick every {} ms)",
        poll * 10
    );
    println!("| node | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    for (name, xs) in [
        ("A (writer's store: same-process channel)", &mut on_a),
        ("B (other store: LISTEN/NOTIFY)", &mut on_b),
        ("(the write itself: regenerate + commit)", &mut writes),
    ] {
        let p50 = ms(quantile(xs, 0.50));
        let p99 = ms(quantile(xs, 0.99));
        let max = ms(quantile(xs, 1.0));
        println!("| {name} | {p50:.2} | {p99:.2} | {max:.2} |");
    }
    let worst_p99 = ms(quantile(&mut on_b, 0.99)).max(ms(quantile(&mut on_a, 0.99)));
    println!(
        "every node p99 {worst_p99:.2} ms (target ≤ 100 ms) -> {}",
        if worst_p99 <= 100.0 { "met" } else { "MISSED" }
    );
}
