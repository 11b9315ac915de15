//! The deployment files under `deploy/` against the real product: every YAML/JSON/TOML file
//! parses; the compose file, the Kubernetes manifests and the Dockerfile say what they must;
//! the configuration they ship loads and validates; the probe paths answer on a running node;
//! and every metric the Grafana dashboard and the Prometheus rules use is one a running gateway
//! really exports (scraped from `/metrics` after real calls). `promtool` (Debian: `apt-get install
//! prometheus`, which scripts/test.sh does) checks the rules, the Prometheus configuration, the
//! rule unit tests and the scraped text too: the test fails without it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::demo_settings;
use serde_yaml::Value as Yaml;
use sesame::demo;
use sesame::settings::{self, Settings};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn deploy() -> PathBuf {
    root().join("deploy")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every document of a YAML file, with `<<` merge keys applied (compose uses them).
fn yaml_docs(p: &Path) -> Vec<Yaml> {
    let text = read(p);
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&text) {
        let mut v: Yaml = serde::Deserialize::deserialize(d)
            .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", p.display()));
        v.apply_merge()
            .unwrap_or_else(|e| panic!("{}: merge keys: {e}", p.display()));
        if !v.is_null() {
            docs.push(v);
        }
    }
    docs
}

fn yaml(p: &Path) -> Yaml {
    let mut d = yaml_docs(p);
    assert_eq!(d.len(), 1, "{}: one document expected", p.display());
    d.remove(0)
}

fn s(v: &Yaml) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("a string expected, got {v:?}"))
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("a list expected, got {v:?}"))
        .iter()
        .map(|x| match x {
            Yaml::Number(n) => n.to_string(),
            other => s(other).to_owned(),
        })
        .collect()
}

/// promtool from the PATH. Required: the test fails without it (Debian package `prometheus`,
/// which scripts/test.sh installs).
fn promtool() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        })
        .expect(
            "promtool is needed to check PromQL syntax and run the alert unit tests \
             (apt-get install prometheus)",
        )
}

/// Settings as the image layers them: config/default.toml, then deploy/docker/container.toml,
/// then `extra` (e.g. the Kubernetes ConfigMap's file), then the environment.
fn layered_settings(extra: Option<&str>, env: Vec<(String, String)>) -> Settings {
    let mut files = vec![
        root().join("config/default.toml"),
        deploy().join("docker/container.toml"),
    ];
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = extra {
        let p = dir.path().join("extra.toml");
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    settings::load(&files, env).unwrap_or_else(|e| panic!("{e}"))
}

fn test_secrets() -> Vec<(String, String)> {
    vec![
        (
            "SESAME__SECRETS__SERVER_SECRET".into(),
            "11".repeat(32), // 32 bytes, hex
        ),
        ("SESAME__SECRETS__MASTER_KEY".into(), "22".repeat(32)),
        (
            "SESAME__SECRETS__OPERATOR_TOKEN".into(),
            "operator-token-for-the-deploy-test".into(),
        ),
        (
            "SESAME__DATABASE__URL".into(),
            "postgres://sesame:pw@postgres:5432/sesame".into(),
        ),
    ]
}

#[test]
fn every_yaml_json_and_toml_file_under_deploy_parses() {
    let mut files = Vec::new();
    files_under(&deploy(), &mut files);
    let mut counts = BTreeMap::<&str, usize>::new();
    for p in &files {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match ext {
            "yaml" | "yml" => {
                assert!(!yaml_docs(p).is_empty(), "{}: empty", p.display());
                *counts.entry("yaml").or_default() += 1;
            }
            "json" => {
                serde_json::from_str::<serde_json::Value>(&read(p))
                    .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()));
                *counts.entry("json").or_default() += 1;
            }
            "toml" => {
                toml::from_str::<toml::Value>(&read(p))
                    .unwrap_or_else(|e| panic!("{}: invalid TOML: {e}", p.display()));
                *counts.entry("toml").or_default() += 1;
            }
            _ => {}
        }
    }
    // Compose, prometheus ×3, grafana provisioning ×2, kubernetes ×10; the dashboard; container.toml.
    assert!(counts.get("yaml").copied().unwrap_or(0) >= 16, "{counts:?}");
    assert!(counts.get("json").copied().unwrap_or(0) >= 1, "{counts:?}");
    assert!(counts.get("toml").copied().unwrap_or(0) >= 1, "{counts:?}");
}

