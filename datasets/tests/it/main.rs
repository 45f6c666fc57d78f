//! Black-box tests of the demo-lake generator: layout, determinism, schemas, and the properties the
//! demo jobs rely on (sentiment variety in reviews, learnable fraud in transactions).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use chrono::NaiveDate;
use nightshift_datasets::{DatasetError, GenerateOptions, generate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn options(out: &Path) -> GenerateOptions {
    GenerateOptions {
        out: out.to_path_buf(),
        reviews: 4_000,
        transactions: 30_000,
        days: 4,
        seed: 7,
        start_date: NaiveDate::from_ymd_opt(2024, 2, 28).unwrap(),
    }
}

/// Every file under `root`, relative, in sorted order.
fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn read(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// All partitions of a table, keyed by partition directory name.
fn read_table(out: &Path, table: &str) -> BTreeMap<String, RecordBatch> {
    fs::read_dir(out.join(table))
        .unwrap()
        .map(|entry| {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (name, read(&dir.join("part-0.parquet")))
        })
        .collect()
}

#[test]
fn same_options_give_identical_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let summary_a = generate(&options(a.path())).unwrap();
    let summary_b = generate(&options(b.path())).unwrap();
    assert_eq!(summary_a, summary_b);
    let listed = files(a.path());
    assert_eq!(listed, files(b.path()));
    assert_eq!(listed.len(), 8);
    for file in &listed {
        assert_eq!(
            fs::read(a.path().join(file)).unwrap(),
            fs::read(b.path().join(file)).unwrap(),
            "{file:?}"
        );
    }
    generate(&GenerateOptions {
        seed: 8,
        ..options(c.path())
    })
    .unwrap();
    let first = &listed[0];
    assert_ne!(
        fs::read(a.path().join(first)).unwrap(),
        fs::read(c.path().join(first)).unwrap()
    );
}

#[test]
fn layout_schema_and_row_counts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions {
        reviews: 1_001,
        transactions: 2_003,
        days: 3,
        ..options(dir.path())
    };
    let summary = generate(&opts).unwrap();

    let names: Vec<&str> = summary.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["reviews", "transactions"]);
    assert_eq!(summary.tables[0].rows, 1_001);
    assert_eq!(summary.tables[1].rows, 2_003);
    assert!(summary.tables.iter().all(|t| t.files == 3 && t.bytes > 0));

    let expected: Vec<PathBuf> = ["2024-02-28", "2024-02-29", "2024-03-01"]
        .iter()
        .flat_map(|d| {
            [
                PathBuf::from(format!("reviews/review_date={d}/part-0.parquet")),
                PathBuf::from(format!("transactions/tx_date={d}/part-0.parquet")),
            ]
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        files(dir.path()),
        expected,
        "no temporary or staging files are left"
    );
    let on_disk: u64 = expected
        .iter()
        .map(|f| fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();
    assert_eq!(on_disk, summary.tables.iter().map(|t| t.bytes).sum::<u64>());

    let reviews = read_table(dir.path(), "reviews");
    let review_schema: Vec<(String, DataType)> = reviews
        .values()
        .next()
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let review_expected = [
        ("review_id", DataType::Int64),
        ("product_id", DataType::Int64),
        ("customer_id", DataType::Int64),
        ("rating", DataType::Int32),
        ("review_text", DataType::Utf8),
    ];
    assert_eq!(review_schema, review_expected.map(|(n, t)| (n.to_owned(), t)));
    assert_eq!(reviews.values().map(RecordBatch::num_rows).sum::<usize>(), 1_001);
    let mut ids: Vec<i64> = reviews
        .values()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=1_001).collect::<Vec<i64>>());

    let transactions = read_table(dir.path(), "transactions");
    let tx_schema: Vec<(String, DataType)> = transactions
        .values()
        .next()
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let tx_expected = [
        ("transaction_id", DataType::Int64),
        ("customer_id", DataType::Int64),
        ("terminal_id", DataType::Int64),
        ("amount", DataType::Float64),
        ("latitude", DataType::Float64),
        ("longitude", DataType::Float64),
        ("region", DataType::Utf8),
        ("time_of_day", DataType::Int32),
        ("merchant_category", DataType::Utf8),
        ("card_present", DataType::Boolean),
        ("is_fraudulent", DataType::Boolean),
    ];
    assert_eq!(tx_schema, tx_expected.map(|(n, t)| (n.to_owned(), t)));
    let rows: Vec<usize> = transactions.values().map(RecordBatch::num_rows).collect();
    assert_eq!(rows, [668, 668, 667]);
}

