//! The settings file and the model statements, fuzzed with proptest: a mutated `nightshift.toml` or
//! one with random values for its keys never panics and every problem names `file:line`; model
//! statements near the grammar never panic, their syntax errors name the line and column, and the
//! ones that parse run on a small table without a panic either.
//!
//! `PROPTEST_CASES=20000 cargo test -p nightshift-core --test it fuzz::` is the long run.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;
use nightshift_core::{IssueOrigin, Overrides, Params, Session, Settings};
use nightshift_test_support::{Mutation, mutate};
use proptest::prelude::*;

use crate::runtime;

/// A settings file with every section, mutated by the strategies below.
const VALID: &str = r#"# nightshift settings
read_only = false

[lake]
root = "lake"
discover = true

[lake.storage]
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"
allow_http = true
max_retries = 3
retry_timeout_seconds = 30

[[tables]]
name = "events"
path = "raw/2024-*/**/*.parquet"
partitions = [{ name = "tx_date", type = "date" }]
schema = [{ name = "id", type = "bigint" }, { name = "note", type = "varchar" }]

[engine]
memory_limit = "2GiB"
spill_dir = "spill"
max_spill_size = "10GiB"
target_partitions = 4
batch_size = 8192

[datafusion.execution]
parquet.pushdown_filters = true

[datafusion.optimizer]
prefer_hash_join = false

[udfs.sentiment]
lexicon = "words.tsv"

[models]
fraud = "fraud@v2"

[cluster]
url = "df://localhost:50050"
connect_timeout_seconds = 5

[jobs.daily]
sql = "daily.sql"
schedule = "daily @ 02:00 UTC"
"#;

/// The keys of the settings file, by section, each with a value it takes (extremes included), and
/// a few unknown and misspelt keys.
const KEYS: &[(&str, &str, &str)] = &[
    ("", "read_only", "true"),
    ("", "unknown_top", "1"),
    ("lake", "root", "\"lake\""),
    ("lake", "discover", "false"),
    ("lake", "rot", "\"lake\""),
    ("lake.storage", "endpoint", "\"http://127.0.0.1:9000\""),
    ("lake.storage", "region", "\"eu-west-1\""),
    ("lake.storage", "allow_http", "true"),
    ("lake.storage", "virtual_hosted_style", "false"),
    ("lake.storage", "skip_signature", "true"),
    ("lake.storage", "max_retries", "100"),
    ("lake.storage", "retry_timeout_seconds", "1"),
    ("lake.storage", "request_timeout_seconds", "600"),
    ("lake.storage", "connect_timeout_seconds", "2"),
    ("lake.storage", "secret_access_key", "\"abc\""),
    ("engine", "memory_limit", "\"1KiB\""),
    ("engine", "memory_limit", "\"64MiB\""),
    ("engine", "spill_dir", "\"spill\""),
    ("engine", "max_spill_size", "1"),
    ("engine", "target_partitions", "1"),
    ("engine", "target_partitions", "64"),
    ("engine", "batch_size", "1"),
    ("engine", "batch_size", "100000"),
    ("datafusion.execution", "batch_size", "3"),
    ("datafusion.execution", "target_partitions", "3"),
    ("datafusion.execution", "coalesce_batches", "false"),
    ("datafusion.execution.parquet", "pushdown_filters", "true"),
    ("datafusion.execution", "no_such_option", "1"),
    ("datafusion.optimizer", "prefer_hash_join", "false"),
    ("datafusion.optimizer", "repartition_aggregations", "false"),
    ("datafusion.sql_parser", "dialect", "\"postgresql\""),
    ("datafusion", "runtime", "1"),
    ("udfs.sentiment", "lexicon", "\"words.tsv\""),
    ("udfs", "fraud", "1"),
    ("models", "fraud", "\"fraud@v2\""),
    ("cluster", "url", "\"standalone\""),
    ("cluster", "connect_timeout_seconds", "1"),
    ("scheduler", "catch_up_limit", "2"),
];

