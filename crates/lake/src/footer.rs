//! Parquet footers: a file's schema and row count, read and validated without its data pages.

use std::panic::AssertUnwindSafe;

use datafusion::arrow::datatypes::Schema;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::DecodeResult;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataPushDecoder, ParquetMetaDataReader};

use crate::error::LakeError;

/// What the footer of one Parquet file says, read without touching its data pages.
#[derive(Debug, Clone)]
pub struct FileFooter {
    /// The file's location in its store.
    pub location: String,
    /// The file size in bytes.
    pub size: u64,
    /// Rows in the file.
    pub rows: u64,
    /// The file's Arrow schema.
    pub schema: Schema,
}

const MAGIC: &[u8; 4] = b"PAR1";

/// Page indexes larger than this are left for DataFusion to read when a query needs them.
const MAX_CHECKED_PAGE_INDEX: u64 = 64 << 20;

/// A file's full name for messages: `/abs/path` for local files, `s3://bucket/key` otherwise.
pub(crate) fn display_location(store_url: &ObjectStoreUrl, path: &object_store::path::Path) -> String {
    match store_url.as_str() {
        "file:///" | "file://" => format!("/{path}"),
        base => format!("{}/{path}", base.trim_end_matches('/')),
    }
}

/// Reads and validates a Parquet footer and the page indexes it points to.
///
/// parquet 59 trusts the metadata length written in the footer and can panic on a footer that claims
/// more bytes than the file holds, so the length is checked here against the real file size before
/// anything is decoded, and decoding itself runs under `catch_unwind` as a last line of defence.
///
/// `store_url` (`file://`, `s3://bucket/`) only serves to name the file in full in messages.
pub async fn read_footer(
    store: &dyn ObjectStore,
    store_url: &ObjectStoreUrl,
    meta: &ObjectMeta,
) -> Result<FileFooter, LakeError> {
    let location = display_location(store_url, &meta.location);
    let bad = |reason: String| LakeError::BadFile {
        path: location.clone(),
        reason,
    };
    let size = meta.size;
    if size == 0 {
        return Err(bad("the file is empty (zero bytes)".into()));
    }
    if size < 12 {
        return Err(bad(format!(
            "the file is truncated ({size} bytes, a parquet file has at least 12)"
        )));
    }
    let tail = store
        .get_range(&meta.location, size - 8..size)
        .await
        .map_err(|e| bad(format!("could not read the footer: {e}")))?;
    if &tail[4..8] != MAGIC {
        return Err(bad(
            "the file does not end with the parquet magic bytes 'PAR1' (truncated or not parquet)".into(),
        ));
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if metadata_len + 12 > size {
        return Err(bad(format!(
            "the footer claims {metadata_len} bytes of metadata but the file holds only {size} bytes"
        )));
    }
    let head = store
        .get_range(&meta.location, 0..4)
        .await
        .map_err(|e| bad(format!("could not read the header: {e}")))?;
    if head.as_ref() != MAGIC {
        return Err(bad(
            "the file does not start with the parquet magic bytes 'PAR1'".into()
        ));
    }
    let start = size - 8 - metadata_len;
    let buf = store
        .get_range(&meta.location, start..size - 8)
        .await
        .map_err(|e| bad(format!("could not read the metadata: {e}")))?;
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| ParquetMetaDataReader::decode_metadata(&buf)))
        .map_err(|_| bad("the footer metadata is corrupt (the decoder gave up)".into()))?
        .map_err(|e| bad(format!("the footer metadata is corrupt: {e}")))?;
    let file_meta = decoded.file_metadata();
    let rows = u64::try_from(file_meta.num_rows()).map_err(|_| {
        bad(format!(
            "the footer claims a negative row count {}",
            file_meta.num_rows()
        ))
    })?;
    let schema = std::panic::catch_unwind(AssertUnwindSafe(|| {
        parquet_to_arrow_schema(file_meta.schema_descr(), file_meta.key_value_metadata())
    }))
    .map_err(|_| bad("the schema in the footer is corrupt".into()))?
    .map_err(|e| bad(format!("the schema in the footer cannot be read: {e}")))?;
    let claimed: u64 = decoded
        .row_groups()
        .iter()
        .map(|rg| u64::try_from(rg.compressed_size()).unwrap_or(u64::MAX))
        .fold(0u64, u64::saturating_add);
    if claimed > size {
        return Err(bad(format!(
            "the row groups claim {claimed} bytes but the file holds only {size} bytes (truncated)"
        )));
    }
    check_ranges(&decoded, start).map_err(&bad)?;
    if let Some(indexed) = read_page_index(store, meta, start, decoded, &bad).await? {
        check_ranges(&indexed, start).map_err(&bad)?;
    }
    Ok(FileFooter {
        location,
        size,
        rows,
        schema,
    })
}

