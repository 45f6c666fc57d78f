use crate::common::run;

#[test]
fn tables_lists_rows_files_and_partitions() {
    let r = run(&["tables", "--format", "csv"]);
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "table,format,rows,files,bytes,partitions,location,error"
    );
    let tx = lines
        .iter()
        .find(|l| l.starts_with("transactions,"))
        .expect("transactions listed");
    let cols: Vec<&str> = tx.split(',').collect();
    assert_eq!(cols[1], "parquet");
    assert_eq!(cols[2], "4000");
    assert_eq!(cols[3], "4");
    assert!(cols[4].parse::<u64>().unwrap() > 0);
    assert_eq!(cols[5], "tx_date date");
    assert!(lines.iter().any(|l| l.starts_with("reviews,parquet,1000,4,")));
}

#[test]
fn describe_prints_the_schema() {
    let r = run(&["describe", "transactions", "--format", "csv"]);
    r.ok();
    assert!(r.stdout.contains("amount,Float64,"), "{}", r.stdout);
    assert!(
        r.stdout.contains("tx_date,Date32,false,true") || r.stdout.contains("tx_date,Date32,true,true"),
        "{}",
        r.stdout
    );
    run(&["describe", "nosuch"]).fails_with(1, &["no table 'nosuch'", "transactions"]);
}

#[test]
fn partition_filters_prune_files() {
    let r = run(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "EXPLAIN SELECT sum(amount) FROM transactions WHERE tx_date = DATE '2024-06-02'",
    ]);
    r.ok();
    assert!(r.stdout.contains("file_groups={1 group: [["), "{}", r.stdout);
    assert!(
        r.stdout.contains("tx_date=2024-06-02/part-0.parquet]]"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("tx_date=2024-06-01"), "{}", r.stdout);
}

#[test]
fn bench_sentiment_measures_report_and_baseline() {
    let r = run(&[
        "bench",
        "sentiment",
        "--rows",
        "3000",
        "--days",
        "3",
        "--repeat",
        "1",
    ]);
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].contains("rows/s per core"), "{}", r.stdout);
    let measured: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("sentiment report") || l.starts_with("datafusion baseline"))
        .collect();
    assert!(measured.len() >= 2, "{}", r.stdout);
    for l in measured {
        let rate: f64 = l.split_whitespace().nth_back(1).unwrap().parse().unwrap();
        assert!(rate > 0.0, "{l}");
        assert!(l.contains(" 3000 "), "{l}");
    }
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let r = run(&[
        "--log-level",
        "info",
        "--log-format",
        "json",
        "tables",
        "--format",
        "csv",
    ]);
    r.ok();
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.starts_with('{') && l.ends_with('}'), "not a JSON line: {l}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"lake catalog loaded\"")),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.starts_with("table,format,rows"),
        "logs must not reach stdout"
    );
}

/// Reports in nightshift's pre-Delta layout (folders holding `_manifests/`) are refused, with the
/// way to convert them, until their job's next run converts them: their folder is never read as
/// loose Parquet (a killed run's leftover file would count), and plain neighbours stay plain tables.
#[test]
fn pre_delta_reports_are_refused_until_their_job_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    crate::common::write_parquet(&lake.join("events/a.parquet"), &[1, 2], false, None);
    crate::common::write_parquet(&lake.join("reports/flat/part-1.parquet"), &[1], false, None);
    // Left by a run that never committed: in the folder, in no manifest.
    crate::common::write_parquet(&lake.join("reports/flat/part-2.parquet"), &[7, 8, 9], false, None);
    crate::common::write_parquet(&lake.join("reports/other/part-1.parquet"), &[1], false, None);
    let m = lake.join("reports/flat/_manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("00000000000000000002.json"),
        r#"{"version": 2, "files": [{"path": "part-1.parquet"}]}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--lake", lake.to_str().unwrap()];
        all.extend_from_slice(args);
        crate::common::run_in(dir.path(), &all, &[], None)
    };
    let r = run(&["tables", "--format", "csv"]);
    r.ok();
    let names: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    // `reports` stays a plain table only through the `reports/other` folder.
    assert_eq!(names, ["events", "reports", "reports.flat"], "{}", r.stdout);
    assert!(r.stdout.contains("reports,parquet,1,1,"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("reports.flat,nightshift pre-delta report (unsupported),0,0,"),
        "{}",
        r.stdout
    );
    run(&["sql", "-c", "SELECT count(*) FROM reports.flat"])
        .fails_with(1, &["reports/flat/", "pre-Delta layout", "nightshift run"]);
}
