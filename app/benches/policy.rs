//! Risk-policy decisions per second on one core: the default Rego policy, compiled
//! once, evaluated for the requests of its own test table (reference data, account
//! information, payments, rejections). The target is at least 10,000 a second per
//! core. `cargo bench -p app --features ssr --bench policy`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use app::access_requests::policy::{merge, Compiled, DEFAULT_POLICY, DEFAULT_TESTS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;

fn inputs() -> Vec<Value> {
    let table: Value = serde_json::from_str(DEFAULT_TESTS).unwrap();
    table["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| merge(&table["base"], &case["input"]))
        .collect()
}

fn decisions(c: &mut Criterion) {
    let inputs = inputs();
    let mut policy = Compiled::new(DEFAULT_POLICY).unwrap();
    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("default policy, whole test table (decisions)", |b| {
        b.iter(|| {
            for input in &inputs {
                policy.decide(input).unwrap();
            }
        })
    });
    group.finish();

    // A plain figure as well, for BENCHMARKS.md.
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        for input in &inputs {
            policy.decide(input).unwrap();
        }
    }
    let per_second = (rounds * inputs.len()) as f64 / started.elapsed().as_secs_f64();
    println!("policy decisions per second (one core): {per_second:.0}");
}

criterion_group!(benches, decisions);
criterion_main!(benches);