/// Decodes the page indexes (column and offset indexes) of a file whose metadata `decoded` starts at
/// byte `metadata_start`: the metadata with its page indexes, or `None` when they are too large to
/// check here. DataFusion decodes them when it plans a scan, for statistics and pruning, and a
/// corrupt one would fail every query of the table without naming the file.
async fn read_page_index(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    metadata_start: u64,
    decoded: ParquetMetaData,
    bad: &impl Fn(String) -> LakeError,
) -> Result<Option<ParquetMetaData>, LakeError> {
    let mut decoder = ParquetMetaDataPushDecoder::try_new_with_metadata(meta.size, decoded)
        .map_err(|e| bad(format!("the page index cannot be read: {e}")))?;
    // The decoder asks for the index ranges once; a few rounds are plenty.
    for _ in 0..4 {
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| decoder.try_decode()))
            .map_err(|_| bad("the page index is corrupt (the decoder gave up)".into()))?
            .map_err(|e| bad(format!("the page index is corrupt: {e}")))?;
        let ranges = match step {
            DecodeResult::NeedsData(ranges) => ranges,
            DecodeResult::Data(indexed) => return Ok(Some(indexed)),
            DecodeResult::Finished => return Ok(None),
        };
        if let Some(r) = ranges
            .iter()
            .find(|r| r.start < 4 || r.start > r.end || r.end > metadata_start)
        {
            return Err(bad(format!(
                "the page index claims bytes {}..{} but the data ends at byte {metadata_start}",
                r.start, r.end
            )));
        }
        let wanted = ranges
            .iter()
            .map(|r| r.end.saturating_sub(r.start))
            .fold(0u64, u64::saturating_add);
        if wanted > MAX_CHECKED_PAGE_INDEX {
            return Ok(None);
        }
        let buffers = store
            .get_ranges(&meta.location, &ranges)
            .await
            .map_err(|e| bad(format!("could not read the page index: {e}")))?;
        decoder
            .push_ranges(ranges, buffers)
            .map_err(|e| bad(format!("the page index cannot be read: {e}")))?;
    }
    Ok(None)
}

/// The column chunks of every row group, and the pages the offset index places in each, must lie
/// inside the file's data (before byte `data_end`), in order, with first rows from 0 that never decrease. The
/// Parquet reader trusts these numbers to slice, subtract and allocate: a corrupt one is a panic, or
/// a read of more bytes than the file holds.
fn check_ranges(metadata: &ParquetMetaData, data_end: u64) -> Result<(), String> {
    for (i, rg) in metadata.row_groups().iter().enumerate() {
        for (j, c) in rg.columns().iter().enumerate() {
            let at = format!("row group {i}, column {j}");
            let first = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let (Ok(start), Ok(len)) = (u64::try_from(first), u64::try_from(c.compressed_size())) else {
                return Err(format!("the footer gives {at} a negative offset or size"));
            };
            let end = start.saturating_add(len);
            if len > 0 && (start < 4 || end > data_end) {
                return Err(format!(
                    "the footer places {at} at bytes {start}..{end}, outside the data (4..{data_end})"
                ));
            }
            let Some(pages) = metadata.offset_index().and_then(|o| o.get(i)?.get(j)) else {
                continue;
            };
            let (mut next, mut row) = (start, -1i64);
            for p in pages.page_locations() {
                let (Ok(offset), Ok(size)) = (u64::try_from(p.offset), u64::try_from(p.compressed_page_size))
                else {
                    return Err(format!(
                        "the offset index of {at} gives a page a negative offset or size"
                    ));
                };
                let page_end = offset.saturating_add(size);
                if offset < start || page_end > end {
                    return Err(format!(
                        "the offset index of {at} places a page at bytes {offset}..{page_end}, \
                         outside its column chunk ({start}..{end})"
                    ));
                }
                if offset < next {
                    return Err(format!(
                        "the offset index of {at} places a page at bytes {offset}..{page_end}, \
                         over the page before it (which ends at byte {next})"
                    ));
                }
                let lowest = if row < 0 { 0 } else { row };
                if p.first_row_index < lowest
                    || p.first_row_index >= rg.num_rows().max(1)
                    || (row < 0 && p.first_row_index != 0)
                {
                    return Err(format!(
                        "the offset index of {at} starts a page at row {} of {}",
                        p.first_row_index,
                        rg.num_rows()
                    ));
                }
                (next, row) = (offset + size, p.first_row_index);
            }
        }
    }
    Ok(())
}
