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
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    if !status.success() && traced.contains("Operation not permitted") {
        eprintln!("skipped: this machine does not allow tracing processes (ptrace)");
        return;
    }
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

/// xorshift64*: the kill points are reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Rows per day of a table, through nightshift.
fn rows_per_day(p: &Path, table: &str) -> Vec<(String, i64)> {
    rows_per_day_with(p, table, &[])
}

/// [`rows_per_day`] with environment variables (credentials).
fn rows_per_day_with(p: &Path, table: &str, env: &[(&str, &str)]) -> Vec<(String, i64)> {
    json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            &format!("SELECT CAST(day AS VARCHAR) AS d, count(*) AS n FROM {table} GROUP BY day ORDER BY d"),
        ],
        env,
        None,
    ))
    .iter()
    .map(|r| (r["d"].as_str().unwrap().to_string(), r["n"].as_i64().unwrap()))
    .collect()
}

/// SIGKILL of the real `nightshift run` at seeded random points (before, during and after the
/// commit, and between the commit and the ledger), alternating an `overwrite_interval` job run by
/// date and an `append` job run by `--due`. After each kill the same command, started at once,
/// succeeds (the killed holder's lease is recognised as ended), every version reads whole, and no
/// day has lost or doubled rows. `NIGHTSHIFT_KILLS` (default 8; the documented long run is 50) and
/// `NIGHTSHIFT_KILL_SEED` (default 42) set the run.
#[test]
fn sigkill_at_random_points_loses_nothing_and_the_next_run_succeeds_at_once() {
    let dir = keyed_project();
    kill_loop(dir.path(), &[], env_number("NIGHTSHIFT_KILLS", 8));
}

/// The same on the S3-compatible test server (moto): leases, commits and the ledger are create-only
/// or whole-object puts there too.
#[test]
fn sigkill_at_random_points_on_s3_loses_nothing_and_the_next_run_succeeds_at_once() {
    use crate::s3::{BUCKET, KEY_ID, SECRET};
    let moto = crate::s3::start_moto();
    let dir = keyed_project();
    let p = dir.path();
    crate::s3::upload_dir(moto.port, &p.join("lake"), "unused");
    let toml = std::fs::read_to_string(p.join("nightshift.toml"))
        .unwrap()
        .replace(
            "root = \"lake\"",
            &format!(
                "root = \"s3://{BUCKET}/kills\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\n\
             region = \"us-east-1\"\nallow_http = true",
                moto.port
            ),
        );
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    // The listing of unfinished multipart uploads sees one, and an aborted one is gone.
    let request = |method: &str, target: &str| {
        crate::s3::http(
            moto.port,
            &format!(
                "{method} /{BUCKET}{target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n",
                moto.port
            ),
        )
    };
    let uploads = || crate::s3::unfinished_uploads(moto.port);
    let created = request("POST", "/probe?uploads");
    let id = crate::s3::between(&created, "<UploadId>", "</UploadId>").to_string();
    assert!(uploads().contains("<Upload>"), "{}", uploads());
    request("DELETE", &format!("/probe?uploadId={id}"));
    assert!(!uploads().contains("<Upload>"), "{}", uploads());
    kill_loop(p, &env, env_number("NIGHTSHIFT_KILLS", 6));
    // The reports here are small files, which are whole-object puts: a killed run leaves no
    // unfinished multipart upload behind (for large files, see s3::a_failed_run_aborts_its_multipart_upload).
    let left = uploads();
    assert!(
        !left.contains("<Upload>"),
        "a killed run left a multipart upload: {left}"
    );
}

