//! Micro-benchmarks of the gateway's per-request phases, on a real `Gateway` over a fresh SQLite
//! store (accounts and users created through the store, as the admin API does):
//!
//! - key → principal on a cache hit, keyed HMAC included (SPEC §8: under 1 µs);
//! - rights and scope checks (authorize phase, per-parcel filter);
//! - the tracking-tool search's merge + filter + sort + page over 10,000 parcels from 5 accounts;
//! - the parse phase of each body-carrying service (key and account out of the request);
//! - the admin API's CSV import parsing, 10,000 lines.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The allocator the `sesame` binary runs with: measured as it is deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::{HeaderMap, HeaderValue};
use sesame_benches::{
    account, gateway, import_csv, rights, synthetic_key, synthetic_principal, tracking_tool_answer,
    user, SplitMix,
};
use sesame_domain::{ConnectionKey, Right};
use sesame_gateway::bench::{self as gb, BodyService, ParcelFilter};
use sesame_gateway::{Gateway, GatewayConfig, Principal, RateLimitConfig};
use sesame_store::testing::TestDb;
use sesame_store::Backend;

const TAG: &str = "NORD";

struct Fixture {
    rt: tokio::runtime::Runtime,
    gw: Gateway,
    key: String,
    principal: std::sync::Arc<Principal>,
    numbers: Vec<String>,
    _db: TestDb,
}

/// Limits high enough never to refuse (the limiter still runs, as in production).
fn config() -> GatewayConfig {
    GatewayConfig {
        rate_limit: RateLimitConfig {
            per_key_per_sec: 1_000_000_000,
            per_account_per_sec: 1_000_000_000,
            burst: 1_000_000_000,
            ..RateLimitConfig::default()
        },
        ..GatewayConfig::default()
    }
}

/// A user linked to 5 accounts with different tracking-tool scopes (all, own, group via the
/// customer-service right, all, own), every web-service right on each.
fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (gw, key, principal, numbers, db) = rt.block_on(async {
        let (gw, store, db) = gateway(Backend::Sqlite, config()).await;
        let numbers: Vec<String> = (1..=5).map(|i| format!("70000{i}")).collect();
        let mut ids = Vec::new();
        for n in &numbers {
            ids.push(account(&store, n).await);
        }
        let ws = [
            "ws_postage",
            "ws_tracking",
            "ws_pickup_point",
            "ws_eligibility",
        ];
        let with = |extra: &str| {
            let mut v: Vec<&str> = ws.to_vec();
            v.push(extra);
            rights(&v)
        };
        let links = [
            with("tracking_tool:all"),
            with("tracking_tool:own"),
            with("tracking_tool_cs:group"),
            with("tracking_tool:all"),
            with("tracking_tool:own"),
        ];
        let u = user(&store, "bench-user", Some(TAG), &ids, &links).await;
        let p = gw.authenticate_key(&u.key).await.expect("known key");
        assert_eq!(p.links.len(), 5);
        (gw, u.key, p, numbers, db)
    });
    Fixture {
        rt,
        gw,
        key,
        principal,
        numbers,
        _db: db,
    }
}

fn auth(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("auth");
    g.bench_function("key -> principal, cache hit (parse + HMAC + lookup)", |b| {
        b.iter_custom(|iters| {
            f.rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(f.gw.authenticate_key(black_box(&f.key)).await.is_ok());
                }
                t.elapsed()
            })
        })
    });

    // The same among 100,000 cached principals, keys taken in a pseudo-random order (cache
    // misses in the CPU's caches, as under real traffic).
    let keys: Vec<String> = f.rt.block_on(async {
        // The fixture's store runs on the test secrets: same HMAC key.
        let store_hasher = sesame_store::testing::test_secrets().hasher;
        let mut keys = Vec::new();
        for i in 0..100_000u64 {
            let raw = synthetic_key(i);
            let k = ConnectionKey::parse(&raw).expect("key");
            let rec = synthetic_principal(i as i64 + 1_000_000, 3, TAG);
            gb::cache_principal(&f.gw, store_hasher.hash_key(&k), rec).await;
            keys.push(raw);
        }
        gb::settle_cache(&f.gw).await;
        keys
    });
    let mut rng = SplitMix(3);
    let order: Vec<usize> = (0..4096)
        .map(|_| rng.below(keys.len() as u64) as usize)
        .collect();
    g.bench_function(
        "key -> principal, cache hit among 100k (parse + HMAC + lookup)",
        |b| {
            b.iter_custom(|iters| {
                f.rt.block_on(async {
                    let t = Instant::now();
                    for i in 0..iters as usize {
                        let k = &keys[order[i % order.len()]];
                        black_box(f.gw.authenticate_key(k).await.is_ok());
                    }
                    t.elapsed()
                })
            })
        },
    );
    g.finish();
}

