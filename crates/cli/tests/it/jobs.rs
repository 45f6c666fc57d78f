//! `nightshift jobs | run | runs`: the repository's job definitions on a generated lake, exit codes,
//! and bad job definitions.

use std::path::Path;

use crate::common::run_in;

/// A project folder with the repository's nightshift.toml and queries, and a generated 7-day lake.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(repo.join("nightshift.toml"), dir.path().join("nightshift.toml")).unwrap();
    crate::common::copy_repo_queries(dir.path());
    run_in(
        dir.path(),
        &[
            "datasets",
            "generate",
            "--out",
            "datasets/lake",
            "--reviews",
            "1400",
            "--transactions",
            "100",
            "--days",
            "7",
        ],
        &[],
        None,
    )
    .ok();
    dir
}

/// Cuts the project's nightshift.toml before the fraud jobs, drops the sentiment job's `ready_when`
/// (today's interval, which the scheduler runs, is empty on the demo lake: these tests are about
/// the scheduler, `ready::*` about waiting) and appends `extra`.
fn keep_only_the_sentiment_job(p: &Path, extra: &str) {
    let toml = std::fs::read_to_string(p.join("nightshift.toml")).unwrap();
    let cut = toml
        .find("[jobs.fraud_model]")
        .expect("the repository's fraud jobs");
    let cut = toml[..cut].rfind("\n\n").unwrap();
    let kept: Vec<&str> = toml[..cut]
        .lines()
        .filter(|l| !l.starts_with("ready_when") && !l.starts_with("wait_"))
        .collect();
    assert!(
        kept.len() < toml[..cut].lines().count(),
        "the repository job has no ready_when"
    );
    std::fs::write(p.join("nightshift.toml"), format!("{}{extra}", kept.join("\n"))).unwrap();
}

