use crate::common::{demo_lake, run, run_in};

#[test]
fn formats_print_nulls_and_values() {
    let q = "SELECT 1 AS a, NULL AS b, 'x' AS c";
    let table = run(&["sql", "-c", q]);
    table.ok();
    assert!(
        table.stdout.contains("NULL") && table.stdout.contains("1 row"),
        "{}",
        table.stdout
    );
    assert_eq!(run(&["sql", "--format", "csv", "-c", q]).stdout, "a,b,c\n1,,x\n");
    assert_eq!(
        run(&["sql", "--format", "tsv", "-c", q]).stdout,
        "a\tb\tc\n1\t\tx\n"
    );
    assert_eq!(
        run(&["sql", "--format", "ndjson", "-c", q]).stdout,
        "{\"a\":1,\"b\":null,\"c\":\"x\"}\n"
    );
    assert_eq!(
        run(&["sql", "--format", "json", "-c", q]).stdout,
        "[{\"a\":1,\"b\":null,\"c\":\"x\"}]\n"
    );
}

#[test]
fn several_files_commands_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.sql"),
        "SELECT 1 AS one;\n-- comment\nSELECT 2 AS two;",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.sql"), "SELECT 3 AS three").unwrap();
    let lake = demo_lake().to_str().unwrap();
    let r = run_in(
        dir.path(),
        &[
            "--lake",
            lake,
            "sql",
            "--format",
            "csv",
            "-f",
            "a.sql",
            "-f",
            "b.sql",
            "-c",
            "SELECT 4 AS four",
        ],
        &[],
        None,
    );
    r.ok();
    assert_eq!(r.stdout, "one\n1\ntwo\n2\nthree\n3\nfour\n4\n");
    let r = run_in(
        dir.path(),
        &["--lake", lake, "sql", "--format", "csv"],
        &[],
        Some("SELECT 5 AS five;"),
    );
    assert_eq!(r.stdout, "five\n5\n");
}

#[test]
fn a_failing_statement_names_file_line_and_column_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.sql"),
        "SELECT 1 AS ok;\n\n   SELECT nosuch\n   FROM reviews;\nSELECT 'never runs' AS x;",
    )
    .unwrap();
    let lake = demo_lake().to_str().unwrap();
    let r = run_in(
        dir.path(),
        &["--lake", lake, "sql", "--format", "csv", "-f", "bad.sql"],
        &[],
        None,
    );
    r.fails_with(1, &["bad.sql:3:4", "SELECT nosuch", "nosuch"]);
    assert!(!r.stdout.contains("never runs"));
    assert!(r.stdout.contains("ok\n1\n"));
    // Malformed SQL is a failed query too, with DataFusion's parser message.
    run(&["sql", "-c", "SELEC 1"]).fails_with(1, &["-c #1:1:1", "SELEC"]);
    run(&["sql", "-c", "SELECT 'unterminated"]).fails_with(1, &["-c #1:1:8"]);
}

#[test]
fn parameters_are_typed_and_checked() {
    let r = run(&[
        "sql",
        "--format",
        "csv",
        "--param",
        "d=2024-06-02",
        "-c",
        "SELECT arrow_typeof($d) AS t, count(*) AS n FROM transactions WHERE tx_date = $d",
    ]);
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "t,n");
    assert!(lines[1].starts_with("Date32,"), "{}", r.stdout);
    let n: u64 = lines[1].split(',').nth(1).unwrap().parse().unwrap();
    assert!(n > 0);
    run(&["sql", "-c", "SELECT $missing"]).fails_with(1, &["'missing'", "--param missing=VALUE"]);
    run(&["sql", "--param", "novalue", "-c", "SELECT 1"]).fails_with(2, &["novalue", "NAME=VALUE"]);
    // Values are bound, never spliced into the SQL text.
    let r = run(&[
        "sql",
        "--format",
        "csv",
        "--param",
        "s=x' OR '1'='1",
        "-c",
        "SELECT $s AS s",
    ]);
    assert_eq!(r.stdout, "s\nx' OR '1'='1\n");
}

#[test]
fn output_files_are_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let pq = dir.path().join("out.parquet");
    run(&[
        "sql",
        "-o",
        csv.to_str().unwrap(),
        "-c",
        "SELECT tx_date, count(*) AS n FROM transactions GROUP BY tx_date ORDER BY tx_date",
    ])
    .ok();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.starts_with("tx_date,n\n2024-06-01,"));
    run(&[
        "sql",
        "-o",
        pq.to_str().unwrap(),
        "-c",
        "SELECT count(*) AS n FROM transactions",
    ])
    .ok();
    let back = run(&[
        "sql",
        "--format",
        "csv",
        "-c",
        &format!("SELECT n FROM '{}'", pq.display()),
    ]);
    assert_eq!(back.stdout, "n\n4000\n");
    // A failing query leaves no file behind.
    let none = dir.path().join("none.parquet");
    run(&[
        "sql",
        "-o",
        none.to_str().unwrap(),
        "-c",
        "SELECT 1/0 AS x FROM transactions",
    ]);
    assert!(!none.exists());
    run(&["sql", "--format", "parquet", "-c", "SELECT 1"]).fails_with(2, &["-o FILE"]);
}

#[test]
fn maxrows_and_timing() {
    let r = run(&[
        "sql",
        "--maxrows",
        "2",
        "--timing",
        "-c",
        "SELECT * FROM range(10)",
    ]);
    r.ok();
    assert!(r.stdout.contains("10 rows (2 shown"), "{}", r.stdout);
    assert!(r.stderr.contains("10 rows in"), "{}", r.stderr);
}

#[test]
fn broken_pipe_is_success() {
    use std::process::{Command, Stdio};
    let lake = demo_lake();
    let mut child = Command::new(crate::common::bin())
        .args([
            "--lake",
            lake.to_str().unwrap(),
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT * FROM range(2000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    drop(out);
    let status = child.wait_with_output().unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