fn authorize(c: &mut Criterion, f: &Fixture) {
    let p = &*f.principal;
    let mut g = c.benchmark_group("authorize");
    let third = f.numbers[2].clone();
    assert!(gb::authorize(&f.gw, p, Some(&third), Right::WsPostage).is_ok());
    g.bench_function("explicit account: rate limits + right on the link", |b| {
        b.iter(|| {
            gb::authorize(&f.gw, p, black_box(Some(third.as_str())), Right::WsPostage).is_ok()
        })
    });
    g.bench_function(
        "no account, 5 links: the only one holding the right (refused: several)",
        |b| b.iter(|| gb::authorize(&f.gw, p, None, black_box(Right::WsTracking)).is_err()),
    );
    // The filter phase's per-parcel scope check over the five links' scopes.
    let uk = p.user_key.as_ref().expect("user key").as_str().to_owned();
    let owners: Vec<(Option<&str>, Option<&str>)> = (0..1024)
        .map(|i| match i % 3 {
            0 => (Some(uk.as_str()), None),
            1 => (Some("FEDCBA9876543210FEDCBA9876543210"), Some(TAG)),
            _ => (Some("FEDCBA9876543210FEDCBA9876543210"), None),
        })
        .collect();
    g.throughput(Throughput::Elements(owners.len() as u64));
    g.bench_function("parcel in scope x1024 (5 links' scopes)", |b| {
        b.iter(|| {
            owners
                .iter()
                .enumerate()
                .filter(|(i, (k, t))| gb::parcel_visible(p, &p.links[i % 5], *k, *t))
                .count()
        })
    });
    g.finish();
}

fn search(c: &mut Criterion, f: &Fixture) {
    let p = &*f.principal;
    let uk = p.user_key.as_ref().expect("user key").as_str().to_owned();
    let answers: Vec<(&str, Bytes)> = f
        .numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.as_str(),
                Bytes::from(tracking_tool_answer(n, 2_000, &uk, TAG, i as u64 + 1)),
            )
        })
        .collect();
    let upstream_bytes: usize = answers.iter().map(|(_, b)| b.len()).sum();
    let mut g = c.benchmark_group("search");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    let all = ParcelFilter::default();
    let out = gb::search_page(p, &answers, &all, 1);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
    eprintln!(
        "search fixture: 10,000 parcels, {} KiB of upstream JSON, {} visible, page of {}",
        upstream_bytes / 1024,
        v["total"],
        v["parcels"].as_array().map_or(0, Vec::len)
    );
    g.bench_function(
        "merge + scope filter + sort + page 1, 10,000 parcels / 5 accounts",
        |b| b.iter(|| gb::search_page(p, black_box(&answers), &all, 1)),
    );
    let filtered = ParcelFilter {
        status: Some("DELIVERED".into()),
        recipient: Some("dur".into()),
        ..ParcelFilter::default()
    };
    g.bench_function(
        "merge + scope + status/recipient filter + page 2, 10,000 parcels",
        |b| b.iter(|| gb::search_page(p, black_box(&answers), &filtered, 2)),
    );
    g.finish();
}