#[test]
fn compose_runs_postgres_migrate_two_gateways_admin_simulator_prometheus_grafana() {
    let dir = deploy().join("compose");
    let c = yaml(&dir.join("compose.yaml"));
    let services = c["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().map(s).collect();
    for want in [
        "postgres",
        "migrate",
        "gateway-1",
        "gateway-2",
        "admin",
        "simulator",
        "prometheus",
        "grafana",
        "redis",
    ] {
        assert!(names.contains(want), "service {want} missing: {names:?}");
    }
    let svc = |n: &str| &c["services"][n];
    let command = |n: &str| strings(&svc(n)["command"]);
    for gw in ["gateway-1", "gateway-2"] {
        assert_eq!(command(gw), ["serve", "--role", "gateway"], "{gw}");
        assert_eq!(
            s(&svc(gw)["depends_on"]["migrate"]["condition"]),
            "service_completed_successfully",
            "{gw} waits for the migration"
        );
        assert_eq!(
            s(&svc(gw)["environment"]["SESAME__GATEWAY__UPSTREAM_URL"]),
            "http://simulator:8090",
            "{gw} talks to the simulator"
        );
        // Issue 18: limits shared through the compose file's Redis.
        assert_eq!(
            s(&svc(gw)["environment"]["SESAME__GATEWAY__RATE_LIMIT__BACKEND"]),
            "redis",
            "{gw}"
        );
        assert_eq!(
            s(&svc(gw)["environment"]["SESAME__GATEWAY__RATE_LIMIT__REDIS_URL"]),
            "redis://redis:6379",
            "{gw}"
        );
        assert_eq!(
            s(&svc(gw)["depends_on"]["redis"]["condition"]),
            "service_healthy",
            "{gw} waits for Redis"
        );
        let grace = s(&svc(gw)["stop_grace_period"]);
        let secs: u64 = grace.trim_end_matches('s').parse().unwrap();
        let drain = layered_settings(None, test_secrets())
            .gateway
            .drain_timeout_ms
            / 1000;
        assert!(
            secs > drain,
            "{gw}: stop_grace_period {grace} ≤ drain {drain}s"
        );
    }
    assert_eq!(command("admin"), ["serve", "--role", "admin"]);
    assert_eq!(command("migrate"), ["migrate"]);
    assert_eq!(command("simulator"), ["simulator"]);
    assert_eq!(s(&svc("migrate")["restart"]), "no");
    // Every Sesame service gets its secrets from the env file, whose example exists.
    for n in ["migrate", "gateway-1", "gateway-2", "admin"] {
        assert_eq!(strings(&svc(n)["env_file"]), ["sesame.env"], "{n}");
        assert_eq!(
            s(&svc(n)["build"]["dockerfile"]),
            "deploy/docker/Dockerfile",
            "{n}"
        );
        assert!(dir
            .join(s(&svc(n)["build"]["context"]))
            .join(s(&svc(n)["build"]["dockerfile"]))
            .is_file());
    }
    let example = read(&dir.join("sesame.env.example"));
    for k in [
        "SESAME__SECRETS__SERVER_SECRET",
        "SESAME__SECRETS__MASTER_KEY",
        "SESAME__SECRETS__OPERATOR_TOKEN",
        "SESAME__DATABASE__URL",
    ] {
        assert!(example.contains(&format!("{k}=")), "{k} missing");
    }
    assert!(dir.join("postgres.env.example").is_file());
    // Bind mounts point at files of this repository.
    for n in ["prometheus", "grafana"] {
        for v in strings(&svc(n)["volumes"]) {
            let src = v.split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(dir.join(src).exists(), "{n}: {src} does not exist");
            }
        }
    }
    // Prometheus scrapes both gateways' ops ports and loads the rules compose mounts.
    let prom = yaml(&deploy().join("prometheus/prometheus.yml"));
    let job = prom["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"].as_str() == Some("sesame-gateway"))
        .expect("sesame-gateway job");
    let targets: Vec<String> = job["static_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|c| strings(&c["targets"]))
        .collect();
    assert_eq!(targets, ["gateway-1:8082", "gateway-2:8082"]);
    let mounted: Vec<String> = strings(&svc("prometheus")["volumes"]);
    for rule in strings(&prom["rule_files"]) {
        assert!(
            mounted.iter().any(|v| v.contains(&format!(":{rule}"))),
            "{rule} is not mounted"
        );
    }
}

