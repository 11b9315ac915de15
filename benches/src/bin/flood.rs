//! Idle-socket flood (issue 10, defect 3): 20,000 connections that never send a byte.
//!
//!     cargo build --release -p sesame -p sesame-benches
//!     target/release/flood [-- SESAME_BIN [SOCKETS [FIRST_BYTE_TIMEOUT_MS]]]
//!
//! Starts the real `sesame serve` (default `target/release/sesame`, `[gateway.connections]`
//! defaults: 10,000 per listener, first byte within 10 s), then two helper processes (this
//! binary, `--hold`) open SOCKETS (default 20,000) silent connections to the public listener
//! between them (a process's descriptor limit here is 20,000; each raises its soft limit to the
//! hard one) and hold them. Meanwhile a normal request goes to the public listener and to the
//! ops listener every 250 ms, on a fresh connection each: its outcome and latency are printed
//! with the server's descriptor count (`/proc/<pid>/fd`). At the end each helper reports how its
//! sockets ended (closed at once by the cap, closed by the first-byte timeout, still open).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_benches::SesameProcess;
use tokio::io::AsyncReadExt;

fn main() {
    let args = sesame_benches::args();
    let rt = sesame_benches::runtime();
    if args.first().map(String::as_str) == Some("--hold") {
        let addr = args.get(1).cloned().unwrap_or_default();
        let count: usize = sesame_benches::arg(&args, 2, 10_000);
        let secs: u64 = sesame_benches::arg(&args, 3, 20);
        rt.block_on(hold(addr, count, secs));
        return;
    }
    let bin = args
        .first()
        .cloned()
        .unwrap_or_else(|| "target/release/sesame".to_owned());
    let sockets: usize = sesame_benches::arg(&args, 1, 20_000);
    let first_byte: u64 = sesame_benches::arg(&args, 2, 10_000);
    rt.block_on(run(bin, sockets, first_byte));
}

fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = lim.maximum;
    let _ = setrlimit(Resource::Nofile, lim);
    getrlimit(Resource::Nofile).current.unwrap_or(0)
}

async fn run(bin: String, sockets: usize, first_byte: u64) {
    let node = SesameProcess::start(
        &bin,
        &[(
            "SESAME__GATEWAY__CONNECTIONS__FIRST_BYTE_TIMEOUT_MS",
            first_byte.to_string(),
        )],
    )
    .await;
    let hold_secs = first_byte / 1000 + 8;
    println!(
        "sesame pid {}: {} descriptors open before the flood",
        node.pid(),
        node.fds()
    );
    let me = std::env::current_exe().expect("own path");
    let addr = node.public.trim_start_matches("http://").to_owned();
    let per = sockets.div_ceil(2);
    let mut helpers = Vec::new();
    for _ in 0..2 {
        helpers.push(
            std::process::Command::new(&me)
                .args(["--hold", &addr, &per.to_string(), &hold_secs.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("helper starts"),
        );
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let start = Instant::now();
    println!("\n  t (s)  server fds  public (GET /sesame/v1/parcels)   ops (GET /health)");
    while start.elapsed() < Duration::from_secs(hold_secs + 2) {
        let p = probe(&http, format!("{}/sesame/v1/parcels", node.public)).await;
        let o = probe(&http, format!("{}/health", node.ops)).await;
        println!(
            "  {:>5.1}  {:>10}  {:<32}  {}",
            start.elapsed().as_secs_f64(),
            node.fds(),
            p,
            o
        );
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
    println!();
    for h in helpers {
        let out = h.wait_with_output().expect("helper ends");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    println!(
        "sesame pid {}: {} descriptors open after the flood",
        node.pid(),
        node.fds()
    );
}

async fn probe(http: &reqwest::Client, url: String) -> String {
    let t = Instant::now();
    match http.get(url).send().await {
        Ok(r) => format!(
            "{} in {:.1} ms",
            r.status().as_u16(),
            t.elapsed().as_secs_f64() * 1e3
        ),
        Err(e) => {
            let what = if e.is_timeout() {
                "timeout"
            } else {
                "refused/closed"
            };
            format!("{what} in {:.1} ms", t.elapsed().as_secs_f64() * 1e3)
        }
    }
}

/// Opens `count` silent connections to `addr`, holds them `secs`, reports how they ended.
async fn hold(addr: String, count: usize, secs: u64) {
    let limit = raise_fd_limit();
    let at_once = Arc::new(AtomicUsize::new(0));
    let by_timeout = Arc::new(AtomicUsize::new(0));
    let mut opened = 0;
    let mut failed = 0;
    let start = Instant::now();
    for _ in 0..count {
        match tokio::net::TcpStream::connect(&addr).await {
            Ok(mut s) => {
                opened += 1;
                let (at_once, by_timeout) = (at_once.clone(), by_timeout.clone());
                tokio::spawn(async move {
                    let t = Instant::now();
                    let mut b = [0u8; 64];
                    let _ = s.read(&mut b).await;
                    if t.elapsed() < Duration::from_secs(1) {
                        at_once.fetch_add(1, Ordering::Relaxed);
                    } else {
                        by_timeout.fetch_add(1, Ordering::Relaxed);
                    }
                    // Keep the descriptor until the end, like a real flood.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(s);
                });
            }
            Err(_) => failed += 1,
        }
    }
    let open_time = start.elapsed();
    tokio::time::sleep(Duration::from_secs(secs).saturating_sub(open_time)).await;
    let a = at_once.load(Ordering::Relaxed);
    let b = by_timeout.load(Ordering::Relaxed);
    println!(
        "helper {}: fd limit {limit}, opened {opened} in {:.1} s (failed {failed}); closed by the server at once (cap): {a}, after the first-byte timeout: {b}, still open after {secs} s: {}",
        std::process::id(),
        open_time.as_secs_f64(),
        opened - a - b
    );
}