/// Kills `kills` runs of the project at `p` (see the tests above), with `env` for every process.
fn kill_loop(p: &Path, env: &[(&str, &str)], kills: u64) {
    let mut toml = std::fs::read_to_string(p.join("nightshift.toml")).unwrap();
    toml.push_str(
        "\n[jobs.appended]\nsql = \"keyed.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/appended\"\n\
         partition_by = [\"k\"]\nmode = \"append\"\n\n[scheduler]\ncatch_up_limit = 2\n",
    );
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    let bin = env!("CARGO_BIN_EXE_nightshift");
    let command = |i: u64| -> Vec<String> {
        if i.is_multiple_of(2) {
            let day = format!("2024-06-0{}", 1 + (i / 2) % 3);
            ["run", "keyed", "--date", &day, "--no-progress"]
                .map(String::from)
                .to_vec()
        } else {
            ["run", "appended", "--due", "--no-progress"]
                .map(String::from)
                .to_vec()
        }
    };
    // How long a whole run takes here, so that kills land before, during and after its commit.
    let started = std::time::Instant::now();
    run_in(
        p,
        &["run", "keyed", "--date", "2024-06-01", "--no-progress"],
        env,
        None,
    )
    .ok();
    let span = (started.elapsed().as_millis() as u64 * 5 / 4).max(50);
    let mut rng = Rng(env_number("NIGHTSHIFT_KILL_SEED", 42) | 1);
    for i in 0..kills {
        let args = command(i);
        let mut child = std::process::Command::new(bin)
            .args(&args)
            .current_dir(p)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = rng.below(span);
        std::thread::sleep(std::time::Duration::from_millis(at));
        child.kill().unwrap();
        child.wait().unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let next = run_in(p, &args, env, None);
        assert_eq!(
            next.code, 0,
            "kill {i} at {at} ms of {args:?}: the next run failed\n{}\n{}",
            next.stdout, next.stderr
        );
        // The append job's table exists from its first run (the second kill) on.
        for table in ["reports.keyed", "reports.appended"]
            .iter()
            .take(if i == 0 { 1 } else { 2 })
        {
            for (day, n) in rows_per_day_with(p, table, env) {
                assert_eq!(n, 3, "kill {i} at {at} ms: {table} has {n} rows on {day}");
            }
        }
    }
    let appended = rows_per_day_with(p, "reports.appended", env);
    assert!(!appended.is_empty(), "the append job published");
    // Every killed run is settled in the ledger: none is left `running`.
    let running = json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            "SELECT run_id FROM nightshift.runs WHERE state = 'running'",
        ],
        env,
        None,
    ));
    assert!(running.is_empty() || kills == 0, "{running:?}");
    let settled = json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            "SELECT state, count(*) AS n FROM nightshift.runs WHERE message LIKE '%settled by%' GROUP BY state",
        ],
        env,
        None,
    ));
    eprintln!("{kills} kills; runs whose process died, as settled by the next run: {settled:?}");
}

/// A project whose daily job fails on `bad` (two days before the latest due) while the lake's `flag` table holds
/// 1: `failing` is an SQL expression of the condition, such as `1 / (CASE WHEN {cond} THEN 0 ELSE 1
/// END)`. Returns the project and the days three, two and one before the latest due day.
fn failing_day_project(failing: &str) -> (tempfile::TempDir, [String; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("lake/flag")).unwrap();
    let latest = crate::common::latest_due_day();
    let day = |n: i64| (latest - chrono::Duration::days(n)).to_string();
    let days = [day(3), day(2), day(1)];
    std::fs::write(
        p.join("nightshift.toml"),
        "[lake]\nroot = \"lake\"\n\n[jobs.daily]\nsql = \"daily.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
         output = \"reports/daily\"\n\n[scheduler]\ncatch_up_limit = 7\n",
    )
    .unwrap();
    let condition = format!("$run_date = DATE '{}' AND (SELECT max(x) FROM flag) > 0", days[1]);
    std::fs::write(
        p.join("daily.sql"),
        format!(
            "SELECT $run_date AS day, {} AS v",
            failing.replace("{cond}", &condition)
        ),
    )
    .unwrap();
    set_flag(p, 1);
    (dir, days)
}

/// Writes the `flag` table of [`failing_day_project`].
fn set_flag(p: &Path, x: i32) {
    run_in(
        p,
        &[
            "sql",
            "-c",
            &format!("COPY (SELECT {x} AS x) TO 'lake/flag/part-0.parquet' STORED AS PARQUET"),
        ],
        &[],
        None,
    )
    .ok();
}

