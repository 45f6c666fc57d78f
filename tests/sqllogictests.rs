//! Runs every `tests/slt/*.slt` file against a nightshift session over a generated demo lake.
//!
//! `cargo test -p nightshift-tests --test sqllogictests` checks them; add `-- --complete` to rewrite
//! the expected results from what the engine returns now (review the diff before committing), and
//! a file-name filter to run only some: `-- sentiment`.

use std::path::PathBuf;

use nightshift_tests::{SltDb, demo_lake};
use sqllogictest::{Runner, default_column_validator, default_normalizer, default_validator};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--") || a == "--complete")
        .collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| *a != "--complete").collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filters.is_empty() || filters.iter().any(|f| p.to_string_lossy().contains(f.as_str())))
        .collect();
    files.sort();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let lake = demo_lake().to_path_buf();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let lake = lake.clone();
        let result: Result<(), String> = runtime.block_on(async move {
            let mut runner = Runner::new(move || {
                let lake = lake.clone();
                async move {
                    SltDb::new(&lake)
                        .await
                        .map_err(nightshift_tests::SltError::from_core)
                }
            });
            if complete {
                runner
                    .update_test_file(
                        file,
                        " ",
                        default_validator,
                        default_normalizer,
                        default_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner
                    .run_file_async(file)
                    .await
                    .map_err(|e| e.display(true).to_string())
            }
        });
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok: {}", file.display());
            }
            Err(e) => {
                failed += 1;
                println!("FAILED: {}\n{e}", file.display());
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || files.is_empty() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
