//! Staged, atomic output: a table is written into a hidden staging folder next to its final place
//! and swapped in only when every partition is complete; each file is written under a temporary
//! name and renamed, so no reader ever sees a half-written file.

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::DatasetError;

/// Rows per Parquet row group: a day of the default lake is one row group, big days are split.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Parquet settings: ZSTD; dictionaries only for the low-cardinality columns; delta encoding for the
/// sorted integer columns (ids, times), which shrinks them to almost nothing before ZSTD sees them.
pub(crate) fn properties(dictionary_columns: &[&str], delta_columns: &[&str]) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_dictionary_enabled(false);
    for column in dictionary_columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    for column in delta_columns {
        builder = builder.set_column_encoding(ColumnPath::from(*column), Encoding::DELTA_BINARY_PACKED);
    }
    builder.build()
}

/// A table folder being (re)built.
pub(crate) struct StagedTable {
    target: PathBuf,
    staging: PathBuf,
}

impl StagedTable {
    /// Creates `out/.<name>.staging`, clearing what an interrupted run may have left there.
    pub(crate) fn create(out: &Path, name: &str) -> Result<Self, DatasetError> {
        fs::create_dir_all(out).map_err(DatasetError::io("create directory", out))?;
        let staging = out.join(format!(".{name}.staging"));
        remove_path(&staging)?;
        fs::create_dir(&staging).map_err(DatasetError::io("create directory", &staging))?;
        Ok(Self {
            target: out.join(name),
            staging,
        })
    }

    /// Writes `batch` as `<partition>/part-0.parquet` and returns the file's size in bytes.
    pub(crate) fn write_partition(
        &self,
        partition: &str,
        batch: &RecordBatch,
        props: WriterProperties,
    ) -> Result<u64, DatasetError> {
        let dir = self.staging.join(partition);
        fs::create_dir(&dir).map_err(DatasetError::io("create directory", &dir))?;
        let path = dir.join("part-0.parquet");
        let temp = dir.join(".part-0.parquet.tmp");
        let bytes = write_parquet(&temp, batch, props)?;
        fs::rename(&temp, &path).map_err(DatasetError::io("rename into", &path))?;
        Ok(bytes)
    }

    /// Writes `batches` as the file `name` of the table (no partition folder); returns its bytes
    /// and rows.
    pub(crate) fn write_file(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: impl Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
        props: WriterProperties,
        table: &'static str,
    ) -> Result<(u64, u64), DatasetError> {
        let path = self.staging.join(name);
        let temp = self.staging.join(format!(".{name}.tmp"));
        let written = write_parquet_batches(&temp, schema, batches, props, table)?;
        fs::rename(&temp, &path).map_err(DatasetError::io("rename into", &path))?;
        Ok(written)
    }

    /// Replaces the table folder with the staged one.
    pub(crate) fn commit(self) -> Result<(), DatasetError> {
        remove_path(&self.target)?;
        fs::rename(&self.staging, &self.target).map_err(DatasetError::io("rename into", &self.target))
    }

    /// Drops the staged folder after a failure; the previous table stays as it was.
    pub(crate) fn abandon(self) {
        // Best effort: the error that caused the abandon is the one worth reporting.
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// Removes a file, a symlink or a whole folder; a missing path is fine.
fn remove_path(path: &Path) -> Result<(), DatasetError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(DatasetError::io("remove", path))
}

fn write_parquet(path: &Path, batch: &RecordBatch, props: WriterProperties) -> Result<u64, DatasetError> {
    write_parquet_batches(
        path,
        batch.schema(),
        std::iter::once(Ok(batch.clone())),
        props,
        "",
    )
    .map(|(bytes, _)| bytes)
}

/// Writes `batches` (of `schema`, for the table `table`) as one Parquet file at `path`; returns its
/// bytes and rows.
pub(crate) fn write_parquet_batches(
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
    props: WriterProperties,
    table: &'static str,
) -> Result<(u64, u64), DatasetError> {
    let parquet_error = |source| DatasetError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(DatasetError::io("create", path))?;
    let mut writer = ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema, Some(props))
        .map_err(parquet_error)?;
    let mut rows = 0u64;
    for batch in batches {
        let batch = batch.map_err(|source| DatasetError::Arrow { table, source })?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(parquet_error)?;
    }
    let mut out = writer.into_inner().map_err(parquet_error)?;
    out.flush().map_err(DatasetError::io("write", path))?;
    let file = out.into_inner().map_err(|e| DatasetError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    let bytes = file
        .metadata()
        .map_err(DatasetError::io("read metadata of", path))?
        .len();
    Ok((bytes, rows))
}