fn k8s_docs() -> Vec<(String, Yaml)> {
    let dir = deploy().join("kubernetes");
    let mut out = Vec::new();
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    files.sort();
    for p in files {
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name == "kustomization.yaml" {
            continue;
        }
        for d in yaml_docs(&p) {
            out.push((name.clone(), d));
        }
    }
    out
}

fn find<'a>(docs: &'a [(String, Yaml)], kind: &str, name: &str) -> &'a Yaml {
    &docs
        .iter()
        .find(|(_, d)| {
            d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("{kind}/{name} missing"))
        .1
}

/// The named container port's number.
fn port_number(container: &Yaml, port: &Yaml) -> u64 {
    match port {
        Yaml::Number(n) => n.as_u64().unwrap(),
        Yaml::String(name) => container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
            .as_u64()
            .unwrap(),
        other => panic!("port {other:?}"),
    }
}

#[test]
fn kubernetes_manifests_probe_the_ops_port_run_as_non_root_and_drain() {
    let docs = k8s_docs();
    let kust = yaml(&deploy().join("kubernetes/kustomization.yaml"));
    let resources: BTreeSet<String> = strings(&kust["resources"]).into_iter().collect();
    let files: BTreeSet<String> = docs.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(resources, files, "kustomization lists every manifest file");

    // Every workload: non-root, read-only root filesystem, no privilege escalation.
    let mut workloads = 0;
    for (file, d) in &docs {
        let pod = match d["kind"].as_str() {
            Some("Deployment") | Some("Job") => &d["spec"]["template"]["spec"],
            _ => continue,
        };
        workloads += 1;
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{file}"
        );
        assert_ne!(
            pod["securityContext"]["runAsUser"].as_u64(),
            Some(0),
            "{file}"
        );
        for c in pod["containers"].as_sequence().unwrap() {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{file}");
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{file}"
            );
            assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{file}");
            assert!(c["resources"]["requests"].is_mapping(), "{file}: requests");
            assert!(
                c["resources"]["limits"]["memory"].is_string(),
                "{file}: memory limit"
            );
            // Sesame's containers get its secrets; Redis (redis.yaml) needs none.
            if c["name"].as_str() != Some("redis") {
                assert_eq!(
                    c["envFrom"][0]["secretRef"]["name"].as_str(),
                    Some("sesame-secrets"),
                    "{file}"
                );
            }
        }
    }
    assert_eq!(workloads, 4, "gateway, admin, migration job, redis");

    // The ConfigMap's file loads and validates on top of the image's layers.
    let cm = find(&docs, "ConfigMap", "sesame-config");
    let toml_text = s(&cm["data"]["sesame.toml"]);
    let settings = layered_settings(Some(toml_text), test_secrets());
    settings.validate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.listen.ops.port(), 8082);
    // Issue 18: the limits are shared through the Redis Service of redis.yaml.
    assert_eq!(
        settings.gateway.rate_limit.backend,
        sesame_limits::BackendKind::Redis
    );
    let redis_svc = find(&docs, "Service", "sesame-redis");
    let redis_port = redis_svc["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(
        settings.gateway.rate_limit.redis_url,
        format!("redis://sesame-redis:{redis_port}")
    );
    let drain_secs = settings.gateway.drain_timeout_ms.div_ceil(1000);
    // The Secret example names every secret the settings need.
    let secret = find(&docs, "Secret", "sesame-secrets");
    for (k, _) in test_secrets() {
        assert!(secret["stringData"][k.as_str()].is_string(), "{k} missing");
    }

    // Gateways: probes on the ops port, drain fits in the grace period.
    let gw = find(&docs, "Deployment", "sesame-gateway");
    let pod = &gw["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    assert!(
        args.ends_with(&["serve".into(), "--role".into(), "gateway".into()]),
        "{args:?}"
    );
    let cfg_path = &args[args.iter().position(|a| a == "--config").unwrap() + 1];
    let mount = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| cfg_path.starts_with(s(&m["mountPath"])))
        .expect("the --config file is mounted");
    assert_eq!(s(&mount["name"]), "config");
    for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(s(&get["path"]), path, "{probe}");
        assert_eq!(
            port_number(c, &get["port"]),
            8082,
            "{probe} on the ops port"
        );
    }
    assert_eq!(port_number(c, &Yaml::from("public")), 8080);
    let pre_stop: u64 = strings(&c["lifecycle"]["preStop"]["exec"]["command"])
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > pre_stop + drain_secs,
        "terminationGracePeriodSeconds {grace} ≤ preStop {pre_stop} + drain {drain_secs}"
    );
    let pod_labels = &gw["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&gw["spec"]["selector"]["matchLabels"], pod_labels);

    // Admin: its own role, probes on its own port.
    let adm = find(&docs, "Deployment", "sesame-admin");
    let ac = &adm["spec"]["template"]["spec"]["containers"][0];
    assert!(strings(&ac["args"]).ends_with(&["serve".into(), "--role".into(), "admin".into()]));
    assert_eq!(
        port_number(ac, &ac["readinessProbe"]["httpGet"]["port"]),
        8081
    );

    let job = find(&docs, "Job", "sesame-migrate");
    assert_eq!(
        strings(&job["spec"]["template"]["spec"]["containers"][0]["args"])
            .last()
            .unwrap(),
        "migrate"
    );

    // HPA and PDB target the gateways; Services select existing pods and ports.
    let hpa = find(&docs, "HorizontalPodAutoscaler", "sesame-gateway");
    assert_eq!(s(&hpa["spec"]["scaleTargetRef"]["name"]), "sesame-gateway");
    assert_eq!(s(&hpa["spec"]["metrics"][0]["resource"]["name"]), "cpu");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    let pdb = find(&docs, "PodDisruptionBudget", "sesame-gateway");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], pod_labels);
    let deployments: Vec<&Yaml> = docs
        .iter()
        .filter(|(_, d)| d["kind"].as_str() == Some("Deployment"))
        .map(|(_, d)| d)
        .collect();
    let mut services = 0;
    for (_, svc) in docs
        .iter()
        .filter(|(_, d)| d["kind"].as_str() == Some("Service"))
    {
        services += 1;
        let sel = &svc["spec"]["selector"];
        let dep = deployments
            .iter()
            .find(|d| &d["spec"]["template"]["metadata"]["labels"] == sel)
            .unwrap_or_else(|| {
                panic!(
                    "service {:?} selects no deployment",
                    svc["metadata"]["name"]
                )
            });
        let c = &dep["spec"]["template"]["spec"]["containers"][0];
        for p in svc["spec"]["ports"].as_sequence().unwrap() {
            port_number(c, &p["targetPort"]);
        }
    }
    assert_eq!(services, 4);
}