/// The keys of a `[[tables]]` entry, each with a value it takes, and an unknown one.
const TABLE_KEYS: &[(&str, &str)] = &[
    ("name", "\"events\""),
    ("path", "\"events/**/*.parquet\""),
    ("partitions", "[{ name = \"day\", type = \"date\" }]"),
    ("schema", "[{ name = \"id\", type = \"bigint\" }]"),
    ("format", "\"csv\""),
];

/// Floats, arrays, inline tables and dates.
const OTHER_VALUES: &[&str] = &[
    "1.5",
    "inf",
    "nan",
    "-0.0",
    "1e300",
    "[]",
    "[1, \"a\"]",
    "[{ name = \"d\", type = \"date\" }]",
    "{}",
    "{ name = \"x\", type = \"int\" }",
    "{ url = 1 }",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
];

/// A TOML value: mostly ones the keys above take or nearly take, and some of every other type.
fn toml_value() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        Just("4GiB".to_string()),
        Just("1.5 MiB".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999TiB".to_string()),
        Just(String::new()),
        Just("df://localhost:50050".to_string()),
        Just("standalone".to_string()),
        Just("http://[::1".to_string()),
        Just("s3://bucket/lake".to_string()),
        Just("../outside".to_string()),
        Just("fraud@v2".to_string()),
        Just("datafusion.execution.batch_size".to_string()),
        "\\PC{0,12}",
    ]
    .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")));
    prop_oneof![
        4 => text,
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => prop::sample::select(&[0i64, 1, -1, 1 << 31, 1 << 40][..]).prop_map(|n| n.to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        3 => prop::sample::select(OTHER_VALUES).prop_map(str::to_string),
    ]
}

/// A settings file of random values for known (and a few unknown) keys, with `[[tables]]` entries.
fn random_settings() -> impl Strategy<Value = String> {
    // Each key mostly gets a value it takes, so that many files parse and build a session.
    let value = |good: &'static str| prop_oneof![5 => Just(good.to_string()), 1 => toml_value()];
    let pair = prop::sample::select(KEYS)
        .prop_flat_map(move |(section, key, good)| (Just((section, key)), value(good)));
    let pairs = prop::collection::vec(pair, 0..8);
    let tables = prop::collection::vec(
        prop::collection::vec(
            prop::sample::select(TABLE_KEYS).prop_flat_map(move |(key, good)| (Just(key), value(good))),
            0..5,
        ),
        0..2,
    );
    (pairs, tables).prop_map(|(pairs, tables)| {
        let mut sections: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
        for ((section, key), value) in pairs {
            sections.entry(section).or_default().insert(key, value);
        }
        let mut text = String::new();
        for (key, value) in sections.remove("").unwrap_or_default() {
            text.push_str(&format!("{key} = {value}\n"));
        }
        for (section, keys) in sections {
            text.push_str(&format!("\n[{section}]\n"));
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        for table in tables {
            text.push_str("\n[[tables]]\n");
            let keys: BTreeMap<&str, String> = table.into_iter().collect();
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    })
}

/// Parses `text` as `/p/nightshift.toml`: either settings, or problems that each name the file and a
/// line of it.
fn parse_settings(text: &str) -> Result<Option<Settings>, TestCaseError> {
    let file = Path::new("/p/nightshift.toml");
    let lines = text.lines().count().max(1);
    match Settings::from_toml(text, file) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            prop_assert!(!e.issues.is_empty());
            for issue in &e.issues {
                let shown = issue.to_string();
                match &issue.origin {
                    IssueOrigin::Line { file: f, line } => {
                        prop_assert_eq!(f.as_path(), file);
                        prop_assert!((1..=lines + 1).contains(line), "line {line} of {lines}: {shown}");
                        let at = format!("/p/nightshift.toml:{line}: ");
                        prop_assert!(shown.starts_with(&at), "{}", shown);
                    }
                    other => prop_assert!(false, "not at a line of the file: {other}: {shown}"),
                }
            }
            Ok(None)
        }
    }
}

