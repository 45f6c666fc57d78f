//! Under a memory limit, sorts, aggregations and joins over data several times the limit spill to
//! disk and complete.

use crate::common::run;

const LIMIT: &str = "16MiB";
/// 4M rows of two BIGINTs (64 MB, four times the limit); `r` is a scrambled key, so that no operator
/// can lean on the input order instead of sorting or hashing.
const DATA: &str = "SELECT value AS k, (value * 7919) % 4000037 AS r FROM range(4000000)";

fn analyze(sql: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let r = run(&[
        "--memory-limit",
        LIMIT,
        "--spill-dir",
        spill.to_str().unwrap(),
        "--target-partitions",
        "2",
        "sql",
        "--format",
        "csv",
        "-c",
        &format!("EXPLAIN ANALYZE {sql}"),
    ]);
    r.ok();
    r.stdout
}

fn spilled(plan: &str) -> bool {
    plan.split("spill_count=").skip(1).any(|rest| {
        rest.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() && c != '0')
    })
}

#[test]
fn sort_spills() {
    let plan = analyze(&format!("SELECT k FROM ({DATA}) ORDER BY r"));
    assert!(spilled(&plan), "{plan}");
}

#[test]
fn aggregation_spills() {
    let plan = analyze(&format!("SELECT r, count(*) FROM ({DATA}) GROUP BY r"));
    assert!(spilled(&plan), "{plan}");
}

#[test]
fn join_spills() {
    let plan = analyze(&format!(
        "SELECT count(*) FROM ({DATA}) a JOIN ({DATA}) b ON a.r = b.r"
    ));
    assert!(plan.contains("SortMergeJoin"), "{plan}");
    assert!(spilled(&plan), "{plan}");
}