#[test]
fn replaces_its_tables_and_keeps_other_folders() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("reviews/review_date=1999-01-01");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("part-0.parquet"), b"stale").unwrap();
    fs::create_dir_all(dir.path().join("notes")).unwrap();
    fs::write(dir.path().join("notes/keep.txt"), b"keep").unwrap();
    fs::write(dir.path().join("README"), b"keep").unwrap();

    generate(&GenerateOptions {
        days: 2,
        ..options(dir.path())
    })
    .unwrap();
    assert!(!stale.exists());
    assert_eq!(fs::read(dir.path().join("notes/keep.txt")).unwrap(), b"keep");
    assert_eq!(fs::read(dir.path().join("README")).unwrap(), b"keep");
    assert_eq!(fs::read_dir(dir.path().join("reviews")).unwrap().count(), 2);

    // A second run over the first gives the same files.
    let before: Vec<Vec<u8>> = files(dir.path())
        .iter()
        .map(|f| fs::read(dir.path().join(f)).unwrap())
        .collect();
    generate(&GenerateOptions {
        days: 2,
        ..options(dir.path())
    })
    .unwrap();
    let after: Vec<Vec<u8>> = files(dir.path())
        .iter()
        .map(|f| fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn invalid_options_are_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let err = generate(&GenerateOptions {
        days: 0,
        ..options(&out)
    })
    .unwrap_err();
    assert!(matches!(err, DatasetError::InvalidOptions { option: "days", .. }));
    assert_eq!(
        err.to_string(),
        "invalid option 'days': must be at least 1, got 0"
    );
    assert!(!out.exists());

    let late = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
    let err = generate(&GenerateOptions {
        start_date: late,
        days: 2,
        ..options(&out)
    })
    .unwrap_err();
    assert!(
        matches!(err, DatasetError::InvalidOptions { option: "days", .. }),
        "{err}"
    );
}

#[test]
fn unwritable_output_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a-file");
    fs::write(&out, b"not a folder").unwrap();
    let err = generate(&options(&out)).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }));
    let message = err.to_string();
    assert!(message.starts_with("failed to create directory '"), "{message}");
    assert!(message.contains("a-file"), "{message}");
}

#[test]
fn empty_tables_still_have_their_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&GenerateOptions {
        reviews: 0,
        transactions: 1,
        days: 2,
        ..options(dir.path())
    })
    .unwrap();
    assert_eq!(summary.tables[0].rows, 0);
    let reviews = read_table(dir.path(), "reviews");
    assert_eq!(reviews.len(), 2);
    assert!(
        reviews
            .values()
            .all(|b| b.num_rows() == 0 && b.num_columns() == 5)
    );
}

#[test]
fn review_texts_mix_sentiment_styles() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions {
        transactions: 0,
        ..options(dir.path())
    })
    .unwrap();
    let reviews = read_table(dir.path(), "reviews");
    let mut texts = Vec::new();
    let mut ratings = Vec::new();
    for batch in reviews.values() {
        texts.extend(
            batch
                .column(4)
                .as_string::<i32>()
                .iter()
                .map(|t| t.unwrap().to_owned()),
        );
        ratings.extend(
            batch
                .column(3)
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    let share =
        |pred: &dyn Fn(&str) -> bool| texts.iter().filter(|t| pred(t)).count() as f64 / texts.len() as f64;
    let negation = share(&|t| ["not ", "n't ", "never "].iter().any(|n| t.contains(n)));
    let caps = share(&|t| {
        t.split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w.len() >= 3 && w == w.to_uppercase())
    });
    let emoji = share(&|t| ["😀", "😡", "👍", "❤️", "👎", "😍"].iter().any(|e| t.contains(e)));
    let but = share(&|t| t.contains(" but "));
    let intensified = share(&|t| t.contains("extremely ") || t.contains("very "));
    for (what, value) in [
        ("negation", negation),
        ("caps", caps),
        ("emoji", emoji),
        ("but", but),
        ("intensified", intensified),
    ] {
        assert!((0.03..0.6).contains(&value), "{what}: {value}");
    }
    let mean = |word: &str| {
        let picked: Vec<i32> = texts
            .iter()
            .zip(&ratings)
            .filter(|(t, _)| t.contains(word))
            .map(|(_, r)| *r)
            .collect();
        picked.iter().sum::<i32>() as f64 / picked.len() as f64
    };
    assert!(mean("Highly recommend") - mean("Waste of money") > 1.5);
}

