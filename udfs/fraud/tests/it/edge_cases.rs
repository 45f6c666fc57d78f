//! Reliability row R12 for the model-scoring functions: text edge cases through SQL into every function
//! that takes features. NULL, empty, blank, control characters, near misses of a training category,
//! 100,000 emoji and 10 MB as a categorical feature in Utf8, LargeUtf8, Utf8View and dictionaries of
//! them; binary columns (valid and invalid UTF-8) refused at planning with the remedy; and a large
//! categorical column streamed across many batches in bounded memory (64 MiB per string type, 2 GiB
//! with `NIGHTSHIFT_LONG=1`).
//!
//! Scoring has no per-record failure: every text is a training category or a missing value, so the
//! `on_record_error` policy never comes into play; bytes that are not text are refused while planning.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, DictionaryArray,
    FixedSizeBinaryArray, Float64Array, Int32Array, LargeBinaryArray, LargeStringBuilder, PrimitiveArray,
    RecordBatch, StringArray, StringBuilder, StringViewBuilder,
};
use datafusion::arrow::datatypes::{
    ArrowDictionaryKeyType, ArrowNativeType, DataType, Field, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, SchemaRef,
};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use nightshift_fraud::{Model, ModelRegistry, ModelStore, functions, train};
use nightshift_test_support::{proc_status_bytes, run_alone_bounding_peak_growth};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::common::{no_progress, options, row, stream_of, unit};

/// Every function of the crate that takes features.
const FUNCTIONS: [&str; 6] = [
    "predict",
    "explain_predict",
    "explain_top",
    "predict_label",
    "fraud_reasons",
    "fraud_score",
];

/// The amount of every row of the edge-case tables: a large amount, where the category decides.
const AMOUNT: f64 = 300.0;

/// The training categories the cases use: one the model finds risky at [`AMOUNT`], one it does not.
const RISKY: &str = "electronics";
const SAFE: &str = "grocery";

// ---------------------------------------------------------------------------------------------
// The model and the session
// ---------------------------------------------------------------------------------------------

/// `amount DOUBLE, category VARCHAR, label BOOLEAN`: fraud when the amount is above 150 and the
/// category electronics or jewelry; 3% label noise, 3% NULL categories.
fn training_data() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("amount", DataType::Float64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("label", DataType::Boolean, true),
    ]));
    let rows = (0..3_000).map(|i| {
        let (s, a, c, ..) = row(i, 12);
        let risky = a > 150.0 && (c == "electronics" || c == "jewelry");
        let label = if unit(s + 4) < 0.03 { !risky } else { risky };
        let category = (unit(s + 6) >= 0.03).then_some(c);
        (a, category, label)
    });
    let rows: Vec<_> = rows.collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(BooleanArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    (schema, vec![batch])
}

/// A small model over one numeric and one categorical feature, saved as `m@v1`.
async fn trained_model() -> Result<(Arc<ModelRegistry>, Arc<Model>)> {
    let (schema, batches) = training_data();
    let opts = options(&[("trees", "10"), ("seed", "5"), ("max_depth", "6")]);
    let model = train(stream_of(schema, batches), &opts, no_progress()).await?;
    let names: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["amount", "category"]);
    assert!(
        model.features()[1].categories.iter().any(|c| c == RISKY),
        "{:?}",
        model.features()[1].categories
    );
    let store = ModelStore::new(
        Arc::new(InMemory::new()) as Arc<dyn ObjectStore>,
        Path::from("_models"),
    );
    let model = store.save("m", model).await?;
    // `fraud_score` scores with the same model, as the project's default.
    let registry = ModelRegistry::new(Some(store), Some("m".into()));
    registry.insert(model.clone());
    Ok((registry, model))
}

/// A session of `partitions` with the functions registered against `registry`.
fn session(registry: Arc<ModelRegistry>, partitions: usize) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    let udfs = functions(registry);
    // A function added to the crate must join the cases below.
    let names: Vec<&str> = udfs.iter().map(|f| f.name()).collect();
    assert_eq!(names, FUNCTIONS);
    for udf in udfs {
        ctx.register_udf(udf.as_ref().clone());
    }
    ctx
}

