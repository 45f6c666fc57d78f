//! The publisher: Delta versions, modes, commit info, and a SIGKILL at random points never breaking
//! the published table.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use nightshift_jobs::{Commit, Interval, Output, RunFacts, Schedule, TAG_INTERVAL, TAG_RUN, WriteMode};
use object_store::local::LocalFileSystem;
use object_store::path::Path;

fn output(dir: &std::path::Path) -> Output {
    let prefix = Path::from_absolute_path(dir).unwrap();
    Output::new(
        Arc::new(LocalFileSystem::new()),
        ObjectStoreUrl::parse("file://").unwrap(),
        prefix,
        Some(dir.to_path_buf()),
    )
}

fn day(date: &str) -> Interval {
    let t: DateTime<Utc> = format!("{date}T12:00:00Z").parse().unwrap();
    Schedule::parse("daily").unwrap().interval_containing(t)
}

/// Writes `rows` rows (`v`, `k = v % 5` as the partition) for `interval` and publishes them.
async fn publish(out: &Output, run_id: &str, interval: &Interval, rows: u64, mode: WriteMode) -> u64 {
    let ctx = SessionContext::new();
    let df = ctx
        .sql(&format!(
            "SELECT value AS v, value % 5 AS k FROM generate_series(1, {rows})"
        ))
        .await
        .unwrap();
    let stream = df.execute_stream().await.unwrap();
    let mut staged = out
        .write(stream, &["k".to_string()], run_id, interval, |_| {})
        .await
        .unwrap();
    out.validate(&mut staged).await.unwrap();
    let yes = || -> futures::future::BoxFuture<'static, bool> { Box::pin(async { true }) };
    let facts = RunFacts {
        sql_hash: format!("sha256:{run_id}"),
        model_versions: vec!["fraud@v2".into()],
        input_files: vec![],
        inputs: vec![],
    };
    out.publish(
        Commit {
            job: "t",
            run_id,
            interval,
            mode,
        },
        &staged,
        &facts,
        &yes,
    )
    .await
    .unwrap()
}

/// The latest version read through delta-rs: its rows, checked against the log's statistics.
async fn read_published(out: &Output) -> u64 {
    let table = out.table().await.unwrap().expect("a published version");
    let facts = nightshift_lake::delta_facts(&table).unwrap();
    let ctx = SessionContext::new();
    ctx.register_object_store(
        &url::Url::parse("file://").unwrap(),
        Arc::new(LocalFileSystem::new()),
    );
    let provider = nightshift_lake::delta_table_provider(&ctx, &table).await.unwrap();
    let n = ctx.read_table(provider).unwrap().count().await.unwrap() as u64;
    assert_eq!(Some(n), facts.rows, "rows read vs the log's statistics");
    n
}

