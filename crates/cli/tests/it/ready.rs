//! `ready_when`: a job waits for its interval's input, ends as `input_missing` when it does not come
//! in time (publishing nothing, retried by the next due run), and `--force` runs it anyway.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{append, command, edit, latest_due_day, one_job_project, run_in};

/// A lake whose `events` table (partitioned by `day`) has one day, and a daily job counting a
/// day's events that waits for them with `ready_when`; `wait` holds the job's `wait_*` keys.
pub(crate) fn project(wait: &str) -> tempfile::TempDir {
    let dir = one_job_project(
        &format!("ready_when = \"SELECT count(*) > 0 FROM events WHERE day = $run_date\"\n{wait}"),
        "SELECT $run_date AS day, count(*) AS n FROM events WHERE day = $run_date",
    );
    land(dir.path(), "2000-01-01", 1);
    dir
}

/// [`project`] with a second job `tenfold` reading the report `daily`, with `keys` added to its table.
fn with_tenfold(keys: &str) -> tempfile::TempDir {
    let dir = project("");
    let p = dir.path();
    append(
        &p.join("nightshift.toml"),
        &format!(
            "\n[jobs.tenfold]\nsql = \"tenfold.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
             output = \"reports/tenfold\"\n{keys}\n"
        ),
    );
    std::fs::write(
        p.join("tenfold.sql"),
        "SELECT day, n * 10 AS n10 FROM reports.daily WHERE day = $run_date",
    )
    .unwrap();
    dir
}

/// Writes `rows` events of `day` (its partition folder appears whole, as a loader's rename makes it).
pub(crate) fn land(p: &Path, day: &str, rows: u32) {
    let staging = p.join(format!("staging-{day}"));
    std::fs::create_dir_all(&staging).unwrap();
    run_in(
        p,
        &[
            "sql",
            "-c",
            &format!(
                "COPY (SELECT value AS id FROM generate_series(1, {rows})) TO '{}/part-0.parquet' STORED AS PARQUET",
                staging.display()
            ),
        ],
        &[],
        None,
    )
    .ok();
    std::fs::create_dir_all(p.join("lake/events")).unwrap();
    std::fs::rename(&staging, p.join(format!("lake/events/day={day}"))).unwrap();
}

pub(crate) fn states(p: &Path) -> Vec<(String, String)> {
    let out = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT run_date, state FROM nightshift.runs ORDER BY started_at",
        ],
        &[],
        None,
    );
    out.ok();
    out.stdout
        .lines()
        .skip(1)
        .map(|l| {
            let (d, s) = l.split_once(',').unwrap();
            (d.to_string(), s.to_string())
        })
        .collect()
}

fn report(p: &Path) -> String {
    let out = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT CAST(day AS VARCHAR) AS day, n FROM reports.daily ORDER BY day",
        ],
        &[],
        None,
    );
    out.ok();
    out.stdout
}

