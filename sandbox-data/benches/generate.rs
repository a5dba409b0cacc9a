//! How fast transactions are generated, per core: the target is at least one million
//! a second. `cargo bench -p sandbox-data`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sandbox_data::{Dataset, Persona};
use time::macros::date;

fn transactions(c: &mut Criterion) {
    let dataset = Dataset::generate(42);
    let account = &dataset
        .by_persona(Persona::SmallBusiness)
        .unwrap_or(&dataset.customers[0])
        .accounts[0];
    let (from, to) = (date!(2026 - 01 - 01), date!(2026 - 03 - 31));
    let count = account.transactions_between(from, to).len() as u64;
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(count));
    group.bench_function("small-business quarter (transactions)", |b| {
        b.iter(|| account.transactions_between(from, to).len())
    });
    let salaried = &dataset
        .by_persona(Persona::Salaried)
        .unwrap_or(&dataset.customers[0])
        .accounts[0];
    let count = salaried.transactions_between(from, to).len() as u64;
    group.throughput(Throughput::Elements(count));
    group.bench_function("salaried quarter (transactions)", |b| {
        b.iter(|| salaried.transactions_between(from, to).len())
    });
    group.finish();
    c.bench_function("dataset for a new seed", |b| {
        b.iter(|| Dataset::generate(7).customers.len())
    });
}

criterion_group!(benches, transactions);
criterion_main!(benches);
