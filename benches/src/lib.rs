//! Shared fixtures for Sesame's benchmarks (see `benches/README.md`).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use sesame_domain::model::{UpstreamCredentials, UserKind, UserStatus};
use sesame_domain::{AccountNumber, Right, RightSet, Scope, ScopedRight, Tag, UserKey};
use sesame_gateway::Gateway;
use sesame_store::{PrincipalLink, PrincipalRecord, Store};
use sesame_testkit::{seed, Running};

/// The runtime every bench binary runs on: two workers, like the CI machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Command-line argument `i` (after the program name) parsed, or `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// The command-line arguments after the program name.
pub fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// A deterministic spread of right sets, like real links and entitlements.
pub fn right_sets(n: usize) -> Vec<RightSet> {
    let mut rng = SplitMix(0x9E37_79B9_7F4A_7C15);
    (0..n).map(|_| RightSet::from_bits(rng.next())).collect()
}

/// SplitMix64: cheap, deterministic, good enough to vary the bits.
pub struct SplitMix(pub u64);

impl SplitMix {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Whether a parcel is visible to a caller: the check the gateway runs per parcel.
pub fn visible(rights: RightSet, owner_matches: bool, tag_matches: bool) -> bool {
    let s: Scope = rights
        .scope(ScopedRight::TrackingTool)
        .union(rights.scope(ScopedRight::TrackingToolCs));
    s.allows(owner_matches, tag_matches)
}

pub use sesame_testkit::gateway::gateway;
pub use sesame_testkit::seed::{profile, upstream_password};
pub use sesame_testkit::{rights, ALL_RIGHTS};

/// Creates an account (operator), with every right entitled.
pub async fn account(store: &Store, number: &str) -> i64 {
    seed::account(store, number, rights(ALL_RIGHTS), &["Logistique"]).await
}

/// An advanced user who accepted its invitation.
pub type BenchUser = seed::Seeded;

/// An advanced user of `accounts[0]` (invited, confirmed), then linked to every other account,
/// each link with `links[i]`'s rights (the last one repeats).
pub async fn user(
    store: &Store,
    login: &str,
    tag: Option<&str>,
    accounts: &[i64],
    links: &[RightSet],
) -> BenchUser {
    let u = seed::advanced_user(store, accounts[0], login, tag, None, links[0]).await;
    for (i, a) in accounts.iter().enumerate().skip(1) {
        seed::associate(store, *a, &u.user_key, links[i.min(links.len() - 1)]).await;
    }
    u
}

/// Serves `gw` on two fresh loopback ports; returns the public URL and the stop switch.
pub async fn serve(gw: Gateway) -> (String, Running) {
    let served = sesame_testkit::gateway::serve(gw).await;
    (served.url, served.running)
}

const STATUSES: [&str; 7] = [
    "ANNOUNCED",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "AVAILABLE_AT_PICKUP_POINT",
    "DELIVERED",
    "RETURNED_TO_SENDER",
    "ANOMALY",
];
const NAMES: [&str; 8] = [
    "Camille Leroy",
    "Inès Durand",
    "Hélène Dupré",
    "Jean Martin",
    "Lucas Bernard",
    "Chloé Petit",
    "Hugo Moreau",
    "Léa Fournier",
];
const CITIES: [(&str, &str); 6] = [
    ("75001", "Paris"),
    ("13001", "Marseille"),
    ("69003", "Lyon"),
    ("44000", "Nantes"),
    ("59000", "Lille"),
    ("33000", "Bordeaux"),
];

/// One account's tracking-tool answer (`{"parcels": […]}`, the simulator's shape): `n` parcels,
/// a third bearing `user_key`, a third `tag`, the rest someone else's.
pub fn tracking_tool_answer(
    account: &str,
    n: usize,
    user_key: &str,
    tag: &str,
    seed: u64,
) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    let parcels: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let (zip, city) = CITIES[rng.below(CITIES.len() as u64) as usize];
            let status = STATUSES[rng.below(STATUSES.len() as u64) as usize];
            let who = rng.below(3);
            let day = 1 + rng.below(28);
            serde_json::json!({
                "parcelNumber": format!("6A{:011}", seed * 1_000_000 + i as u64),
                "accountNumber": account,
                "userKey": if who == 0 { serde_json::Value::from(user_key) } else { serde_json::Value::from("FEDCBA9876543210FEDCBA9876543210") },
                "tag": if who == 1 { serde_json::Value::from(tag) } else { serde_json::Value::Null },
                "reference": format!("CMD-{}", rng.below(1_000_000)),
                "recipientName": NAMES[rng.below(NAMES.len() as u64) as usize],
                "postalCode": zip,
                "city": city,
                "country": "FR",
                "product": "DOM",
                "status": status,
                "statusLabel": "En cours d'acheminement",
                "location": "PLATEFORME COLIS WISSOUS",
                "depositDate": format!("2026-11-{day:02}"),
                "lastEventDate": format!("2026-11-{day:02}T18:58:00+01:00"),
                "pass": false,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "parcels": parcels })).expect("json")
}

