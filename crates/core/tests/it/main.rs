//! Integration tests of nightshift-core: fuzzing of what a session reads (mutated Parquet files,
//! settings files, model statements, random SQL over the demo lake).

use std::sync::OnceLock;

use proptest::test_runner::{Config, RngSeed};

mod fuzz;
mod fuzz_parquet;
mod fuzz_sql;

/// The seed of every fuzz test unless `PROPTEST_RNG_SEED` gives another.
const FUZZ_SEED: u64 = 20_240_601;

/// proptest's configuration (`PROPTEST_CASES`, 256 by default, and the other `PROPTEST_*`
/// variables) with a fixed seed, so that CI runs the same cases every time.
pub(crate) fn fuzz_config() -> Config {
    let mut config = Config::default();
    if matches!(config.rng_seed, RngSeed::Random) {
        config.rng_seed = RngSeed::Fixed(FUZZ_SEED);
    }
    config
}

/// One runtime for every test of the binary: sessions built on it can be shared between cases.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}
