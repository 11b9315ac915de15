//! The gateway's configuration (`[gateway]` table of the TOML file). Unknown keys are refused so a
//! typo stops start-up with a message naming the key.

use serde::Deserialize;

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Base URL of the carrier's services (the simulator in the demo and the tests).
    pub upstream_url: String,
    /// Extra certificate authorities (PEM) trusted for an `https://` upstream, besides the public
    /// roots: a carrier's staging environment behind a private CA.
    pub upstream_ca_file: Option<std::path::PathBuf>,
    /// TCP connect timeout towards the upstream.
    pub connect_timeout_ms: u64,
    /// Whole-exchange timeout of one upstream call (single-account services).
    pub request_timeout_ms: u64,
    /// Per-account timeout of a fanned-out call: a slow account is reported on its own instead of
    /// delaying every other answer.
    pub fanout_timeout_ms: u64,
    /// Largest request body accepted from a client.
    pub max_body_bytes: usize,
    /// Cached principals (connection key → rights); ~0.6 KiB each with a few links.
    pub cache_capacity: u64,
    /// Backstop only: eviction is driven by the change log, the TTL bounds the damage of a
    /// missed notification.
    pub cache_ttl_secs: u64,
    /// Unknown keys remembered (so a flood of bad keys does not reach the database).
    pub negative_cache_capacity: u64,
    pub negative_ttl_secs: u64,
    /// Successful legacy login/password checks are remembered this long (argon2 is slow).
    pub password_cache_ttl_secs: u64,
    /// Change-log polling period (SQLite; PostgreSQL uses LISTEN/NOTIFY and polls 10× slower as a
    /// safety net).
    pub poll_interval_ms: u64,
    pub rate_limit: RateLimitConfig,
    pub tls: Option<TlsConfig>,
    /// Where the "OK" button of the tracking-link error page leads (the client portal).
    pub portal_url: String,
    /// How long in-flight calls may take to finish once shutdown starts.
    pub drain_timeout_ms: u64,
    /// Addresses or CIDR ranges (`10.0.0.7`, `10.42.0.0/16`, `fd00::/8`) of the HTTP proxies in
    /// front of the gateway (load balancer, ingress pods). When the TCP peer is one of them, the
    /// caller's address (for the slow-down of failed attempts) is read from `X-Forwarded-For`;
    /// otherwise that header is ignored, since anyone can send it.
    pub trusted_proxies: Vec<IpRange>,
    /// The password-guessing throttle and the failed-key slow-down (`sesame-throttle`).
    pub throttle: sesame_throttle::ThrottleConfig,
    /// Open connections and their clocks, on the public and the ops listener each.
    pub connections: sesame_serve::ConnLimits,
    /// Declared routes (issue 16): any upstream API behind delegated keys (`routes/`).
    pub routes: Vec<crate::routes::RouteConfig>,
    /// The named upstream origins the declared routes call.
    pub upstreams: std::collections::BTreeMap<String, crate::routes::UpstreamConfig>,
    /// How often the configuration files are checked for a changed route table (also reloaded
    /// on SIGHUP).
    pub routes_reload_interval_ms: u64,
}

/// An address or a CIDR range, written `addr` or `addr/prefix` (parsed by `ipnet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange(ipnet::IpNet);