/// `function` called on the two features.
/// `explain_predict` is read through its score (the same as `predict`'s), and `explain_top` through
/// how many reasons it gives (both features, every row).
fn call(function: &str, amount: &str, category: &str) -> String {
    match function {
        "fraud_score" => format!("fraud_score({amount}, {category})"),
        "explain_predict" => format!("get_field(explain_predict('m', {amount}, {category}), 'score')"),
        "explain_top" => format!("array_length(explain_top('m', 2, {amount}, {category}))"),
        "fraud_reasons" => format!("array_length(fraud_reasons(2, {amount}, {category}))"),
        _ => format!("{function}('m', {amount}, {category})"),
    }
}

/// The kernel's scores at [`AMOUNT`] for a plain Utf8 category column.
fn kernel_scores(model: &Model, categories: &[Option<&str>]) -> Vec<f64> {
    let amounts = Float64Array::from(vec![AMOUNT; categories.len()]);
    let categories = StringArray::from(categories.to_vec());
    let scores = model
        .score_batch(&[Arc::new(amounts), Arc::new(categories)])
        .unwrap();
    assert_eq!(scores.null_count(), 0);
    scores.values().to_vec()
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<RecordBatch> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let schema = batches.first().map(|b| b.schema()).expect("at least one batch");
    Ok(datafusion::arrow::compute::concat_batches(&schema, &batches)?)
}

/// One function's result column, decoded for comparison whatever the function.
#[derive(Debug, PartialEq)]
enum Column {
    Score(Vec<Option<f64>>),
    Label(Vec<Option<bool>>),
    Reasons(Vec<Option<u64>>),
}

impl Column {
    /// What `function` must return for rows of these probabilities.
    fn expected(function: &str, scores: &[f64]) -> Self {
        match function {
            "predict" | "fraud_score" | "explain_predict" => {
                Self::Score(scores.iter().map(|&p| Some(p)).collect())
            }
            "explain_top" | "fraud_reasons" => Self::Reasons(vec![Some(2); scores.len()]),
            // Written out here rather than taken from the crate: true above 0.5.
            "predict_label" => Self::Label(scores.iter().map(|&p| Some(p > 0.5)).collect()),
            other => panic!("unknown function {other}"),
        }
    }

    /// Decodes `array`, checking first that it has the type `function` declares.
    fn decode(function: &str, array: &dyn Array) -> Self {
        match function {
            "predict" | "fraud_score" | "explain_predict" => {
                assert_eq!(array.data_type(), &DataType::Float64, "{function}");
                Self::Score(array.as_primitive::<Float64Type>().iter().collect())
            }
            "explain_top" | "fraud_reasons" => {
                assert_eq!(array.data_type(), &DataType::UInt64, "{function}");
                Self::Reasons(
                    array
                        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                        .iter()
                        .collect(),
                )
            }
            "predict_label" => {
                assert_eq!(array.data_type(), &DataType::Boolean, "{function}");
                Self::Label(array.as_boolean().iter().collect())
            }
            other => panic!("unknown function {other}"),
        }
    }
}

/// The scores of a missing category, [`RISKY`] and [`SAFE`] at [`AMOUNT`], from the kernel over a
/// plain Utf8 column, checked against a plain query of literals; the category must matter for the
/// comparisons below to mean anything.
async fn reference_scores(ctx: &SessionContext, model: &Model) -> Result<[f64; 3]> {
    let [missing, risky, safe] = kernel_scores(model, &[None, Some(RISKY), Some(SAFE)])[..] else {
        unreachable!()
    };
    assert!(
        risky > 0.5 && missing < 0.5 && safe < 0.5,
        "{risky} {missing} {safe}"
    );
    assert!(risky != missing && safe != missing, "{risky} {missing} {safe}");
    for function in FUNCTIONS {
        let batch = query(
            ctx,
            &format!(
                "SELECT {}, {}, {}",
                call(function, "300.0", "NULL"),
                call(function, "300.0", &format!("'{RISKY}'")),
                call(function, "300.0", &format!("'{SAFE}'")),
            ),
        )
        .await?;
        for (i, want) in [missing, risky, safe].into_iter().enumerate() {
            assert_eq!(
                Column::decode(function, batch.column(i)),
                Column::expected(function, &[want]),
                "{function}, plain literal {i}"
            );
        }
    }
    Ok([missing, risky, safe])
}

// ---------------------------------------------------------------------------------------------
// 1. Edge-case categories × functions × string types
// ---------------------------------------------------------------------------------------------

