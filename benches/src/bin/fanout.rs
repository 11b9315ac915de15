//! Fan-out benchmark (SPEC §8: fan-out over 20 accounts within 1.2× of a single upstream call).
//!
//!     cargo run --release -p sesame-benches --bin fanout [-- ROUNDS [LATENCY_MS]]
//!
//! One process: the simulator with a fixed upstream latency (default 5 ms, no jitter), a gateway
//! on a fresh SQLite store serving on loopback, three advanced users linked to 1, 5 and 20
//! accounts with `ws_eligibility`. Each round sends one eligibility call without
//! `partnerClientCode` (answered by every linked account, concurrently) per user, plus one call
//! straight to the simulator, in rotating order; prints p50/p99 per width and the ratios.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The allocator the `sesame` binary runs with: measured as it is deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use sesame_benches::{account, gateway, ms, quantile, rights, serve, upstream_password, user};
use sesame_gateway::{GatewayConfig, RateLimitConfig};
use sesame_simulator::{Latency, SimAccount, SimConfig, Simulator};
use sesame_store::Backend;

const PATH: &str = "/api-ewe/v1/rest/additionalinformations";

fn main() {
    let args = sesame_benches::args();
    let rounds: usize = sesame_benches::arg(&args, 0, 300);
    let latency: u64 = sesame_benches::arg(&args, 1, 5);
    let rt = sesame_benches::runtime();
    rt.block_on(run(rounds, latency));
}

async fn run(rounds: usize, latency: u64) {
    let sim = Simulator::new(SimConfig {
        seed: 5,
        parcels_per_account: 5,
        invoices_per_account: 1,
        latency: Latency {
            fixed_ms: latency,
            jitter_ms: 0,
        },
        ..SimConfig::default()
    });
    let handle = sim.spawn().await.expect("simulator");
    let cfg = GatewayConfig {
        upstream_url: handle.base_url(),
        rate_limit: RateLimitConfig {
            per_key_per_sec: 1_000_000,
            per_account_per_sec: 1_000_000,
            burst: 1_000_000,
            ..RateLimitConfig::default()
        },
        ..GatewayConfig::default()
    };
    let (gw, store, _db) = gateway(Backend::Sqlite, cfg).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let n = format!("8100{i:02}");
        ids.push(account(&store, &n).await);
        sim.add_account(SimAccount::new(
            &n,
            upstream_password(&n),
            format!("Société {n}"),
        ));
    }
    let r = [rights(&["ws_eligibility"])];
    let users = [
        (1, user(&store, "fan-1", None, &ids[..1], &r).await),
        (5, user(&store, "fan-5", None, &ids[..5], &r).await),
        (20, user(&store, "fan-20", None, &ids[..20], &r).await),
    ];
    let (url, mut stop) = serve(gw).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let body = |key: &str| serde_json::json!({"credential": {"apiKey": key}, "productCode": "DOM", "countryCode": "FR", "zipCode": "75001"});
    let direct = serde_json::json!({"credential": {"login": "810000", "password": upstream_password("810000")},
        "partnerClientCode": "810000", "productCode": "DOM", "countryCode": "FR", "zipCode": "75001"});
    // Warm-up: principals cached, pooled connections open, answers as expected.
    for (w, u) in &users {
        for _ in 0..5 {
            let v: serde_json::Value = http
                .post(format!("{url}{PATH}"))
                .json(&body(&u.key))
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            let answers = v["answers"].as_array().expect("answers");
            assert_eq!(answers.len(), *w, "{v}");
            assert!(answers.iter().all(|a| a["status"] == "ok"), "{v}");
        }
    }
    // 0 = direct upstream call, 1..=3 = the users.
    let mut lat: Vec<Vec<Duration>> = (0..4).map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..rounds {
        for j in 0..4 {
            let which = (round + j) % 4;
            let t = Instant::now();
            let resp = if which == 0 {
                http.post(format!("{}{PATH}", handle.base_url()))
                    .json(&direct)
                    .send()
                    .await
            } else {
                http.post(format!("{url}{PATH}"))
                    .json(&body(&users[which - 1].1.key))
                    .send()
                    .await
            };
            let bytes = resp.expect("send").bytes().await.expect("body");
            lat[which].push(t.elapsed());
            std::hint::black_box(bytes);
        }
    }
    stop.signal();
    let mut p50 = [0.0; 4];
    let mut p99 = [0.0; 4];
    for i in 0..4 {
        p50[i] = ms(quantile(&mut lat[i], 0.50));
        p99[i] = ms(quantile(&mut lat[i], 0.99));
    }
    println!(
        "eligibility fan-out, simulator latency {latency} ms fixed, {rounds} calls per width (interleaved)"
    );
    println!("| call | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!("| direct upstream call | {:.2} | {:.2} |", p50[0], p99[0]);
    for (i, (w, _)) in users.iter().enumerate() {
        println!(
            "| via Sesame, {w} account(s) | {:.2} | {:.2} |",
            p50[i + 1],
            p99[i + 1]
        );
    }
    println!(
        "ratio 20/1 accounts (via Sesame): p50 {:.3}, p99 {:.3}  (target ≤ 1.2)",
        p50[3] / p50[1],
        p99[3] / p99[1]
    );
    println!(
        "ratio 20 accounts via Sesame / direct single upstream call: p50 {:.3}, p99 {:.3}",
        p50[3] / p50[0],
        p99[3] / p99[0]
    );
}
