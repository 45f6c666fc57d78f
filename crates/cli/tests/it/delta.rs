//! Delta Lake tables in the lake, written by an outside writer (the `deltalake` package from PyPI)
//! and read by `nightshift`: latest version, time travel, deletes, schema evolution, partition
//! values of any text; and the folders the lake refuses (Iceberg, unreadable Delta features).

use std::path::Path;

use nightshift_test_support::PythonEnv;
use serde_json::Value;

use crate::common::{Run, run_in};

/// The outside writer and reader, pinned.
pub(crate) const DELTALAKE: &[&str] = &["deltalake==1.6.6", "pyarrow==26.0.1", "polars==1.44.2"];

/// Writes `events` (1,000 rows, then overwritten with 10) and `changes` (partitioned by text with
/// `/`, `%`, `=`, a space, non-ASCII and NULL; then a delete; then an append that adds a column)
/// into the lake folder `argv[1]`, and prints what deltalake reads back as JSON.
const WRITE_TABLES: &str = r#"
import json, os, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

lake = sys.argv[1]

def ids(n, first):
    return pa.table({"id": pa.array(range(first, first + n), pa.int64()),
                     "k": pa.array([f"k{i % 3}" for i in range(n)])})

write_deltalake(f"{lake}/events", ids(1000, 0))
write_deltalake(f"{lake}/events", ids(10, 5000), mode="overwrite")

values = ["a/b", "café", "50%", "x y", "k=v", None]
write_deltalake(f"{lake}/changes", pa.table({
    "id": pa.array(range(12), pa.int64()),
    "k": pa.array([values[i % 6] for i in range(12)], pa.string()),
    "amount": pa.array([i * 1.25 for i in range(12)], pa.float64()),
}), partition_by=["k"])
DeltaTable(f"{lake}/changes").delete("id < 3")
write_deltalake(f"{lake}/changes", pa.table({
    "id": pa.array([100], pa.int64()),
    "k": pa.array(["café"], pa.string()),
    "amount": pa.array([99.5], pa.float64()),
    "note": pa.array(["added later"], pa.string()),
}), mode="append", schema_mode="merge")

out = {}
for name in ["events", "changes"]:
    dt = DeltaTable(f"{lake}/{name}")
    out[name] = {"version": dt.version(),
                 "rows": sorted(dt.to_pyarrow_table().to_pylist(), key=lambda r: r["id"])}
out["events_v0"] = DeltaTable(f"{lake}/events", version=0).to_pyarrow_table().num_rows
out["changes_v1"] = sorted(r["id"] for r in DeltaTable(f"{lake}/changes", version=1).to_pyarrow_table().to_pylist())
print(json.dumps(out), flush=True)
# deltalake 1.6.6 aborts while the interpreter tears down ("terminate called without an active
# exception"), after its work is done: leave without the teardown.
os._exit(0)
"#;

fn nightshift(lake: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--lake", lake.to_str().unwrap()];
    all.extend_from_slice(args);
    run_in(lake.parent().unwrap(), &all, &[], None)
}

pub(crate) fn json_rows(run: &Run) -> Vec<Value> {
    run.ok();
    match serde_json::from_str(&run.stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("not a JSON array: {other:?}\n{}", run.stdout),
    }
}

/// The rows `sql` gives in the lake, as JSON objects.
fn query(lake: &Path, sql: &str) -> Vec<Value> {
    json_rows(&nightshift(lake, &["sql", "--format", "json", "-c", sql]))
}

/// A column of a row, NULL when absent.
fn field<'a>(row: &'a Value, name: &str) -> &'a Value {
    row.get(name).unwrap_or(&Value::Null)
}

