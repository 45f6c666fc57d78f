//! Black-box tests of the `nightshift` binary: exit codes, messages, formats, config errors,
//! read-only mode, broken files, spilling, S3, Azure and GCS, Delta Lake tables, TPC-H answers and
//! shell completions.

mod alerts;
mod azure;
mod broken_files;
mod checks;
mod cluster;
mod cluster_procs;
mod common;
mod completions;
mod config;
mod delta;
mod gcs;
mod jobs;
mod lexicon;
mod models;
mod read_only;
mod ready;
mod record_errors;
mod reliability;
mod repl;
mod s3;
mod spill;
mod sql;
mod tables;
mod tpch;