/// Settings that parsed, made safe to build a session from (an empty lake, spill files and the
/// lexicon under `dir`, no cluster), then a session and a statement on it: no panic.
fn session_from(mut settings: Settings, dir: &Path) {
    settings.lake.root = dir.join("lake").display().to_string();
    settings.lake.tables.clear();
    settings.lake.storage = Default::default();
    settings.engine.spill_dir = settings.engine.spill_dir.as_ref().map(|_| dir.join("spill"));
    settings.udfs.sentiment_lexicon = None;
    settings.cluster = Default::default();
    let _ = runtime().block_on(async {
        let session = Session::new(settings).await?;
        let df = session
            .sql(
                "SELECT x % 3 AS k, count(*) FROM (VALUES (1), (2), (3)) AS t(x) GROUP BY 1 ORDER BY 1",
                &Params::new(),
            )
            .await?;
        df.collect().await?;
        Ok::<_, nightshift_core::CoreError>(())
    });
}

proptest! {
    #![proptest_config(crate::fuzz_config())]

    /// A valid settings file with one byte replaced, one span deleted or one span duplicated.
    #[test]
    fn mutated_settings_files_fail_with_file_and_line(
        at in 0..VALID.len(),
        len in 0usize..16,
        byte in any::<u8>(),
        kind in 0u8..3,
    ) {
        let bytes = mutate(VALID.as_bytes(), at, len, Mutation::from_draw(kind, byte));
        match String::from_utf8(bytes) {
            Ok(text) => { parse_settings(&text)?; }
            Err(e) => {
                // Not UTF-8: the whole file is the problem, named as such.
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("nightshift.toml");
                std::fs::write(&file, e.into_bytes()).unwrap();
                let err = Settings::load(Some(&file), &|_| None, &Overrides::default()).unwrap_err();
                prop_assert_eq!(err.issues.len(), 1);
                prop_assert_eq!(&err.issues[0].origin, &IssueOrigin::File(file.clone()));
                prop_assert!(err.to_string().contains("nightshift.toml: the file is not UTF-8"), "{}", err);
            }
        }
    }

    /// Random values for the keys: problems name `file:line`; settings that parse build a session.
    #[test]
    fn random_settings_values_fail_with_file_and_line_or_run(text in random_settings()) {
        if let Some(settings) = parse_settings(&text)? {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("lake")).unwrap();
            let run = std::panic::catch_unwind(AssertUnwindSafe(|| session_from(settings, dir.path())));
            prop_assert!(run.is_ok(), "a session from these settings panicked:\n{text}");
        }
    }
}

/// A lake with one small table `tx` (a labelled fraud set) and a session over it, shared by the model
/// statement cases; the models they train go to the lake's `_models/`.
fn model_session() -> &'static Session {
    static SESSION: OnceLock<(tempfile::TempDir, Session)> = OnceLock::new();
    let (_, session) = SESSION.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let table = dir.path().join("lake/tx");
        std::fs::create_dir_all(&table).expect("mkdir");
        let rows = 240;
        let amount: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| f64::from(i % 37) * 3.5),
        ));
        let region: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| ["north", "south", "east", "west"][i as usize % 4]),
        ));
        let hour: ArrayRef = Arc::new(Int32Array::from_iter_values((0..rows).map(|i| i % 24)));
        let fraud = |i: i32| i % 37 > 30 || (i % 24 < 4 && i % 4 == 1);
        let is_fraud: ArrayRef = Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(fraud(i)))));
        let label: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|i| i64::from(fraud(i))),
        ));
        let note: ArrayRef = Arc::new(StringArray::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then(|| format!("n{i}"))),
        ));
        let batch = RecordBatch::try_from_iter([
            ("amount", amount),
            ("region", region),
            ("hour", hour),
            ("is_fraud", is_fraud),
            ("label", label),
            ("note", note),
        ])
        .expect("batch");
        let file = std::fs::File::create(table.join("part-0.parquet")).expect("create");
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let mut settings = Settings::default();
        settings.lake.root = dir.path().join("lake").display().to_string();
        settings.engine.target_partitions = Some(2);
        let session = runtime().block_on(async {
            let session = Session::new(settings).await.expect("session");
            // A model `m` to evaluate, replace and drop.
            let train = "CREATE MODEL m OPTIONS (type = 'random_forest', target = 'is_fraud', trees = 3) \
                         AS SELECT amount, region, hour, is_fraud FROM tx";
            let df = session.sql(train, &Params::new()).await.expect("train");
            df.collect().await.expect("trained");
            session
        });
        (dir, session)
    });
    session
}