#[test]
fn delta_tables_written_by_deltalake_read_the_same_in_nightshift() {
    let env = PythonEnv::require("deltalake", DELTALAKE);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let out = env
        .command()
        .arg("-c")
        .arg(WRITE_TABLES)
        .arg(&lake)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "deltalake failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Value = serde_json::from_slice(&out.stdout).expect("deltalake's answer");

    // The overwrite replaced the 1,000 rows: files removed by a later commit are not read.
    let rows = query(&lake, "SELECT count(*) AS n FROM events");
    assert_eq!(rows[0]["n"], 10);
    // Time travel: version 0 still has them.
    let rows = query(&lake, "SELECT count(*) AS n FROM \"events@v0\"");
    assert_eq!(rows[0]["n"], expected["events_v0"]);
    assert_eq!(rows[0]["n"], 1000);

    // Deletes, partition values of any text and the added column, row by row as deltalake reads them.
    let rows = query(&lake, "SELECT id, k, amount, note FROM changes ORDER BY id");
    let want = expected["changes"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for (got, want) in rows.iter().zip(want) {
        for column in ["id", "k", "amount", "note"] {
            assert_eq!(
                field(got, column),
                field(want, column),
                "{column} of {got} vs {want}"
            );
        }
    }
    assert!(rows.iter().any(|r| r["k"] == "a/b") && rows.iter().any(|r| r["k"] == "café"));
    assert!(rows.iter().any(|r| r["k"] == "50%") && rows.iter().any(|r| r["k"].is_null()));

    // A filter on a partition value with `/`, `%` or non-ASCII text finds exactly its rows.
    for value in ["a/b", "café", "50%", "k=v"] {
        let sql = format!("SELECT id FROM changes WHERE k = '{value}' ORDER BY id");
        let got: Vec<Value> = query(&lake, &sql).iter().map(|r| r["id"].clone()).collect();
        let want: Vec<Value> = want
            .iter()
            .filter(|r| r["k"] == value)
            .map(|r| r["id"].clone())
            .collect();
        assert_eq!(got, want, "k = {value}");
    }

    // Partition pruning: a filter on the partition column scans that partition's files only.
    let explain = |sql: &str| {
        let r = nightshift(
            &lake,
            &["sql", "--format", "csv", "-c", &format!("EXPLAIN {sql}")],
        );
        r.ok();
        r.stdout.clone()
    };
    let pruned = explain("SELECT id FROM changes WHERE k = 'café'");
    assert!(
        pruned.contains("DeltaScanExec") && pruned.contains("/k=caf%C3%A9/part-"),
        "{pruned}"
    );
    assert!(
        !pruned.contains("k=a%2Fb") && !pruned.contains("k=50%25"),
        "{pruned}"
    );
    let all = explain("SELECT id FROM changes");
    assert!(all.contains("k=a%2Fb/part-") || all.contains("..."), "{all}");

    // Version 1 is the table right after the delete, before the append.
    let rows = query(&lake, "SELECT id FROM \"changes@v1\" ORDER BY id");
    let ids: Vec<Value> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(Value::Array(ids), expected["changes_v1"]);

    // The catalog shows both as Delta tables at deltalake's version, partitions from the log.
    let tables = nightshift(&lake, &["tables", "--format", "csv"]);
    tables.ok();
    let line = |name: &str| {
        tables
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{}", tables.stdout))
            .to_string()
    };
    let events = line("events");
    assert!(
        events.starts_with(&format!("events,delta v{},10,", expected["events"]["version"])),
        "{events}"
    );
    let changes = line("changes");
    assert!(
        changes.starts_with(&format!("changes,delta v{},", expected["changes"]["version"])),
        "{changes}"
    );
    assert!(changes.contains(",k string,"), "{changes}");
    let described = nightshift(&lake, &["describe", "changes", "--format", "csv"]);
    described.ok();
    assert!(described.stdout.contains("note,"), "{}", described.stdout);
    assert!(
        described.stderr.contains("Delta table at version"),
        "{}",
        described.stderr
    );

    // A version the table does not have, and a suffix that is no version, are clear errors.
    nightshift(&lake, &["sql", "-c", "SELECT * FROM \"events@v9\""])
        .fails_with(1, &["events", "has no version 9", "0 to 1"]);
    // An instant after the last commit reads the latest version.
    let rows = query(&lake, "SELECT count(*) AS n FROM \"events@2999-01-01T00:00:00Z\"");
    assert_eq!(rows[0]["n"], 10);
    nightshift(&lake, &["sql", "-c", "SELECT * FROM \"events@yesterday\""])
        .fails_with(1, &["neither a version", "@v3"]);
}

/// One Parquet file with a column `id`, copied from the output of a query.
fn write_some_parquet(lake: &Path, file: &Path) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let r = nightshift(
        lake,
        &["sql", "-c", "SELECT 1 AS id", "-o", file.to_str().unwrap()],
    );
    r.ok();
}