/// Dockerfile instructions with continuation lines joined.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(body) = t.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
        } else {
            cur.push_str(t);
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

#[test]
fn dockerfile_copies_what_exists_and_runs_the_sesame_binary() {
    let dir = deploy().join("docker");
    let text = read(&dir.join("Dockerfile"));
    let ignore = read(&dir.join("Dockerfile.dockerignore"));
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    let ins = dockerfile_instructions(&text);
    let mut copies = Vec::<(String, String)>::new(); // (local source, image destination)
    let mut from_builder = Vec::<(String, String)>::new();
    for i in &ins {
        let Some(rest) = i.strip_prefix("COPY ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let stage = words.iter().find_map(|w| w.strip_prefix("--from="));
        let paths: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
        let (dest, srcs) = paths.split_last().unwrap();
        for src in srcs {
            if stage.is_some() {
                from_builder.push(((*src).to_owned(), (*dest).to_owned()));
                continue;
            }
            assert!(
                root().join(src).exists(),
                "COPY {src}: no such file in the repository"
            );
            assert!(
                allowed.contains(src),
                "COPY {src}: excluded by Dockerfile.dockerignore (add !{src})"
            );
            copies.push(((*src).to_owned(), (*dest).to_owned()));
        }
    }
    assert!(copies.len() >= 7, "{copies:?}");

    // The binary built is the crate's [[bin]], and the runtime runs it.
    let cargo: toml::Value = toml::from_str(&read(&root().join("sesame/Cargo.toml"))).unwrap();
    let bin = cargo["bin"][0]["name"].as_str().unwrap();
    assert_eq!(bin, "sesame");
    let build = ins
        .iter()
        .find(|i| i.contains("cargo build"))
        .expect("cargo build");
    assert!(build.contains(&format!("--bin {bin}")), "{build}");
    assert!(
        build.contains(&format!("target/release/{bin} /out/{bin}")),
        "{build}"
    );
    assert!(build.contains("--mount=type=cache"), "cargo cache mounts");
    assert_eq!(
        from_builder,
        [(format!("/out/{bin}"), format!("/usr/local/bin/{bin}"))],
        "only the binary comes from the builder"
    );
    let entry = ins
        .iter()
        .find_map(|i| i.strip_prefix("ENTRYPOINT "))
        .expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(entry).expect("ENTRYPOINT in exec form");
    assert_eq!(entry[0], format!("/usr/local/bin/{bin}"));
    // Each --config file of the entry point is a file copied from the repository.
    let configs: Vec<&String> = entry
        .windows(2)
        .filter(|w| w[0] == "--config")
        .map(|w| &w[1])
        .collect();
    assert_eq!(configs.len(), 2);
    for cfg in configs {
        let (src, dest) = copies
            .iter()
            .find(|(_, d)| cfg == d || cfg.starts_with(&format!("{d}/")))
            .unwrap_or_else(|| panic!("{cfg} is not copied into the image"));
        let local = root()
            .join(src)
            .join(cfg[dest.len()..].trim_start_matches('/'));
        let local = if root().join(src).is_file() {
            root().join(src)
        } else {
            local
        };
        assert!(
            local.is_file(),
            "{cfg} ← {} does not exist",
            local.display()
        );
    }
    let expose = ins.iter().find_map(|i| i.strip_prefix("EXPOSE ")).unwrap();
    assert_eq!(
        expose.split_whitespace().collect::<Vec<_>>(),
        ["8080", "8081", "8082"]
    );
    let health = ins.iter().find(|i| i.starts_with("HEALTHCHECK")).unwrap();
    assert!(health.contains("http://127.0.0.1:8082/health"), "{health}");
    assert!(
        text.contains("curl"),
        "the runtime installs curl for the health check"
    );
    let user = ins.iter().find_map(|i| i.strip_prefix("USER ")).unwrap();
    assert!(!["root", "0", "0:0"].contains(&user), "USER {user}");
    assert!(ins
        .iter()
        .any(|i| i.starts_with("FROM rust:") || i.contains("rust:1-bookworm")));
    assert!(ins.iter().any(|i| i.contains("bookworm-slim")));
}

// ---- metrics ---------------------------------------------------------------------------------

/// One scrape: sample name → label names seen on it, and family name → type.
struct Scrape {
    text: String,
    samples: BTreeMap<String, BTreeSet<String>>,
    families: BTreeMap<String, String>,
}

fn parse_scrape(text: String) -> Scrape {
    let mut samples = BTreeMap::<String, BTreeSet<String>>::new();
    let mut families = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let mut w = t.split_whitespace();
            families.insert(w.next().unwrap().to_owned(), w.next().unwrap().to_owned());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap();
        let labels = samples.entry(line[..end].to_owned()).or_default();
        if line[end..].starts_with('{') {
            let close = line.find('}').unwrap();
            for pair in line[end + 1..close].split(',').filter(|p| !p.is_empty()) {
                labels.insert(pair.split('=').next().unwrap().to_owned());
            }
        }
    }
    Scrape {
        text,
        samples,
        families,
    }
}

/// Metric names, selectors' label names and grouping labels of PromQL expressions.
#[derive(Default, Debug)]
struct PromqlRefs {
    /// identifier → label names used in its `{…}` selectors
    selectors: BTreeMap<String, BTreeSet<String>>,
    /// labels of `by (…)` / `without (…)`
    grouping: BTreeSet<String>,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn scan_promql(expr: &str, refs: &mut PromqlRefs) {
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if !is_ident(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if chars[start].is_ascii_digit() || (start > 0 && chars[start - 1] == '$') {
            continue;
        }
        let next = skip_ws(i);
        if (word == "by" || word == "without") && chars.get(next) == Some(&'(') {
            let close = next + chars[next..].iter().position(|&c| c == ')').unwrap();
            let inner: String = chars[next + 1..close].iter().collect();
            for l in inner.split(',').map(str::trim).filter(|l| !l.is_empty()) {
                refs.grouping.insert(l.to_owned());
            }
            i = close + 1;
            continue;
        }
        if chars.get(next) == Some(&'{') {
            let mut j = next + 1;
            let mut keys = BTreeSet::new();
            let mut key = String::new();
            let mut expecting_key = true;
            while j < chars.len() && chars[j] != '}' {
                let c = chars[j];
                if c == '"' {
                    j += 1;
                    while chars[j] != '"' {
                        j += if chars[j] == '\\' { 2 } else { 1 };
                    }
                } else if c == ',' {
                    expecting_key = true;
                } else if expecting_key && is_ident(c) {
                    key.push(c);
                } else if expecting_key && !key.is_empty() {
                    keys.insert(std::mem::take(&mut key));
                    expecting_key = false;
                }
                j += 1;
            }
            refs.selectors.entry(word).or_default().extend(keys);
            i = j + 1;
            continue;
        }
        if word.starts_with("sesame_") {
            refs.selectors.entry(word).or_default();
        }
    }
}

/// Every `sesame_…` word of a text (comments, descriptions, queries): each must be real.
fn sesame_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if word.starts_with("sesame_") {
                out.insert(word.clone());
            }
            word.clear();
        }
    }
    out
}

fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "query" | "definition", serde_json::Value::String(e)) => {
                        out.push(e.clone())
                    }
                    _ => dashboard_exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

fn alert_exprs(rules: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in rules["groups"].as_sequence().unwrap() {
        for r in g["rules"].as_sequence().unwrap() {
            let name = r["alert"].as_str().or(r["record"].as_str()).unwrap();
            out.push((name.to_owned(), s(&r["expr"]).to_owned()));
        }
    }
    out
}

/// Series Prometheus records itself, usable beside Sesame's.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];
/// Labels Prometheus attaches to every scraped series (target labels).
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

fn check_refs(what: &str, refs: &PromqlRefs, scrape: &Scrape) -> Vec<String> {
    let mut problems = Vec::new();
    let all_labels: BTreeSet<&str> = scrape
        .samples
        .values()
        .flatten()
        .map(String::as_str)
        .chain(TARGET_LABELS)
        .collect();
    for (name, keys) in &refs.selectors {
        let labels: BTreeSet<&str> = if let Some(l) = scrape.samples.get(name) {
            l.iter().map(String::as_str).chain(TARGET_LABELS).collect()
        } else if PROMETHEUS_SERIES.contains(&name.as_str()) {
            TARGET_LABELS.into_iter().collect()
        } else {
            problems.push(format!("{what}: {name} is not exported by /metrics"));
            continue;
        };
        for k in keys {
            if !labels.contains(k.as_str()) {
                problems.push(format!("{what}: {name} has no label {k} (has {labels:?})"));
            }
        }
    }
    for l in &refs.grouping {
        if !all_labels.contains(l.as_str()) {
            problems.push(format!("{what}: grouping by unknown label {l}"));
        }
    }
    problems
}

