//! Peak memory under a burst of wrong legacy passwords (issue 10, defect 2).
//!
//!     cargo build --release -p sesame -p sesame-benches
//!     target/release/passwords [-- SESAME_BIN [CONCURRENT]]
//!
//! Starts the real `sesame serve` (default `target/release/sesame`), fires CONCURRENT (default
//! 200) concurrent tracking calls with a wrong legacy login/password, each from its own address
//! (X-Forwarded-For, the bench is a trusted proxy), and samples the server's VmRSS every 10 ms
//! from `/proc/<pid>/status`; prints before / peak (VmHWM) and the answers. Run twice: with the
//! defaults (`[security]`: 2 × CPUs checks at once, 64 waiting), then with the bound lifted
//! (512 at once, tokio's blocking-pool size: the behaviour before the bound) for comparison.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_benches::SesameProcess;

fn main() {
    let args = sesame_benches::args();
    let bin = args
        .first()
        .cloned()
        .unwrap_or_else(|| "target/release/sesame".to_owned());
    let n: usize = sesame_benches::arg(&args, 1, 200);
    let rt = sesame_benches::runtime();
    rt.block_on(async move {
        println!("{n} concurrent wrong legacy passwords against {bin}\n");
        round(&bin, n, "bounded (defaults)", &[]).await;
        round(
            &bin,
            n,
            "unbounded (512 at once, as before the bound)",
            &[
                (
                    "SESAME__SECURITY__MAX_CONCURRENT_PASSWORD_CHECKS",
                    "512".to_owned(),
                ),
                ("SESAME__SECURITY__PASSWORD_CHECK_QUEUE", "512".to_owned()),
                (
                    "SESAME__SECURITY__PASSWORD_CHECK_WAIT_MS",
                    "60000".to_owned(),
                ),
            ],
        )
        .await;
    });
}

async fn round(bin: &str, n: usize, name: &str, env: &[(&str, String)]) {
    let node = Arc::new(SesameProcess::start(bin, env).await);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    // Warm-up: one check, so the allocator's first arena is counted in "before".
    let _ = send(&http, &node.public, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = node.status_kib("VmRSS");
    let hwm_before = node.status_kib("VmHWM");
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (node, stop, max_rss) = (node.clone(), stop.clone(), max_rss.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                max_rss.fetch_max(node.status_kib("VmRSS"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 1..=n {
        let (http, url) = (http.clone(), node.public.clone());
        tasks.push(tokio::spawn(async move { send(&http, &url, i).await }));
    }
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let a = t.await.unwrap_or_else(|e| format!("join error {e}"));
        *answers.entry(a).or_default() += 1;
    }
    let elapsed = start.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let after = node.status_kib("VmRSS");
    let hwm = node.status_kib("VmHWM");
    println!("{name}");
    println!("  answered in              {:.2} s", elapsed.as_secs_f64());
    for (a, c) in &answers {
        println!("  {c:>5} × {a}");
    }
    println!(
        "  VmRSS before / after     {} MiB / {} MiB",
        before / 1024,
        after / 1024
    );
    println!(
        "  peak VmRSS sampled       {} MiB; VmHWM {} MiB (was {} MiB before the burst)\n",
        max_rss.load(Ordering::Relaxed) / 1024,
        hwm / 1024,
        hwm_before / 1024
    );
}

/// One wrong legacy password from address `i`; the answer as "HTTP status / envelope code".
async fn send(http: &reqwest::Client, public: &str, i: usize) -> String {
    let body = serde_json::json!({
        "login": format!("nobody{i}"),
        "password": "Wrong-Pass1",
        "parcelNumber": "6A14091083866",
    });
    let r = http
        .post(format!(
            "{public}/tracking-timeline-ws/rest/tracking/timelineCompany"
        ))
        .header(
            "x-forwarded-for",
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
        )
        .json(&body)
        .send()
        .await;
    match r {
        Ok(r) => {
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            let code = v["status"][0]["code"].as_str().unwrap_or("?").to_owned();
            format!("HTTP {status}, envelope code {code}")
        }
        Err(e) => format!("error: {e}"),
    }
}