#[test]
fn iceberg_folders_and_unreadable_delta_features_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    write_some_parquet(&lake, &lake.join("plain/part-0.parquet"));
    // An Iceberg table: its data files must not be read as a plain folder.
    write_some_parquet(&lake, &lake.join("ice/data/part-0.parquet"));
    std::fs::create_dir_all(lake.join("ice/metadata")).unwrap();
    std::fs::write(lake.join("ice/metadata/00000-1a2b.metadata.json"), "{}").unwrap();
    // A Delta table that needs a reader feature no released reader has.
    write_some_parquet(&lake, &lake.join("fancy/part-0.parquet"));
    std::fs::create_dir_all(lake.join("fancy/_delta_log")).unwrap();
    let schema = r#"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}"#;
    let log = format!(
        concat!(
            r#"{{"protocol":{{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["fancyNewFeature"],"writerFeatures":["fancyNewFeature"]}}}}"#,
            "\n",
            r#"{{"metaData":{{"id":"5fba94ed-9794-4965-ba6e-6ee3c0d22af9","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{}","partitionColumns":[],"configuration":{{}},"createdTime":1717200000000}}}}"#,
            "\n"
        ),
        schema
    );
    std::fs::write(lake.join("fancy/_delta_log/00000000000000000000.json"), log).unwrap();

    let tables = nightshift(&lake, &["tables", "--format", "csv"]);
    tables.ok();
    assert!(tables.stdout.contains("plain,parquet,1,1,"), "{}", tables.stdout);
    assert!(
        tables
            .stdout
            .lines()
            .any(|l| l.starts_with("ice,apache iceberg (unsupported),")),
        "{}",
        tables.stdout
    );
    nightshift(&lake, &["sql", "-c", "SELECT * FROM plain"]).ok();
    nightshift(&lake, &["sql", "-c", "SELECT count(*) FROM ice"])
        .fails_with(1, &["Apache Iceberg", "ice/", "Convert it to Delta Lake"]);
    nightshift(&lake, &["sql", "-c", "SELECT count(*) FROM fancy"])
        .fails_with(1, &["fancy", "fancyNewFeature"]);
}

/// Reads the Delta table `argv[1]` with deltalake (latest and version `argv[2]`) and Polars, with the
/// storage options in `$DELTA_STORAGE_OPTIONS` (JSON), and prints the rows as JSON, sorted, with the
/// history's nightshift commit info.
const READ_REPORT: &str = r#"
import json, os, sys
import polars as pl
from deltalake import DeltaTable

path, version = sys.argv[1], int(sys.argv[2])
options = json.loads(os.environ.get("DELTA_STORAGE_OPTIONS", "{}")) or None
key = lambda r: json.dumps(r, sort_keys=True, default=str)
rows = lambda t: sorted(t.to_pyarrow_table().to_pylist(), key=key)
latest = DeltaTable(path, storage_options=options)
print(json.dumps({
    "version": latest.version(),
    "latest": rows(latest),
    "earlier": rows(DeltaTable(path, version=version, storage_options=options)),
    "polars": sorted(pl.read_delta(path, storage_options=options).to_dicts(), key=key),
    "history": [h.get("nightshift") for h in latest.history()],
}, default=str), flush=True)
os._exit(0)  # deltalake 1.6.6 aborts in the interpreter's teardown
"#;

