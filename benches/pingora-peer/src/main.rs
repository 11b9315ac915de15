//! `pingora-peer --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT`: a minimal pingora proxy,
//! the "relaying bytes" peer of the load benchmark (benches/load/run.sh, target D). It does what
//! nginx's `proxy_pass` does there: forward each request to one plain-HTTP upstream over a
//! keep-alive pool, bodies relayed as they come, and nothing else (no checks, no metrics).

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

struct Peer {
    /// Built once; cloned per request (pingora wants a fresh `Box<HttpPeer>` each time). Its
    /// connections go back to pingora's keep-alive pool, keyed by this peer.
    upstream: HttpPeer,
    /// The `Host` nginx's `proxy_pass http://ADDR` sends by default (`$proxy_host`).
    host: String,
}

#[async_trait]
impl ProxyHttp for Peer {
    type CTX = ();
    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.upstream.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        upstream_request.insert_header("Host", self.host.as_str())
    }

    // `logging` is left as the trait's no-op: no access log (nginx B runs with `access_log off`).
}

fn usage() -> ! {
    eprintln!("usage: pingora-peer --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT");
    std::process::exit(2)
}

fn main() {
    // Warnings and errors only (RUST_LOG overrides), like nginx's `error_log … warn`.
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .parse_default_env()
        .init();

    let (mut listen, mut upstream) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--upstream" => upstream = Some(value),
            _ => usage(),
        }
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        usage()
    };
    let upstream: SocketAddr = upstream.parse().unwrap_or_else(|_| usage());

    // ONE worker thread, as nginx B runs one worker process and Sesame `--worker-threads 1`; no
    // daemon (run.sh owns the process and its pid). SIGTERM (run.sh's clean-up) exits at once:
    // pingora's default is a 5-minute grace period, and a benchmark has nothing to drain. No YAML
    // file, no command-line `Opt`: the rest is pingora's defaults (keep-alive pool of 128 upstream
    // connections, like nginx's `keepalive 128`).
    //
    // Two settings differ from pingora's defaults, so the peer shows what a tuned Rust proxy
    // does on this machine rather than a default configuration (both defaults were measured:
    // benches/README.md): no work stealing, so its one thread runs a single-threaded runtime as
    // Sesame's `--worker-threads 1` does; and a client-side write buffer that holds a whole
    // answer, so head and body leave in one write as nginx sends them (the default, 1,460
    // bytes, sends a 2–9 KiB answer as two writes, each waking the client's CPU).
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        daemon: false,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let peer = Peer {
        // Plain HTTP: no TLS, no SNI.
        upstream: HttpPeer::new(upstream, false, String::new()),
        host: upstream.to_string(),
    };
    let mut service = http_proxy_service(&server.configuration, peer);
    service.add_listener(
        ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().write(64 * 1024)),
    );
    server.add_service(service);
    server.run_forever();
}
