//! `[[jobs.NAME.checks]]`: a report is checked against the job's own history before it is
//! published; a failed `error` check blocks the run (exit 5) and the previous version stays, a
//! `warn` check publishes; every check's value, band and verdict land in `nightshift.checks`.

use std::path::Path;

use crate::common::{edit, one_job_project, run_in};
use crate::ready::{land, states};

const CHECKS: &str = r#"
[[jobs.daily.checks]]
kind = "row_count"
max_change = 0.3
min_runs = 3

[[jobs.daily.checks]]
name = "mean_id"
kind = "metric"
sql = "SELECT avg(id) FROM output"
min_runs = 3
min_change = 0.0

[[jobs.daily.checks]]
kind = "null_share"
column = "label"
max = 0.05
severity = "warn"

[[jobs.daily.checks]]
name = "no_negative_ids"
kind = "sql"
sql = "SELECT * FROM output WHERE id < 0"
"#;

fn project() -> tempfile::TempDir {
    // A tenth of the labels are NULL: the warn check fails on every run, and publishes.
    one_job_project(
        &format!("partition_by = [\"day\"]\non_blocked = \"cat > blocked.json\"\n{CHECKS}"),
        "SELECT $run_date AS day, id, CASE WHEN id % 10 = 0 THEN NULL ELSE 'x' END AS label \
         FROM events WHERE day = $run_date",
    )
}

fn run_day(p: &Path, day: &str) -> crate::common::Run {
    run_in(p, &["run", "daily", "--date", day, "--no-progress"], &[], None)
}

fn days_published(p: &Path) -> Vec<String> {
    report_days(&report_counts(p))
}

fn report_counts(p: &Path) -> String {
    let out = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT CAST(day AS VARCHAR) AS day, count(*) AS n FROM reports.daily GROUP BY day ORDER BY day",
        ],
        &[],
        None,
    );
    out.ok();
    out.stdout
}

fn report_days(csv: &str) -> Vec<String> {
    csv.lines().skip(1).map(|l| l.to_string()).collect()
}

#[test]
fn a_report_whose_rows_drop_ninety_percent_is_blocked_and_the_previous_version_stays() {
    let dir = project();
    let p = dir.path();
    for day in ["2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"] {
        land(p, day, 100);
        let r = run_day(p, day);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!("daily {day} succeeded"))
                && r.stdout
                    .contains("warning, check null_share_label: 10 of 100 values of 'label' are NULL"),
            "{}",
            r.stdout
        );
    }
    let before = report_counts(p);
    assert_eq!(days_published(p).len(), 4, "{before}");

    // The fifth day's load was cut short: 10 rows where the median is 100.
    land(p, "2024-06-05", 10);
    let r = run_day(p, "2024-06-05");
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("daily 2024-06-05 blocked")
            && r.stdout.contains("blocked by its checks; nothing was published")
            && r.stdout
                .contains("row_count: 10 rows; the median of the last 4 runs is 100, so 70 to 130 pass")
            && r.stdout.contains("mean_id: 5.5;"),
        "{}",
        r.stdout
    );
    assert_eq!(report_counts(p), before, "the blocked run changed the report");
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("blocked.json")).unwrap()).unwrap();
    assert_eq!(alert["event"], "blocked");
    assert!(
        alert["message"].as_str().unwrap().contains("row_count: 10 rows"),
        "{alert}"
    );
    assert_eq!(states(p).last().unwrap().1, "blocked");

    // Every check of every run is in nightshift.checks, with its value, band and verdict.
    let out = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT run_date, \"check\", severity, value, low, high, verdict FROM nightshift.checks \
             WHERE run_date IN ('2024-06-01', '2024-06-04', '2024-06-05') ORDER BY run_date, \"check\"",
        ],
        &[],
        None,
    );
    out.ok();
    assert_eq!(
        out.stdout,
        "run_date,check,severity,value,low,high,verdict\n\
         2024-06-01,mean_id,error,50.5,,,skipped\n\
         2024-06-01,no_negative_ids,error,0.0,0.0,0.0,pass\n\
         2024-06-01,null_share_label,warn,0.1,0.0,0.05,fail\n\
         2024-06-01,row_count,error,100.0,,,skipped\n\
         2024-06-04,mean_id,error,50.5,50.5,50.5,pass\n\
         2024-06-04,no_negative_ids,error,0.0,0.0,0.0,pass\n\
         2024-06-04,null_share_label,warn,0.1,0.0,0.05,fail\n\
         2024-06-04,row_count,error,100.0,70.0,130.0,pass\n\
         2024-06-05,mean_id,error,5.5,50.5,50.5,fail\n\
         2024-06-05,no_negative_ids,error,0.0,0.0,0.0,pass\n\
         2024-06-05,null_share_label,warn,0.1,0.0,0.05,fail\n\
         2024-06-05,row_count,error,10.0,70.0,130.0,fail\n"
    );

    // Once the whole day has landed, the rerun passes and publishes it.
    std::fs::remove_dir_all(p.join("lake/events/day=2024-06-05")).unwrap();
    land(p, "2024-06-05", 100);
    assert_eq!(run_day(p, "2024-06-05").code, 0);
    assert_eq!(days_published(p).len(), 5);
}

