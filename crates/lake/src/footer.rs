//! Parquet footers: a file's schema and row count, read and validated without its data pages.

use std::panic::AssertUnwindSafe;

use datafusion::arrow::datatypes::Schema;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaDataReader;

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

/// A file's full name for messages: `/abs/path` for local files, `s3://bucket/key` otherwise.
pub(crate) fn display_location(store_url: &ObjectStoreUrl, path: &object_store::path::Path) -> String {
    match store_url.as_str() {
        "file:///" | "file://" => format!("/{path}"),
        base => format!("{}/{path}", base.trim_end_matches('/')),
    }
}

/// Reads and validates a Parquet footer.
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
    Ok(FileFooter {
        location,
        size,
        rows,
        schema,
    })
}