/// The repository's daily jobs wait for their day: a day without reviews publishes nothing and
/// says so (exit 4), where it used to publish an empty report; `--force` publishes it anyway.
#[test]
fn a_repository_job_on_a_day_without_input_publishes_nothing() {
    let dir = project();
    let p = dir.path();
    let r = run_in(
        p,
        &["run", "daily_sentiment", "--date", "2024-07-15", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("daily_sentiment 2024-07-15 input_missing")
            && r.stdout.contains("ready_when was still false"),
        "{}",
        r.stdout
    );
    assert!(!p.join("datasets/lake/reports/daily_sentiment").exists());
    let forced = run_in(
        p,
        &[
            "run",
            "daily_sentiment",
            "--date",
            "2024-07-15",
            "--force",
            "--no-progress",
        ],
        &[],
        None,
    );
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert!(
        forced.stdout.contains("daily_sentiment 2024-07-15 succeeded"),
        "{}",
        forced.stdout
    );
}

#[test]
fn runs_the_repository_jobs_and_records_them() {
    let dir = project();
    let p = dir.path();
    let r = run_in(p, &["run", "--all", "--date", "2024-06-03"], &[], None);
    r.ok();
    // The model is trained (quarter of 2024-06-03) before the scoring job that depends on it.
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in\n{}", r.stdout))
    };
    at("daily_sentiment 2024-06-03 succeeded");
    assert!(at("fraud_model 2024-04-01 succeeded") < at("fraud_scoring 2024-06-03 succeeded"));
    // Each report's Delta commit records the model versions it was made with.
    for report in ["fraud_model", "fraud_scoring"] {
        let table = p.join("datasets/lake/reports").join(report);
        let latest = *crate::common::delta_versions(&table).last().unwrap();
        let manifest = crate::common::run_info(&table, latest);
        assert_eq!(
            manifest["model_versions"],
            serde_json::json!(["fraud@v1"]),
            "{report}: {manifest}"
        ); // … and the SHA-256 of the SQL that produced it.
        let sql = p.join(format!(
            "queries/{}.sql",
            if report == "fraud_model" {
                "train_fraud_model"
            } else {
                report
            }
        ));
        let sum = std::process::Command::new("sha256sum")
            .arg(&sql)
            .output()
            .unwrap();
        let hex = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(manifest["sql_hash"], format!("sha256:{hex}"), "{report}");
    }
    assert!(
        r.stdout.contains("rows/s") && r.stdout.contains("per 1k rows"),
        "{}",
        r.stdout
    );

    let r = run_in(
        p,
        &[
            "run",
            "daily_sentiment",
            "--from",
            "2024-06-01",
            "--to",
            "2024-06-07",
        ],
        &[],
        None,
    );
    r.ok();
    let dates: Vec<&str> = r.stdout.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        dates,
        [
            "2024-06-01",
            "2024-06-02",
            "2024-06-03",
            "2024-06-04",
            "2024-06-05",
            "2024-06-06",
            "2024-06-07"
        ]
    );

    // A dry run writes nothing.
    let r = run_in(
        p,
        &["run", "--all", "--date", "2024-06-02", "--dry-run"],
        &[],
        None,
    );
    r.ok();
    assert!(
        r.stdout.contains("reports/daily_sentiment") && r.stdout.contains("$run_date=2024-06-02"),
        "{}",
        r.stdout
    );
    // The plan names each run's inputs (as its SQL names them) and output.
    assert!(
        r.stdout
            .contains("queries/daily_sentiment_job.sql reads [reviews] → reports/daily_sentiment"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("queries/train_fraud_model.sql reads [transactions] → reports/fraud_model"),
        "{}",
        r.stdout
    );

    let r = run_in(p, &["runs", "--last", "0", "--format", "csv"], &[], None);
    r.ok();
    assert_eq!(r.stdout.lines().count(), 1 + 10, "{}", r.stdout);
    assert_eq!(r.stdout.matches(",succeeded,").count(), 10, "{}", r.stdout);

    // The report holds one row per day and label, and counts every review of the week once.
    let r = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT sum(reviews) FROM reports.daily_sentiment",
            "-c",
            "SELECT count(*) FROM reviews",
        ],
        &[],
        None,
    );
    r.ok();
    let numbers: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(numbers.len(), 2, "{}", r.stdout);
    assert_eq!(numbers[0], numbers[1], "{}", r.stdout);

    let r = run_in(p, &["jobs", "--format", "csv"], &[], None);
    r.ok();
    assert!(
        r.stdout
            .contains("daily_sentiment,daily @ 02:00 UTC,reports/daily_sentiment"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2024-06-07 succeeded"), "{}", r.stdout);
}

#[test]
fn a_failed_run_exits_1_and_keeps_the_previous_report() {
    let dir = project();
    let p = dir.path();
    run_in(p, &["run", "daily_sentiment", "--date", "2024-06-01"], &[], None).ok();
    std::fs::write(
        p.join("queries/daily_sentiment_job.sql"),
        "SELECT no_such_column FROM reviews",
    )
    .unwrap();
    let r = run_in(p, &["run", "daily_sentiment", "--date", "2024-06-01"], &[], None);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("failed") && r.stdout.contains("no_such_column"),
        "{}",
        r.stdout
    );
    // The previous version stays the latest: version 0 created the table, version 1 is the first run.
    assert_eq!(
        crate::common::delta_versions(&p.join("datasets/lake/reports/daily_sentiment")),
        [0, 1]
    );
}

