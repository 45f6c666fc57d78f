//! Faults provoked for real against the `nightshift` binary: what a crash without fsync can leave
//! (an empty commit file), and the fsyncs a local publish makes before its commit is visible
//! (traced with strace).

use std::path::Path;

use crate::common::run_in;
use crate::delta::json_rows;

/// A project with one job, `keyed`, partitioned by `k` with the values `a` and `b`.
fn keyed_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("lake")).unwrap();
    std::fs::write(
        p.join("nightshift.toml"),
        "[lake]\nroot = \"lake\"\n\n[jobs.keyed]\nsql = \"keyed.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
         output = \"reports/keyed\"\npartition_by = [\"k\"]\n",
    )
    .unwrap();
    std::fs::write(
        p.join("keyed.sql"),
        "SELECT k, v, $run_date AS day FROM (VALUES ('a', 1), ('b', 2), ('b', 3)) AS t(k, v)",
    )
    .unwrap();
    dir
}

fn run(p: &Path, date: &str) {
    run_in(p, &["run", "keyed", "--date", date, "--no-progress"], &[], None).ok();
}

fn days(p: &Path) -> Vec<String> {
    json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            "SELECT DISTINCT CAST(day AS VARCHAR) AS d FROM reports.keyed ORDER BY d",
        ],
        &[],
        None,
    ))
    .iter()
    .map(|r| r["d"].as_str().unwrap().to_string())
    .collect()
}

/// The latest commit file emptied, as a power cut after an unsynced write can leave it: the table
/// stays readable at the version before, and the next run publishes (the old layout's torn manifest
/// wedged the output for good).
#[test]
fn an_empty_latest_commit_neither_breaks_the_table_nor_wedges_the_job() {
    let dir = keyed_project();
    let p = dir.path();
    run(p, "2024-06-01");
    run(p, "2024-06-02");
    let log = p.join("lake/reports/keyed/_delta_log");
    std::fs::write(log.join("00000000000000000002.json"), b"").unwrap();
    assert_eq!(days(p), ["2024-06-01"], "the emptied commit reads as no change");
    run(p, "2024-06-02");
    assert_eq!(days(p), ["2024-06-01", "2024-06-02"]);
    assert!(log.join("00000000000000000003.json").exists());
}

/// strace of a local publish: every data file, its folder, the commit's staging file and the table
/// folder are fsynced before the commit file is linked into place, and `_delta_log/` after.
#[test]
fn a_local_publish_is_on_the_disk_before_its_commit_is_visible() {
    let dir = keyed_project();
    let p = dir.path();
    run(p, "2024-06-01");
    let trace = p.join("trace.txt");
    let bin = env!("CARGO_BIN_EXE_nightshift");
    let status = std::process::Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat2,link,linkat",
            "-o",
        ])
        .arg(&trace)
        .args([bin, "run", "keyed", "--date", "2024-06-02", "--no-progress"])
        .current_dir(p)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace is needed for this test (Debian: apt-get install strace)");
    assert!(status.success());
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).trim().to_string())
        .collect();
    let table = std::fs::canonicalize(p.join("lake/reports/keyed")).unwrap();
    let table = table.to_str().unwrap();
    let commit = format!("{table}/_delta_log/00000000000000000002.json");
    let linked = lines
        .iter()
        .position(|l| l.starts_with("linkat(") && l.contains(&format!("\"{commit}\"")))
        .unwrap_or_else(|| panic!("no link of {commit} in:\n{}", lines.join("\n")));
    let synced_before = |path: &str| {
        lines[..linked].iter().any(|l| {
            (l.starts_with("fsync(") || l.starts_with("fdatasync(")) && l.contains(&format!("<{path}>"))
        })
    };
    // The files of this run: the adds of the commit.
    let log = std::fs::read_to_string(&commit).unwrap();
    let added: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|a| a["add"]["path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(added.len(), 2, "{log}");
    for rel in &added {
        let file = format!("{table}/{rel}");
        assert!(synced_before(&file), "{file} not fsynced before the commit");
        let folder = file.rsplit_once('/').unwrap().0;
        assert!(synced_before(folder), "{folder} not fsynced before the commit");
    }
    assert!(synced_before(table), "the table folder");
    assert!(synced_before(&format!("{commit}#1")), "the commit's own bytes");
    assert!(
        lines[linked..]
            .iter()
            .any(|l| l.starts_with("fsync(") && l.contains(&format!("<{table}/_delta_log>"))),
        "the log folder after the link"
    );
}
