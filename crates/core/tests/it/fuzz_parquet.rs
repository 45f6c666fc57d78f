//! Mutated Parquet files in a lake table: bytes flipped or overwritten in the footer, in page headers,
//! in data pages and in the page indexes and bloom filters, files truncated, spans deleted or
//! duplicated. Queries over the table through a [`Session`] never panic, and every error names the
//! mutated file.
//!
//! `PROPTEST_CASES=2000 cargo test -p nightshift-core --test it fuzz_parquet` is the long run.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use datafusion::parquet::schema::types::ColumnPath;
use futures::StreamExt;
use nightshift_core::{Params, Session, Settings};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::runtime;

/// The file every case mutates; a valid file of the same schema sits beside it in the table.
const MUTATED: &str = "mutated.parquet";

/// The statements run over the table: a count (footers only), a full scan, filters that prune by
/// statistics, page index and bloom filter, and an aggregate over every column.
const QUERIES: [&str; 5] = [
    "SELECT count(*) FROM t",
    "SELECT * FROM t",
    "SELECT id, note FROM t WHERE name = 'name_3' AND score > 10",
    "SELECT count(*), min(note) FROM t WHERE id BETWEEN 120 AND 140",
    "SELECT name, count(note), sum(score), max(id) FROM t GROUP BY name ORDER BY name",
];

/// A valid file and the byte ranges of its parts.
struct Layout {
    bytes: Vec<u8>,
    /// The thrift metadata, its length and the closing magic.
    footer: Range<usize>,
    /// One per page (dictionary and data pages), from the column chunks of every row group.
    headers: Vec<Range<usize>>,
    /// The (compressed) page bodies after each header.
    pages: Vec<Range<usize>>,
    /// Column indexes, offset indexes and bloom filters.
    indexes: Vec<Range<usize>>,
}

/// A Parquet file of 300 rows in 3 row groups of several pages: a delta-encoded id, a dictionary
/// encoded string with a bloom filter (zstd), a nullable plain string and a nullable double
/// (uncompressed, so that mutations reach the decoders), with page-level statistics and page indexes.
fn write_valid(version: WriterVersion) -> Vec<u8> {
    let rows = 300i64;
    let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
    let name: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("name_{}", i % 10)),
    ));
    let note: ArrayRef =
        Arc::new(StringArray::from_iter((0..rows).map(|i| {
            (i % 3 != 0).then(|| format!("note {i} {}", "x".repeat((i % 7) as usize)))
        })));
    let score: ArrayRef = Arc::new(Float64Array::from_iter(
        (0..rows).map(|i| (i % 5 != 0).then_some(i as f64 * 0.5)),
    ));
    let batch = RecordBatch::try_from_iter([("id", id), ("name", name), ("note", note), ("score", score)])
        .expect("batch");
    let col = |c: &str| ColumnPath::from(c);
    let props = WriterProperties::builder()
        .set_writer_version(version)
        .set_max_row_group_row_count(Some(100))
        .set_write_batch_size(20)
        .set_data_page_row_count_limit(20)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_compression(Compression::UNCOMPRESSED)
        .set_column_dictionary_enabled(col("id"), false)
        .set_column_encoding(col("id"), Encoding::DELTA_BINARY_PACKED)
        .set_column_compression(col("name"), Compression::ZSTD(ZstdLevel::default()))
        .set_column_bloom_filter_enabled(col("name"), true)
        .set_column_dictionary_enabled(col("note"), false)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    out
}

/// Finds the parts of a valid file: pages are walked from the start of each column chunk by their
/// headers, which must cover the chunk exactly.
fn layout(bytes: Vec<u8>) -> Layout {
    let n = bytes.len();
    let meta_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().expect("4 bytes")) as usize;
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
        .expect("valid file");
    let (mut headers, mut pages, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset()) as usize;
            let end = start + c.compressed_size() as usize;
            let mut at = start;
            while at < end {
                let (header_len, body) = page_header(&bytes[at..]).expect("a page header");
                headers.push(at..at + header_len);
                pages.push(at + header_len..at + header_len + body);
                at += header_len + body;
            }
            assert_eq!(at, end, "pages cover the column chunk");
            let spans = [
                (c.column_index_offset(), c.column_index_length()),
                (c.offset_index_offset(), c.offset_index_length()),
                (c.bloom_filter_offset(), c.bloom_filter_length()),
            ];
            for (offset, len) in spans {
                if let (Some(o), Some(l)) = (offset, len) {
                    indexes.push(o as usize..o as usize + l as usize);
                }
            }
        }
    }
    assert!(headers.len() > 20 && !indexes.is_empty(), "a file of many pages");
    Layout {
        footer: n - 8 - meta_len..n,
        bytes,
        headers,
        pages,
        indexes,
    }
}

