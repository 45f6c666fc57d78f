//! Per-record errors through the CLI: a feedback table whose texts are Parquet binary, one of them not
//! UTF-8, scored by jobs under `on_record_error = fail | null | quarantine` and `max_error_rate`, and by
//! `nightshift sql` after `SET nightshift.on_record_error`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{BinaryArray, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use crate::common::run_in;

const BAD: &[u8] = b"Great product, \xff\xfe awful delivery";

/// A lake with `feedback` (day DATE, text BINARY): three texts on 2024-06-01, the second not UTF-8, and
/// a NULL; and a project with one job per policy.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("lake/feedback")).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, false),
        Field::new("text", DataType::Binary, true),
    ]));
    let texts: Vec<Option<&[u8]>> = vec![Some(b"I love it!"), Some(BAD), Some(b"Terrible."), None];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from(vec![19875; 4])), // 2024-06-01
            Arc::new(BinaryArray::from(texts)),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(p.join("lake/feedback/part-0.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    std::fs::create_dir_all(p.join("queries")).unwrap();
    std::fs::write(
        p.join("queries/labels.sql"),
        "SELECT day, sentiment_label(text) AS label, count(*) AS n FROM feedback \
         WHERE day = $run_date GROUP BY 1, 2 ORDER BY 2 NULLS FIRST",
    )
    .unwrap();
    let mut toml = String::from("[lake]\nroot = \"lake\"\n");
    for (name, extra) in [
        ("strict", ""),
        (
            "lenient",
            "on_record_error = \"null\"\non_partial = \"cat > partial.json\"\n",
        ),
        (
            "quarantined",
            "on_record_error = \"quarantine\"\nmax_error_rate = 0.5\n",
        ),
        (
            "capped",
            "on_record_error = \"quarantine\"\nmax_error_rate = 0.1\n",
        ),
    ] {
        toml.push_str(&format!(
            "[jobs.{name}]\nsql = \"queries/labels.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
             output = \"reports/{name}\"\n{extra}"
        ));
    }
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    dir
}

fn run_job(p: &Path, job: &str) -> crate::common::Run {
    run_in(p, &["run", job, "--date", "2024-06-01"], &[], None)
}

fn csv(p: &Path, sql: &str) -> String {
    let r = run_in(p, &["sql", "--format", "csv", "-c", sql], &[], None);
    r.ok();
    r.stdout
}

#[test]
fn fail_is_the_default_and_names_the_function_the_byte_and_the_policy() {
    let dir = project();
    let r = run_job(dir.path(), "strict");
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for needle in [
        "strict 2024-06-01 failed",
        "sentiment_label: a text is not valid UTF-8: byte 0xFF at offset 15 of 32",
        "on_record_error",
    ] {
        assert!(r.stdout.contains(needle), "no {needle:?} in\n{}", r.stdout);
    }
    assert!(!crate::common::published(&dir.path().join("lake/reports/strict")));
    // Outside jobs the same error, with the same hint.
    let r = run_in(
        dir.path(),
        &["sql", "-c", "SELECT sentiment_score(text) FROM feedback"],
        &[],
        None,
    );
    r.fails_with(
        1,
        &[
            "sentiment_score: a text is not valid UTF-8",
            "SET nightshift.on_record_error",
        ],
    );
    // The function's error is not the file's, though the function runs inside the scan.
    assert!(!r.stderr.contains("failed to read parquet file"), "{}", r.stderr);
}

#[test]
fn null_publishes_with_the_bad_record_counted_as_a_partial_success() {
    let dir = project();
    let p = dir.path();
    let r = run_job(p, "lenient");
    assert_eq!(r.code, 3, "partial success exits 3\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("lenient 2024-06-01 partially_succeeded")
            && r.stdout.contains("error rate 0.3333")
            && r.stdout
                .contains("1 of 3 records failed and were written as NULL"),
        "{}",
        r.stdout
    );
    // The NULL text and the undecodable one both give a NULL label; the others are scored.
    assert_eq!(
        csv(
            p,
            "SELECT label, n FROM reports.lenient ORDER BY label NULLS FIRST"
        ),
        "label,n\n,2\nnegative,1\npositive,1\n"
    );
    assert!(
        !p.join("lake/reports/lenient/_errors").exists(),
        "null keeps nothing"
    );
    // on_partial got the run's record.
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("partial.json")).unwrap()).unwrap();
    assert_eq!(alert["event"], "partial");
    assert_eq!(alert["run"]["error_records"], 1);
    assert_eq!(
        csv(
            p,
            "SELECT state, error_records FROM nightshift.runs WHERE job = 'lenient'"
        ),
        "state,error_records\npartially_succeeded,1\n"
    );
}