#[test]
fn a_run_whose_input_is_not_ready_publishes_nothing_and_force_runs_it() {
    let dir = project("");
    let p = dir.path();
    let run = run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("daily 2024-06-02 input_missing"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ready_when was still false")
            && run
                .stdout
                .contains("nightshift run daily --date 2024-06-02 --force"),
        "{}",
        run.stdout
    );
    assert!(
        !p.join("lake/reports/daily/_delta_log").exists(),
        "a report was published"
    );
    assert_eq!(
        states(p),
        [("2024-06-02".to_string(), "input_missing".to_string())]
    );

    // --force runs it anyway (an empty day); once the day lands, a plain run publishes its count.
    let forced = run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--force", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert_eq!(report(p), "day,n\n2024-06-02,0\n");
    land(p, "2024-06-02", 7);
    run_in(
        p,
        &["run", "daily", "--date", "2024-06-02", "--no-progress"],
        &[],
        None,
    )
    .ok();
    assert_eq!(report(p), "day,n\n2024-06-02,7\n");

    // A query that does not answer with one boolean fails the run, naming the setting.
    edit(
        &p.join("nightshift.toml"),
        "SELECT count(*) > 0 FROM events",
        "SELECT count(*) FROM events",
    );
    let bad = run_in(
        p,
        &["run", "daily", "--date", "2024-06-03", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout.contains("jobs.daily.ready_when") && bad.stdout.contains("must return one boolean"),
        "{}",
        bad.stdout
    );
}

/// The scheduler waits for the due day's partition; it lands while it waits, and the run publishes
/// it. A day that does not land in time ends as `input_missing`, and the next due run retries it.
#[test]
fn the_scheduler_waits_for_a_late_partition_and_retries_a_missing_one() {
    let dir = project("wait_timeout = \"60s\"\nwait_poll = \"200ms\"");
    let p = dir.path();
    let day = latest_due_day().to_string();
    let started = Instant::now();
    let mut scheduler = command(p, &["schedule", "--once"], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The run has started (its ledger record exists) and is waiting: the partition lands now.
    let runs = p.join("lake/_nightshift/runs");
    while !runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        scheduler.try_wait().unwrap().is_none(),
        "the scheduler did not wait"
    );
    land(p, &day, 5);
    let out = scheduler.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report(p), format!("day,n\n{day},5\n"));
    assert_eq!(states(p), [(day.clone(), "succeeded".to_string())]);

    // Now a day that does not come within a 1 s wait.
    let dir = project("wait_timeout = \"1s\"\nwait_poll = \"200ms\"");
    let p = dir.path();
    run_in(p, &["schedule", "--once"], &[], None).ok();
    assert_eq!(states(p), [(day.clone(), "input_missing".to_string())]);
    assert!(!p.join("lake/reports/daily/_delta_log").exists());
    land(p, &day, 3);
    run_in(p, &["run", "daily", "--due", "--no-progress"], &[], None).ok();
    assert_eq!(report(p), format!("day,n\n{day},3\n"));
}

fn ledger_runs(p: &Path) -> Vec<(String, String)> {
    states(p)
}

/// Late data: a file of a published day changes; under `lookback = 3` the next due run runs that
/// day again, exactly once, and `--changed` reports the others unchanged.
#[test]
fn a_changed_input_file_causes_exactly_one_rerun_under_lookback() {
    let dir = project("lookback = 3");
    let p = dir.path();
    let last = latest_due_day();
    let days: Vec<String> = (0..3)
        .rev()
        .map(|n| (last - chrono::Duration::days(n)).to_string())
        .collect();
    for day in &days {
        land(p, day, 10);
    }
    run_in(
        p,
        &[
            "run",
            "daily",
            "--from",
            &days[0],
            "--to",
            &days[2],
            "--no-progress",
        ],
        &[],
        None,
    )
    .ok();
    // Nothing changed: nothing is due.
    run_in(p, &["run", "daily", "--due", "--no-progress"], &[], None).ok();
    assert_eq!(ledger_runs(p).len(), 3, "{:?}", ledger_runs(p));

    // The middle day's file is replaced by a late, fuller load.
    std::fs::remove_dir_all(p.join(format!("lake/events/day={}", days[1]))).unwrap();
    land(p, &days[1], 12);
    let due = run_in(p, &["run", "daily", "--due", "--no-progress"], &[], None);
    due.ok();
    assert!(
        due.stdout.contains(&format!(
            "daily {}: its inputs changed since it was published",
            days[1]
        )) && due.stdout.contains(&format!("daily {} succeeded", days[1])),
        "{}",
        due.stdout
    );
    let runs = ledger_runs(p);
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(runs[3], (days[1].clone(), "succeeded".to_string()));
    assert!(report(p).contains(&format!("{},12\n", days[1])), "{}", report(p));

    // Once published again, it is unchanged: no second rerun, and --changed says so for each day.
    run_in(p, &["run", "daily", "--due", "--no-progress"], &[], None).ok();
    assert_eq!(ledger_runs(p).len(), 4);
    let changed = run_in(p, &["run", "daily", "--changed", "--no-progress"], &[], None);
    changed.ok();
    for day in &days {
        assert!(
            changed.stdout.contains(&format!(
                "daily {day} skipped: its inputs have not changed since it was published"
            )),
            "{}",
            changed.stdout
        );
    }
}