/// One transaction, read back for the fraud checks.
struct Tx {
    day: String,
    customer: i64,
    terminal: i64,
    amount: f64,
    region: String,
    time: i32,
    category: String,
    card_present: bool,
    fraud: bool,
}

fn transactions(out: &Path) -> Vec<Tx> {
    let mut rows = Vec::new();
    for (day, b) in read_table(out, "transactions") {
        let customer = b.column(1).as_primitive::<Int64Type>();
        let terminal = b.column(2).as_primitive::<Int64Type>();
        let amount = b.column(3).as_primitive::<Float64Type>();
        let region = b.column(6).as_string::<i32>();
        let time = b.column(7).as_primitive::<Int32Type>();
        let category = b.column(8).as_string::<i32>();
        let card_present = b.column(9).as_boolean();
        let fraud = b.column(10).as_boolean();
        assert_eq!(b.column(10).null_count(), 0);
        for i in 0..b.num_rows() {
            rows.push(Tx {
                day: day.clone(),
                customer: customer.value(i),
                terminal: terminal.value(i),
                amount: amount.value(i),
                region: region.value(i).to_owned(),
                time: time.value(i),
                category: category.value(i).to_owned(),
                card_present: card_present.value(i),
                fraud: fraud.value(i),
            });
        }
    }
    rows
}

#[test]
fn fraud_is_rare_and_follows_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    generate(&GenerateOptions {
        reviews: 0,
        transactions: 150_000,
        days: 10,
        ..options(dir.path())
    })
    .unwrap();
    let rows = transactions(dir.path());
    assert_eq!(rows.len(), 150_000);
    let frauds: Vec<&Tx> = rows.iter().filter(|t| t.fraud).collect();
    let rate = frauds.len() as f64 / rows.len() as f64;
    assert!((0.002..0.01).contains(&rate), "fraud rate {rate}");

    // Each customer's usual spend and home region, from their legitimate transactions.
    let mut legit: BTreeMap<i64, (Vec<f64>, BTreeMap<&str, usize>)> = BTreeMap::new();
    for t in rows.iter().filter(|t| !t.fraud) {
        let entry = legit.entry(t.customer).or_default();
        entry.0.push(t.amount);
        *entry.1.entry(t.region.as_str()).or_default() += 1;
    }
    let usual = |customer: i64| {
        let amounts = &legit[&customer].0;
        amounts.iter().sum::<f64>() / amounts.len() as f64
    };
    let home = |customer: i64| {
        legit[&customer]
            .1
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(r, _)| *r)
            .unwrap()
    };

    // (1) far above the customer's usual spend.
    let big = frauds
        .iter()
        .filter(|t| legit.contains_key(&t.customer) && t.amount > 4.0 * usual(t.customer))
        .count();
    // (2) several frauds at the same card-present terminal on the same day.
    let mut per_terminal_day: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    for t in frauds.iter().filter(|t| t.card_present) {
        *per_terminal_day.entry((t.day.as_str(), t.terminal)).or_default() += 1;
    }
    let skimmed = per_terminal_day.values().filter(|&&n| n >= 3).count();
    // (3) night-time card-not-present online/electronics bursts of one customer.
    let mut night: BTreeMap<(&str, i64), usize> = BTreeMap::new();
    for t in frauds.iter().filter(|t| {
        t.time < 5 * 3600 && !t.card_present && matches!(t.category.as_str(), "online" | "electronics")
    }) {
        *night.entry((t.day.as_str(), t.customer)).or_default() += 1;
    }
    let bursts = night.values().filter(|&&n| n >= 3).count();
    // Sometimes far from home.
    let away = frauds
        .iter()
        .filter(|t| legit.contains_key(&t.customer) && t.region != home(t.customer))
        .count();

    assert!(big >= 50, "{big} amount frauds");
    assert!(skimmed >= 3, "{skimmed} compromised terminal-days");
    assert!(bursts >= 10, "{bursts} night bursts");
    assert!(
        away >= 50 && away < frauds.len() * 3 / 4,
        "{away} of {} frauds away from home",
        frauds.len()
    );

    // Legitimate night-time online spending exists too, so time alone is not the label.
    let night_legit = rows
        .iter()
        .filter(|t| !t.fraud && t.time < 5 * 3600 && !t.card_present)
        .count();
    assert!(night_legit > 50);
}