#[test]
fn quarantine_keeps_the_exact_bytes_beside_the_report() {
    let dir = project();
    let p = dir.path();
    let r = run_job(p, "quarantined");
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 of 3 records failed and were quarantined"),
        "{}",
        r.stdout
    );
    assert!(crate::common::published(&p.join("lake/reports/quarantined")));
    let errors = csv(
        p,
        "SELECT job, run_date, function, value_text, encode(value, 'hex') AS hex, message \
         FROM 'lake/reports/quarantined/_errors/'",
    );
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 2, "{errors}");
    let hex: String = BAD.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        lines[1].starts_with("quarantined,2024-06-01,sentiment_label,Great product, \u{fffd}\u{fffd} awful")
            || lines[1].starts_with(
                "quarantined,2024-06-01,sentiment_label,\"Great product, \u{fffd}\u{fffd} awful"
            ),
        "{errors}"
    );
    assert!(
        lines[1].contains(&hex),
        "the value's bytes are kept unchanged: {errors}"
    );
    assert!(lines[1].contains("not valid UTF-8"), "{errors}");
    // A rerun of the interval adds its own errors file; the report itself is replaced, not doubled.
    assert_eq!(run_job(p, "quarantined").code, 3);
    assert_eq!(csv(p, "SELECT sum(n) AS n FROM reports.quarantined"), "n\n4\n");
    assert_eq!(
        csv(p, "SELECT count(*) AS n FROM 'lake/reports/quarantined/_errors/'"),
        "n\n2\n"
    );
    // The report is a table read through its manifest: a Parquet file no manifest names (left by a
    // killed run, say) is not part of it, and the statistics do not count it either.
    let report = p.join("lake/reports/quarantined");
    let published = std::fs::read_dir(&report)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .unwrap()
        .path();
    std::fs::copy(
        &published,
        report.join("part-20240101T000000z0000dead-00001.parquet"),
    )
    .unwrap();
    assert_eq!(csv(p, "SELECT sum(n) AS n FROM reports.quarantined"), "n\n4\n");
    assert_eq!(csv(p, "SELECT count(*) AS c FROM reports.quarantined"), "c\n3\n");
    let tables = csv(
        p,
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'reports'",
    );
    assert_eq!(tables, "table_schema,table_name\nreports,quarantined\n");
}

#[test]
fn max_error_rate_fails_the_run_and_publishes_nothing_but_keeps_the_records() {
    let dir = project();
    let p = dir.path();
    let r = run_job(p, "capped");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("capped 2024-06-01 failed")
            && r.stdout
                .contains("1 of 3 records failed (33.333%), above max_error_rate 10.000%")
            && r.stdout
                .contains("nothing was published; the failed records are in"),
        "{}",
        r.stdout
    );
    assert!(!crate::common::published(&p.join("lake/reports/capped")));
    assert_eq!(
        csv(p, "SELECT count(*) AS n FROM 'lake/reports/capped/_errors/'"),
        "n\n1\n"
    );
}

#[test]
fn set_in_a_session_changes_the_policy_and_bad_values_are_rejected() {
    let dir = project();
    let p = dir.path();
    let out = csv(
        p,
        "SET nightshift.on_record_error = 'null'; \
         SELECT count(sentiment_score(text)) AS scored, count(*) AS n FROM feedback",
    );
    assert_eq!(out, "scored,n\n2,4\n");
    let r = run_in(
        p,
        &["sql", "-c", "SET nightshift.on_record_error = 'skip'"],
        &[],
        None,
    );
    r.fails_with(1, &["'skip': use fail, null or quarantine"]);
}
