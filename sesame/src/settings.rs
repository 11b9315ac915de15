//! Typed settings: TOML files under `config/`, then environment overrides, then validation.
//!
//! Layering: each `--config` file in order (later wins, tables merge key by key), then every
//! environment variable `SESAME__SECTION__KEY=value` (double underscores separate the path; the
//! value is read as a TOML value when it parses as one — numbers, booleans, arrays — and as a
//! string otherwise). A wrong value stops start-up with a message naming the key; validation
//! reports every problem at once.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sesame_domain::secrets::{Cipher, KeyHasher};
use sesame_store::StoreSecrets;

/// A secret from the configuration: never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Web services and tracking links.
    pub public: SocketAddr,
    /// Admin API.
    pub admin: SocketAddr,
    /// Metrics, health, readiness.
    pub ops: SocketAddr,
    /// The upstream simulator (`sesame simulator`, `sesame demo`).
    pub simulator: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            public: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 8081)),
            ops: SocketAddr::from(([127, 0, 0, 1], 8082)),
            simulator: SocketAddr::from(([127, 0, 0, 1], 8090)),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://path/file.db` (one node; created on first start) or `postgres://…` (several).
    pub url: String,
    /// Pooled connections this node opens at most (default 4 on SQLite, 16 on PostgreSQL).
    /// With PostgreSQL, replicas × this (+1 per gateway for LISTEN) must stay under the server's
    /// `max_connections`.
    pub max_connections: Option<u32>,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            url: "sqlite://.sesame/sesame.db".into(),
            max_connections: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Secrets {
    /// HMAC key for connection keys and tokens: at least 32 bytes, hex or base64.
    pub server_secret: Secret,
    /// AES-256-GCM key for upstream passwords: exactly 32 bytes, hex or base64.
    pub master_key: Secret,
    /// Bearer token of the operator on the admin API: at least 24 characters.
    pub operator_token: Secret,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `sesame_gateway=debug,info`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Bounds on what an unauthenticated caller can make the node spend (`[security]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// Password checks and hashes (argon2id, ~19 MiB each) running at once; unset: 2 × CPUs.
    pub max_concurrent_password_checks: Option<usize>,
    /// Callers waiting for a password check at most; beyond, 503 with `Retry-After` at once.
    pub password_check_queue: usize,
    /// How long a caller waits for a password check before 503 with `Retry-After`.
    pub password_check_wait_ms: u64,
}

impl Default for Security {
    fn default() -> Self {
        let d = sesame_store::PasswordLimits::default();
        Security {
            max_concurrent_password_checks: None,
            password_check_queue: d.queue,
            password_check_wait_ms: u64::try_from(d.wait.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl Security {
    pub fn password_limits(&self) -> sesame_store::PasswordLimits {
        sesame_store::PasswordLimits {
            permits: self
                .max_concurrent_password_checks
                .unwrap_or_else(sesame_store::PasswordLimits::default_permits),
            queue: self.password_check_queue,
            wait: std::time::Duration::from_millis(self.password_check_wait_ms),
        }
    }

    /// Every problem, each naming its key (relative to `[security]`).
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.max_concurrent_password_checks == Some(0) {
            errors.push("max_concurrent_password_checks: must be at least 1".to_owned());
        }
        if self.password_check_wait_ms == 0 {
            errors.push("password_check_wait_ms: must be at least 1".to_owned());
        }
        errors
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: Listen,
    pub database: Database,
    pub secrets: Secrets,
    pub log: Log,
    pub gateway: sesame_gateway::GatewayConfig,
    pub admin: sesame_admin::AdminConfig,
    pub simulator: sesame_simulator::SimConfig,
    /// Optional OpenTelemetry (OTLP/HTTP) export of the gateway's traces; off by default.
    pub telemetry: sesame_telemetry::OtlpConfig,
    pub security: Security,
    /// The files the settings were read from, in order (the route table is reloaded from them).
    #[serde(skip)]
    pub files: Vec<PathBuf>,
}

/// Every problem found in the configuration, each naming its key.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads the layered configuration. `env` is passed in so tests control it.
pub fn load(
    files: &[PathBuf],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut merged = toml::Table::new();
    for f in files {
        match read_table(f) {
            Ok(t) => merge(&mut merged, t),
            Err(e) => errors.push(e),
        }
    }
    for (k, v) in env {
        let Some(path) = k.strip_prefix("SESAME__") else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            errors.push(format!("{k}: empty path segment in environment override"));
            continue;
        }
        set_path(&mut merged, &keys, env_value(&v));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let de = toml::Value::Table(merged);
    let settings: Settings = match serde_path_to_error::deserialize(de) {
        Ok(s) => Settings {
            files: files.to_vec(),
            ..s
        },
        Err(e) => {
            let path = e.path().to_string();
            return Err(ConfigErrors(vec![format!("{path}: {}", e.into_inner())]));
        }
    };
    Ok(settings)
}

fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim()))
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn set_path(t: &mut toml::Table, keys: &[String], v: toml::Value) {
    let (last, parents) = match keys.split_last() {
        Some(x) => x,
        None => return,
    };
    let mut cur = t;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        match entry {
            toml::Value::Table(next) => cur = next,
            _ => return,
        }
    }
    cur.insert(last.clone(), v);
}

/// `8080` → integer, `true` → bool, `[1,2]` → array, anything else → string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Where the gateway reloads its route table from (issue 16): the same files, layered with the
/// environment again, each upstream URL starting with `from` rewritten to start with `to` (the
/// demo's simulator, wherever it was bound).
pub fn route_source(
    files: &[PathBuf],
    rewrite: Option<(String, String)>,
) -> sesame_gateway::RouteSource {
    let read_from = files.to_vec();
    sesame_gateway::RouteSource {
        files: files.to_vec(),
        load: std::sync::Arc::new(move || {
            let s = load(&read_from, std::env::vars()).map_err(|e| e.0.join("; "))?;
            let mut t = s.gateway.route_table();
            if let Some((from, to)) = &rewrite {
                point_upstreams(&mut t.upstreams, from, to);
            }
            Ok(t)
        }),
    }
}

/// Rewrites the declared upstreams whose URL starts with `from` to start with `to`.
pub fn point_upstreams(
    upstreams: &mut std::collections::BTreeMap<String, sesame_gateway::UpstreamConfig>,
    from: &str,
    to: &str,
) {
    for u in upstreams.values_mut() {
        if let Some(rest) = u.url.strip_prefix(from) {
            u.url = format!("{to}{rest}");
        }
    }
}

/// Decodes a configured key: 64 hex characters (32 bytes) or more, or base64.
pub fn decode_key(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let s = s.trim();
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(s).ok();
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s))
        .ok()
}

impl Settings {
    /// Checks what serde cannot: secrets' shapes, database URL. Every error at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if let Err(e) = self.store_secrets() {
            errors.extend(e.0);
        }
        let t = self.secrets.operator_token.expose();
        if t.len() < 24 {
            errors.push("secrets.operator_token: must be at least 24 characters (set SESAME__SECRETS__OPERATOR_TOKEN)".into());
        }
        let u = &self.database.url;
        if !(u.starts_with("sqlite:")
            || u.starts_with("postgres://")
            || u.starts_with("postgresql://"))
        {
            errors.push("database.url: must start with sqlite: or postgres://".into());
        }
        errors.extend(
            self.gateway
                .problems()
                .into_iter()
                .map(|p| format!("gateway.{p}")),
        );
        errors.extend(
            self.admin
                .problems()
                .into_iter()
                .map(|p| format!("admin.{p}")),
        );
        errors.extend(
            self.telemetry
                .problems()
                .into_iter()
                .map(|p| format!("telemetry.{p}")),
        );
        errors.extend(
            self.security
                .problems()
                .into_iter()
                .map(|p| format!("security.{p}")),
        );
        if self.database.max_connections == Some(0) {
            errors.push("database.max_connections: must be at least 1".into());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            errors.push(format!("log.level: {e}"));
        }
        for (i, a) in self.simulator.accounts.iter().enumerate() {
            if sesame_domain::AccountNumber::parse(&a.number).is_err() {
                errors.push(format!(
                    "simulator.accounts[{i}].number: must be exactly 6 digits"
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    pub fn store_secrets(&self) -> Result<StoreSecrets, ConfigErrors> {
        let mut errors = Vec::new();
        let hasher = match decode_key(self.secrets.server_secret.expose()) {
            Some(k) if k.len() >= 32 => KeyHasher::new(&k).ok(),
            _ => None,
        };
        if hasher.is_none() {
            errors.push("secrets.server_secret: must be at least 32 bytes, hex or base64 (set SESAME__SECRETS__SERVER_SECRET)".to_owned());
        }
        let cipher = match decode_key(self.secrets.master_key.expose()) {
            Some(k) if k.len() == 32 => Cipher::new(&k).ok(),
            _ => None,
        };
        if cipher.is_none() {
            errors.push("secrets.master_key: must be exactly 32 bytes, hex (64 characters) or base64 (set SESAME__SECRETS__MASTER_KEY)".to_owned());
        }
        match (hasher, cipher) {
            (Some(hasher), Some(cipher)) => Ok(StoreSecrets { hasher, cipher }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Fresh random secrets, for the demo (its database is fresh too).
pub fn random_secrets() -> Secrets {
    let r = || hex::encode(rand::random::<[u8; 32]>());
    Secrets {
        server_secret: Secret::new(r()),
        master_key: Secret::new(r()),
        operator_token: Secret::new(r()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layering_and_env_overrides() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "a.toml",
            "[listen]\npublic = \"127.0.0.1:9000\"\n[log]\nlevel = \"debug\"\n",
        );
        let b = write(d.path(), "b.toml", "[log]\nformat = \"json\"\n");
        let s = load(
            &[a, b],
            env(&[
                ("SESAME__LISTEN__ADMIN", "127.0.0.1:9001"),
                ("SESAME__SIMULATOR__SEED", "42"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.public.port(), 9000);
        assert_eq!(s.listen.admin.port(), 9001);
        assert_eq!(s.listen.ops.port(), 8082, "defaults fill the rest");
        assert_eq!(s.log.level, "debug");
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.simulator.seed, 42);
    }

    #[test]
    fn errors_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "a.toml",
            "[listen]\npublic = \"not an address\"\n",
        );
        let e = load(&[a], env(&[])).unwrap_err();
        assert!(e.0[0].starts_with("listen.public:"), "{e}");
        let b = write(d.path(), "b.toml", "[gatway]\nx = 1\n");
        let e = load(&[b], env(&[])).unwrap_err();
        assert!(e.to_string().contains("gatway"), "{e}");
        let e = load(&[], env(&[("SESAME__SIMULATOR__SEED", "\"abc\"")])).unwrap_err();
        assert!(e.0[0].starts_with("simulator.seed:"), "{e}");
        let e = load(&[d.path().join("missing.toml")], env(&[])).unwrap_err();
        assert!(e.0[0].contains("missing.toml"), "{e}");
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let s = load(
            &[],
            env(&[
                ("SESAME__DATABASE__URL", "mysql://x"),
                ("SESAME__SECRETS__MASTER_KEY", "abcd"),
                ("SESAME__GATEWAY__MAX_BODY_BYTES", "0"),
                ("SESAME__GATEWAY__UPSTREAM_URL", "ftp://carrier"),
                ("SESAME__ADMIN__DEFAULT_LANG", "de"),
                ("SESAME__TELEMETRY__ENDPOINT", "collector:4318"),
                ("SESAME__TELEMETRY__QUEUE_CAPACITY", "0"),
            ]),
        )
        .unwrap();
        let e = s.validate().unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|m| m.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "secrets.server_secret",
                "secrets.master_key",
                "secrets.operator_token",
                "database.url",
                "gateway.upstream_url",
                "gateway.max_body_bytes",
                "admin.default_lang",
                "telemetry.endpoint",
                "telemetry.queue_capacity"
            ]
        );
        let ok = Settings {
            secrets: random_secrets(),
            ..Settings::default()
        };
        ok.validate().unwrap();
        assert_eq!(format!("{:?}", ok.secrets.master_key), "<redacted>");
    }

    #[test]
    fn telemetry_is_off_by_default_and_set_from_the_environment() {
        assert_eq!(Settings::default().telemetry.enabled_endpoint(), None);
        let s = load(
            &[],
            env(&[
                (
                    "SESAME__TELEMETRY__ENDPOINT",
                    "https://otlp.vendor.example/v1/traces",
                ),
                ("SESAME__TELEMETRY__SERVICE_NAME", "sesame-eu"),
                ("SESAME__TELEMETRY__MAX_BATCH", "256"),
                ("SESAME__TELEMETRY__HEADERS__X-API-KEY", "123456"),
                (
                    "SESAME__TELEMETRY__HEADERS__AUTHORIZATION",
                    "Bearer vendor-secret",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.telemetry.enabled_endpoint(),
            Some("https://otlp.vendor.example/v1/traces")
        );
        assert_eq!(s.telemetry.service_name, "sesame-eu");
        assert_eq!(s.telemetry.max_batch, 256);
        // A value that reads as a number stays the header's text.
        assert_eq!(s.telemetry.headers["x-api-key"], "123456");
        assert_eq!(s.telemetry.headers["authorization"], "Bearer vendor-secret");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("vendor-secret") && !shown.contains("123456"),
            "{shown}"
        );
        // An empty endpoint switches export off again.
        let s = load(&[], env(&[("SESAME__TELEMETRY__ENDPOINT", "")])).unwrap();
        assert_eq!(s.telemetry.enabled_endpoint(), None);
        let e = load(&[], env(&[("SESAME__TELEMETRY__ENDPOIN", "http://c")])).unwrap_err();
        assert!(e.0[0].starts_with("telemetry"), "{e}");
    }

    #[test]
    fn shipped_config_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        for f in ["default.toml", "demo.toml", "production.example.toml"] {
            let s = load(&[root.join(f)], env(&[])).unwrap_or_else(|e| panic!("{f}: {e}"));
            if f == "default.toml" {
                // The documented defaults are the code's defaults: the file cannot drift.
                let d = Settings::default();
                let parts: [(&str, &dyn std::fmt::Debug, &dyn std::fmt::Debug); 5] = [
                    ("gateway", &s.gateway, &d.gateway),
                    ("admin", &s.admin, &d.admin),
                    ("listen", &s.listen, &d.listen),
                    ("database", &s.database, &d.database),
                    ("security", &s.security, &d.security),
                ];
                for (part, got, want) in parts {
                    assert_eq!(format!("{got:?}"), format!("{want:?}"), "[{part}] in {f}");
                }
                assert_eq!(s.telemetry, d.telemetry, "[telemetry] in {f}");
            }
            if f == "production.example.toml" {
                assert!(s.database.url.starts_with("postgres://"));
            }
        }
    }
}
