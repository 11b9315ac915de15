//! Micro-benchmarks of the domain's hot operations: the keyed hash of a connection key (done on
//! every call before the cache lookup) and the rights rules.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

/// The allocator the `sesame` binary runs with: measured as it is deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sesame_benches::{right_sets, visible};
use sesame_domain::secrets::KeyHasher;
use sesame_domain::{ConnectionKey, RightSet};

fn key_hash(c: &mut Criterion) {
    let hasher = KeyHasher::new(&[7u8; 32]).expect("32-byte secret");
    let key = ConnectionKey::parse("0E0AC69EA87355213770755A310BFB32").expect("valid key");
    c.bench_function("connection key: parse + HMAC-SHA-256", |b| {
        b.iter(|| {
            let k = ConnectionKey::parse_bytes(black_box(key.expose().as_bytes())).expect("valid");
            hasher.hash_key(&k)
        })
    });
}

fn rights(c: &mut Criterion) {
    let sets = right_sets(1024);
    let mut g = c.benchmark_group("rights");
    g.throughput(Throughput::Elements(sets.len() as u64));
    g.bench_function("effective (link ∩ entitlements) x1024", |b| {
        b.iter(|| {
            sets.windows(2).fold(0u64, |acc, w| {
                acc ^ RightSet::effective(black_box(w[0]), black_box(w[1])).bits()
            })
        })
    });
    g.bench_function("delegation check x1024", |b| {
        b.iter(|| {
            sets.windows(2)
                .filter(|w| RightSet::check_delegation(black_box(w[0]), black_box(w[1])).is_ok())
                .count()
        })
    });
    g.bench_function("scope visibility x1024", |b| {
        b.iter(|| {
            sets.iter()
                .enumerate()
                .filter(|(i, s)| visible(**s, i % 3 == 0, i % 5 == 0))
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, key_hash, rights);
criterion_main!(benches);