/// The data files under `dir` (not the log, not `_errors/`), relative to it.
fn part_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                if !e.file_name().to_string_lossy().starts_with('_') {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The files of the latest version, relative to the table's folder.
async fn version_files(out: &Output) -> Vec<String> {
    let table = out.table().await.unwrap().unwrap();
    let mut files: Vec<String> = table
        .snapshot()
        .unwrap()
        .log_data()
        .iter()
        .map(|f| f.object_store_path().to_string())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn modes_replace_exactly_what_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    assert!(out.latest_version().await.unwrap().is_none());
    // Version 0 creates the table; each run is one commit after it.
    assert_eq!(
        publish(&out, "r1", &day("2024-06-01"), 100, WriteMode::OverwriteInterval).await,
        1
    );
    assert_eq!(
        publish(&out, "r2", &day("2024-06-02"), 50, WriteMode::OverwriteInterval).await,
        2
    );
    assert_eq!(read_published(&out).await, 150);
    // Rerunning a day replaces that day only, and vacuum removes the replaced files.
    assert_eq!(
        publish(&out, "r3", &day("2024-06-01"), 10, WriteMode::OverwriteInterval).await,
        3
    );
    assert_eq!(read_published(&out).await, 60);
    // Vacuum with no retention leaves exactly the latest version's files; with nothing to delete it
    // commits nothing.
    assert_eq!(
        out.vacuum(chrono::Duration::zero()).await.unwrap(),
        5,
        "the replaced day's files"
    );
    assert_eq!(out.vacuum(chrono::Duration::zero()).await.unwrap(), 0);
    assert_eq!(out.latest_version().await.unwrap(), Some(5));
    let listed = version_files(&out).await;
    assert_eq!(part_files(dir.path()), listed);
    assert!(listed.iter().all(|p| p.starts_with("k=")), "{listed:?}");
    // Each file is tagged with its interval and run.
    let table = out.table().await.unwrap().unwrap();
    #[allow(deprecated)] // the add action is the only way to a file's tags in delta-rs 1.1
    let mut tagged: Vec<(String, String)> = table
        .snapshot()
        .unwrap()
        .log_data()
        .iter()
        .map(|f| {
            let tags = f.add_action().tags.unwrap();
            (
                tags[TAG_RUN].clone().unwrap(),
                tags[TAG_INTERVAL].clone().unwrap(),
            )
        })
        .collect();
    tagged.sort();
    tagged.dedup();
    assert_eq!(
        tagged,
        [
            ("r2".to_string(), day("2024-06-02").start.to_rfc3339()),
            ("r3".to_string(), day("2024-06-01").start.to_rfc3339())
        ]
    );
    publish(&out, "r4", &day("2024-06-02"), 7, WriteMode::Append).await;
    assert_eq!(read_published(&out).await, 67);
    // The vacuum above committed its start and end (versions 4 and 5), as Delta's vacuum does.
    let v5 = publish(&out, "r5", &day("2024-06-03"), 3, WriteMode::Replace).await;
    assert_eq!(v5, 7);
    assert_eq!(read_published(&out).await, 3);
    // The commit info says which run made each version; the vacuum's commits are not runs.
    assert!(out.run_info(4).await.unwrap().is_none());
    let info = out.run_info(v5).await.unwrap().unwrap();
    assert_eq!(
        (info.job.as_str(), info.run_id.as_str(), info.mode.as_str()),
        ("t", "r5", "replace")
    );
    assert_eq!(info.run_date, "2024-06-03");
    assert_eq!(info.sql_hash, "sha256:r5");
    assert_eq!(info.model_versions, ["fraud@v2"]);
    assert_eq!(out.run_info(3).await.unwrap().unwrap().run_id, "r3");
    assert!(
        out.run_info(0).await.unwrap().is_none(),
        "version 0 only creates the table"
    );
    // Nothing of nightshift's old layout is written.
    for old in ["_manifests", "_manifest.json", "_SUCCESS", "current", "_v"] {
        assert!(!dir.path().join(old).exists(), "{old}");
    }
}

/// Not a test on its own: the child process of `sigkill_at_random_points_keeps_the_output_readable`,
/// publishing in a loop until it is killed.
#[tokio::test]
#[ignore = "run by sigkill_at_random_points_keeps_the_output_readable"]
async fn publishing_child() {
    let Ok(dir) = std::env::var("NIGHTSHIFT_TEST_OUTPUT") else {
        return;
    };
    let out = output(std::path::Path::new(&dir));
    for i in 0.. {
        publish(
            &out,
            &format!("child{i}"),
            &day("2024-06-01"),
            20_000 + i,
            WriteMode::OverwriteInterval,
        )
        .await;
    }
}

#[tokio::test]
async fn sigkill_at_random_points_keeps_the_output_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    publish(
        &out,
        "base",
        &day("2024-06-01"),
        1000,
        WriteMode::OverwriteInterval,
    )
    .await;
    let exe = std::env::current_exe().unwrap();
    let mut versions = Vec::new();
    for round in 0..8u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "publisher::publishing_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("NIGHTSHIFT_TEST_OUTPUT", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point each round: mid-write, mid-validation, around the commit.
        let wait = 150 + (round * 7919 + rand_ms()) % 600;
        std::thread::sleep(std::time::Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // The latest version is complete and readable, whatever was killed: one whole run's rows
        // (the base, or one child run's 20,000 + i), never two runs' files together.
        let rows = read_published(&out).await;
        assert!(
            rows == 1000 || (20_000..21_000).contains(&rows),
            "the latest version holds {rows} rows"
        );
        versions.push(out.latest_version().await.unwrap().unwrap());
    }
    // The next run cleans up and succeeds: nothing but the published files remain.
    publish(
        &out,
        "after",
        &day("2024-06-01"),
        500,
        WriteMode::OverwriteInterval,
    )
    .await;
    assert_eq!(read_published(&out).await, 500);
    out.vacuum(chrono::Duration::zero()).await.unwrap();
    assert_eq!(part_files(dir.path()), version_files(&out).await);
    assert!(
        versions.last().unwrap() > &1,
        "the child never published: {versions:?}"
    );
}

