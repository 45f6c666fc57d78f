//! The publisher: versions, modes, and a SIGKILL at random points never breaking the published output.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use nightshift_jobs::{Commit, Interval, Output, RunFacts, Schedule, WriteMode};
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
    let m = out
        .publish(
            Commit {
                job: "t",
                run_id,
                interval,
                mode,
            },
            &staged,
            &RunFacts::default(),
            &yes,
        )
        .await
        .unwrap();
    out.collect_garbage(&|_| false).await.unwrap();
    m.version
}

/// Reads the latest published version through its manifest: row count per file and in total.
async fn read_published(out: &Output) -> u64 {
    let m = out.latest().await.unwrap().expect("a published version");
    let ctx = SessionContext::new();
    let mut total = 0;
    for (f, url) in m.files.iter().zip(out.published_files().await.unwrap()) {
        let n = ctx
            .read_parquet(url.as_str(), Default::default())
            .await
            .unwrap()
            .count()
            .await
            .unwrap() as u64;
        assert_eq!(n, f.rows, "{}", f.path);
        total += n;
    }
    assert_eq!(total, m.rows);
    total
}

/// The data files under `dir`, without the readers' view (`current/` and its `_v/` folders).
fn part_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if d == dir && (e.file_name() == "current" || e.file_name() == "_v") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy().starts_with("part-") {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// What a tool reading `<output>/current/` sees, as a careful reader does it: the link resolved once,
/// then every Parquet file below read (row counts from the footers). `None` before any publish, or
/// when the view was removed while being read (a reader slower than two publishes gets an error, never
/// a mix).
fn current_rows(dir: &std::path::Path) -> Option<u64> {
    let view = std::fs::canonicalize(dir.join("current")).ok()?;
    let mut total = 0;
    let mut stack = vec![view];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let file = std::fs::File::open(&p).ok()?;
                let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
                use parquet::file::reader::FileReader;
                total += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    Some(total)
}

#[tokio::test]
async fn modes_replace_exactly_what_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path());
    assert!(out.latest().await.unwrap().is_none());
    assert_eq!(
        publish(&out, "r1", &day("2024-06-01"), 100, WriteMode::OverwriteInterval).await,
        1
    );
    assert_eq!(
        publish(&out, "r2", &day("2024-06-02"), 50, WriteMode::OverwriteInterval).await,
        2
    );
    assert_eq!(read_published(&out).await, 150);
    assert_eq!(
        current_rows(dir.path()),
        Some(150),
        "current/ is the latest version"
    );
    // Rerunning a day replaces that day only, and the replaced files are removed.
    assert_eq!(
        publish(&out, "r3", &day("2024-06-01"), 10, WriteMode::OverwriteInterval).await,
        3
    );
    assert_eq!(read_published(&out).await, 60);
    let m = out.latest().await.unwrap().unwrap();
    let listed: Vec<String> = m.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(part_files(dir.path()), listed);
    assert!(listed.iter().all(|p| p.starts_with("k=")), "{listed:?}");
    publish(&out, "r4", &day("2024-06-02"), 7, WriteMode::Append).await;
    assert_eq!(read_published(&out).await, 67);
    publish(&out, "r5", &day("2024-06-03"), 3, WriteMode::Replace).await;
    assert_eq!(read_published(&out).await, 3);
    assert_eq!(current_rows(dir.path()), Some(3));
    // The two newest views are kept for readers that resolved the link before a switch.
    let mut views: Vec<String> = std::fs::read_dir(dir.path().join("_v"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    views.sort();
    assert_eq!(views, [format!("{:020}", 4), format!("{:020}", 5)]);
    assert!(dir.path().join("_SUCCESS").is_file());
    let copy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(copy["version"], 5);
    assert_eq!(copy["rows"], 3);
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
        // The latest published version is complete and readable, whatever was killed.
        let rows = read_published(&out).await;
        let m = out.latest().await.unwrap().unwrap();
        assert_eq!(rows, m.rows);
        versions.push(m.version);
        // So is what a tool reading `current/` sees: one whole version (the base, or one child run's
        // 20,000 + i rows), possibly the one before the latest if the kill fell between commit and
        // switch; never two versions' files together.
        let seen = current_rows(dir.path()).unwrap();
        assert!(
            seen == 1000 || (20_000..21_000).contains(&seen),
            "current/ holds {seen} rows"
        );
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
    assert_eq!(current_rows(dir.path()), Some(500));
    let m = out.latest().await.unwrap().unwrap();
    let listed: Vec<String> = m.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(part_files(dir.path()), listed);
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

/// A reader polling `current/` while versions of different sizes are published sees only whole
/// versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_current_sees_whole_versions_while_publishing() {
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
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(seen) = current_rows(&dir) {
                    assert!(
                        sizes.contains(&seen),
                        "current/ holds {seen} rows: a mix of versions"
                    );
                    reads += 1;
                }
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
    assert_eq!(current_rows(dir.path()), Some(sizes[11]));
}