#[test]
fn bad_job_definitions_exit_2_with_file_and_line() {
    let dir = project();
    let p = dir.path();
    let base = std::fs::read_to_string(p.join("nightshift.toml")).unwrap();
    let lake = p.join("datasets/lake");
    let (reviews, transactions) = (
        parquet_files(&lake.join("reviews")),
        parquet_files(&lake.join("transactions")),
    );
    assert!(!reviews.is_empty() && !transactions.is_empty());
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), lake.join("elsewhere")).unwrap();
    let job = |name: &str, extra: &str| {
        format!(
            "\n[jobs.{name}]\nsql = \"queries/daily_sentiment_job.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
             output = \"reports/{name}\"\n{extra}\n"
        )
    };
    for (extra, needle) in [
        (
            job("x", "depends_on = [\"ghost\"]"),
            "jobs.x.depends_on: unknown job 'ghost'",
        ),
        (
            format!(
                "{}{}",
                job("x", "depends_on = [\"y\"]"),
                job("y", "depends_on = [\"x\"]")
            ),
            "dependency cycle x -> y -> x",
        ),
        (
            job("x", "").replace("daily @ 02:00 UTC\"\n", "\"\nschedule2 = 1\n"),
            "bad schedule ''",
        ),
        (
            job("x", "").replace("daily_sentiment_job.sql", "missing.sql"),
            "missing.sql' does not exist",
        ),
        // A cron step beyond the field's range used to overflow into a made-up fire time.
        (
            job("x", "").replace("daily @ 02:00 UTC", "5/4294967295 * * * *"),
            "the step 4294967295 is larger than the field's range 0-59",
        ),
        // Outputs that would write into, or vacuum, another table's files.
        (
            job("x", "").replace("reports/x", "reviews"),
            "jobs.x.output: 'reviews' is the folder of the lake table 'reviews'",
        ),
        (
            job("x", "").replace("reports/x", "transactions/extra"),
            "'transactions/extra' is inside the folder of the lake table 'transactions'",
        ),
        (
            job("x", "").replace("reports/x", "reports/daily_sentiment/x"),
            "'reports/daily_sentiment/x' is inside 'reports/daily_sentiment', the output of job \
             'daily_sentiment'",
        ),
        (
            job("x", "").replace("reports/x", "./reports/x"),
            "must be a folder under the lake root (no '..' or '.')",
        ),
        (
            job("x", "").replace("reports/x", "elsewhere/x"),
            "leads out of the lake root through the symlink",
        ),
    ] {
        std::fs::write(p.join("nightshift.toml"), format!("{base}{extra}")).unwrap();
        for command in [&["run", "--all"][..], &["jobs"]] {
            let r = run_in(p, command, &[], None);
            r.fails_with(2, &[needle, "nightshift.toml:"]);
        }
    }
    // Nothing ran: every input file is still there.
    assert_eq!(parquet_files(&lake.join("reviews")), reviews);
    assert_eq!(parquet_files(&lake.join("transactions")), transactions);
    assert!(!outside.path().join("x").exists());
}

fn parquet_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push((e.display().to_string(), std::fs::metadata(&e).unwrap().len()));
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn the_scheduler_runs_what_is_due_and_exits_0_on_sigterm() {
    use std::io::BufRead;
    let dir = project();
    let p = dir.path();
    // Only the sentiment job: training a model on today's (empty) quarter fails, as it should, and a
    // failed interval is due again on the next pass.
    keep_only_the_sentiment_job(p, "");
    // --once: the latest due interval (today's, empty on the demo lake) runs and is recorded.
    let r = run_in(p, &["schedule", "--once"], &[], None);
    r.ok();
    assert!(
        r.stdout.contains("daily_sentiment") && r.stdout.contains("succeeded"),
        "{}",
        r.stdout
    );
    // Nothing more is due: a second pass runs nothing.
    let r = run_in(p, &["schedule", "--once"], &[], None);
    r.ok();
    assert_eq!(r.stdout, "", "{}", r.stdout);
    // The long-running form: wait until it is idle (it logs that it sleeps), then SIGTERM.
    let mut child = std::process::Command::new(crate::common::bin())
        .args(["--log-level", "info", "schedule"])
        .current_dir(p)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let idle = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("scheduler idle"));
    assert!(idle, "the scheduler never went idle");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0));
}

