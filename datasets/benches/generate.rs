//! Throughput of the whole generator (both tables, Parquet writing included), in rows per second
//! (criterion's elements/s).
//!
//! `cargo bench -p nightshift-datasets --bench generate`
//!
//! Each iteration writes into a fresh folder; removing the previous lake is left out of the timing
//! because it measures the file system rather than the generator.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nightshift_datasets::{GenerateOptions, generate};

fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    for (name, reviews, transactions) in [("default", 20_000, 100_000), ("x10", 200_000, 1_000_000)] {
        group.throughput(Throughput::Elements((reviews + transactions) as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temp dir"),
                |dir| {
                    let opts = GenerateOptions {
                        out: dir.path().join("lake"),
                        reviews,
                        transactions,
                        ..GenerateOptions::default()
                    };
                    generate(black_box(&opts)).expect("generate");
                    // Dropped, and so deleted, outside the timed section.
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_generate);
criterion_main!(benches);