/// An import file of `n` user lines in the template's columns (`;`, UTF-8 with BOM, like Excel).
pub fn import_csv(n: usize) -> Vec<u8> {
    let template = sesame_admin::csvio::template();
    let text = sesame_admin::csvio::decode(&template);
    let header = text.lines().next().expect("template header").to_owned();
    let cols: Vec<String> = header
        .split(';')
        .map(|c| c.trim_matches('"').to_owned())
        .collect();
    let mut out = Vec::with_capacity(n * 200);
    out.extend_from_slice(b"\xEF\xBB\xBF");
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut rng = SplitMix(7);
    for i in 0..n {
        let (zip, city) = CITIES[i % CITIES.len()];
        let fields: Vec<String> = cols
            .iter()
            .map(|c| match c.as_str() {
                "NOM" => format!("Durand{i}"),
                "PRENOM" => "Hélène".to_owned(),
                "FONCTION" => "Logisticienne".to_owned(),
                "EMAIL" => format!("user{i}@example.fr"),
                "TELEPHONE" => "0241742088".to_owned(),
                "ADRESSE GEOGRAPHIQUE" => "11 rue d'Epluches".to_owned(),
                "CODE POSTAL" => zip.to_owned(),
                "VILLE" => city.to_owned(),
                "TAG UTILISATEUR" => "NORD".to_owned(),
                _ => if rng.below(2) == 0 { "oui" } else { "non" }.to_owned(),
            })
            .collect();
        out.extend_from_slice(fields.join(";").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A resident-memory figure from `/proc/self/status` (`VmRSS`, `VmHWM`…), in KiB.
pub fn proc_status_kib(field: &str) -> u64 {
    status_kib_of("/proc/self/status", field)
}

/// A figure of a `/proc/<pid>/status` file in KiB, 0 if unreadable.
pub fn status_kib_of(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The `q`-quantile (0..=1) of `xs` (sorted in place), nearest rank.
pub fn quantile(xs: &mut [Duration], q: f64) -> Duration {
    if xs.is_empty() {
        return Duration::ZERO;
    }
    xs.sort_unstable();
    let i = ((xs.len() as f64 * q).ceil() as usize).clamp(1, xs.len()) - 1;
    xs[i]
}

/// Median of plain numbers (sorted in place).
pub fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A distinct, valid connection key per `i` (32 upper-case hex digits).
pub fn synthetic_key(i: u64) -> String {
    let mut r = SplitMix(i);
    format!("{:016X}{:016X}", r.next(), r.next())
}

/// A store record as `principal_by_key_hash` returns it: an active advanced user with `links`
/// links spread over 5,000 accounts (account data is shared between principals, as in the
/// gateway's cache).
pub fn synthetic_principal(user_id: i64, links: usize, tag: &str) -> PrincipalRecord {
    PrincipalRecord {
        user_id,
        kind: UserKind::Advanced,
        status: UserStatus::Active,
        user_key: Some(UserKey::generate()),
        department: None,
        key_expires_at: None,
        links: (0..links)
            .map(|j| {
                let a = (user_id as usize * 7 + j * 1_009) % 5_000;
                PrincipalLink {
                    account_id: a as i64 + 1,
                    number: AccountNumber::parse(&format!("{:06}", 100_000 + a)).expect("number"),
                    company: "Société exemple".into(),
                    rights: RightSet::EMPTY
                        .with(Right::WsTracking)
                        .with(Right::WsPostage)
                        .with(Right::WsEligibility),
                    tag: Some(Tag::parse(tag).expect("tag")),
                    upstream: UpstreamCredentials {
                        login: format!("{:06}", 100_000 + a),
                        password: "upstream-secret-xx".into(),
                    },
                }
            })
            .collect(),
    }
}

/// A `sesame serve` process started by a benchmark (killed when dropped), on free loopback
/// ports, over a fresh SQLite file, with code defaults plus `env`.
pub struct SesameProcess {
    child: std::process::Child,
    pub public: String,
    pub ops: String,
    pub admin: String,
    _dir: tempfile::TempDir,
}

impl SesameProcess {
    /// `bin`: the `sesame` binary (e.g. `target/release/sesame`).
    pub async fn start(bin: &str, env: &[(&str, String)]) -> SesameProcess {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
        };
        let (public, ops, admin) = (free(), free(), free());
        let dir = tempfile::tempdir().expect("tempdir");
        let hex32 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        // The process runs in a temporary directory: resolve a relative path first.
        let bin = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.into());
        let mut c = std::process::Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("SESAME__") {
                c.env_remove(k);
            }
        }
        let child = c
            .args(["serve", "--role", "all"])
            // No config/ here: the code's defaults, which config/default.toml documents.
            .current_dir(dir.path())
            .env(
                "SESAME__DATABASE__URL",
                format!("sqlite://{}/sesame.db", dir.path().display()),
            )
            .env("SESAME__SECRETS__SERVER_SECRET", hex32)
            .env("SESAME__SECRETS__MASTER_KEY", hex32)
            .env(
                "SESAME__SECRETS__OPERATOR_TOKEN",
                "bench-operator-token-0123456789",
            )
            .env("SESAME__LISTEN__PUBLIC", public.to_string())
            .env("SESAME__LISTEN__OPS", ops.to_string())
            .env("SESAME__LISTEN__ADMIN", admin.to_string())
            .env("SESAME__LOG__LEVEL", "warn")
            // The bench client stands for many callers (one address each).
            .env("SESAME__GATEWAY__TRUSTED_PROXIES", "[\"127.0.0.1\"]")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            // Its warnings (a slow pool under the burst) would drown the bench's table.
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sesame starts");
        let p = SesameProcess {
            child,
            public: format!("http://{public}"),
            ops: format!("http://{ops}"),
            admin: format!("http://{admin}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let up = http.get(format!("{}/health", p.ops)).send().await;
            if up.map(|r| r.status().is_success()).unwrap_or(false) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sesame never answered /health");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM), 0 if unreadable.
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib_of(&format!("/proc/{}/status", self.pid()), field)
    }

    /// Open descriptors of the process (`/proc/<pid>/fd`).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }
}

impl Drop for SesameProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