/// `[cluster] url` sends the scheduler's runs to a cluster (here Ballista standalone); the ledger
/// says where each ran, and `--cluster local` reads it here.
#[test]
fn the_scheduler_runs_jobs_on_the_cluster_named_in_the_settings() {
    let dir = project();
    let p = dir.path();
    keep_only_the_sentiment_job(p, "\n\n[cluster]\nurl = \"standalone\"\n");
    let r = run_in(p, &["schedule", "--once"], &[], None);
    r.ok();
    assert!(
        r.stdout.contains("daily_sentiment") && r.stdout.contains("succeeded"),
        "{}",
        r.stdout
    );
    let ledger = run_in(
        p,
        &[
            "--cluster",
            "local",
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT job, executed_on, state FROM nightshift.runs",
        ],
        &[],
        None,
    );
    ledger.ok();
    assert_eq!(
        ledger.stdout,
        "job,executed_on,state\ndaily_sentiment,standalone,succeeded\n"
    );
}

/// On a terminal `nightshift run` draws a progress bar (runs done, the current run's stage, rows
/// written, elapsed time) and clears it; the summary lines still print. `--no-progress` turns it off.
#[test]
fn a_terminal_shows_a_progress_bar_and_no_progress_turns_it_off() {
    let dir = project();
    let spawn = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(crate::common::bin());
        cmd.args(["run", "daily_sentiment", "fraud_model", "--date", "2024-06-03"])
            .args(extra)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        for (k, _) in std::env::vars() {
            if k.starts_with("NIGHTSHIFT_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        rexpect::session::spawn_command(cmd, Some(120_000)).expect("start nightshift run")
    };
    // The model's quarter is older than the day: it runs first.
    let mut p = spawn(&[]);
    let shown = p
        .exp_string("daily_sentiment 2024-06-03 succeeded")
        .expect("summary lines");
    for needle in [
        "0/2 runs done, now fraud_model 2024-04-01 querying",
        "fraud_model 2024-04-01 succeeded",
        "1/2 runs done, now daily_sentiment 2024-06-03 writing",
        "rows written",
    ] {
        assert!(shown.contains(needle), "no {needle:?} in {shown}");
    }
    p.exp_eof().expect("exits");

    let mut p = spawn(&["--no-progress"]);
    let shown = p
        .exp_string("daily_sentiment 2024-06-03 succeeded")
        .expect("summary lines");
    assert!(shown.contains("fraud_model 2024-04-01 succeeded"), "{shown}");
    assert!(!shown.contains("runs done"), "{shown}");
    p.exp_eof().expect("exits");
}

/// The scoring job scores with the model its dependency trained for an interval not newer than its
/// own, even after a newer version exists, and refuses to run before any such model.
#[test]
fn scoring_uses_the_model_of_its_dependency_not_a_newer_one() {
    let dir = project();
    let p = dir.path();
    run_in(p, &["run", "fraud_model", "--date", "2024-06-03"], &[], None).ok();
    // A newer version of the same model, trained by hand with the same features.
    run_in(
        p,
        &[
            "sql",
            "-c",
            "CREATE OR REPLACE MODEL fraud OPTIONS (type = 'random_forest', target = 'is_fraudulent', \
             trees = 3, seed = 1) AS SELECT amount, latitude, longitude, region, merchant_category, \
             time_of_day, card_present, is_fraudulent FROM transactions",
        ],
        &[],
        None,
    )
    .ok();
    run_in(p, &["run", "fraud_scoring", "--date", "2024-06-03"], &[], None).ok();
    let scoring = p.join("datasets/lake/reports/fraud_scoring");
    // The newest commit of the scoring report records that it scored with fraud@v1.
    let scored_with_v1 = || {
        let manifest =
            crate::common::run_info(&scoring, *crate::common::delta_versions(&scoring).last().unwrap());
        assert_eq!(
            manifest["model_versions"],
            serde_json::json!(["fraud@v1"]),
            "{manifest}"
        );
    };
    scored_with_v1();
    // `rerun` repeats that run with the model it scored with, though v2 is newer.
    let ids = run_in(
        p,
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT run_id FROM nightshift.runs WHERE job = 'fraud_scoring'",
        ],
        &[],
        None,
    );
    ids.ok();
    let run_id = ids.stdout.lines().nth(1).unwrap().to_string();
    let again = run_in(p, &["rerun", &run_id], &[], None);
    again.ok();
    assert!(
        again.stdout.contains("pinned to fraud@v1")
            && again.stdout.contains("fraud_scoring 2024-06-03 succeeded"),
        "{}",
        again.stdout
    );
    scored_with_v1();

    // Outside jobs, the latest version is used.
    let r = run_in(
        p,
        &["sql", "--format", "csv", "-c", "DESCRIBE MODEL fraud"],
        &[],
        None,
    );
    r.ok();
    assert!(r.stdout.contains("model,fraud@v2\n"), "{}", r.stdout);

    // A day of the quarter before the only trained one: nothing old enough to score with (--force:
    // the day has no transactions, which ready_when would report first).
    let r = run_in(
        p,
        &["run", "fraud_scoring", "--date", "2024-03-15", "--force"],
        &[],
        None,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("its dependency 'fraud_model' has succeeded only for intervals newer than this run's")
            && r.stdout.contains("nightshift run fraud_model --date 2024-03-15"),
        "{}",
        r.stdout
    );
}