/// The length of the thrift-compact `PageHeader` at the start of `b` and its `compressed_page_size`
/// (field 3), which is the length of the page body that follows.
fn page_header(b: &[u8]) -> Option<(usize, usize)> {
    let mut r = Compact { b, at: 0 };
    let mut body = None;
    r.fields(|id, ty, r| {
        if id == 3 && ty == 5 {
            body = usize::try_from(r.zigzag()?).ok();
            Some(())
        } else {
            r.skip(ty)
        }
    })?;
    Some((r.at, body?))
}

/// Just enough of thrift's compact protocol to walk a page header.
struct Compact<'a> {
    b: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// Reads a struct's fields up to its stop byte, handing each one's id and type to `field`.
    fn fields(&mut self, mut field: impl FnMut(i16, u8, &mut Self) -> Option<()>) -> Option<()> {
        let mut last = 0i16;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Some(());
            }
            let id = match h >> 4 {
                0 => i16::try_from(self.zigzag()?).ok()?,
                delta => last + i16::from(delta),
            };
            last = id;
            field(id, h & 0x0f, self)?;
        }
    }

    fn skip(&mut self, ty: u8) -> Option<()> {
        match ty {
            1 | 2 => {}
            3 => {
                self.byte()?;
            }
            4..=6 => {
                self.varint()?;
            }
            7 => self.at += 8,
            8 => self.at += usize::try_from(self.varint()?).ok()?,
            9 | 10 => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => usize::try_from(self.varint()?).ok()?,
                    n => usize::from(n),
                };
                for _ in 0..n {
                    match h & 0x0f {
                        1 | 2 => self.at += 1,
                        elem => self.skip(elem)?,
                    }
                }
            }
            12 => self.fields(|_, ty, r| r.skip(ty))?,
            _ => return None,
        }
        (self.at <= self.b.len()).then_some(())
    }
}

/// The two valid files, with data pages v1 and v2.
fn valid_files() -> &'static [Layout; 2] {
    static FILES: OnceLock<[Layout; 2]> = OnceLock::new();
    FILES.get_or_init(|| {
        [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0].map(|v| layout(write_valid(v)))
    })
}

/// Where a mutation lands.
#[derive(Debug, Clone, Copy)]
enum Target {
    Footer,
    PageHeader,
    PageBody,
    Index,
    Anywhere,
}

/// What it does there.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    /// XOR `count` bytes from the position on with `mask` (never 0).
    Flip { count: usize, mask: u8 },
    /// Overwrite `len` bytes from the position on with `byte`.
    Fill { len: usize, byte: u8 },
    /// Cut the file at the position.
    Truncate,
    /// Remove `len` bytes from the position on.
    Delete { len: usize },
    /// Insert a copy of the `len` bytes from the position on right there.
    Duplicate { len: usize },
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        2 => Just(Target::Footer),
        3 => Just(Target::PageHeader),
        3 => Just(Target::PageBody),
        1 => Just(Target::Index),
        1 => Just(Target::Anywhere),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fill = prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()];
    prop_oneof![
        4 => (1usize..4, 1u8..=255).prop_map(|(count, mask)| Mutation::Flip { count, mask }),
        2 => (1usize..16, fill).prop_map(|(len, byte)| Mutation::Fill { len, byte }),
        1 => Just(Mutation::Truncate),
        1 => (1usize..64).prop_map(|len| Mutation::Delete { len }),
        1 => (1usize..64).prop_map(|len| Mutation::Duplicate { len }),
    ]
}

/// The valid file's bytes with `mutation` applied at `at` inside a region of `target`.
fn mutate(file: &Layout, target: Target, region: Index, at: Index, mutation: Mutation) -> Vec<u8> {
    let whole = 0..file.bytes.len();
    let regions: &[Range<usize>] = match target {
        Target::Footer => std::slice::from_ref(&file.footer),
        Target::PageHeader => &file.headers,
        Target::PageBody => &file.pages,
        Target::Index => &file.indexes,
        Target::Anywhere => std::slice::from_ref(&whole),
    };
    let r = regions[region.index(regions.len())].clone();
    let pos = r.start + at.index(r.len().max(1));
    let mut b = file.bytes.clone();
    let end = |len: usize| (pos + len).min(b.len());
    match mutation {
        Mutation::Flip { count, mask } => {
            let stop = end(count);
            b[pos..stop].iter_mut().for_each(|x| *x ^= mask);
        }
        Mutation::Fill { len, byte } => {
            let stop = end(len);
            b[pos..stop].fill(byte);
        }
        Mutation::Truncate => b.truncate(pos),
        Mutation::Delete { len } => {
            let stop = end(len);
            b.drain(pos..stop);
        }
        Mutation::Duplicate { len } => {
            let span = b[pos..end(len)].to_vec();
            b.splice(pos..pos, span);
        }
    }
    b
}

