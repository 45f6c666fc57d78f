//! Helpers shared by nightshift's test suites, so that `cargo test --workspace` passes on a fresh clone.
//!
//! - [`shared_file`]: a file of the shared corpora (outside the repository), or a skip message when
//!   they are absent; `NIGHTSHIFT_REQUIRE_SHARED=1` turns absence into a failure (CI sets it).
//! - [`PythonEnv`]: a Python virtual environment under the cargo target folder with the packages a
//!   test needs from PyPI (moto's S3 server, the reference vaderSentiment), made once and reused.
//! - [`NpmPackages`]: the same for npm packages (Azurite, Azure's storage emulator).
//! - [`mutate`]: one byte replaced, or one span deleted or duplicated, for the fuzz tests.
//! - [`run_alone_bounding_peak_growth`]: a test's peak memory, measured in a child process.
#![deny(missing_docs)]

mod memory;
mod mutate;
mod python_env;
mod shared;

pub use crate::{
    memory::{proc_status_bytes, run_alone_bounding_peak_growth},
    mutate::{Mutation, mutate},
    python_env::{NpmPackages, PythonEnv, PythonEnvError},
    shared::{REQUIRE_SHARED_VAR, SHARED_VAR, shared_dir, shared_file},
};
