//! Reliability row R12: text edge cases through SQL into every function of the family. NULL, empty,
//! blank and control-character texts, 100,000 emoji and 10 MB in every string type; texts that are not
//! UTF-8 in every binary type under each `nightshift.on_record_error` policy; and a large column
//! streamed across many batches in bounded memory (64 MiB per string type, 2 GiB with
//! `NIGHTSHIFT_LONG=1`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, DictionaryArray, Float64Array, Int32Array,
    LargeBinaryArray, LargeStringBuilder, RecordBatch, StringBuilder, StringViewBuilder, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use nightshift_sentiment::{Scores, functions, polarity_scores};
use nightshift_test_support::{proc_status_bytes, run_alone_bounding_peak_growth};
use nightshift_udf_common::{OnRecordError, RecordErrors};

/// Every function of the family, all taking one text.
const FUNCTIONS: [&str; 3] = ["sentiment_score", "sentiment_label", "sentiment"];

fn register(ctx: &SessionContext) {
    let udfs = functions();
    // A function added to the family must join the cases below.
    let names: Vec<&str> = udfs.iter().map(|f| f.name()).collect();
    assert_eq!(names, FUNCTIONS);
    for udf in udfs {
        ctx.register_udf(udf.as_ref().clone());
    }
}

/// A session with the per-record error policy installed as the nightshift session does it, one
/// partition so that rows and quarantined records keep their order; returns the extension too, whose
/// sink every clone shares.
fn session() -> (SessionContext, RecordErrors) {
    let errors = RecordErrors::default();
    let config = SessionConfig::new()
        .with_option_extension(errors.clone())
        .with_target_partitions(1);
    let ctx = SessionContext::new_with_config(config);
    register(&ctx);
    (ctx, errors)
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<RecordBatch> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let schema = batches.first().map(|b| b.schema()).expect("at least one batch");
    Ok(datafusion::arrow::compute::concat_batches(&schema, &batches)?)
}

fn scores([neg, neu, pos, compound]: [f64; 4]) -> Scores {
    Scores {
        neg,
        neu,
        pos,
        compound,
    }
}

/// The VADER authors' thresholds, written out here rather than taken from the crate.
fn label_of(compound: f64) -> &'static str {
    if compound >= 0.05 {
        "positive"
    } else if compound <= -0.05 {
        "negative"
    } else {
        "neutral"
    }
}

/// One function's result column, decoded for comparison whatever the function.
#[derive(Debug, PartialEq)]
enum Column {
    Score(Vec<Option<f64>>),
    Label(Vec<Option<String>>),
    Struct(Vec<Option<Scores>>),
}

impl Column {
    /// What `function` must return for rows scoring `expected` (`None`: a NULL result).
    fn expected(function: &str, expected: &[Option<Scores>]) -> Self {
        match function {
            "sentiment_score" => Self::Score(expected.iter().map(|s| s.map(|s| s.compound)).collect()),
            "sentiment_label" => Self::Label(
                expected
                    .iter()
                    .map(|s| s.map(|s| label_of(s.compound).to_string()))
                    .collect(),
            ),
            "sentiment" => Self::Struct(expected.to_vec()),
            other => panic!("unknown function {other}"),
        }
    }

