//! Under a memory limit, sorts, aggregations and joins over data several times the limit spill to
//! disk and complete.

use crate::common::run;

const LIMIT: &str = "16MiB";
/// ~1M rows with a 32-byte string each: about 60 MB in memory, several times the limit.
const DATA: &str = "SELECT value AS k, md5(CAST(value AS VARCHAR)) AS h FROM range(1000000)";

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
    plan.split("spill_count=").skip(1).any(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit() && c != '0'))
}

#[test]
fn sort_spills() {
    let plan = analyze(&format!("SELECT h FROM ({DATA}) ORDER BY h"));
    assert!(spilled(&plan), "{plan}");
}

#[test]
fn aggregation_spills() {
    let plan = analyze(&format!("SELECT h, count(*) FROM ({DATA}) GROUP BY h"));
    assert!(spilled(&plan), "{plan}");
}

#[test]
fn join_spills() {
    let plan = analyze(&format!("SELECT count(*) FROM ({DATA}) a JOIN ({DATA}) b ON a.h = b.h"));
    assert!(plan.contains("SortMergeJoin"), "{plan}");
    assert!(spilled(&plan), "{plan}");
}