/// Rows as JSON values with their keys sorted, as one sorted list (the order the two sides use).
fn canonical(rows: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let sorted: std::collections::BTreeMap<&String, &Value> = r.as_object().unwrap().iter().collect();
            serde_json::to_string(&sorted).unwrap()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_report_published_by_nightshift_reads_the_same_in_deltalake_and_polars() {
    let env = PythonEnv::require("deltalake", DELTALAKE);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(repo.join("nightshift.toml"), p.join("nightshift.toml")).unwrap();
    crate::common::copy_repo_queries(p);
    let generate = [
        "datasets",
        "generate",
        "--out",
        "datasets/lake",
        "--reviews",
        "900",
        "--days",
        "3",
    ];
    run_in(p, &generate, &[], None).ok();
    for date in ["2024-06-01", "2024-06-02"] {
        run_in(
            p,
            &["run", "daily_sentiment", "--date", date, "--no-progress"],
            &[],
            None,
        )
        .ok();
    }
    let report = p.join("datasets/lake/reports/daily_sentiment");
    let sql = |query: &str| {
        let r = run_in(p, &["sql", "--format", "json", "-c", query], &[], None);
        json_rows(&r)
    };
    let latest = sql("SELECT * FROM reports.daily_sentiment");
    let earlier = sql("SELECT * FROM reports.\"daily_sentiment@v1\"");
    assert!(latest.len() > earlier.len() && !earlier.is_empty(), "{latest:?}");
    let described = run_in(
        p,
        &["describe", "reports.daily_sentiment", "--format", "csv"],
        &[],
        None,
    );
    described.ok();
    assert!(described.stdout.contains("sentiment,"), "{}", described.stdout);
    assert!(
        described.stderr.contains("Delta table at version 2"),
        "{}",
        described.stderr
    );

    let report = report.to_str().unwrap().to_string();
    same_in_deltalake(&env, &report, &[], &latest, &earlier);
}

/// The report at `location` read by deltalake and Polars (with `options`) gives `latest` and, at
/// version 1, `earlier`; its history names the runs that made versions 2 and 1.
pub(crate) fn same_in_deltalake(
    env: &PythonEnv,
    location: &str,
    options: &[(&str, String)],
    latest: &[Value],
    earlier: &[Value],
) {
    let theirs = read_with_deltalake(env, location, options);
    assert_eq!(theirs["version"], 2, "create, then one commit per run");
    let as_rows = |v: &Value| v.as_array().unwrap().clone();
    assert_eq!(canonical(&as_rows(&theirs["latest"])), canonical(latest));
    assert_eq!(canonical(&as_rows(&theirs["earlier"])), canonical(earlier));
    assert_eq!(canonical(&as_rows(&theirs["polars"])), canonical(latest));
    // Every Delta reader's history shows which run made each version.
    let history = theirs["history"].as_array().unwrap();
    assert_eq!(history[0]["job"], "daily_sentiment");
    assert!(
        history[0]["run_date"].as_str() > history[1]["run_date"].as_str(),
        "{history:?}"
    );
    assert!(history[0]["sql_hash"].as_str().unwrap().starts_with("sha256:"));
}

/// What deltalake and Polars read of the table at `location` (with storage `options`): its version,
/// its rows at the latest version (`latest`, `polars`) and at version 1 (`earlier`), and the
/// nightshift part of its commit history.
fn read_with_deltalake(env: &PythonEnv, location: &str, options: &[(&str, String)]) -> Value {
    let options: serde_json::Map<String, Value> = options
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    let out = env
        .command()
        .arg("-c")
        .arg(READ_REPORT)
        .arg(location)
        .arg("1")
        .env("DELTA_STORAGE_OPTIONS", Value::Object(options).to_string())
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A job partitioned by text with `/`, `%`, an encoded-looking `%2F`, `=`, a space, non-ASCII and
/// NULL publishes, reruns one day in place, filters by those values, and reads back the same in
/// deltalake and Polars; an empty text, which Delta defines as NULL, is refused with the way out.
#[test]
fn partition_values_of_any_text_round_trip_through_a_published_report() {
    let env = PythonEnv::require("deltalake", DELTALAKE);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("lake")).unwrap();
    std::fs::write(
        p.join("nightshift.toml"),
        "[lake]\nroot = \"lake\"\n\n\
         [jobs.odd_keys]\nsql = \"odd.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/odd_keys\"\n\
         partition_by = [\"k\"]\n\n\
         [jobs.empty_key]\nsql = \"empty.sql\"\nschedule = \"daily @ 02:00 UTC\"\noutput = \"reports/empty_key\"\n\
         partition_by = [\"k\"]\n",
    )
    .unwrap();
    std::fs::write(
        p.join("odd.sql"),
        "SELECT k, v, $run_date AS day FROM (VALUES ('a/b', 1), ('café', 2), ('50%', 3), ('x y', 4), \
         ('k=v', 5), ('%2F', 6), (NULL, 7)) AS t(k, v)",
    )
    .unwrap();
    std::fs::write(
        p.join("empty.sql"),
        "SELECT k, v FROM (VALUES ('a', 1), ('', 2)) AS t(k, v)",
    )
    .unwrap();
    for date in ["2024-06-01", "2024-06-02", "2024-06-01"] {
        run_in(
            p,
            &["run", "odd_keys", "--date", date, "--no-progress"],
            &[],
            None,
        )
        .ok();
    }
    let sql = |query: &str| json_rows(&run_in(p, &["sql", "--format", "json", "-c", query], &[], None));
    let ours = sql("SELECT * FROM reports.odd_keys");
    assert_eq!(
        ours.len(),
        14,
        "7 values on 2 days, the rerun replacing its day: {ours:?}"
    );
    for (filter, n) in [
        ("k = '50%'", 2),
        ("k = '%2F'", 2),
        ("k = 'a/b'", 2),
        ("k = 'café' AND day = DATE '2024-06-02'", 1),
        ("k IS NULL", 2),
    ] {
        let got = sql(&format!(
            "SELECT count(*) AS n FROM reports.odd_keys WHERE {filter}"
        ));
        assert_eq!(got[0]["n"], n, "{filter}");
    }
    let theirs = read_with_deltalake(&env, p.join("lake/reports/odd_keys").to_str().unwrap(), &[]);
    assert_eq!(theirs["version"], 3, "create, then one commit per run");
    let as_rows = |v: &Value| v.as_array().unwrap().clone();
    assert_eq!(canonical(&as_rows(&theirs["latest"])), canonical(&ours));
    assert_eq!(canonical(&as_rows(&theirs["polars"])), canonical(&ours));

    let refused = run_in(
        p,
        &["run", "empty_key", "--date", "2024-06-01", "--no-progress"],
        &[],
        None,
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stdout
            .contains("partition column 'k' holds an empty value (result row 2)")
            && refused.stdout.contains("NULLIF(k, '')"),
        "{}",
        refused.stdout
    );
    assert!(sql("SELECT * FROM reports.empty_key").is_empty());
}

/// The rows of `query` in the project at `p`, with `env` (credentials), as JSON objects.
pub(crate) fn sql_rows(p: &Path, env: &[(&str, &str)], query: &str) -> Vec<Value> {
    json_rows(&run_in(p, &["sql", "--format", "json", "-c", query], env, None))
}

/// The repository's settings and job queries in `p` with the lake root replaced by `root` (a
/// `root = …` line, with `[lake.storage]` after it if needed), the daily sentiment report run for
/// 2024-06-02 and 2024-06-03 with `env`, and its rows at the latest version and at version 1.
pub(crate) fn publish_two_days(p: &Path, root: &str, env: &[(&str, &str)]) -> (Vec<Value>, Vec<Value>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    crate::common::copy_repo_queries(p);
    let toml = std::fs::read_to_string(repo.join("nightshift.toml"))
        .unwrap()
        .replace("root = \"datasets/lake\"", root);
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    for date in ["2024-06-02", "2024-06-03"] {
        run_in(
            p,
            &["run", "daily_sentiment", "--date", date, "--no-progress"],
            env,
            None,
        )
        .ok();
    }
    let latest = sql_rows(p, env, "SELECT * FROM reports.daily_sentiment");
    let earlier = sql_rows(p, env, "SELECT * FROM reports.\"daily_sentiment@v1\"");
    assert!(latest.len() > earlier.len() && !earlier.is_empty(), "{latest:?}");
    (latest, earlier)
}

#[test]
fn a_report_published_on_s3_reads_the_same_in_deltalake_and_polars() {
    use crate::s3::{BUCKET, KEY_ID, SECRET};
    let env = PythonEnv::require("deltalake", DELTALAKE);
    let moto = crate::s3::start_moto();
    crate::s3::upload_demo_lake(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let env_vars = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    let (latest, earlier) = publish_two_days(
        p,
        &format!(
            "root = \"s3://{BUCKET}/lake\"\n[lake.storage]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nallow_http = true"
        ),
        &env_vars,
    );
    let options = [
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ];
    same_in_deltalake(
        &env,
        &format!("s3://{BUCKET}/lake/reports/daily_sentiment"),
        &options,
        &latest,
        &earlier,
    );
}