/// Runs `sql` to the end; the error's text if it fails.
async fn run(session: &Session, sql: &str) -> Result<usize, String> {
    let df = session
        .sql(sql, &Params::new())
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = session.execute_stream(df).await.map_err(|e| e.to_string())?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.map_err(|e| e.to_string())?.num_rows();
    }
    Ok(rows)
}

/// Loads a session over `lake` and runs every query of [`QUERIES`], then a count straight from the
/// file's URL: each statement with its rows or its error's text.
async fn query_lake(lake: &Path, pushdown: bool) -> Vec<(String, Result<usize, String>)> {
    let mut settings = Settings::default();
    settings.lake.root = lake.display().to_string();
    settings.engine.target_partitions = Some(2);
    if pushdown {
        settings.engine.datafusion.push((
            "datafusion.execution.parquet.pushdown_filters".into(),
            "true".into(),
        ));
    }
    let session = match Session::new(settings).await {
        Ok(s) => s,
        Err(e) => return vec![("(loading the lake)".into(), Err(e.to_string()))],
    };
    let direct = format!("SELECT * FROM '{}'", lake.join("t").join(MUTATED).display());
    let mut results = Vec::new();
    for sql in QUERIES.iter().copied().chain([direct.as_str()]) {
        results.push((sql.to_string(), run(&session, sql).await));
    }
    results
}

/// Table `t` of a fresh lake: a valid file and `bytes` as [`MUTATED`].
fn lake_with(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = dir.path().join("lake/t");
    std::fs::create_dir_all(&table).expect("mkdir");
    std::fs::write(table.join("good.parquet"), &valid_files()[0].bytes).expect("write");
    std::fs::write(table.join(MUTATED), bytes).expect("write");
    dir
}

/// A case: the mutated file beside a valid one in table `t`. No panic (caught here or surfacing as an
/// error that says "panicked"), and every error names the mutated file.
fn check_mutated(bytes: &[u8], pushdown: bool) -> Result<(), TestCaseError> {
    let dir = lake_with(bytes);
    let lake = dir.path().join("lake");
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime().block_on(query_lake(&lake, pushdown))
    }));
    let results = match outcome {
        Ok(results) => results,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(TestCaseError::fail(format!("panicked: {what}")));
        }
    };
    for (sql, e) in results.into_iter().filter_map(|(sql, r)| Some((sql, r.err()?))) {
        prop_assert!(!e.contains("panicked"), "{sql}: a panic became this error: {e}");
        prop_assert!(
            e.contains(MUTATED),
            "{sql}: the error does not name the file: {e}"
        );
    }
    Ok(())
}

/// The unmutated files read whole, so that the fuzzed queries start from files that work.
#[test]
fn valid_files_read_whole() {
    for file in valid_files() {
        let dir = lake_with(&file.bytes);
        let results = runtime().block_on(query_lake(&dir.path().join("lake"), true));
        let rows: Vec<_> = results
            .into_iter()
            .map(|(_, r)| r.expect("a valid file reads"))
            .collect();
        assert_eq!(rows, [1, 600, 56, 1, 10, 300]);
    }
}

/// One known corruption of each part: every statement fails, each naming the file, whether the
/// catalog finds it (footer, page index) or the scan does (page headers, data pages, bloom filters).
#[test]
fn corrupt_parts_are_named() {
    let file = &valid_files()[0];
    let first = |regions: &[Range<usize>]| regions[0].clone();
    let cases = [
        (
            "footer",
            file.footer.start..file.footer.start + 16,
            "bad parquet file",
        ),
        ("page header", first(&file.headers), "failed to read parquet file"),
        (
            "data page",
            file.pages[file.pages.len() / 2].clone(),
            "failed to read parquet file",
        ),
        ("page index", file.indexes[0].clone(), "the page index is corrupt"),
    ];
    for (part, span, why) in cases {
        let mut bytes = file.bytes.clone();
        bytes[span].fill(0xff);
        let dir = lake_with(&bytes);
        let results = runtime().block_on(query_lake(&dir.path().join("lake"), false));
        let failed: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
        assert!(!failed.is_empty(), "{part}: every statement succeeded");
        for e in &failed {
            assert!(e.contains(MUTATED), "{part}: {e}");
        }
        assert!(
            failed.iter().any(|e| e.contains(why)),
            "{part}: no {why:?} in {failed:?}"
        );
    }
}

proptest! {
    #![proptest_config(crate::fuzz_config())]

    #[test]
    fn mutated_parquet_files_fail_naming_the_file(
        v2 in any::<bool>(),
        target in target(),
        region in any::<Index>(),
        at in any::<Index>(),
        mutation in mutation(),
        pushdown in any::<bool>(),
    ) {
        let file = &valid_files()[usize::from(v2)];
        let bytes = mutate(file, target, region, at, mutation);
        check_mutated(&bytes, pushdown)?;
    }
}
