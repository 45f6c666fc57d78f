//! The parsers a settings file reaches, fuzzed with proptest: schedules, durations, job files and
//! SQL splitting never panic on any input, and a job file's problems always name `file:line`.
//! `PROPTEST_CASES=100000 cargo test -p nightshift-jobs --test it fuzz` is the long run.

use nightshift_core::split_statements;
use nightshift_jobs::{JobSet, Schedule, parse_duration};
use nightshift_test_support::{Mutation, mutate};
use proptest::prelude::*;

/// A valid job file, mutated by the strategies below.
const VALID: &str = "[scheduler]\ncatch_up_limit = 3\n\n[jobs.daily]\nsql = \"daily.sql\"\n\
    schedule = \"daily @ 02:00 UTC\"\noutput = \"reports/daily\"\npartition_by = [\"day\"]\n\
    mode = \"append\"\nretries = 2\ntimeout = \"1h\"\nretain = \"7d\"\n";

/// Text near the grammar: fragments of valid schedules and durations, digits, separators and noise.
fn near_schedule() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("daily".to_string()),
        Just("weekly on mon".to_string()),
        Just("monthly on 31".to_string()),
        Just("quarterly".to_string()),
        Just("@".to_string()),
        Just("02:00".to_string()),
        Just("UTC".to_string()),
        Just("Europe/Paris".to_string()),
        Just("*".to_string()),
        Just("*/".to_string()),
        Just("/".to_string()),
        Just("-".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        "[0-9]{1,12}",
        "[a-z]{1,4}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn schedules_never_panic(text in near_schedule()) {
        let _ = Schedule::parse(&text);
    }

    #[test]
    fn any_text_as_a_schedule_never_panics(text in ".{0,64}") {
        let _ = Schedule::parse(&text);
    }

    #[test]
    fn durations_never_panic(text in "[0-9]{0,25}[a-z ]{0,6}|.{0,16}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn sql_splitting_never_panics(text in ".{0,200}") {
        let _ = split_statements(&text);
    }

    /// A valid job file with one byte replaced, one span deleted or one span duplicated: parsing
    /// either succeeds or reports problems that each name the file.
    #[test]
    fn mutated_job_files_fail_with_file_and_line(at in 0..VALID.len(), len in 0usize..12, byte in any::<u8>(), kind in 0u8..3) {
        let bytes = mutate(VALID.as_bytes(), at, len, Mutation::from_draw(kind, byte));
        let Ok(text) = String::from_utf8(bytes) else { return Ok(()); };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nightshift.toml");
        std::fs::write(dir.path().join("daily.sql"), "SELECT 1").unwrap();
        if let Err(e) = JobSet::parse(&text, &file) {
            prop_assert!(!e.issues.is_empty());
            for issue in &e.issues {
                let shown = issue.to_string();
                prop_assert!(shown.contains("nightshift.toml"), "{shown}");
            }
        }
    }
}