fn rand_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// A reader opening the table again and again while versions of different sizes are published sees
/// only whole versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_whole_versions_while_publishing() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    let sizes: Vec<u64> = (0..12).map(|i| 1000 + i * 1111).collect();
    publish(
        &out,
        "v0",
        &day("2024-06-01"),
        sizes[0],
        WriteMode::OverwriteInterval,
    )
    .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (dir, stop, sizes) = (dir.path().to_path_buf(), stop.clone(), sizes.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let out = output(&dir);
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = runtime.block_on(read_published(&out));
                assert!(
                    sizes.contains(&seen),
                    "the table holds {seen} rows: a mix of versions"
                );
                reads += 1;
            }
            reads
        })
    };
    for (i, rows) in sizes.iter().enumerate().skip(1) {
        publish(
            &out,
            &format!("v{i}"),
            &day("2024-06-01"),
            *rows,
            WriteMode::OverwriteInterval,
        )
        .await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(read_published(&out).await, sizes[11]);
}

/// Two writers committing to one table at once (runs of different intervals): Delta's optimistic
/// concurrency gives each its own version, and the loser recomputes its removes on the winner's
/// version, so both intervals are in the table and nothing is replaced twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_at_once_both_land_in_their_own_versions() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    publish(
        &out,
        "base",
        &day("2024-06-01"),
        100,
        WriteMode::OverwriteInterval,
    )
    .await;
    for round in 0..4u64 {
        let (a, b) = (output(dir.path()), output(dir.path()));
        let (da, db) = (day("2024-06-02"), day("2024-06-03"));
        let (ra, rb) = (format!("a{round}"), format!("b{round}"));
        let (va, vb) = tokio::join!(
            publish(&a, &ra, &da, 20 + round, WriteMode::OverwriteInterval),
            publish(&b, &rb, &db, 30 + round, WriteMode::OverwriteInterval),
        );
        assert_ne!(va, vb, "each commit is its own version");
        // Day 1 kept, days 2 and 3 exactly this round's rows.
        assert_eq!(read_published(&out).await, 100 + 20 + round + 30 + round);
    }
}

/// A result whose columns or partitioning differ from the table's is refused before anything is
/// written, with both column lists; the published version stays.
#[tokio::test]
async fn a_result_of_another_shape_is_refused_with_both_column_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    publish(&out, "r1", &day("2024-06-01"), 10, WriteMode::OverwriteInterval).await;
    let ctx = SessionContext::new();
    let write = |sql: &'static str, partition_by: Vec<String>| {
        let (ctx, out) = (ctx.clone(), out.clone());
        async move {
            let stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
            out.write(stream, &partition_by, "r2", &day("2024-06-02"), |_| {})
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let err = write("SELECT 1 AS v, 2 AS k, 'x' AS extra", vec!["k".into()]).await;
    assert!(
        err.contains("extra") && err.contains("move the table aside"),
        "{err}"
    );
    let err = write("SELECT 1 AS v, 2 AS k", vec![]).await;
    assert!(
        err.contains("partitioned by [k]") && err.contains("partitions by []"),
        "{err}"
    );
    assert_eq!(read_published(&out).await, 10);
    assert_eq!(out.latest_version().await.unwrap(), Some(1));
}

/// A checkpoint every ten commits: a daily job's log stays quick to read after years.
#[tokio::test]
async fn the_log_is_checkpointed_every_ten_commits() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    // Version 0 creates the table; runs commit versions 1 to 8, then 9: the tenth commit.
    for i in 0..8u64 {
        publish(
            &out,
            &format!("r{i}"),
            &day("2024-06-01"),
            5 + i,
            WriteMode::OverwriteInterval,
        )
        .await;
    }
    assert!(
        !dir.path().join("_delta_log/_last_checkpoint").exists(),
        "not before the tenth commit"
    );
    let v = publish(&out, "r9", &day("2024-06-01"), 50, WriteMode::OverwriteInterval).await;
    assert_eq!(v, 9);
    assert!(dir.path().join("_delta_log/_last_checkpoint").exists());
    assert!(
        std::fs::read_dir(dir.path().join("_delta_log"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".checkpoint.")),
        "a checkpoint file"
    );
    assert_eq!(read_published(&out).await, 50);
}