/// `nightshift rerun RUN_ID` repeats a past run as it was: its Delta input at the version it read,
/// though the input has a newer version; a changed SQL file or an unknown run is refused.
#[test]
fn rerun_repeats_a_run_with_its_inputs_at_the_versions_it_read() {
    let dir = with_tenfold("depends_on = [\"daily\"]");
    let p = dir.path();
    let day = "2024-06-02";
    let tenfold = |p: &Path| {
        let out = run_in(
            p,
            &["sql", "--format", "csv", "-c", "SELECT n10 FROM reports.tenfold"],
            &[],
            None,
        );
        out.ok();
        out.stdout
    };
    land(p, day, 10);
    run_in(p, &["run", "--all", "--date", day, "--no-progress"], &[], None).ok();
    assert_eq!(tenfold(p), "n10\n100\n");
    let first = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT run_id FROM nightshift.runs WHERE job = 'tenfold'",
        ],
        &[],
        None,
    );
    first.ok();
    let run_id = first.stdout.lines().nth(1).unwrap().to_string();

    // The day's load is redone with 20 rows; both reports follow it.
    std::fs::remove_dir_all(p.join(format!("lake/events/day={day}"))).unwrap();
    land(p, day, 20);
    run_in(p, &["run", "--all", "--date", day, "--no-progress"], &[], None).ok();
    assert_eq!(tenfold(p), "n10\n200\n");

    // The first run again: `daily` at the version it read then.
    let again = run_in(p, &["rerun", &run_id], &[], None);
    again.ok();
    assert!(
        again.stdout.contains(&format!(
            "tenfold {day}: repeating run {run_id} with the same SQL, pinned to file:///"
        )) && again.stdout.contains("reports/daily/@v")
            && again.stdout.contains(&format!("tenfold {day} succeeded")),
        "{}",
        again.stdout
    );
    assert_eq!(tenfold(p), "n10\n100\n");

    // A changed SQL file cannot repeat it; an unknown run is named.
    append(&p.join("tenfold.sql"), " -- edited");
    let changed = run_in(p, &["rerun", &run_id], &[], None);
    assert_eq!(changed.code, 2, "{}\n{}", changed.stdout, changed.stderr);
    assert!(
        changed.stderr.contains("the SQL file")
            && changed.stderr.contains(&format!("changed since run '{run_id}'")),
        "{}",
        changed.stderr
    );
    let unknown = run_in(p, &["rerun", "nope"], &[], None);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no run 'nope' in the ledger"),
        "{}",
        unknown.stderr
    );
}

/// `wait_for`: a job runs once the Delta report it reads has a commit at or after its interval's
/// end; before, it ends as `input_missing` saying which table it waits for.
#[test]
fn wait_for_needs_a_commit_of_the_table_after_the_interval() {
    let dir = with_tenfold("wait_for = [\"reports.daily\"]");
    let p = dir.path();
    let run = |job: &str, day: &str, extra: &[&str]| {
        let mut args = vec!["run", job, "--date", day, "--no-progress"];
        args.extend_from_slice(extra);
        run_in(p, &args, &[], None)
    };
    land(p, "2024-06-02", 10);
    let early = run("tenfold", "2024-06-02", &[]);
    assert_eq!(early.code, 4, "{}\n{}", early.stdout, early.stderr);
    assert!(
        early
            .stdout
            .contains("the table reports.daily does not exist yet"),
        "{}",
        early.stdout
    );
    run("daily", "2024-06-02", &[]).ok();
    run("tenfold", "2024-06-02", &[]).ok();

    // Today's interval ends tomorrow: a commit made now is older than that.
    let today = chrono::Utc::now().date_naive().to_string();
    run("daily", &today, &["--force"]).ok();
    let late = run("tenfold", &today, &[]);
    assert_eq!(late.code, 4, "{}\n{}", late.stdout, late.stderr);
    assert!(
        late.stdout
            .contains("reports.daily has no commit since the interval's end"),
        "{}",
        late.stdout
    );
}