/// A report in nightshift's pre-Delta layout is refused until its job's next run converts it in
/// place: the old files become the table's first version with the intervals that wrote them, the
/// old metadata goes, and a rerun of an old day replaces exactly that day.
#[test]
fn a_pre_delta_report_is_converted_by_its_next_run() {
    let dir = project();
    let p = dir.path();
    let run = |date: &str| {
        run_in(
            p,
            &["run", "daily_sentiment", "--date", date, "--no-progress"],
            &[],
            None,
        )
        .ok();
    };
    let count = |sql: &str| {
        let r = run_in(p, &["sql", "--format", "csv", "-c", sql], &[], None);
        r.ok();
        r.stdout.lines().nth(1).unwrap().to_string()
    };
    run("2024-06-01");
    let day1 = count("SELECT sum(reviews) FROM reports.daily_sentiment");
    // Rewrite the table as the old layout: the same data file, named by a manifest.
    let report = p.join("datasets/lake/reports/daily_sentiment");
    let info = crate::common::run_info(&report, 1);
    let log = std::fs::read_to_string(report.join("_delta_log/00000000000000000001.json")).unwrap();
    let add = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|a| a.get("add").cloned())
        .unwrap();
    let path = add["path"].as_str().unwrap().to_string();
    let size = std::fs::metadata(report.join(&path)).unwrap().len();
    std::fs::remove_dir_all(report.join("_delta_log")).unwrap();
    std::fs::create_dir_all(report.join("_manifests")).unwrap();
    let manifest = serde_json::json!({
        "version": 1, "run_id": "old-run",
        "files": [{"path": path, "rows": 3, "bytes": size, "interval_start": info["interval_start"]}],
    });
    std::fs::write(
        report.join("_manifests/00000000000000000001.json"),
        manifest.to_string(),
    )
    .unwrap();
    std::fs::write(report.join("_manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(report.join("_SUCCESS"), "").unwrap();

    run_in(
        p,
        &["sql", "-c", "SELECT * FROM reports.daily_sentiment"],
        &[],
        None,
    )
    .fails_with(1, &["pre-Delta layout", "nightshift run"]);
    run("2024-06-02");
    for old in ["_manifests", "_manifest.json", "_SUCCESS"] {
        assert!(!report.join(old).exists(), "{old} is left");
    }
    assert_eq!(
        count("SELECT count(DISTINCT review_date) FROM reports.daily_sentiment"),
        "2"
    );
    assert_eq!(
        count("SELECT sum(reviews) FROM reports.daily_sentiment WHERE review_date = DATE '2024-06-01'"),
        day1
    );
    // The converted file carries its interval: a rerun of that day replaces it, not adds to it.
    run("2024-06-01");
    assert_eq!(
        count("SELECT sum(reviews) FROM reports.daily_sentiment WHERE review_date = DATE '2024-06-01'"),
        day1
    );
    assert_eq!(
        count("SELECT count(*) FROM reports.daily_sentiment WHERE review_date = DATE '2024-06-01'"),
        "3"
    );
}
