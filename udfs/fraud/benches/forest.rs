//! Scoring and training benchmarks (filled in below).
fn main() {}