/// The days of `reports.daily`, in order.
fn published_days(p: &Path) -> Vec<String> {
    json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            "SELECT CAST(day AS VARCHAR) AS d FROM reports.daily ORDER BY d",
        ],
        &[],
        None,
    ))
    .iter()
    .map(|r| r["d"].as_str().unwrap().to_string())
    .collect()
}

/// Once the cause is gone, `run --due` retries the failed day `bad` although later days have
/// succeeded since, and reruns nothing else.
fn due_retries_only(p: &Path, [first, bad, last]: &[String; 3]) {
    set_flag(p, 0);
    let due = run_in(p, &["run", "daily", "--due", "--no-progress"], &[], None);
    assert_eq!(due.code, 0, "{}\n{}", due.stdout, due.stderr);
    assert!(
        due.stdout.contains(&format!("daily {bad} succeeded")),
        "{}",
        due.stdout
    );
    assert!(!due.stdout.contains(&format!("daily {first} ")), "{}", due.stdout);
    let days = published_days(p);
    assert!(
        days.starts_with(&[first.clone(), bad.clone(), last.clone()]),
        "{days:?}"
    );
}

/// A backfill with one failing day: the run of that day fails with its message and the other days
/// publish; once the cause is gone, `run --due` retries the failed day although later days have
/// succeeded since.
#[test]
fn a_failed_day_of_a_backfill_is_retried_by_the_next_due_run() {
    let (dir, days) = failing_day_project("1 / (CASE WHEN {cond} THEN 0 ELSE 1 END)");
    let p = dir.path();
    let [first, bad, last] = &days;
    let backfill = run_in(
        p,
        &["run", "daily", "--from", first, "--to", last, "--no-progress"],
        &[],
        None,
    );
    assert_eq!(backfill.code, 1, "{}\n{}", backfill.stdout, backfill.stderr);
    assert!(
        backfill.stdout.contains(&format!("daily {bad} failed"))
            && backfill.stdout.contains("Divide by zero"),
        "{}",
        backfill.stdout
    );
    assert!(
        backfill.stdout.contains(&format!("daily {last} succeeded")),
        "{}",
        backfill.stdout
    );
    due_retries_only(p, &days);
}

/// A function that panics inside the engine on one day (`nightshift_fault`, installed by
/// `NIGHTSHIFT_FAULT_INJECTION=1`): the scheduler catching up the days survives it, that day's run
/// fails with the panic's message in the ledger, the later days publish, and the next `run --due`
/// retries the failed day.
#[test]
fn a_panicking_function_fails_its_run_and_the_scheduler_goes_on() {
    let (dir, days) = failing_day_project("nightshift_fault({cond})");
    let p = dir.path();
    let [first, bad, last] = &days;
    let fault = [("NIGHTSHIFT_FAULT_INJECTION", "1")];
    // A committed first day: the scheduler catches up every day after it.
    run_in(
        p,
        &["run", "daily", "--date", first, "--no-progress"],
        &fault,
        None,
    )
    .ok();
    let scheduler = run_in(p, &["schedule", "--once"], &fault, None);
    assert!(
        scheduler.stderr.contains("injected panic"),
        "the panic is logged: {}",
        scheduler.stderr
    );
    let state = |day: &str| {
        json_rows(&run_in(
            p,
            &[
                "sql",
                "--format",
                "json",
                "-c",
                &format!("SELECT state, message FROM nightshift.runs WHERE run_date = DATE '{day}'"),
            ],
            &[],
            None,
        ))
    };
    let failed = state(bad);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["state"], "failed", "{failed:?}");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("the engine panicked: nightshift_fault: injected panic"),
        "{message}"
    );
    assert_eq!(state(last)[0]["state"], "succeeded");
    // The job's SQL names the function, which exists only with the variable.
    set_flag(p, 0);
    let due = run_in(p, &["run", "daily", "--due", "--no-progress"], &fault, None);
    assert_eq!(due.code, 0, "{}\n{}", due.stdout, due.stderr);
    assert!(
        due.stdout.contains(&format!("daily {bad} succeeded")),
        "{}",
        due.stdout
    );
    let published = published_days(p);
    assert!(
        published.contains(bad) && published.contains(last),
        "{published:?}"
    );
    // `nightshift sql` ends with exit 1 and the message, not an abort.
    run_in(p, &["sql", "-c", "SELECT nightshift_fault(true)"], &fault, None).fails_with(
        1,
        &[
            "nightshift panicked: nightshift_fault: injected panic",
            "this is a bug",
        ],
    );
}

