use crate::common::run;

#[test]
fn tables_lists_rows_files_and_partitions() {
    let r = run(&["tables", "--format", "csv"]);
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "table,rows,files,bytes,partitions,location,error");
    let tx = lines
        .iter()
        .find(|l| l.starts_with("transactions,"))
        .expect("transactions listed");
    let cols: Vec<&str> = tx.split(',').collect();
    assert_eq!(cols[1], "4000");
    assert_eq!(cols[2], "4");
    assert!(cols[3].parse::<u64>().unwrap() > 0);
    assert_eq!(cols[4], "tx_date date");
    assert!(lines.iter().any(|l| l.starts_with("reviews,1000,4,")));
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
    assert!(r.stdout.starts_with("table,rows"), "logs must not reach stdout");
}