/// Emoji of every shape: single code points, skin tones, flags (regional-indicator pairs and a tag
/// sequence), ZWJ sequences, variation selectors, a keycap.
const EMOJI: [&str; 16] = [
    "😀",
    "👍🏽",
    "🇫🇷",
    "🇯🇵",
    "👨\u{200d}👩\u{200d}👧\u{200d}👦",
    "❤\u{fe0f}",
    "1\u{fe0f}\u{20e3}",
    "🏳\u{fe0f}\u{200d}🌈",
    "🎉",
    "💩",
    "👩🏿\u{200d}💻",
    "🥲",
    "🫠",
    "☹\u{fe0f}",
    "✨",
    "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
];

/// 100,000 emoji, adjacent.
fn hundred_thousand_emoji() -> String {
    (0..100_000)
        .map(|i| EMOJI[(i * 7 + i / 11) % EMOJI.len()])
        .collect()
}

/// 10 MB made of the risky category and spaces: not a category, however close.
fn ten_megabytes() -> String {
    format!("{RISKY} ").repeat(10_000_000 / (RISKY.len() + 1) + 1)
}

/// A Utf8, LargeUtf8 or Utf8View column of `texts`, built with exact capacities.
fn text_array<'a>(
    data_type: &DataType,
    texts: impl IntoIterator<Item = Option<&'a str>> + Clone,
) -> ArrayRef {
    let rows = texts.clone().into_iter().count();
    let bytes = texts.clone().into_iter().flatten().map(str::len).sum();
    match data_type {
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(rows, bytes);
            texts.into_iter().for_each(|t| b.append_option(t));
            Arc::new(b.finish())
        }
        DataType::LargeUtf8 => {
            let mut b = LargeStringBuilder::with_capacity(rows, bytes);
            texts.into_iter().for_each(|t| b.append_option(t));
            Arc::new(b.finish())
        }
        DataType::Utf8View => {
            let mut b = StringViewBuilder::with_capacity(rows);
            texts.into_iter().for_each(|t| b.append_option(t));
            Arc::new(b.finish())
        }
        other => panic!("not a string type: {other}"),
    }
}

/// A dictionary of `texts` with keys `K` and values of `value_type`, shaped as real ones are: the
/// values in another order than the rows, an unused value, and NULL either as a NULL key or (with
/// `null_value`) as a key to a NULL value.
fn dictionary<'a, K: ArrowDictionaryKeyType>(
    value_type: &DataType,
    texts: &[Option<&'a str>],
    null_value: bool,
) -> ArrayRef {
    let mut values: Vec<Option<&'a str>> = vec![Some("jewelry")];
    for t in texts.iter().rev() {
        if (t.is_some() || null_value) && !values.contains(t) {
            values.push(*t);
        }
    }
    let keys: PrimitiveArray<K> = texts
        .iter()
        .map(|t| {
            let position = values.iter().position(|v| v == t)?;
            Some(K::Native::from_usize(position).expect("a key that fits"))
        })
        .collect();
    let values = text_array(value_type, values.iter().copied());
    Arc::new(DictionaryArray::<K>::try_new(keys, values).unwrap())
}