/// A folder that already holds data (an input table's, say) never becomes an output: the first run
/// fails before writing, and the files stay.
#[tokio::test]
async fn an_output_folder_holding_data_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("day=1")).unwrap();
    std::fs::write(dir.path().join("day=1/part-0.parquet"), b"someone else's data").unwrap();
    let out = output(dir.path());
    let ctx = SessionContext::new();
    let stream = ctx
        .sql("SELECT 1 AS v, 2 AS k")
        .await
        .unwrap()
        .execute_stream()
        .await
        .unwrap();
    let err = out
        .write(stream, &["k".to_string()], "r1", &day("2024-06-01"), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already holds data") && err.contains("part-0.parquet"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("day=1/part-0.parquet")).unwrap(),
        b"someone else's data"
    );
    assert!(!dir.path().join("_delta_log").exists());
}

async fn write_one(out: &Output, sql: &str) -> Result<nightshift_jobs::Staged, nightshift_jobs::JobError> {
    let ctx = SessionContext::new();
    let stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
    out.write(stream, &["k".to_string()], "r1", &day("2024-06-01"), |_| {})
        .await
}

/// An output inside another table's folder (a Delta table, or a Parquet table's partition folders)
/// is refused on its first run, and the other table keeps its files; a plain folder of tables (such
/// as `reports/`) is fine.
#[tokio::test]
async fn an_output_inside_a_table_is_refused() {
    let lake = tempfile::tempdir().unwrap();
    let root = Path::from_absolute_path(lake.path()).unwrap();
    let inside = |rel: &str| {
        let dir = lake.path().join(rel);
        output(&dir).within_lake(root.clone())
    };
    publish(
        &inside("reports/a"),
        "r0",
        &day("2024-06-01"),
        10,
        WriteMode::Append,
    )
    .await;
    std::fs::create_dir_all(lake.path().join("reviews/review_date=2024-06-01")).unwrap();
    std::fs::write(
        lake.path().join("reviews/review_date=2024-06-01/part-0.parquet"),
        b"input data",
    )
    .unwrap();
    for (rel, table, what) in [
        ("reports/a/b", "reports/a", "a Delta table"),
        ("reviews/b", "reviews", "a table of Parquet files"),
    ] {
        let err = write_one(&inside(rel), "SELECT 1 AS v, 2 AS k")
            .await
            .err()
            .unwrap_or_else(|| panic!("{rel} was accepted"))
            .to_string();
        assert!(
            err.contains(&format!("{table}', which is {what}")),
            "{rel}: {err}"
        );
        assert!(!lake.path().join(rel).exists(), "{rel} was written");
    }
    assert_eq!(read_published(&inside("reports/a")).await, 10);
    write_one(&inside("reports/c"), "SELECT 1 AS v, 2 AS k")
        .await
        .expect("a sibling of another report");
}

/// Delta stores an empty partition value as NULL: a result with one is refused with the row and a
/// way out, before anything is published.
#[tokio::test]
async fn an_empty_partition_value_is_refused_with_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    let Err(err) = write_one(
        &out,
        "SELECT v, k FROM (VALUES (1, 'a'), (2, NULL), (3, '')) AS t(v, k) ORDER BY v",
    )
    .await
    else {
        panic!("an empty partition value was accepted")
    };
    let err = err.to_string();
    assert!(
        err.contains("partition column 'k' holds an empty value (result row 3)")
            && err.contains("NULLIF(k, '')"),
        "{err}"
    );
    assert_eq!(
        out.latest_version().await.unwrap(),
        Some(0),
        "only the empty table"
    );
}

/// Staging files a killed writer left behind (`name#N`) go with the vacuum once older than the
/// retention; a young one (a live writer's) and the table's files stay.
#[tokio::test]
async fn vacuum_removes_stale_staging_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    publish(&out, "r1", &day("2024-06-01"), 10, WriteMode::Append).await;
    let old = dir.path().join("_delta_log/00000000000000000009.json#1");
    let young = dir.path().join("k=1/part-x.parquet#2");
    for f in [&old, &young] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b"partial").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let removed = out.vacuum(chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(removed, 1);
    assert!(!old.exists() && young.exists());
    assert_eq!(read_published(&out).await, 10);
}