    /// Decodes `array`, checking first that it has the type `function` declares.
    fn decode(function: &str, array: &dyn Array) -> Self {
        match function {
            "sentiment_score" => {
                assert_eq!(array.data_type(), &DataType::Float64, "{function}");
                Self::Score(array.as_primitive::<Float64Type>().iter().collect())
            }
            "sentiment_label" => {
                assert_eq!(array.data_type(), &DataType::Utf8, "{function}");
                Self::Label(
                    array
                        .as_string::<i32>()
                        .iter()
                        .map(|s| s.map(str::to_string))
                        .collect(),
                )
            }
            "sentiment" => {
                let array: &StructArray = array.as_struct();
                let names: Vec<&str> = array.fields().iter().map(|f| f.name().as_str()).collect();
                assert_eq!(names, ["neg", "neu", "pos", "compound"], "{function}");
                let field = |name: &str| -> &Float64Array {
                    array
                        .column_by_name(name)
                        .expect("struct field")
                        .as_primitive::<Float64Type>()
                };
                let (neg, neu, pos, compound) = (field("neg"), field("neu"), field("pos"), field("compound"));
                Self::Struct(
                    (0..array.len())
                        .map(|i| {
                            array.is_valid(i).then(|| {
                                scores([neg.value(i), neu.value(i), pos.value(i), compound.value(i)])
                            })
                        })
                        .collect(),
                )
            }
            other => panic!("unknown function {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Edge-case texts × functions × string types
// ---------------------------------------------------------------------------------------------

/// Emoji of every shape: single code points, skin tones, flags (regional-indicator pairs and a tag
/// sequence), ZWJ sequences, variation selectors, a keycap, and code points newer than the lexicon.
const EMOJI: [&str; 20] = [
    "😀",
    "😡",
    "👍🏽",
    "🇫🇷",
    "🇯🇵",
    "👨\u{200d}👩\u{200d}👧\u{200d}👦",
    "❤\u{fe0f}",
    "1\u{fe0f}\u{20e3}",
    "🏳\u{fe0f}\u{200d}🌈",
    "😢",
    "🎉",
    "💩",
    "🤬",
    "🙂",
    "👩🏿\u{200d}💻",
    "🥲",
    "🫠",
    "☹\u{fe0f}",
    "✨",
    "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
];

/// 100,000 emoji, mostly adjacent, a space after every tenth.
fn hundred_thousand_emoji() -> String {
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(EMOJI[(i * 7 + i / 11) % EMOJI.len()]);
        if i % 10 == 9 {
            text.push(' ');
        }
    }
    text
}

/// vaderSentiment 3.3.2's emoji pass, transcribed from its `polarity_scores` as an oracle independent
/// of the kernel's: every character that is a key of the emoji lexicon (`line.strip().split('\t')`,
/// so only single-code-point keys can ever match) becomes its description, preceded by a space unless
/// the previous character was a space.
fn reference_emoji_pass(text: &str) -> String {
    let mut emojis: HashMap<char, &str> = HashMap::new();
    for line in include_str!("../../data/emoji_utf8_lexicon.txt").lines() {
        let mut fields = line.trim().split('\t');
        let (Some(key), Some(description)) = (fields.next(), fields.next()) else {
            continue;
        };
        let mut chars = key.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            emojis.insert(c, description);
        }
    }
    assert!(emojis.len() > 1000, "emoji lexicon not read: {}", emojis.len());
    let mut out = String::with_capacity(text.len() * 8);
    let mut prev_space = true;
    for c in text.chars() {
        if let Some(description) = emojis.get(&c) {
            if !prev_space {
                out.push(' ');
            }
            out.push_str(description);
            prev_space = false;
        } else {
            out.push(c);
            prev_space = c == ' ';
        }
    }
    out
}

/// Every character for which Python's `str.isspace()` holds: `split()` finds no token at all.
const PY_WHITESPACE: &str = "\t\n\u{b}\u{c}\r\u{1c}\u{1d}\u{1e}\u{1f} \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\
\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";

/// Control and invisible characters that are not whitespace (NUL, BEL, ESC sequences, DEL, zero-width
/// space and joiner, BOM, bidi isolates, private use), between whitespace: tokens no lexicon has.
const CONTROLS: &str = "\u{0}\u{1}\u{7}\u{8} \u{1b}[31m\u{1b}[0m\t\u{7f}\u{200b}\u{200d}\n\u{feff}\u{2066}\u{2069}\r\n\u{e000}\u{0}";

/// The 10 MB text of `pathological::ten_megabyte_text`, with the reference's scores given there.
fn ten_megabytes() -> String {
    let unit = "The soup was good, the bread was awful! ";
    unit.repeat(10_000_000 / unit.len() + 1)
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

const STRING_COLUMNS: [(&str, DataType); 3] = [
    ("utf8", DataType::Utf8),
    ("large", DataType::LargeUtf8),
    ("view", DataType::Utf8View),
];

/// A session with table `name` (id, utf8, large, view): `texts` in each string type.
fn string_session(name: &str, texts: &[Option<&str>]) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    register(&ctx);
    let mut columns: Vec<(&str, ArrayRef)> = vec![(
        "id",
        Arc::new(Int32Array::from_iter_values(0..texts.len() as i32)),
    )];
    for (column, data_type) in &STRING_COLUMNS {
        let array = text_array(data_type, texts.iter().copied());
        assert_eq!(array.data_type(), data_type);
        columns.push((column, array));
    }
    ctx.register_batch(name, RecordBatch::try_from_iter(columns)?)?;
    Ok(ctx)
}

#[tokio::test]
async fn edge_case_texts_in_every_function_and_string_type() -> Result<()> {
    let emoji = hundred_thousand_emoji();
    assert_eq!(emoji.chars().filter(|&c| c == ' ').count(), 10_000);
    let texts = [
        None,
        Some(""),
        Some(PY_WHITESPACE),
        Some(CONTROLS),
        Some(emoji.as_str()),
    ];
    let emoji_scores = polarity_scores(&reference_emoji_pass(&emoji));
    let expected = [
        None,
        // The reference scores a text without tokens all zeros (`score_valence` of no sentiments).
        Some(Scores::default()),
        Some(Scores::default()),
        // Tokens without valence: entirely neutral.
        Some(scores([0.0, 1.0, 0.0, 0.0])),
        Some(emoji_scores),
    ];
    // The emoji text must have sentiment both ways for the comparison to mean something.
    assert!(
        emoji_scores.pos > 0.0 && emoji_scores.neg > 0.0,
        "{emoji_scores:?}"
    );
    let sum = emoji_scores.neg + emoji_scores.neu + emoji_scores.pos;
    assert!((sum - 1.0).abs() <= 0.002, "{emoji_scores:?}");

    let ctx = string_session("t", &texts)?;
    for function in FUNCTIONS {
        let started = Instant::now();
        let batch = query(
            &ctx,
            &format!("SELECT id, {function}(utf8), {function}(large), {function}(view) FROM t ORDER BY id"),
        )
        .await?;
        let ids = batch.column(0).as_primitive::<Int32Type>().values();
        assert_eq!(ids.to_vec(), (0..texts.len() as i32).collect::<Vec<_>>());
        let want = Column::expected(function, &expected);
        for (i, (_, data_type)) in STRING_COLUMNS.iter().enumerate() {
            let got = Column::decode(function, batch.column(i + 1));
            assert_eq!(got, want, "{function} over {data_type}");
        }
        eprintln!(
            "edge_cases: {function} over 3 string types in {:?}",
            started.elapsed()
        );
    }
    Ok(())
}

/// The 10 MB text once per function and once per string type (each call takes a tenth of a second).
#[tokio::test]
async fn ten_megabyte_text_in_every_function_and_string_type() -> Result<()> {
    let big = ten_megabytes();
    assert!(big.len() >= 10_000_000);
    let ctx = string_session("t", &[Some(&big)])?;
    let started = Instant::now();
    let batch = query(
        &ctx,
        "SELECT sentiment_score(utf8), sentiment_label(large), sentiment(view) FROM t",
    )
    .await?;
    eprintln!("edge_cases: 10 MB text, 3 calls in {:?}", started.elapsed());
    // The reference's scores, from `pathological::ten_megabyte_text`.
    let expected = [Some(scores([0.252, 0.504, 0.244, -1.0]))];
    for (i, function) in FUNCTIONS.iter().enumerate() {
        assert_eq!(
            Column::decode(function, batch.column(i)),
            Column::expected(function, &expected),
            "{function} over {}",
            STRING_COLUMNS[i].1
        );
    }
    Ok(())
}

#[tokio::test]
async fn null_and_empty_literals_of_every_string_type() -> Result<()> {
    let ctx = SessionContext::new();
    register(&ctx);
    for data_type in ["Utf8", "LargeUtf8", "Utf8View"] {
        for function in FUNCTIONS {
            let batch = query(
                &ctx,
                &format!(
                    "SELECT {function}(arrow_cast(NULL, '{data_type}')), {function}(arrow_cast('', '{data_type}')), \
                     {function}(arrow_cast(' \t\n', '{data_type}'))"
                ),
            )
            .await?;
            let expected = [None, Some(Scores::default()), Some(Scores::default())];
            for (i, want) in expected.iter().enumerate() {
                assert_eq!(
                    Column::decode(function, batch.column(i)),
                    Column::expected(function, &[*want]),
                    "{function}(literal {i} as {data_type})"
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Texts that are not UTF-8, in every binary type, under each policy
// ---------------------------------------------------------------------------------------------

/// A bad row: its id, and the first invalid byte with its offset and the text's length, as the
/// error message names them.
struct Bad {
    id: i32,
    byte: u8,
    offset: usize,
    len: usize,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a text is not valid UTF-8: byte 0x{:02X} at offset {} of {}",
            self.byte, self.offset, self.len
        )
    }
}

/// Valid texts, a NULL and texts that are not UTF-8 (an invalid lead byte, a sequence cut at the end,
/// an encoded surrogate at offset 0, a lone continuation byte after 100 kB of valid text).
fn binary_rows() -> Vec<Option<Vec<u8>>> {
    let mut long = "good ".repeat(20_000).into_bytes();
    long.push(0x80);
    vec![
        Some(b"I love it!".to_vec()),
        Some(b"Great product, \xff\xfe awful delivery".to_vec()),
        None,
        Some(Vec::new()),
        Some(b"caf\xc3".to_vec()),
        Some(b"\xed\xa0\x80 surrogate".to_vec()),
        Some(b"Terrible.".to_vec()),
        Some(long),
        Some("Très bien 😀".as_bytes().to_vec()),
    ]
}

/// The bad rows of [`binary_rows`], by id (the 1-based row number).
fn bad_rows() -> [Bad; 4] {
    [
        Bad {
            id: 2,
            byte: 0xff,
            offset: 15,
            len: 32,
        },
        Bad {
            id: 5,
            byte: 0xc3,
            offset: 3,
            len: 4,
        },
        Bad {
            id: 6,
            byte: 0xed,
            offset: 0,
            len: 13,
        },
        Bad {
            id: 8,
            byte: 0x80,
            offset: 100_000,
            len: 100_001,
        },
    ]
}

const BINARY_COLUMNS: [(&str, DataType); 3] = [
    ("bin", DataType::Binary),
    ("large", DataType::LargeBinary),
    ("view", DataType::BinaryView),
];

/// A session with table `b` (id, bin BINARY, large LARGEBINARY, view BINARYVIEW) of [`binary_rows`].
fn binary_session() -> Result<(SessionContext, RecordErrors)> {
    let (ctx, errors) = session();
    let rows = binary_rows();
    let values = || rows.iter().map(|r| r.as_deref());
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int32Array::from_iter_values(1..=rows.len() as i32)),
        ),
        ("bin", Arc::new(BinaryArray::from_iter(values()))),
        ("large", Arc::new(LargeBinaryArray::from_iter(values()))),
        ("view", Arc::new(BinaryViewArray::from_iter(values()))),
    ];
    let batch = RecordBatch::try_from_iter(columns)?;
    for (name, data_type) in &BINARY_COLUMNS {
        assert_eq!(batch.schema().field_with_name(name)?.data_type(), data_type);
    }
    ctx.register_batch("b", batch)?;
    Ok((ctx, errors))
}

/// Expected scores of [`binary_rows`] when bad rows give NULL.
fn binary_expected() -> Vec<Option<Scores>> {
    binary_rows()
        .iter()
        .map(|r| {
            r.as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .map(polarity_scores)
        })
        .collect()
}

async fn set_policy(ctx: &SessionContext, policy: &str) -> Result<()> {
    ctx.sql(&format!("SET nightshift.on_record_error = '{policy}'"))
        .await?
        .collect()
        .await?;
    Ok(())
}

async fn error_of(ctx: &SessionContext, sql: &str) -> String {
    match query(ctx, sql).await {
        Ok(batch) => panic!("{sql} should fail, gave {} rows", batch.num_rows()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn not_utf8_fails_the_query_by_default_naming_function_byte_and_remedy() -> Result<()> {
    let (ctx, errors) = binary_session()?;
    let first = &bad_rows()[0];
    for explicit in [false, true] {
        if explicit {
            set_policy(&ctx, "fail").await?;
        }
        for function in FUNCTIONS {
            for (column, data_type) in &BINARY_COLUMNS {
                let e = error_of(&ctx, &format!("SELECT id, {function}({column}) FROM b")).await;
                let context = format!("{function} over {data_type}: {e}");
                assert!(e.contains(&format!("{function}: {first}")), "{context}");
                // The preview of the text around the bad byte, with it replaced.
                assert!(
                    e.contains("(\"Great product, \u{fffd}\u{fffd} awful…\")"),
                    "{context}"
                );
                assert!(e.contains("Clean the column"), "{context}");
                assert!(e.contains("SET nightshift.on_record_error = 'null'"), "{context}");
                assert!(e.len() < 600, "{context}");
            }
        }
    }
    // Every bad row names its own byte and offset; the 100 kB one does not copy its text.
    for bad in bad_rows() {
        let e = error_of(
            &ctx,
            &format!("SELECT sentiment_label(view) FROM b WHERE id = {}", bad.id),
        )
        .await;
        assert!(e.contains(&format!("sentiment_label: {bad}")), "{e}");
        assert!(e.len() < 600, "{} bytes: {e}", e.len());
    }
    // A binary literal too (constant folding at planning must not hide or change the error).
    let e = error_of(&ctx, "SELECT sentiment_label(X'C328')").await;
    assert!(
        e.contains("sentiment_label: a text is not valid UTF-8: byte 0xC3 at offset 0 of 2"),
        "{e}"
    );
    // The failure is the record's, not the column's: the valid rows alone score.
    let valid = "id IN (1, 3, 4, 7, 9)";
    let batch = query(
        &ctx,
        &format!("SELECT sentiment(bin), sentiment(large), sentiment(view) FROM b WHERE {valid} ORDER BY id"),
    )
    .await?;
    let all = binary_expected();
    let expected: Vec<Option<Scores>> = [0, 2, 3, 6, 8].iter().map(|&i| all[i]).collect();
    for i in 0..3 {
        assert_eq!(
            Column::decode("sentiment", batch.column(i)),
            Column::Struct(expected.clone())
        );
    }
    assert_eq!(errors.sink().failed(), 0, "fail counts nothing");

    // A session without the extension (a bare SessionContext) fails the same way.
    let bare = SessionContext::new();
    register(&bare);
    bare.register_table("b", ctx.table_provider("b").await?)?;
    let e = error_of(&bare, "SELECT sentiment_score(large) FROM b").await;
    assert!(e.contains(&format!("sentiment_score: {first}")), "{e}");
    Ok(())
}

#[tokio::test]
async fn not_utf8_under_null_gives_null_for_that_row_only_and_counts_it() -> Result<()> {
    let (ctx, errors) = binary_session()?;
    set_policy(&ctx, "null").await?;
    let expected = binary_expected();
    let bad: Vec<usize> = bad_rows().iter().map(|b| b.id as usize - 1).collect();
    assert!(bad.iter().all(|&i| expected[i].is_none()));
    assert_eq!(expected.iter().flatten().count(), 4, "four valid texts score");
    let (mut failed, mut evaluated) = (0, 0);
    for function in FUNCTIONS {
        for (column, data_type) in &BINARY_COLUMNS {
            let batch = query(&ctx, &format!("SELECT {function}({column}) FROM b ORDER BY id")).await?;
            assert_eq!(
                Column::decode(function, batch.column(0)),
                Column::expected(function, &expected),
                "{function} over {data_type}"
            );
            // Four bad records of eight non-NULL ones, per query.
            failed += 4;
            evaluated += 8;
            assert_eq!(
                (errors.sink().failed(), errors.sink().evaluated()),
                (failed, evaluated),
                "{function} over {data_type}"
            );
        }
    }
    assert!(errors.sink().take().is_empty(), "null keeps nothing");

    // A binary literal follows the policy too.
    let batch = query(
        &ctx,
        "SELECT sentiment_label(X'C328'), sentiment_label(X'6C6F7665')",
    )
    .await?;
    assert_eq!(
        Column::decode("sentiment_label", batch.column(0)),
        Column::Label(vec![None])
    );
    assert_eq!(
        Column::decode("sentiment_label", batch.column(1)),
        Column::Label(vec![Some("positive".to_string())])
    );
    Ok(())
}

#[tokio::test]
async fn not_utf8_under_quarantine_keeps_the_exact_bytes_and_the_reason() -> Result<()> {
    let (ctx, errors) = binary_session()?;
    set_policy(&ctx, "quarantine").await?;
    assert_eq!(
        RecordErrors::from_config(ctx.state().config().options()).map(RecordErrors::policy),
        Some(OnRecordError::Quarantine)
    );
    let rows = binary_rows();
    let expected = binary_expected();
    for function in FUNCTIONS {
        for (column, data_type) in &BINARY_COLUMNS {
            let batch = query(&ctx, &format!("SELECT {function}({column}) FROM b ORDER BY id")).await?;
            assert_eq!(
                Column::decode(function, batch.column(0)),
                Column::expected(function, &expected),
                "{function} over {data_type}"
            );
            let kept = errors.sink().take();
            assert_eq!(kept.len(), 4, "{function} over {data_type}");
            for (record, bad) in kept.iter().zip(bad_rows()) {
                assert_eq!(record.function, function);
                assert_eq!(Some(&record.value), rows[bad.id as usize - 1].as_ref());
                assert!(record.message.starts_with(&bad.to_string()), "{}", record.message);
            }
        }
    }
    assert_eq!(errors.sink().failed(), 4 * 9);
    Ok(())
}

/// Dictionary-encoded binary (Parquet dictionary pages read with an Arrow dictionary type): the policy
/// applies per row, as for plain binary, and a bad value that no row of the result uses is harmless.
#[tokio::test]
async fn not_utf8_in_a_binary_dictionary_is_a_per_row_error() -> Result<()> {
    let (ctx, errors) = session();
    let bad = b"\xff bad".as_slice();
    let values: ArrayRef = Arc::new(BinaryArray::from_iter([
        Some(b"good".as_slice()),
        Some(bad),
        Some(b"awful".as_slice()),
        None,
    ]));
    // Rows 2 and 3 use the bad value; row 6 a NULL value, row 7 a NULL key.
    let keys = Int32Array::from(vec![Some(0), Some(1), Some(1), Some(2), Some(0), Some(3), None]);
    let dictionary = DictionaryArray::try_new(keys, values)?;
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int32Array::from_iter_values(1..=7)) as ArrayRef),
        ("d", Arc::new(dictionary) as ArrayRef),
    ])?;
    ctx.register_batch("d", batch)?;
    let (good, awful) = (
        polarity_scores("good").compound,
        polarity_scores("awful").compound,
    );

    // fail: only when a row of the query uses the bad value.
    let batch = query(
        &ctx,
        "SELECT sentiment_score(d) FROM d WHERE id IN (1, 4, 5) ORDER BY id",
    )
    .await?;
    assert_eq!(
        Column::decode("sentiment_score", batch.column(0)),
        Column::Score(vec![Some(good), Some(awful), Some(good)])
    );
    let e = error_of(&ctx, "SELECT sentiment_score(d) FROM d").await;
    assert!(
        e.contains("sentiment_score: a text is not valid UTF-8: byte 0xFF at offset 0 of 5"),
        "{e}"
    );

    // null and quarantine: each row using the bad value is one failed record.
    let want = Column::Score(vec![Some(good), None, None, Some(awful), Some(good), None, None]);
    set_policy(&ctx, "null").await?;
    let before = (errors.sink().failed(), errors.sink().evaluated());
    let batch = query(&ctx, "SELECT sentiment_score(d) FROM d ORDER BY id").await?;
    assert_eq!(Column::decode("sentiment_score", batch.column(0)), want);
    let after = (errors.sink().failed(), errors.sink().evaluated());
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2, 5),
        "failed and evaluated"
    );

    set_policy(&ctx, "quarantine").await?;
    let batch = query(&ctx, "SELECT sentiment_score(d) FROM d ORDER BY id").await?;
    assert_eq!(Column::decode("sentiment_score", batch.column(0)), want);
    let kept: Vec<Vec<u8>> = errors.sink().take().into_iter().map(|r| r.value).collect();
    assert_eq!(kept, vec![bad.to_vec(), bad.to_vec()]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. A large column streamed across many batches, in bounded memory
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

/// The texts that cycle through the column: each kind of the matrix above, NULL included, and one
/// 64 kB text.
fn cycle() -> Vec<Option<String>> {
    vec![
        Some("The soup was good.".into()),
        Some("The service was not good at all!!".into()),
        None,
        Some("Meh.".into()),
        Some("Très bien, vraiment génial 😀👍🏽 🇫🇷".into()),
        Some(String::new()),
        Some(" \t\u{3000}\n".into()),
        Some("I HATE waiting, but the food was AMAZING".into()),
        Some("The soup was good, the bread was awful! ".repeat(1_600)),
    ]
}

/// One partition of the generated column: batches `partition`, `partition + partitions`, … of
/// `batches`, each `cycles` times the [`cycle`], built one at a time as the query pulls them.
#[derive(Debug, Clone)]
struct GeneratedTexts {
    schema: SchemaRef,
    cycle: Arc<Vec<Option<String>>>,
    cycles: usize,
    batches: usize,
    partition: usize,
    partitions: usize,
}

impl GeneratedTexts {
    fn batch(&self) -> Result<RecordBatch> {
        let texts = (0..self.cycles).flat_map(|_| self.cycle.iter().map(Option::as_deref));
        let array = text_array(self.schema.field(0).data_type(), texts);
        Ok(RecordBatch::try_new(self.schema.clone(), vec![array])?)
    }
}

impl PartitionStream for GeneratedTexts {
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

/// A table `big` whose `text` column of `data_type` holds at least `bytes` of text in batches of about
/// [`BATCH_BYTES`], generated lazily over two partitions. Returns the batches and cycles per batch.
fn register_generated(ctx: &SessionContext, data_type: &DataType, bytes: usize) -> Result<(usize, usize)> {
    let cycle = Arc::new(cycle());
    let cycle_bytes: usize = cycle.iter().flatten().map(String::len).sum();
    let cycles = BATCH_BYTES.div_ceil(cycle_bytes);
    let batches = bytes.div_ceil(cycles * cycle_bytes);
    let schema = Arc::new(Schema::new(vec![Field::new("text", data_type.clone(), true)]));
    let partitions = 2;
    let streams = (0..partitions)
        .map(|partition| {
            Arc::new(GeneratedTexts {
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

/// Over the whole column: rows, rows scored (not NULL), the sums of the compound score in units of
/// 1e-4 and of neg, neu and pos in units of 1e-3 (exact integers: the scores are rounded to those
/// decimals), and the text bytes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    rows: i64,
    scored: i64,
    compound_e4: i64,
    neg_e3: i64,
    neu_e3: i64,
    pos_e3: i64,
    bytes: i64,
}

/// One pass of `sentiment` over the column (the subquery keeps it to one call per row).
const TOTALS_SQL: &str = "SELECT count(*), count(v), \
     sum(CAST(round(v['compound'] * 10000) AS BIGINT)), sum(CAST(round(v['neg'] * 1000) AS BIGINT)), \
     sum(CAST(round(v['neu'] * 1000) AS BIGINT)), sum(CAST(round(v['pos'] * 1000) AS BIGINT)), sum(len) \
     FROM (SELECT sentiment(text) AS v, octet_length(text) AS len FROM big)";

/// The totals [`TOTALS_SQL`] must give over `repeats` of the cycle, from the kernel called once per
/// distinct text.
fn expected_totals(repeats: i64) -> Totals {
    let mut t = Totals::default();
    for text in cycle() {
        t.rows += repeats;
        let Some(text) = text else { continue };
        let s = polarity_scores(&text);
        let units = |score: f64, scale: f64| repeats * (score * scale).round() as i64;
        t.scored += repeats;
        t.compound_e4 += units(s.compound, 10_000.0);
        t.neg_e3 += units(s.neg, 1_000.0);
        t.neu_e3 += units(s.neu, 1_000.0);
        t.pos_e3 += units(s.pos, 1_000.0);
        t.bytes += repeats * text.len() as i64;
    }
    t
}

async fn totals(ctx: &SessionContext) -> Result<Totals> {
    let batch = query(ctx, TOTALS_SQL).await?;
    assert_eq!(batch.num_rows(), 1);
    let get = |i: usize| batch.column(i).as_primitive::<Int64Type>().value(0);
    Ok(Totals {
        rows: get(0),
        scored: get(1),
        compound_e4: get(2),
        neg_e3: get(3),
        neu_e3: get(4),
        pos_e3: get(5),
        bytes: get(6),
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
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    register(&ctx);
    for data_type in [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View] {
        // Warm up (threads, lexicons, the plan's first allocations) on two batches.
        let (batches, cycles) = register_generated(&ctx, &data_type, 2 * BATCH_BYTES)?;
        assert_eq!(totals(&ctx).await?, expected_totals((batches * cycles) as i64));

        let (batches, cycles) = register_generated(&ctx, &data_type, column_bytes())?;
        // Resets VmHWM to the current RSS (Linux ≥ 4.0); where refused, VmHWM keeps the earlier peaks,
        // which only makes the measured growth larger.
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = proc_status_bytes("VmRSS");
        let started = Instant::now();
        let got = totals(&ctx).await?;
        let elapsed = started.elapsed();
        let peak = proc_status_bytes("VmHWM");

        assert_eq!(got, expected_totals((batches * cycles) as i64), "{data_type}");
        assert!(
            got.bytes as usize >= column_bytes(),
            "{} bytes streamed",
            got.bytes
        );
        eprintln!(
            "edge_cases stream: {data_type}: {} MiB of text in {batches} batches of {} KiB in {elapsed:.1?}; \
             peak RSS growth {} KiB (VmRSS before {} MiB, VmHWM after {} MiB, VmHWM reset: {reset})",
            got.bytes >> 20,
            (got.bytes as usize / batches) >> 10,
            peak.saturating_sub(before) >> 10,
            before >> 20,
            peak >> 20,
        );
    }
    Ok(())
}