/// How many days the schedulers of [`two_schedulers_at_once`] catch up: `NIGHTSHIFT_INTERVALS`, 3 by
/// default (the documented long run is 100).
fn intervals() -> u64 {
    env_number("NIGHTSHIFT_INTERVALS", 3)
}

/// A project whose `append` job `daily` has a committed day [`intervals`] + 1 days back, so that a
/// scheduler catches up the days after it. `root` replaces the lake root setting.
fn catching_up_project(root: &str, env: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("lake")).unwrap();
    std::fs::write(
        p.join("nightshift.toml"),
        format!(
            "[lake]\n{root}\n\n[jobs.daily]\nsql = \"daily.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
             output = \"reports/daily\"\nmode = \"append\"\n\n[scheduler]\ncatch_up_limit = {}\n",
            intervals()
        ),
    )
    .unwrap();
    std::fs::write(p.join("daily.sql"), "SELECT $run_date AS day, 1 AS v").unwrap();
    let days = i64::try_from(intervals()).unwrap();
    let first_day = (crate::common::latest_due_day() - chrono::Duration::days(days)).to_string();
    run_in(
        p,
        &["run", "daily", "--date", &first_day, "--no-progress"],
        env,
        None,
    )
    .ok();
    dir
}

/// Two schedulers started together on the lake of [`catching_up_project`] (`schedule --once`, each
/// catching up the same three days): every interval is published exactly once, by one of them.
fn two_schedulers_at_once(p: &Path, env: &[(&str, &str)]) {
    let schedulers: Vec<_> = (0..2)
        .map(|_| {
            crate::common::command(p, &["schedule", "--once"], env)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in schedulers {
        let out = s.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let per_day = rows_per_day_with(p, "reports.daily", env);
    assert!(per_day.len() as u64 > intervals(), "{per_day:?}");
    for (day, n) in &per_day {
        assert_eq!(
            *n, 1,
            "{day} was published {n} times (append mode doubles a second publish)"
        );
    }
    let succeeded = json_rows(&run_in(
        p,
        &[
            "sql",
            "--format",
            "json",
            "-c",
            "SELECT run_date, count(*) AS n FROM nightshift.runs WHERE state = 'succeeded' GROUP BY run_date",
        ],
        env,
        None,
    ));
    assert!(succeeded.len() as u64 > intervals(), "{succeeded:?}");
    assert!(succeeded.iter().all(|r| r["n"] == 1), "{succeeded:?}");
}

#[test]
fn two_schedulers_at_once_publish_each_interval_once() {
    let dir = catching_up_project("root = \"lake\"", &[]);
    two_schedulers_at_once(dir.path(), &[]);
}

/// [`two_schedulers_at_once`] on the S3-compatible test server: the leases are create-only puts there.
#[test]
fn two_schedulers_at_once_on_s3_publish_each_interval_once() {
    use crate::s3::{BUCKET, KEY_ID, SECRET};
    let moto = crate::s3::start_moto();
    let empty = tempfile::tempdir().unwrap();
    crate::s3::upload_dir(moto.port, empty.path(), "unused");
    let env = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    let root = format!(
        "root = \"s3://{BUCKET}/schedulers\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{}\"\n\
         region = \"us-east-1\"\nallow_http = true",
        moto.port
    );
    let dir = catching_up_project(&root, &env);
    two_schedulers_at_once(dir.path(), &env);
}

/// A reader querying a report while the same interval is rerun again and again sees the old version
/// or the new one, never a mix, or a clean error; never a crash. (Vacuum deletes nothing younger than
/// `retain`, at least an hour, so replaced files outlive any reader of their version.)
#[test]
fn a_reader_during_reruns_sees_whole_versions() {
    let dir = keyed_project();
    let p = dir.path().to_path_buf();
    std::fs::write(
        p.join("nightshift.toml"),
        std::fs::read_to_string(p.join("nightshift.toml"))
            .unwrap()
            .replace(
                "partition_by = [\"k\"]\n",
                "partition_by = [\"k\"]\nretain = \"1h\"\n",
            ),
    )
    .unwrap();
    run(&p, "2024-06-01");
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            for _ in 0..8 {
                run(&p, "2024-06-01");
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let r = run_in(
            &p,
            &[
                "sql",
                "--format",
                "csv",
                "-c",
                "SELECT count(*) AS n, sum(v) AS s FROM reports.keyed",
            ],
            &[],
            None,
        );
        assert!(r.code == 0 || r.code == 1, "crashed: {}\n{}", r.stdout, r.stderr);
        if r.code == 0 {
            assert_eq!(r.stdout, "n,s\n3,6\n", "a mix of versions");
            reads += 1;
        } else {
            assert!(r.stderr.contains("error:"), "{}", r.stderr);
        }
    }
    writer.join().unwrap();
    assert!(reads > 0, "no read overlapped the reruns");
}

/// A full disk: the lake on a 2 MiB tmpfs. A run whose report does not fit fails (exit 1) with "No
/// space left" and the path, the previous version stays readable, and the failed run's files are
/// gone; once there is room again, the same run publishes. It mounts a tmpfs, so it needs root (it
/// says so and skips where it cannot mount).
#[test]
fn a_full_disk_fails_the_run_and_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let lake = p.join("lake");
    std::fs::create_dir(&lake).unwrap();
    let Some(_guard) = crate::common::mount_tmpfs(&lake, "2m") else {
        return;
    };
    std::fs::write(
        p.join("nightshift.toml"),
        "[lake]\nroot = \"lake\"\n\n[jobs.big]\nsql = \"big.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
         output = \"reports/big\"\nretries = 0\n",
    )
    .unwrap();
    // 10 rows on June 1; on June 2, 300,000 rows of hashes (about 10 MB, incompressible).
    std::fs::write(
        p.join("big.sql"),
        "SELECT $run_date AS day, value AS v, md5(CAST(value AS VARCHAR)) || md5(CAST(value * 7 AS VARCHAR)) AS h \
         FROM generate_series(1, 300000) WHERE $run_date = DATE '2024-06-02' OR value <= 10",
    )
    .unwrap();
    run_in(
        p,
        &["run", "big", "--date", "2024-06-01", "--no-progress"],
        &[],
        None,
    )
    .ok();
    let files_before = walk_files(&lake);
    let full = run_in(
        p,
        &["run", "big", "--date", "2024-06-02", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(full.code, 1, "{}\n{}", full.stdout, full.stderr);
    assert!(full.stdout.contains("No space left"), "{}", full.stdout);
    assert!(
        full.stdout.contains("reports/big"),
        "the message names the path: {}",
        full.stdout
    );
    assert_eq!(rows_per_day(p, "reports.big"), [("2024-06-01".to_string(), 10)]);
    let data_files = |files: &[String]| -> Vec<String> {
        files
            .iter()
            .filter(|f| f.ends_with(".parquet") || f.contains('#'))
            .cloned()
            .collect()
    };
    assert_eq!(
        data_files(&walk_files(&lake)),
        data_files(&files_before),
        "the failed run left files behind"
    );
    _guard.resize("64m");
    run_in(
        p,
        &["run", "big", "--date", "2024-06-02", "--no-progress"],
        &[],
        None,
    )
    .ok();
    assert_eq!(
        rows_per_day(p, "reports.big"),
        [
            ("2024-06-01".to_string(), 10),
            ("2024-06-02".to_string(), 300_000)
        ]
    );
}

fn walk_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A project with an `append` job `slow` that holds the engine for the milliseconds in the lake's
/// `pace` table (`nightshift_sleep`, installed by `NIGHTSHIFT_FAULT_INJECTION=1`), with a 2 s lease.
fn slow_job_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("lake/pace")).unwrap();
    std::fs::write(
        p.join("nightshift.toml"),
        "[lake]\nroot = \"lake\"\n\n[scheduler]\nlease_ttl = \"2s\"\n\n[jobs.slow]\nsql = \"slow.sql\"\n\
         schedule = \"daily @ 02:00 UTC\"\noutput = \"reports/slow\"\nmode = \"append\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("slow.sql"),
        "SELECT $run_date AS day, nightshift_sleep((SELECT max(ms) FROM pace)) AS v",
    )
    .unwrap();
    dir
}

const FAULTS: [(&str, &str); 1] = [("NIGHTSHIFT_FAULT_INJECTION", "1")];

/// Sets the `pace` table of [`slow_job_project`].
fn set_pace(p: &Path, ms: i64) {
    run_in(
        p,
        &[
            "sql",
            "-c",
            &format!(
                "COPY (SELECT CAST({ms} AS BIGINT) AS ms) TO 'lake/pace/part-0.parquet' STORED AS PARQUET"
            ),
        ],
        &[],
        None,
    )
    .ok();
}

/// Starts `run slow --date day` and returns once it holds the interval's lease.
fn start_slow_run(p: &Path, day: &str) -> std::process::Child {
    let child = crate::common::command(p, &["run", "slow", "--date", day, "--no-progress"], &FAULTS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let leases = p.join("lake/_nightshift/leases/slow");
    let started = std::time::Instant::now();
    // A create-only put on the local disk stages `<generation>.json#<n>` first: the lease is held
    // once the `.json` itself exists (stopped before that, the run would rightly lose the race).
    while !leases.exists() || !walk_files(&leases).iter().any(|f| f.ends_with(".json")) {
        assert!(started.elapsed().as_secs() < 60, "the run never took its lease");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// R4: a lease holder stopped (SIGSTOP) past its lease while another process runs the same interval
/// and publishes it; resumed, the stopped one finds it lost the lease and publishes nothing, so the
/// `append` report holds the day once. Then a run longer than its lease keeps it by renewal: a
/// second process started meanwhile does not run the interval, and the first publishes.
#[test]
fn a_stopped_lease_holder_publishes_nothing_and_a_long_run_keeps_its_lease() {
    let dir = slow_job_project();
    let p = dir.path();
    set_pace(p, 4000);
    let holder = start_slow_run(p, "2024-06-01");
    signal(&holder, "-STOP");
    std::thread::sleep(std::time::Duration::from_secs(4));
    set_pace(p, 0);
    let other = run_in(
        p,
        &["run", "slow", "--date", "2024-06-01", "--no-progress"],
        &FAULTS,
        None,
    );
    assert_eq!(
        other.code, 0,
        "the expired lease was not taken over:\n{}\n{}",
        other.stdout, other.stderr
    );
    signal(&holder, "-CONT");
    let resumed = holder.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&resumed.stdout);
    assert_eq!(resumed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("the lease was lost to another scheduler; nothing was published"),
        "{out}"
    );
    assert_eq!(rows_per_day(p, "reports.slow"), [("2024-06-01".to_string(), 1)]);

    set_pace(p, 5000);
    let long = start_slow_run(p, "2024-06-02");
    // Past the 2 s lease: only renewal keeps it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let second = run_in(
        p,
        &["run", "slow", "--date", "2024-06-02", "--no-progress"],
        &FAULTS,
        None,
    );
    assert_eq!(second.code, 1, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stdout.contains("another process is running this interval"),
        "{}",
        second.stdout
    );
    let done = long.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stdout));
    assert_eq!(
        rows_per_day(p, "reports.slow"),
        [("2024-06-01".to_string(), 1), ("2024-06-02".to_string(), 1)]
    );
}