/// The categorical columns of the edge-case tables: each string type and a dictionary of each.
fn string_columns(texts: &[Option<&str>]) -> Vec<(&'static str, ArrayRef)> {
    let columns = vec![
        ("utf8", text_array(&DataType::Utf8, texts.iter().copied())),
        ("large", text_array(&DataType::LargeUtf8, texts.iter().copied())),
        ("view", text_array(&DataType::Utf8View, texts.iter().copied())),
        ("dict", dictionary::<Int32Type>(&DataType::Utf8, texts, false)),
        (
            "dict_large",
            dictionary::<Int16Type>(&DataType::LargeUtf8, texts, true),
        ),
        (
            "dict_view",
            dictionary::<Int8Type>(&DataType::Utf8View, texts, false),
        ),
    ];
    let types: Vec<String> = columns.iter().map(|(_, a)| a.data_type().to_string()).collect();
    assert_eq!(
        types,
        [
            "Utf8",
            "LargeUtf8",
            "Utf8View",
            "Dictionary(Int32, Utf8)",
            "Dictionary(Int16, LargeUtf8)",
            "Dictionary(Int8, Utf8View)"
        ]
    );
    columns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_case_categories_in_every_function_and_string_type() -> Result<()> {
    let (registry, model) = trained_model().await?;
    let ctx = session(registry, 1);
    let [missing, risky, safe] = reference_scores(&ctx, &model).await?;

    let emoji = hundred_thousand_emoji();
    assert!(EMOJI.iter().all(|e| emoji.contains(e)), "every emoji shape");
    let big = ten_megabytes();
    assert!(big.len() >= 10_000_000);
    let texts: Vec<Option<&str>> = vec![
        None,
        Some(RISKY),
        Some(""),
        Some(" "),
        Some("\t\n\r\u{b}\u{c}\u{85}\u{a0}\u{2028}\u{3000}"),
        Some("\u{0}\u{7}\u{1b}[31m\u{7f}\u{200b}\u{feff}\u{2066}\u{e000}"),
        Some(&big),
        Some(&emoji),
        Some("🇫🇷"),
        Some(SAFE),
        // Near misses of a training category: no trimming, folding or normalising.
        Some("electronics "),
        Some(" electronics"),
        Some("Electronics"),
        Some("ELECTRONICS"),
        Some("electronics\u{0}"),
        Some("ｅｌｅｃｔｒｏｎｉｃｓ"),
        Some("e\u{301}lectronics"),
        Some(RISKY),
        None,
    ];
    let expected: Vec<f64> = texts
        .iter()
        .map(|t| match *t {
            Some(RISKY) => risky,
            Some(SAFE) => safe,
            _ => missing,
        })
        .collect();

    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int32Array::from_iter_values(0..texts.len() as i32)),
        ),
        ("amount", Arc::new(Float64Array::from(vec![AMOUNT; texts.len()]))),
    ];
    let categorical = string_columns(&texts);
    columns.extend(categorical.iter().cloned());
    ctx.register_batch("t", RecordBatch::try_from_iter(columns)?)?;

    for function in FUNCTIONS {
        let started = Instant::now();
        let calls: Vec<String> = categorical
            .iter()
            .map(|(column, _)| call(function, "amount", column))
            .collect();
        let batch = query(
            &ctx,
            &format!("SELECT id, {} FROM t ORDER BY id", calls.join(", ")),
        )
        .await?;
        let ids = batch.column(0).as_primitive::<Int32Type>().values();
        assert_eq!(ids.to_vec(), (0..texts.len() as i32).collect::<Vec<_>>());
        let want = Column::expected(function, &expected);
        for (i, (_, array)) in categorical.iter().enumerate() {
            let got = Column::decode(function, batch.column(i + 1));
            assert_eq!(got, want, "{function} over {}", array.data_type());
        }
        eprintln!(
            "edge_cases: {function} over {} categorical types in {:?}",
            categorical.len(),
            started.elapsed()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_empty_and_seen_literals_of_every_string_type() -> Result<()> {
    let (registry, model) = trained_model().await?;
    let ctx = session(registry, 1);
    let [missing, risky, _] = reference_scores(&ctx, &model).await?;
    for data_type in [
        "Utf8",
        "LargeUtf8",
        "Utf8View",
        "Dictionary(Int32, Utf8)",
        "Dictionary(Int8, Utf8View)",
    ] {
        for function in FUNCTIONS {
            let literals = [
                format!("arrow_cast(NULL, '{data_type}')"),
                format!("arrow_cast('', '{data_type}')"),
                format!("arrow_cast(' \t\n', '{data_type}')"),
                format!("arrow_cast('{RISKY}', '{data_type}')"),
                format!("arrow_cast('{}', '{data_type}')", EMOJI.concat()),
            ];
            let calls: Vec<String> = literals.iter().map(|l| call(function, "300.0", l)).collect();
            let batch = query(&ctx, &format!("SELECT {}", calls.join(", "))).await?;
            for (i, want) in [missing, missing, missing, risky, missing]
                .into_iter()
                .enumerate()
            {
                assert_eq!(
                    Column::decode(function, batch.column(i)),
                    Column::expected(function, &[want]),
                    "{function}({})",
                    literals[i]
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Binary columns as a categorical feature
// ---------------------------------------------------------------------------------------------

type Bytes = Option<&'static [u8]>;

/// The binary rows: a training category, the same after a byte that is not UTF-8, and NULL; as
/// variable-width bytes and as 4 bytes (for FixedSizeBinary, whose category is `fuel`).
const BINARY_ROWS: [(Bytes, Bytes); 3] = [
    (Some(b"electronics"), Some(b"fuel")),
    (Some(b"\xffelectronics"), Some(b"\xff\xfe\xfd\xfc")),
    (None, None),
];

/// The rows `ids` (1-based) of [`BINARY_ROWS`] as a batch: id, amount, and the bytes in every binary
/// type.
fn binary_batch(ids: &[usize]) -> Result<RecordBatch> {
    let rows: Vec<Option<&[u8]>> = ids.iter().map(|&id| BINARY_ROWS[id - 1].0).collect();
    let fixed = ids.iter().map(|&id| BINARY_ROWS[id - 1].1);
    let fixed = FixedSizeBinaryArray::try_from_sparse_iter_with_size(fixed, 4)?;
    // A dictionary of the distinct values in reverse order, NULL as a NULL key.
    let mut values: Vec<&[u8]> = rows.iter().rev().flatten().copied().collect();
    values.dedup();
    let keys: Int32Array = rows
        .iter()
        .map(|r| {
            r.and_then(|r| values.iter().position(|v| *v == r))
                .map(|k| k as i32)
        })
        .collect();
    let dictionary = DictionaryArray::try_new(keys, Arc::new(BinaryArray::from_iter_values(values)))?;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int32Array::from_iter_values(ids.iter().map(|&id| id as i32))),
        ),
        ("amount", Arc::new(Float64Array::from(vec![AMOUNT; ids.len()]))),
        ("bin", Arc::new(BinaryArray::from_iter(rows.iter().copied()))),
        (
            "large_bin",
            Arc::new(LargeBinaryArray::from_iter(rows.iter().copied())),
        ),
        (
            "view_bin",
            Arc::new(BinaryViewArray::from_iter(rows.iter().copied())),
        ),
        ("dict_bin", Arc::new(dictionary)),
        ("fixed_bin", Arc::new(fixed)),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

/// A session with table `b` of all [`BINARY_ROWS`] and `v` of the valid ones (rows 1 and 3); returns
/// the binary columns with their types.
async fn binary_session() -> Result<(SessionContext, Arc<Model>, Vec<(String, DataType)>)> {
    let (registry, model) = trained_model().await?;
    let ctx = session(registry, 1);
    let all = binary_batch(&[1, 2, 3])?;
    let binary: Vec<(String, DataType)> = all
        .schema()
        .fields()
        .iter()
        .skip(2)
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let types: Vec<String> = binary.iter().map(|(_, t)| t.to_string()).collect();
    assert_eq!(
        types,
        [
            "Binary",
            "LargeBinary",
            "BinaryView",
            "Dictionary(Int32, Binary)",
            "FixedSizeBinary(4)"
        ]
    );
    ctx.register_batch("b", all)?;
    ctx.register_batch("v", binary_batch(&[1, 3])?)?;
    Ok((ctx, model, binary))
}

/// The argument position of the category in a call of `function` (1-based, the model name counted).
fn category_position(function: &str) -> usize {
    match function {
        "fraud_score" => 2,
        "explain_top" => 4,
        "fraud_reasons" => 3,
        _ => 3,
    }
}

/// The error of planning `function` over `amount` and `category`, which must fail while planning.
async fn planning_error(ctx: &SessionContext, function: &str, category: &str) -> String {
    let sql = format!("SELECT {} FROM b", call(function, "amount", category));
    match ctx.sql(&sql).await {
        Ok(_) => panic!("{sql} should fail while planning"),
        Err(e) => e.to_string(),
    }
}

/// The two remedies a planning error gives (`pass <CAST>, or <TRY_CAST> to score`), for `column`.
fn remedies(error: &str, column: &str) -> (String, String) {
    let (_, rest) = error.split_once("not text: pass ").expect(error);
    let (cast, rest) = rest.split_once(", or ").expect(error);
    let (try_cast, _) = rest.split_once(" to score ").expect(error);
    (
        cast.replace("<argument>", column),
        try_cast.replace("<argument>", column),
    )
}

/// Binary columns are refused while planning, before a row is read, whatever the bytes: the message
/// names the function, the argument and its feature, and says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_categories_are_refused_at_planning_naming_function_argument_and_remedy() -> Result<()> {
    let (ctx, _model, binary) = binary_session().await?;
    let mut cases: Vec<(String, String)> = binary
        .iter()
        .map(|(column, data_type)| (column.to_string(), data_type.to_string()))
        .collect();
    // Binary literals, valid and invalid UTF-8.
    cases.push(("X'656C656374726F6E696373'".into(), "Binary".into()));
    cases.push(("X'C328'".into(), "Binary".into()));
    for function in FUNCTIONS {
        for (argument, data_type) in &cases {
            let e = planning_error(&ctx, function, argument).await;
            let context = format!("{function} over {data_type}: {e}");
            assert!(
                e.contains(&format!("{function}: model 'm' expects 2 arguments")),
                "{context}"
            );
            assert!(
                e.contains(&format!(
                    "argument {} (feature 'category') is {data_type}, not text: pass CAST(",
                    category_position(function)
                )),
                "{context}"
            );
            let (cast, try_cast) = remedies(&e, "x");
            let operand = if data_type.contains("FixedSizeBinary") {
                "CAST(x AS BYTEA)"
            } else {
                "x"
            };
            assert_eq!(cast, format!("CAST({operand} AS VARCHAR)"), "{context}");
            assert_eq!(try_cast, format!("TRY_CAST({operand} AS VARCHAR)"), "{context}");
            assert!(e.contains("as a missing category"), "{context}");
            assert!(e.len() < 600, "{context}");
        }
        // Other mismatches name the argument and the kind it must be.
        let e = planning_error(&ctx, function, "amount > 0").await;
        assert!(
            e.contains(&format!(
                "argument {} (feature 'category') is Boolean, not VARCHAR",
                category_position(function)
            )),
            "{e}"
        );
    }
    Ok(())
}

/// The remedies the message gives work, taken from the message itself: CAST scores valid bytes as
/// their text and fails cleanly on bytes that are not UTF-8; TRY_CAST makes them NULL, a missing
/// category.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_categories_cast_as_the_error_says_score_as_text() -> Result<()> {
    let (ctx, model, binary) = binary_session().await?;
    let [missing, risky, _] = reference_scores(&ctx, &model).await?;
    let fuel = kernel_scores(&model, &[Some("fuel")])[0];
    assert_ne!(fuel, missing);
    let (v, b) = (ctx.table("v").await?, ctx.table("b").await?);
    assert_eq!((v.count().await?, b.count().await?), (2, 3));
    for function in FUNCTIONS {
        for (column, data_type) in &binary {
            let context = format!("{function} over {data_type}");
            let (cast, try_cast) = remedies(&planning_error(&ctx, function, column).await, column);
            let valid = if column == "fixed_bin" { fuel } else { risky };
            // Table `v` holds the valid rows only: a WHERE does not keep the CAST from the rows it
            // removes, as DataFusion may evaluate the projection below the filter.
            let cast = call(function, "amount", &cast);
            let batch = query(&ctx, &format!("SELECT {cast} FROM v ORDER BY id")).await?;
            assert_eq!(
                Column::decode(function, batch.column(0)),
                Column::expected(function, &[valid, missing]),
                "{context}: {cast}"
            );
            let e = match query(&ctx, &format!("SELECT {cast} FROM b")).await {
                Ok(b) => panic!("{context}: {cast} of bytes that are not UTF-8 gave {b:?}"),
                Err(e) => e.to_string(),
            };
            // Arrow says "non UTF-8 data" or "non-UTF-8 data" depending on the array.
            assert!(
                e.contains("Encountered non") && e.contains("UTF-8 data"),
                "{context}: {e}"
            );
            let try_cast = call(function, "amount", &try_cast);
            let batch = query(&ctx, &format!("SELECT {try_cast} FROM b ORDER BY id")).await?;
            assert_eq!(
                Column::decode(function, batch.column(0)),
                Column::expected(function, &[valid, missing, missing]),
                "{context}: {try_cast}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. A large categorical column streamed across many batches, in bounded memory
// ---------------------------------------------------------------------------------------------

/// Text per generated batch.
const BATCH_BYTES: usize = 1 << 20;

/// Peak RSS growth allowed while a column streams: a few batches in flight per partition, the
/// allocator's slack and the threads' stacks, far below the column (64 MiB per type even in CI).
const RSS_GROWTH_LIMIT: u64 = 32 << 20;

fn long_run() -> bool {
    std::env::var("NIGHTSHIFT_LONG").is_ok_and(|v| v == "1")
}

/// Text per string type: 2 GiB with `NIGHTSHIFT_LONG=1`, 64 MiB otherwise.
fn column_bytes() -> usize {
    if long_run() { 2 << 30 } else { 64 << 20 }
}

/// The rows that cycle through the column: training categories, NULL, the edge cases above and one
/// 64 kB text, at amounts on both sides of the model's threshold.
fn cycle() -> Vec<(f64, Option<String>)> {
    let categories: Vec<Option<String>> = [
        Some(RISKY),
        Some("jewelry"),
        Some(SAFE),
        Some("fuel"),
        None,
        Some(""),
        Some(" \t\u{3000}\n"),
        Some("electronics "),
        Some("👨\u{200d}👩\u{200d}👧\u{200d}👦🇫🇷🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}"),
    ]
    .into_iter()
    .map(|c| c.map(str::to_owned))
    .collect();
    let mut rows = Vec::new();
    for amount in [20.0, 160.0, AMOUNT] {
        rows.extend(categories.iter().map(|c| (amount, c.clone())));
    }
    rows.push((AMOUNT, Some(format!("{RISKY} 🇯🇵 ").repeat(3_500))));
    rows
}

/// One partition of the generated table: batches `partition`, `partition + partitions`, … of
/// `batches`, each `cycles` times the [`cycle`], built one at a time as the query pulls them.
#[derive(Debug, Clone)]
struct GeneratedRows {
    schema: SchemaRef,
    cycle: Arc<Vec<(f64, Option<String>)>>,
    cycles: usize,
    batches: usize,
    partition: usize,
    partitions: usize,
}

impl GeneratedRows {
    fn batch(&self) -> Result<RecordBatch> {
        let rows = || (0..self.cycles).flat_map(|_| self.cycle.iter());
        let amounts = Float64Array::from_iter_values(rows().map(|r| r.0));
        let categories = text_array(self.schema.field(1).data_type(), rows().map(|r| r.1.as_deref()));
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(amounts), categories],
        )?)
    }
}

impl PartitionStream for GeneratedRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // A channel of one batch: the generator waits for the query instead of running ahead.
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 1);
        let tx = builder.tx();
        let this = self.clone();
        builder.spawn_blocking(move || {
            for _ in (this.partition..this.batches).step_by(this.partitions) {
                if tx.blocking_send(this.batch()).is_err() {
                    break; // the query was dropped
                }
            }
            Ok(())
        });
        builder.build()
    }
}

/// A table `big` (amount DOUBLE, category of `data_type`) with at least `bytes` of category text in
/// batches of about [`BATCH_BYTES`], generated lazily over two partitions. Returns the number of
/// times the cycle repeats in the whole table.
fn register_generated(ctx: &SessionContext, data_type: &DataType, bytes: usize) -> Result<(usize, usize)> {
    let cycle = Arc::new(cycle());
    let cycle_bytes: usize = cycle.iter().filter_map(|r| r.1.as_ref()).map(String::len).sum();
    let cycles = BATCH_BYTES.div_ceil(cycle_bytes);
    let batches = bytes.div_ceil(cycles * cycle_bytes);
    let schema = Arc::new(Schema::new(vec![
        Field::new("amount", DataType::Float64, false),
        Field::new("category", data_type.clone(), true),
    ]));
    let partitions = 2;
    let streams = (0..partitions)
        .map(|partition| {
            Arc::new(GeneratedRows {
                schema: schema.clone(),
                cycle: cycle.clone(),
                cycles,
                batches,
                partition,
                partitions,
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    ctx.deregister_table("big")?;
    ctx.register_table("big", Arc::new(StreamingTable::try_new(schema, streams)?))?;
    Ok((batches, cycles))
}

/// Over the whole table: rows, non-NULL categories, the sums of `predict` and `fraud_score` in units
/// of 1e-6 (rounded per row, so exact integers), rows `predict_label` calls true, and category bytes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    rows: i64,
    categories: i64,
    predict_e6: i64,
    positives: i64,
    fraud_score_e6: i64,
    bytes: i64,
}

const TOTALS_SQL: &str = "SELECT count(*), count(category), sum(CAST(round(p * 1000000) AS BIGINT)), \
     sum(CASE WHEN l THEN 1 ELSE 0 END), sum(CAST(round(s * 1000000) AS BIGINT)), sum(octet_length(category)) \
     FROM (SELECT predict('m', amount, category) AS p, predict_label('m', amount, category) AS l, \
     fraud_score(amount, category) AS s, category FROM big)";

/// The totals [`TOTALS_SQL`] must give over `repeats` of the cycle: the kernel's scores of one cycle
/// as a plain Utf8 column, in which a category the model never saw is NULL, times the repeats.
fn expected_totals(model: &Model, repeats: i64) -> Totals {
    let cycle = cycle();
    let trained = &model.features()[1].categories;
    let amounts = Float64Array::from_iter_values(cycle.iter().map(|r| r.0));
    let categories = StringArray::from_iter(
        cycle
            .iter()
            .map(|r| r.1.as_deref().filter(|c| trained.iter().any(|t| t == c))),
    );
    assert_eq!(
        categories.null_count(),
        3 * 5 + 1,
        "the cycle's NULL and unseen categories"
    );
    let scores = model
        .score_batch(&[Arc::new(amounts), Arc::new(categories)])
        .unwrap();
    let mut t = Totals::default();
    for ((_, category), &p) in cycle.iter().zip(scores.values()) {
        let e6 = (p * 1_000_000.0).round() as i64;
        t.rows += repeats;
        t.predict_e6 += repeats * e6;
        t.fraud_score_e6 += repeats * e6;
        t.positives += repeats * i64::from(p > 0.5);
        if let Some(c) = category {
            t.categories += repeats;
            t.bytes += repeats * c.len() as i64;
        }
    }
    t
}

async fn totals(ctx: &SessionContext) -> Result<Totals> {
    let batch = query(ctx, TOTALS_SQL).await?;
    assert_eq!(batch.num_rows(), 1);
    let get = |i: usize| batch.column(i).as_primitive::<Int64Type>().value(0);
    Ok(Totals {
        rows: get(0),
        categories: get(1),
        predict_e6: get(2),
        positives: get(3),
        fraud_score_e6: get(4),
        bytes: get(5),
    })
}

const CHILD: &str = "edge_cases::large_column_in_bounded_memory_child";

/// Runs the streaming case in a child process of this test binary, alone, so that the peak RSS it
/// reports is its own and not that of the tests running beside it, and bounds that peak's growth.
#[test]
fn large_column_streams_in_bounded_memory() {
    run_alone_bounding_peak_growth(CHILD, "edge_cases stream:", 3, RSS_GROWTH_LIMIT);
}

/// The streaming case itself, checking the totals and reporting the peak RSS growth; run by
/// [`large_column_streams_in_bounded_memory`], which bounds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by large_column_streams_in_bounded_memory"]
async fn large_column_in_bounded_memory_child() -> Result<()> {
    let (registry, model) = trained_model().await?;
    let ctx = session(registry, 2);
    for data_type in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
        // Warm up (threads, the plan's first allocations) on two batches.
        let (batches, cycles) = register_generated(&ctx, &data_type, 2 * BATCH_BYTES)?;
        assert_eq!(
            totals(&ctx).await?,
            expected_totals(&model, (batches * cycles) as i64)
        );

        let (batches, cycles) = register_generated(&ctx, &data_type, column_bytes())?;
        // Resets VmHWM to the current RSS (Linux ≥ 4.0); where refused, VmHWM keeps the earlier peaks,
        // which only makes the measured growth larger.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = proc_status_bytes("VmRSS");
        let started = Instant::now();
        let got = totals(&ctx).await?;
        let elapsed = started.elapsed();
        let peak = proc_status_bytes("VmHWM");

        let want = expected_totals(&model, (batches * cycles) as i64);
        assert!(want.positives > 0 && want.positives < want.rows, "{want:?}");
        assert_eq!(got, want, "{data_type}");
        assert!(
            got.bytes as usize >= column_bytes(),
            "{} bytes streamed",
            got.bytes
        );
        eprintln!(
            "edge_cases stream: {data_type}: {} MiB of categories, {} rows in {batches} batches of {} KiB in \
             {elapsed:.1?}; peak RSS growth {} KiB (VmRSS before {} MiB, VmHWM after {} MiB, VmHWM reset: {reset})",
            got.bytes >> 20,
            got.rows,
            (got.bytes as usize / batches) >> 10,
            peak.saturating_sub(before) >> 10,
            before >> 20,
            peak >> 20,
        );
    }
    Ok(())
}