#[test]
fn a_check_that_cannot_run_fails_the_run_naming_it_and_bad_checks_are_settings_errors() {
    let dir = project();
    let p = dir.path();
    land(p, "2024-06-01", 10);
    let toml = p.join("nightshift.toml");
    edit(&toml, "WHERE id < 0", "WHERE nope < 0");
    let r = run_day(p, "2024-06-01");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("jobs.daily.checks[3] ('no_negative_ids')") && r.stdout.contains("nope"),
        "{}",
        r.stdout
    );
    assert!(!p.join("lake/reports/daily/_delta_log").exists());

    edit(&toml, "WHERE nope < 0", "WHERE id < 0");
    edit(&toml, "kind = \"sql\"", "kind = \"sqll\"");
    edit(&toml, "severity = \"warn\"", "severity = \"loud\"");
    let r = run_in(p, &["jobs"], &[], None);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("nightshift.toml:27: jobs.daily.checks[2].severity: 'loud'")
            && r.stderr
                .contains("nightshift.toml:31: jobs.daily.checks[3].kind: unknown check kind 'sqll'"),
        "{}",
        r.stderr
    );
}

/// The REPL shows the state of the nightly refresh: `\jobs`, `\runs`, `\checks`, `\errors`, and
/// `\rerun` runs a day again (here one its checks block).
#[test]
fn the_repl_shows_jobs_runs_checks_and_errors_and_reruns_a_day() {
    let dir = project();
    let p = dir.path();
    for day in ["2024-06-01", "2024-06-02", "2024-06-03"] {
        land(p, day, 100);
        assert_eq!(run_day(p, day).code, 0);
    }
    land(p, "2024-06-04", 10);
    let r = run_in(
        p,
        &["repl"],
        &[],
        Some(
            "\\format csv\n\\rerun daily 2024-06-04\n\\jobs\n\\runs daily\n\\checks daily\n\\errors daily\n\
             \\rerun nope 2024-06-04\n\\rerun daily yesterday\n",
        ),
    );
    r.ok();
    let out = &r.stdout;
    assert!(out.contains("daily 2024-06-04 blocked"), "{out}");
    assert!(out.contains("job,schedule,output,depends_on,last_run,next_fire\ndaily,daily @ 02:00 UTC,reports/daily,,2024-06-04 blocked,"), "{out}");
    assert!(
        out.contains(
            "job,run_date,state,attempts,seconds,rows_written,started_at,message\ndaily,2024-06-04,blocked,1,"
        ),
        "{out}"
    );
    assert!(
        out.contains("daily,2024-06-04,row_count,error,10.0,70.0,130.0,fail,"),
        "{out}"
    );
    assert!(
        out.contains("run_date,state,started_at,message\n2024-06-04,blocked,"),
        "{out}"
    );
    assert!(
        r.stderr.contains("no job 'nope'; known jobs: daily"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\\rerun takes a job and a date"),
        "{}",
        r.stderr
    );
}