fn parse(c: &mut Criterion, f: &Fixture) {
    let key = f.key.as_str();
    let acc = f.numbers[0].as_str();
    let label = serde_json::json!({
        "contractNumber": acc,
        "outputFormat": {"x": 0, "y": 0, "outputPrintingType": "PDF_10x15_300dpi"},
        "letter": {
            "service": {"productCode": "DOM", "depositDate": "2026-12-01", "orderNumber": "CMD-0001"},
            "parcel": {"weight": 1.2},
            "sender": {"senderParcelRef": "REF-1", "address": {"companyName": "TELINTRANS", "line2": "1 rue de la Poste", "countryCode": "FR", "city": "Paris", "zipCode": "75001"}},
            "addressee": {"addresseeParcelRef": "D9", "address": {"lastName": "Martin", "firstName": "Alice", "line2": "2 avenue de Lyon", "countryCode": "FR", "city": "Angers", "zipCode": "49000"}}
        },
        "fields": {"field": [{"key": "ACCOUNT_NUMBER", "value": acc}]}
    })
    .to_string();
    let tracking =
        serde_json::json!({"apiKey": key, "parcelNumber": "6A39138643271", "lang": "fr_FR"})
            .to_string();
    let pickup =
        serde_json::json!({"apikey": key, "accountNumber": acc, "address": "1 rue de la Poste",
        "zipCode": "75001", "city": "Paris", "countryCode": "FR", "weight": "1000",
        "shippingDate": "22/11/2026", "filterRelay": "1", "lang": "FR", "optionInter": "0"})
        .to_string();
    let eligibility = serde_json::json!({"credential": {"apiKey": key}, "partnerClientCode": acc,
        "productCode": "DOM", "countryCode": "FR", "zipCode": "75001"})
    .to_string();
    let mut label_headers = HeaderMap::new();
    label_headers.insert("apikey", HeaderValue::from_str(key).expect("header"));
    let none = HeaderMap::new();
    let cases: [(&str, BodyService, &HeaderMap, &str); 4] = [
        (
            "labels (header key, contractNumber)",
            BodyService::Labels,
            &label_headers,
            &label,
        ),
        (
            "tracking (body apiKey)",
            BodyService::Tracking,
            &none,
            &tracking,
        ),
        (
            "pickup points (body apikey, accountNumber)",
            BodyService::Pickup,
            &none,
            &pickup,
        ),
        (
            "eligibility (credential.apiKey, partnerClientCode)",
            BodyService::Eligibility,
            &none,
            &eligibility,
        ),
    ];
    let mut g = c.benchmark_group("parse key and account");
    for (name, svc, headers, body) in cases {
        let got = gb::key_and_account(svc, headers, body.as_bytes()).expect("parses");
        assert_eq!(got.key.as_deref(), Some(key.as_bytes()), "{name}");
        g.bench_function(format!("{name}, {} bytes", body.len()), |b| {
            b.iter(|| gb::key_and_account(svc, headers, black_box(body.as_bytes())).is_ok())
        });
    }
    g.finish();
}

fn csv_import(c: &mut Criterion) {
    let file = import_csv(10_000);
    let up = sesame_admin::csvio::check_upload(&file, 100_000).expect("valid upload");
    assert_eq!(up.lines, 10_000);
    let lines = sesame_admin::csvio::lines(&up.text).expect("lines");
    assert!(lines.iter().all(|l| l.parsed.is_ok()), "every line valid");
    let mut g = c.benchmark_group("csv import");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function(
        format!(
            "check_upload + lines, 10,000 lines ({} KiB)",
            file.len() / 1024
        ),
        |b| {
            b.iter_batched(
                || (),
                |()| {
                    let up = sesame_admin::csvio::check_upload(black_box(&file), 100_000)
                        .expect("upload");
                    sesame_admin::csvio::lines(&up.text).expect("lines").len()
                },
                BatchSize::LargeInput,
            )
        },
    );
    g.finish();
}

fn all(c: &mut Criterion) {
    let f = fixture();
    auth(c, &f);
    authorize(c, &f);
    search(c, &f);
    parse(c, &f);
    csv_import(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = all
}
criterion_main!(benches);