/// Pieces of model statements: keywords, names, options, values, queries, punctuation and noise.
fn model_fragment() -> impl Strategy<Value = String> {
    let words: &'static [&str] = &[
        "CREATE",
        "OR",
        "REPLACE",
        "MODEL",
        "IF",
        "NOT",
        "EXISTS",
        "EVALUATE",
        "ON",
        "OPTIONS",
        "AS",
        "SHOW",
        "MODELS",
        "DESCRIBE",
        "DROP",
        "SELECT",
        "FROM",
        "WHERE",
        "tx",
        "m",
        "fraud",
        "\"Quoted\"",
        "'m@v1'",
        "m@v1",
        "@",
        "(",
        ")",
        ",",
        "=",
        ";",
        "-",
        "type",
        "target",
        "trees",
        "max_depth",
        "max_features",
        "class_weight",
        "seed",
        "max_bins",
        "bootstrap",
        "holdout_fraction",
        "holdout_where",
        "'random_forest'",
        "'is_fraud'",
        "'label'",
        "'sqrt'",
        "'all'",
        "'balanced'",
        "true",
        "0",
        "1",
        "3",
        "0.5",
        "1e309",
        "99999999999999999999",
        "'amount > 60'",
        "'x >'",
        "''",
        "amount",
        "region",
        "hour",
        "is_fraud",
        "*",
        "$p",
        "é",
        "🤬",
        "'",
        "\"",
        "--",
        "/*",
        "\n",
    ];
    prop_oneof![
        8 => prop::sample::select(words).prop_map(str::to_string),
        1 => "[0-9]{1,6}",
        1 => any::<char>().prop_map(|c| c.to_string()),
    ]
}