impl IpRange {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack listener.
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map_or(ip, V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<IpRange, String> {
        let s = s.trim();
        if !s.contains('/') {
            return s
                .parse::<std::net::IpAddr>()
                .map(|a| IpRange(ipnet::IpNet::from(a)))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR range"));
        }
        s.parse::<ipnet::IpNet>().map(IpRange).map_err(|_| {
            format!("{s:?} is not an IP address or CIDR range (prefix length 0 to 32, or 128)")
        })
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IpRange, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl GatewayConfig {
    /// The declared routes and upstreams (what a reload reads again).
    pub fn route_table(&self) -> crate::routes::RouteTableConfig {
        crate::routes::RouteTableConfig {
            routes: self.routes.clone(),
            upstreams: self.upstreams.clone(),
        }
    }

    /// Every problem with the values, each naming its key (relative to `[gateway]`), so start-up
    /// can report them all at once. Files (TLS certificate, upstream authorities) are read once,
    /// by `Gateway::new`, which reports their problems the same way.
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if !(self.upstream_url.starts_with("http://") || self.upstream_url.starts_with("https://"))
        {
            errors.push("upstream_url: must start with http:// or https://".to_owned());
        }
        if self.max_body_bytes == 0 {
            errors.push("max_body_bytes: must be positive".to_owned());
        }
        if self.cache_capacity == 0 {
            errors.push("cache_capacity: must be positive".to_owned());
        }
        for (name, v) in [
            ("routes_reload_interval_ms", self.routes_reload_interval_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("fanout_timeout_ms", self.fanout_timeout_ms),
        ] {
            if v == 0 {
                errors.push(format!("{name}: must be positive"));
            }
        }
        for (i, o) in self.rate_limit.overrides.iter().enumerate() {
            let key_ok = o
                .user_key
                .as_deref()
                .is_none_or(|k| sesame_domain::UserKey::parse(k).is_ok());
            if (o.user_id.is_none() && o.user_key.is_none()) || !key_ok {
                errors.push(format!(
                    "rate_limit.overrides[{i}]: needs user_id or a valid user_key (32 hexadecimal characters)"
                ));
            }
        }
        errors.extend(self.rate_limit.backend_problems());
        errors.extend(self.connections.problems());
        errors.extend(self.throttle.problems("throttle"));
        errors
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            upstream_url: "http://127.0.0.1:8090".to_owned(),
            upstream_ca_file: None,
            connect_timeout_ms: 1_000,
            request_timeout_ms: 10_000,
            fanout_timeout_ms: 5_000,
            max_body_bytes: 1024 * 1024,
            cache_capacity: 2_000_000,
            cache_ttl_secs: 300,
            negative_cache_capacity: 100_000,
            negative_ttl_secs: 30,
            password_cache_ttl_secs: 60,
            poll_interval_ms: 50,
            rate_limit: RateLimitConfig::default(),
            tls: None,
            portal_url: "http://127.0.0.1:8081/".to_owned(),
            drain_timeout_ms: 30_000,
            trusted_proxies: Vec::new(),
            throttle: sesame_throttle::ThrottleConfig::default(),
            connections: sesame_serve::ConnLimits::default(),
            routes: Vec::new(),
            upstreams: std::collections::BTreeMap::new(),
            routes_reload_interval_ms: 2_000,
        }
    }
}

/// Requests per second allowed; `0` disables a limit.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Per connection key (per user: a user holds one key).
    pub per_key_per_sec: u32,
    /// Per account acted for, all users together.
    pub per_account_per_sec: u32,
    /// Burst allowed above the steady rate (both limits).
    pub burst: u32,
    /// Per-user rates replacing `per_key_per_sec`.
    pub overrides: Vec<RateOverride>,
    // Issue 18: where the buckets (and the password-guessing throttles) live; see
    // crate::ratelimit and sesame-limits. Checked by `backend_problems`.
    /// `local` (each process) or `redis` (shared by every replica).
    pub backend: sesame_limits::BackendKind,
    /// The Redis server with `backend = "redis"`.
    pub redis_url: String,
    /// Prepended to every Redis key.
    pub redis_prefix: String,
    /// Longest wait for Redis before falling back to local limits.
    pub redis_timeout_ms: u64,
    /// Each replica leases this many milliseconds of a limit's rate at a time.
    pub lease_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_key_per_sec: 5_000,
            per_account_per_sec: 20_000,
            burst: 1_000,
            overrides: Vec::new(),
            backend: sesame_limits::BackendKind::Local,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_prefix: "sesame:".to_owned(),
            redis_timeout_ms: 50,
            lease_ms: 25,
        }
    }
}

/// One user's own rate, found by user id or by user key.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RateOverride {
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub user_key: Option<String>,
    pub per_sec: u32,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_path: String,
    pub key_path: String,
    /// How often the files are checked for a renewed certificate (also reloaded on SIGHUP).
    #[serde(default = "default_reload_ms")]
    pub reload_interval_ms: u64,
}

fn default_reload_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    use super::GatewayConfig;

    #[test]
    fn parses_a_gateway_table_and_refuses_unknown_keys() {
        let cfg: GatewayConfig = toml::from_str(
            r#"
            upstream_url = "http://127.0.0.1:9999"
            fanout_timeout_ms = 800
            [rate_limit]
            per_key_per_sec = 50
            overrides = [{ user_id = 7, per_sec = 500 }, { user_key = "0123456789ABCDEF0123456789ABCDEF", per_sec = 0 }]
            [tls]
            cert_path = "c.pem"
            key_path = "k.pem"
            "#,
        )
        .expect("valid");
        assert_eq!(cfg.fanout_timeout_ms, 800);
        assert_eq!(cfg.rate_limit.per_key_per_sec, 50);
        assert_eq!(
            cfg.rate_limit.burst, 1_000,
            "unset keys keep their defaults"
        );
        assert_eq!(cfg.rate_limit.overrides.len(), 2);
        assert_eq!(
            cfg.request_timeout_ms,
            GatewayConfig::default().request_timeout_ms
        );
        let err = toml::from_str::<GatewayConfig>("upstream_ur = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("upstream_ur"), "{err}");
    }
}