async fn scrape_until_complete(ops: std::net::SocketAddr, families: &[&str]) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = reqwest::get(format!("http://{ops}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let scrape = parse_scrape(text);
        let missing: Vec<&&str> = families
            .iter()
            .filter(|f| !scrape.families.contains_key(**f))
            .collect();
        if missing.is_empty() {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "families never appeared: {missing:?}\n{}",
            scrape.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_use_only_metrics_the_gateway_exports() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny per-key limit, so the second call of a key is refused and the rate-limit counter
    // appears.
    let d = demo::start(demo_settings(
        dir.path(),
        &[
            ("SESAME__GATEWAY__RATE_LIMIT__PER_KEY_PER_SEC", "1"),
            ("SESAME__GATEWAY__RATE_LIMIT__BURST", "1"),
        ],
    ))
    .await
    .expect("demo starts");
    let http = reqwest::Client::new();
    let public = d.info.public;
    let key = d.info.connection_key.clone();
    let eligibility = format!("http://{public}/api-ewe/v1/rest/additionalinformations");
    let call = |k: &str| {
        http.post(&eligibility)
            .json(&serde_json::json!({"credential": {"apiKey": k}}))
            .send()
    };
    // Fanned out over both linked accounts: requests, latencies, fan-out width, a cache miss.
    let r = call(&key).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Again, several at once: cache hits, and the per-key limit (1/s, burst 1) refuses some
    // however slow this machine is.
    let mut burst = Vec::new();
    for _ in 0..4 {
        let (http, url, key) = (http.clone(), eligibility.clone(), key.clone());
        burst.push(tokio::spawn(async move {
            http.post(url)
                .json(&serde_json::json!({"credential": {"apiKey": key}}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for b in burst {
        statuses.push(b.await.unwrap().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // An unknown key: an authentication failure.
    call("0123456789ABCDEF0123456789ABCDEF").await.unwrap();
    // The holder regenerates the key: the change log evicts the cached principal.
    let admin = format!("http://{}", d.info.admin);
    let session: serde_json::Value = http
        .post(format!("{admin}/admin/v1/sessions"))
        .json(&serde_json::json!({"login": "kadj-mco", "password": demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().expect("session token");
    let r = http
        .post(format!("{admin}/admin/v1/me/connection-key"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let every_family = [
        "sesame_gateway_requests_total",
        "sesame_gateway_request_duration_seconds",
        "sesame_upstream_duration_seconds",
        "sesame_fanout_width",
        "sesame_principal_cache_hits_total",
        "sesame_principal_cache_misses_total",
        "sesame_principal_cache_evictions_total",
        "sesame_principal_cache_entries",
        "sesame_auth_failures_total",
        "sesame_rate_limited_total",
        "sesame_changelog_lag_seconds",
        "sesame_changelog_applied_version",
        "sesame_ratelimit_backend_fallback_total",
        "sesame_ratelimit_backend_degraded",
    ];
    let scrape = scrape_until_complete(d.info.ops, &every_family).await;

    // The probe paths the manifests and compose use answer on the real listeners.
    for path in ["/health", "/ready"] {
        let r = http
            .get(format!("http://{}{path}", d.info.ops))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = http
        .get(format!("{admin}/admin/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "admin probe path");
    d.stop().await.expect("clean stop");

    // Histograms are scraped as _bucket/_sum/_count series, counters carry their _total.
    for (family, kind) in &scrape.families {
        assert!(family.starts_with("sesame_"), "{family}");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                assert!(scrape.samples.contains_key(&format!("{family}{suffix}")));
            }
        }
    }
    assert_eq!(
        scrape.families.len(),
        every_family.len(),
        "{:?}",
        scrape.families
    );

    let mut problems = Vec::new();

    // Grafana: every query, and every sesame_ word anywhere in the dashboard.
    let dash_text = read(&deploy().join("grafana/dashboards/sesame-gateway.json"));
    let dash: serde_json::Value = serde_json::from_str(&dash_text).unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dash, &mut exprs);
    assert!(exprs.len() >= 20, "{} queries", exprs.len());
    let mut dash_refs = PromqlRefs::default();
    for e in &exprs {
        scan_promql(e, &mut dash_refs);
    }
    problems.extend(check_refs("dashboard", &dash_refs, &scrape));
    for w in sesame_words(&dash_text) {
        if !scrape.samples.contains_key(&w) {
            problems.push(format!(
                "dashboard mentions {w}, which /metrics does not export"
            ));
        }
    }
    // …and it shows every family the gateway exports.
    let dash_words = sesame_words(&dash_text);
    for family in scrape.families.keys() {
        if !dash_words.iter().any(|w| w.starts_with(family.as_str())) {
            problems.push(format!("dashboard shows nothing of {family}"));
        }
    }
    for ds in dash["panels"].as_array().unwrap() {
        if ds["type"] != "row" {
            assert_eq!(ds["datasource"]["uid"], "prometheus", "{}", ds["title"]);
        }
    }
    let provisioned = yaml(&deploy().join("grafana/provisioning/datasources/prometheus.yml"));
    assert_eq!(s(&provisioned["datasources"][0]["uid"]), "prometheus");

    // Prometheus rules.
    let rules_text = read(&deploy().join("prometheus/alerts.yml"));
    let rules = yaml(&deploy().join("prometheus/alerts.yml"));
    let alerts = alert_exprs(&rules);
    let mut alert_refs = PromqlRefs::default();
    for (name, e) in &alerts {
        let mut one = PromqlRefs::default();
        scan_promql(e, &mut one);
        assert!(!one.selectors.is_empty(), "{name}: no series found in {e}");
        problems.extend(check_refs(name, &one, &scrape));
        for (k, v) in one.selectors {
            alert_refs.selectors.entry(k).or_default().extend(v);
        }
    }
    for w in sesame_words(&rules_text) {
        if !scrape.samples.contains_key(&w) {
            problems.push(format!(
                "alerts.yml mentions {w}, which /metrics does not export"
            ));
        }
    }
    // What the rules must watch: errors, upstream latency, auth failures, change-log lag, cache
    // hit ratio, rate-limited calls, targets down.
    for needed in [
        "sesame_gateway_requests_total",
        "sesame_upstream_duration_seconds_bucket",
        "sesame_auth_failures_total",
        "sesame_changelog_lag_seconds_bucket",
        "sesame_principal_cache_hits_total",
        "sesame_principal_cache_misses_total",
        "sesame_rate_limited_total",
        "sesame_ratelimit_backend_fallback_total",
        "up",
    ] {
        if !alert_refs.selectors.contains_key(needed) {
            problems.push(format!("no alert watches {needed}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // promtool on top of the checks above.
    let tool = promtool();
    let prom = deploy().join("prometheus");
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["check", "config", "--syntax-only", "prometheus.yml"],
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let out = std::process::Command::new(&tool)
            .args(&args)
            .current_dir(&prom)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = std::process::Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_promql_scanner_finds_names_selectors_and_grouping_labels() {
    let mut r = PromqlRefs::default();
    scan_promql(
        r#"sum by (le, route) (rate(sesame_x_bucket{instance=~"$instance", outcome="a,b}"}[5m]))
           / on() sesame_y and up{job="j"} > 0 and foo_bar"#,
        &mut r,
    );
    assert_eq!(
        r.selectors.keys().collect::<Vec<_>>(),
        ["sesame_x_bucket", "sesame_y", "up"]
    );
    assert_eq!(
        r.selectors["sesame_x_bucket"].iter().collect::<Vec<_>>(),
        ["instance", "outcome"]
    );
    assert_eq!(r.grouping.iter().collect::<Vec<_>>(), ["le", "route"]);
    let scrape = parse_scrape("# TYPE sesame_y gauge\nsesame_y 1\n".into());
    let problems = check_refs("t", &r, &scrape);
    assert!(problems
        .iter()
        .any(|p| p.contains("sesame_x_bucket is not exported")));
    assert!(problems.iter().any(|p| p.contains("unknown label route")));
    assert_eq!(problems.len(), 3, "{problems:?}"); // also `le`
}