/// A `CREATE MODEL` or `EVALUATE MODEL` statement that is valid or close to it.
fn model_statement() -> impl Strategy<Value = String> {
    let name = prop::sample::select(&["m", "m", "m", "fraud", "\"Model\"", "'m@v1'", "m@v2", "m2"][..]);
    let option = prop_oneof![
        Just("type = 'random_forest'"),
        Just("type = 'gbdt'"),
        Just("target = 'is_fraud'"),
        Just("target = 'label'"),
        Just("target = 'region'"),
        Just("target = 'note'"),
        Just("trees = 3"),
        Just("trees = 0"),
        Just("trees = 20000"),
        Just("max_depth = 2"),
        Just("max_depth = -1"),
        Just("min_samples_leaf = 5"),
        Just("max_features = 'log2'"),
        Just("max_features = 0.5"),
        Just("max_features = 7"),
        Just("class_weight = 'balanced'"),
        Just("seed = 7"),
        Just("max_bins = 1"),
        Just("bootstrap = false"),
        Just("holdout_fraction = 0.25"),
        Just("holdout_fraction = 1.5"),
        Just("holdout_where = 'hour < 6'"),
        Just("holdout_where = 'hour <'"),
        Just("spam = 1"),
    ];
    let query = prop::sample::select(
        &[
            "SELECT amount, region, hour, is_fraud FROM tx",
            "SELECT amount, is_fraud FROM tx WHERE amount > 100",
            "SELECT amount, region, label FROM tx ORDER BY amount",
            "SELECT note, hour, is_fraud FROM tx",
            "SELECT amount, is_fraud FROM tx WHERE false",
            "SELECT amount, is_fraud FROM tx UNION ALL SELECT hour, is_fraud FROM tx",
            "SELECT [amount] AS a, is_fraud FROM tx",
            "SELECT amount, nosuch FROM tx",
            "SELECT 1 AS x, true AS is_fraud",
            "SELECT * FROM tx",
        ][..],
    );
    let create = (
        prop::bool::weighted(0.7),
        any::<bool>(),
        name.clone(),
        prop::option::weighted(0.9, (0u8..4, prop::collection::vec(option, 0..4))),
        query.clone(),
    )
        .prop_map(|(replace, if_not, name, options, query)| {
            let mut s = format!(
                "CREATE {}MODEL {}{name}",
                if replace { "OR REPLACE " } else { "" },
                if if_not { "IF NOT EXISTS " } else { "" }
            );
            // Mostly the two options every model needs (one missing one time in four), then others.
            if let Some((missing, extra)) = options {
                let mut all = Vec::new();
                if missing != 0 {
                    all.push("type = 'random_forest'");
                }
                if missing != 1 {
                    all.push("target = 'is_fraud'");
                }
                all.extend(extra);
                s.push_str(&format!(" OPTIONS ({})", all.join(", ")));
            }
            s.push_str(&format!(" AS {query}"));
            s
        });
    let evaluate = (name, query, any::<bool>()).prop_map(|(name, query, parens)| match parens {
        true => format!("EVALUATE MODEL {name} ON ({query})"),
        false => format!("EVALUATE MODEL {name} ON {query}"),
    });
    let statement = prop_oneof![3 => create, 2 => evaluate];
    // Then maybe one token's worth of damage: a fragment inserted, or a span cut out.
    (
        statement,
        prop::option::weighted(
            0.3,
            (
                any::<prop::sample::Index>(),
                model_fragment(),
                any::<bool>(),
                1usize..8,
            ),
        ),
    )
        .prop_map(|(s, damage)| match damage {
            None => s,
            Some((at, fragment, insert, len)) => {
                let mut cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
                cuts.dedup();
                let i = cuts[at.index(cuts.len())];
                if insert {
                    format!("{} {fragment} {}", &s[..i], &s[i..])
                } else {
                    let j = cuts.iter().copied().find(|&j| j >= i + len).unwrap_or(s.len());
                    format!("{}{}", &s[..i], &s[j..])
                }
            }
        })
}

/// Runs `sql` on the model session: the error's text, if it fails. A panic fails the case.
fn run_model_sql(sql: &str) -> Result<Result<(), String>, TestCaseError> {
    let session = model_session();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime().block_on(async {
            let df = session
                .sql(sql, &Params::new())
                .await
                .map_err(|e| e.to_string())?;
            let mut stream = df.execute_stream().await.map_err(|e| e.to_string())?;
            while let Some(batch) = stream.next().await {
                batch.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        })
    }));
    match outcome {
        Ok(Err(e)) if e.contains("panicked") => Err(TestCaseError::fail(format!(
            "{sql}: a panic became this error: {e}"
        ))),
        Ok(r) => Ok(r),
        Err(_) => Err(TestCaseError::fail(format!("{sql}: panicked"))),
    }
}

/// A syntax error in a model statement names where it is (`Line: 1, Column: 37`), or the option
/// whose SQL it is in (`option 'holdout_where' is not a SQL expression`).
fn check_model_error(sql: &str, e: &str) -> Result<(), TestCaseError> {
    if e.starts_with("model statement: ") {
        let placed = e.contains("Line: ") && e.contains("Column: ");
        prop_assert!(
            placed || e.contains("option '"),
            "{sql}: the syntax error has no position: {e}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::fuzz_config())]

    /// Any sequence of fragments: the statement parses and runs, or fails with an error.
    #[test]
    fn model_fragments_never_panic(parts in prop::collection::vec(model_fragment(), 0..14)) {
        let sql = parts.join(" ");
        if let Err(e) = run_model_sql(&sql)? {
            check_model_error(&sql, &e)?;
        }
    }

    /// Statements close to the grammar: trained, evaluated or refused with an error, never a panic.
    #[test]
    fn model_statements_run_or_fail_cleanly(sql in model_statement()) {
        if let Err(e) = run_model_sql(&sql)? {
            check_model_error(&sql, &e)?;
        }
    }
}
