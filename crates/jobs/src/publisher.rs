//! Job outputs as Delta Lake tables, written and committed through delta-rs.
//!
//! A run's result streams into delta-rs's writer (Delta's partition folders, per-file statistics
//! in each add action). No version references the files yet, so no reader sees them. They are
//! validated (footers read back, row counts checked) and, on a local disk, fsynced with their
//! folders. Then one Delta commit publishes them: it adds the new files, tagged with the run's
//! interval and run id, and removes the files they replace (`overwrite_interval`: the files tagged
//! with the run's interval; `replace`: every file; `append`: none). The commit info carries the run
//! ([`RunInfo`]: job, run id, interval, SQL hash, input tables, model versions), so any Delta
//! reader's history shows it and model pinning reads it back.
//!
//! Delta's commit protocol (a create-only put of `_delta_log/<version>.json`) lets exactly one
//! writer win each version; a writer that loses recomputes its removes on the newer version and
//! commits again. Files that no retained version references (replaced files, files of killed
//! runs) are removed by Delta's vacuum ([`Output::vacuum`]), never by listing and guessing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::SendableRecordBatchStream;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, StructType};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use futures::StreamExt;
use nightshift_core::RecordError;
use nightshift_lake::{DELTA_LOG, DeltaLocation};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::legacy;
use crate::schedule::Interval;
use crate::spec::WriteMode;

/// Rows per row group of report files.
const ROW_GROUP_ROWS: usize = 512 * 1024;
/// The writer's buffered Parquet is flushed to files beyond this many bytes.
const FLUSH_BYTES: usize = 128 * 1024 * 1024;
/// The add-action tag holding the interval a file belongs to (its start, RFC 3339).
pub const TAG_INTERVAL: &str = "nightshift.interval_start";
/// The add-action tag holding the run that wrote a file.
pub const TAG_RUN: &str = "nightshift.run_id";
/// The commit-info key holding the [`RunInfo`] of the run that committed.
pub const COMMIT_INFO_KEY: &str = "nightshift";
/// A checkpoint every this many commits keeps a daily job's log fast to read after years.
const CHECKPOINT_INTERVAL: &str = "10";
/// Commits lost to other writers before a run gives up.
const COMMIT_ATTEMPTS: usize = 8;

/// Which run commits, for which interval, in which write mode.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The job.
    pub job: &'a str,
    /// The committing run.
    pub run_id: &'a str,
    /// The run's interval.
    pub interval: &'a Interval,
    /// How the run's files join the previous version's.
    pub mode: WriteMode,
}

/// What a run wrote, before it is published.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The written files, as the add actions that will publish them.
    pub adds: Vec<Add>,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The result's schema, as the table stores it.
    pub schema: SchemaRef,
}

/// Facts about the run recorded in its commit.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// SHA-256 of the SQL.
    pub sql_hash: String,
    /// Models used (`name@vN`).
    pub model_versions: Vec<String>,
    /// Input tables read (their locations).
    pub input_files: Vec<String>,
    /// The files the run's result was read from, each with its size and version.
    pub inputs: Vec<InputFile>,
}

/// One file a run read: where, how big, and which version of it (its ETag, else its modification
/// time), so that a later look can tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InputFile {
    /// The file's full location (`file:///…`, `s3://bucket/…`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag or modification time, where the store gives one.
    #[serde(default)]
    pub version: Option<String>,
}

/// What a commit of nightshift records about its run, under [`COMMIT_INFO_KEY`] in the commit info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The job.
    pub job: String,
    /// The run.
    pub run_id: String,
    /// The run date.
    pub run_date: String,
    /// Start of the interval (RFC 3339).
    pub interval_start: String,
    /// End of the interval (RFC 3339).
    pub interval_end: String,
    /// `overwrite_interval`, `append` or `replace`.
    pub mode: String,
    /// `sha256:<hex>` of the job's SQL.
    pub sql_hash: String,
    /// Models the run scored with (`name@vN`).
    #[serde(default)]
    pub model_versions: Vec<String>,
    /// Input tables the run read.
    #[serde(default)]
    pub input_files: Vec<String>,
    /// The files the run's result was read from (runs of older versions did not record them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputFile>,
}

/// How many of the latest commits [`Output::find_run_commit`] looks through.
pub const RUN_COMMIT_LOOKBACK: u64 = 100;

/// One job's output: a Delta table in a store.
#[derive(Debug, Clone)]
pub struct Output {
    store: Arc<dyn ObjectStore>,
    store_url: ObjectStoreUrl,
    prefix: Path,
    /// The folder on local disk, when the store is local (for fsync).
    local: Option<PathBuf>,
    location: DeltaLocation,
    /// The lake root: the folders between it and the output must not be tables.
    lake_root: Option<Path>,
}

/// A file's path inside the table, from its add action. delta-rs hands the path over as the
/// object's name, whose folders already hold percent-encoded partition values (`k=50%25`): it is
/// parsed as it is, as delta-rs's own scans do, and never decoded again (a value such as `%2F`
/// would otherwise name another folder).
fn relative_path(add_path: &str) -> Result<Path, JobError> {
    Path::parse(add_path).map_err(|e| JobError::Output {
        message: format!("the Delta log names an invalid file path '{add_path}': {e}"),
    })
}

/// Refuses an empty text in a partition column: the Delta protocol defines an empty partition
/// value as NULL, so deltalake, Spark and Delta readers would read it back as NULL while the job
/// wrote `''`. Nothing is published; the message says how to map it in the SQL. `offset` is the
/// number of result rows before `batch`, so that the row number is the result's.
fn refuse_empty_partition_values(
    batch: &RecordBatch,
    partition_by: &[String],
    offset: u64,
) -> Result<(), JobError> {
    for name in partition_by {
        let Some(column) = batch.column_by_name(name) else {
            continue;
        };
        let empty = match column.data_type() {
            DataType::Utf8 => column.as_string::<i32>().iter().position(|v| v == Some("")),
            DataType::LargeUtf8 => column.as_string::<i64>().iter().position(|v| v == Some("")),
            DataType::Binary => column.as_binary::<i32>().iter().position(|v| v == Some(b"")),
            DataType::LargeBinary => column.as_binary::<i64>().iter().position(|v| v == Some(b"")),
            _ => None,
        };
        if let Some(row) = empty {
            return Err(JobError::Output {
                message: format!(
                    "partition column '{name}' holds an empty value (result row {}): Delta Lake stores an \
                     empty partition value as NULL, so other readers would not read back what the job \
                     wrote. Map it in the SQL (NULLIF({name}, '') to publish NULL, or a marker such as \
                     COALESCE(NULLIF({name}, ''), '(empty)')), or leave '{name}' out of partition_by",
                    offset + row as u64 + 1
                ),
            });
        }
    }
    Ok(())
}

fn store_err(path: &Path, source: object_store::Error) -> JobError {
    JobError::Store {
        path: path.to_string(),
        source,
    }
}

impl Output {
    /// The output at `prefix` in `store` (registered as `store_url`); `local` is the same folder on
    /// local disk, if it is local.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        store_url: ObjectStoreUrl,
        prefix: Path,
        local: Option<PathBuf>,
    ) -> Self {
        let base: &url::Url = store_url.as_ref();
        let mut url = base.clone();
        url.set_path(&format!("/{prefix}"));
        let location = DeltaLocation::from_url(Arc::clone(&store), url);
        Self {
            store,
            store_url,
            prefix,
            local,
            location,
            lake_root: None,
        }
    }

    /// The output inside the lake at `root`: its first run refuses a folder inside a table of the
    /// lake (a Delta table's folder, or a Parquet table's with files or `key=value` folders), whose
    /// readers would read the report as theirs and whose vacuum would delete it.
    pub fn within_lake(mut self, root: Path) -> Self {
        self.lake_root = Some(root);
        self
    }

    /// Refuses an output folder inside a table (see [`Output::within_lake`]).
    async fn refuse_inside_a_table(&self) -> Result<(), JobError> {
        let Some(root) = &self.lake_root else {
            return Ok(());
        };
        let Some(inner) = self.prefix.prefix_match(root) else {
            return Ok(());
        };
        let inner: Vec<_> = inner.collect();
        let mut folder = root.clone();
        for part in inner.iter().take(inner.len().saturating_sub(1)) {
            folder = folder.join(part.as_ref());
            let listing = self
                .store
                .list_with_delimiter(Some(&folder))
                .await
                .map_err(|e| store_err(&folder, e))?;
            let name = |p: &Path| p.filename().unwrap_or_default().to_string();
            let what = if listing.common_prefixes.iter().any(|p| name(p) == DELTA_LOG) {
                Some("a Delta table")
            } else if listing.objects.iter().any(|o| {
                let n = name(&o.location);
                !n.starts_with('_') && !n.starts_with('.')
            }) || listing.common_prefixes.iter().any(|p| name(p).contains('='))
            {
                Some("a table of Parquet files")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(JobError::Output {
                    message: format!(
                        "the output folder '{}' is inside '{folder}', which is {what}: its readers would \
                         read the report as part of it and its clean-up would delete the report's \
                         files; choose an output folder outside every table",
                        self.url()
                    ),
                });
            }
        }
        Ok(())
    }

    fn delta_err(&self, source: DeltaTableError) -> JobError {
        JobError::Delta {
            path: self.location.url().to_string(),
            source: Box::new(source),
        }
    }

    /// The object path of a file of the table, from its add action's path.
    fn file_path(&self, add_path: &str) -> Result<Path, JobError> {
        let rel = relative_path(add_path)?;
        Ok(Path::from_iter(self.prefix.parts().chain(rel.parts())))
    }

    fn child(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The table's folder URL.
    pub fn url(&self) -> &url::Url {
        self.location.url()
    }

    /// The table at its latest version; `None` before the first commit.
    pub async fn table(&self) -> Result<Option<DeltaTable>, JobError> {
        self.location.try_open().await.map_err(|e| self.delta_err(e))
    }

    /// The latest committed version, if any.
    pub async fn latest_version(&self) -> Result<Option<u64>, JobError> {
        Ok(self.table().await?.and_then(|t| t.version()))
    }

    /// What the commit of `version` records about its run: `None` when that commit was not made by
    /// a nightshift run or its log entry was cleaned up.
    pub async fn run_info(&self, version: u64) -> Result<Option<RunInfo>, JobError> {
        let path = self.child(&format!("{DELTA_LOG}/{version:020}.json"));
        let bytes = match self.store.get(&path).await {
            Ok(r) => r.bytes().await.map_err(|e| store_err(&path, e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_err(&path, e)),
        };
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value =
                serde_json::from_slice(line).map_err(|source| JobError::Corrupt {
                    path: path.to_string(),
                    what: "Delta commit",
                    source,
                })?;
            if let Some(info) = action.get("commitInfo").and_then(|c| c.get(COMMIT_INFO_KEY)) {
                let info = serde_json::from_value(info.clone()).map_err(|source| JobError::Corrupt {
                    path: path.to_string(),
                    what: "nightshift commit info",
                    source,
                })?;
                return Ok(Some(info));
            }
        }
        Ok(None)
    }

    /// The version that the run `run_id` committed, if it did, looking back over the latest
    /// [`RUN_COMMIT_LOOKBACK`] commits (a run whose process died is settled by the next run of its
    /// interval, a few commits later at most).
    pub async fn find_run_commit(&self, run_id: &str) -> Result<Option<u64>, JobError> {
        self.find_run_commit_within(run_id, RUN_COMMIT_LOOKBACK).await
    }

    /// [`Output::find_run_commit`] over the latest `lookback` commits.
    async fn find_run_commit_within(&self, run_id: &str, lookback: u64) -> Result<Option<u64>, JobError> {
        let Some(latest) = self.latest_version().await? else {
            return Ok(None);
        };
        for v in (latest.saturating_sub(lookback)..=latest).rev() {
            if self.run_info(v).await?.is_some_and(|i| i.run_id == run_id) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Deletes the files of `adds`, which no commit names (best effort: what is left, the vacuum
    /// deletes after `retain`).
    async fn discard(&self, adds: &[Add]) {
        for add in adds {
            if let Ok(path) = self.file_path(&add.path)
                && let Err(e) = self.store.delete(&path).await
            {
                tracing::warn!(file = %path, error = %e, "cannot delete a file of the failed run; the vacuum will");
            }
        }
    }

    /// Deletes the files of a run that will not be published (its validation failed). Never call it
    /// after a commit was tried: a commit whose reply was lost may have published them.
    pub async fn discard_staged(&self, staged: &Staged) {
        self.discard(&staged.adds).await;
    }

    /// The locations (`file:///…`, `s3://…`) of the files of the latest version.
    pub async fn published_files(&self) -> Result<Vec<String>, JobError> {
        let Some(table) = self.table().await? else {
            return Ok(Vec::new());
        };
        let uris = table.get_file_uris().map_err(|e| self.delta_err(e))?;
        Ok(uris.collect())
    }

    /// Creates the table for a first run: the result's columns, `partition_by` as its partition
    /// columns, a checkpoint every [`CHECKPOINT_INTERVAL`] commits. A table another writer created
    /// meanwhile is used as it is.
    async fn create(
        &self,
        schema: &Schema,
        partition_by: &[String],
        converting: bool,
    ) -> Result<DeltaTable, JobError> {
        self.refuse_inside_a_table().await?;
        // Never make a table of a folder that holds data: vacuum would later count those files as
        // the table's garbage (an input table's folder named as an output, say). A pre-Delta report
        // being converted holds its own files.
        let (mut data, mut has_log) = (None, false);
        let mut listing = self.store.list(Some(&self.prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| store_err(&self.prefix, e))?;
            let rel: Vec<_> = meta
                .location
                .prefix_match(&self.prefix)
                .into_iter()
                .flatten()
                .collect();
            has_log |= rel.first().is_some_and(|p| p.as_ref() == DELTA_LOG);
            if !converting && rel.first().is_some_and(|p| !p.as_ref().starts_with('_')) {
                data.get_or_insert(meta.location);
            }
        }
        // Another run of the job created the table since this one looked (it then holds the lease,
        // and this run's commit will find out): the table is used, its files are no foreign data.
        if has_log && let Some(table) = self.table().await? {
            return Ok(table);
        }
        if let Some(location) = data {
            return Err(JobError::Output {
                message: format!(
                    "the output folder '{}' already holds data that is not a Delta table ('{location}'): \
                     nightshift publishes only into an empty folder or its own table; choose \
                     another output",
                    self.url(),
                ),
            });
        }
        let columns: StructType = schema.try_into_kernel().map_err(|e| JobError::Output {
            message: format!("the result's columns cannot be stored in a Delta table: {e}"),
        })?;
        let table = self.location.unloaded().map_err(|e| self.delta_err(e))?;
        let created = table
            .create()
            .with_columns(columns.fields().cloned())
            .with_partition_columns(partition_by.to_vec())
            .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_INTERVAL))
            .with_save_mode(SaveMode::Ignore)
            // No retry on top of a version that exists: when the create put landed but its reply was
            // lost, a retry would commit a second creation (an empty version 1). The table found
            // below is then this very creation.
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await;
        match created {
            Ok(t) => Ok(t),
            Err(e) => match self.table().await? {
                // Another run created it first, or this one did and lost the reply.
                Some(t) => Ok(t),
                None => Err(self.delta_err(e)),
            },
        }
    }

    /// Writes a result stream as zstd Parquet files of the output table, in Delta partition folders
    /// by `partition_by` (those columns leave the files, as Delta stores them). Creates the table on
    /// the first run. Nothing is published.
    pub async fn write(
        &self,
        mut stream: SendableRecordBatchStream,
        partition_by: &[String],
        run_id: &str,
        interval: &Interval,
        mut on_rows: impl FnMut(u64),
    ) -> Result<Staged, JobError> {
        let schema = Arc::new(storable_schema(&stream.schema()));
        for p in partition_by {
            if schema.index_of(p).is_err() {
                return Err(JobError::Output {
                    message: format!(
                        "partition column '{p}' is not in the result; its columns are: {}",
                        column_list(&schema)
                    ),
                });
            }
        }
        let table = match self.table().await? {
            Some(t) => t,
            None if legacy::has_old_layout(self.store.as_ref(), &self.prefix).await? => {
                let (old_version, old_adds) = legacy::old_files(self.store.as_ref(), &self.prefix).await?;
                let created = self.create(&schema, partition_by, true).await?;
                legacy::convert(
                    &created,
                    self.store.as_ref(),
                    &self.prefix,
                    self.local.as_deref(),
                    old_version,
                    old_adds,
                )
                .await?;
                self.table().await?.ok_or_else(|| JobError::Output {
                    message: format!("the converted table '{}' cannot be read back", self.url()),
                })?
            }
            None => self.create(&schema, partition_by, false).await?,
        };
        self.check_layout(&table, &schema, partition_by)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let mut writer = RecordBatchWriter::for_table(&table)
            .map_err(|e| self.delta_err(e))?
            .with_writer_properties(props);
        let mut adds = Vec::new();
        let mut rows = 0u64;
        let written: Result<(), JobError> = async {
            while let Some(batch) = stream.next().await {
                let batch = conform(batch?, &schema)?;
                if batch.num_rows() == 0 {
                    continue;
                }
                refuse_empty_partition_values(&batch, partition_by, rows)?;
                rows += batch.num_rows() as u64;
                on_rows(batch.num_rows() as u64);
                writer.write(batch).await.map_err(|e| self.delta_err(e))?;
                if writer.buffer_len() >= FLUSH_BYTES {
                    adds.extend(writer.flush().await.map_err(|e| self.delta_err(e))?);
                }
            }
            adds.extend(writer.flush().await.map_err(|e| self.delta_err(e))?);
            Ok(())
        }
        .await;
        if let Err(e) = written {
            // The files flushed so far belong to no version: delete them now rather than leave
            // them to the vacuum (a full disk is the usual cause here).
            self.discard(&adds).await;
            return Err(e);
        }
        let istart = interval.start.to_rfc3339();
        for add in &mut adds {
            let mut tags = add.tags.take().unwrap_or_default();
            tags.insert(TAG_INTERVAL.to_string(), Some(istart.clone()));
            tags.insert(TAG_RUN.to_string(), Some(run_id.to_string()));
            add.tags = Some(tags);
        }
        adds.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Staged {
            rows,
            bytes: adds.iter().map(|a| u64::try_from(a.size).unwrap_or(0)).sum(),
            adds,
            schema,
        })
    }

    /// The result must have the table's columns and partitioning: Delta readers see one schema.
    fn check_layout(
        &self,
        table: &DeltaTable,
        schema: &Schema,
        partition_by: &[String],
    ) -> Result<(), JobError> {
        let snapshot = table.snapshot().map_err(|e| self.delta_err(e))?;
        let current = snapshot.snapshot().arrow_schema();
        let theirs: Vec<(&str, DataType)> = current
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), comparable_type(f.data_type())))
            .collect();
        let ours: Vec<(&str, DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), comparable_type(f.data_type())))
            .collect();
        let mut sorted_theirs = theirs.clone();
        let mut sorted_ours = ours.clone();
        sorted_theirs.sort_by(|a, b| a.0.cmp(b.0));
        sorted_ours.sort_by(|a, b| a.0.cmp(b.0));
        let partitions: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        if partitions != partition_by {
            return Err(JobError::Output {
                message: format!(
                    "the output table '{}' is partitioned by [{}] but the job partitions by [{}]: \
                     move the table aside (or delete it) to publish it with the new partitioning",
                    self.url(),
                    partitions.join(", "),
                    partition_by.join(", ")
                ),
            });
        }
        if sorted_theirs != sorted_ours {
            let show = |cols: &[(&str, DataType)]| {
                cols.iter()
                    .map(|(n, t)| format!("{n} {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(JobError::Output {
                message: format!(
                    "the job's result has the columns ({}) but the output table '{}' has ({}): \
                     move the table aside (or delete it) to publish the new columns",
                    show(&ours),
                    self.url(),
                    show(&theirs)
                ),
            });
        }
        Ok(())
    }

    /// Reads every staged file's footer back: it must be complete Parquet with the rows the writer
    /// counted. On local disk, fsyncs the files and their folders.
    pub async fn validate(&self, staged: &mut Staged) -> Result<(), JobError> {
        for add in &staged.adds {
            let path = self.file_path(&add.path)?;
            let meta = self.store.head(&path).await.map_err(|e| store_err(&path, e))?;
            let footer = nightshift_lake::read_footer(self.store.as_ref(), &self.store_url, &meta)
                .await
                .map_err(|source| JobError::Validation {
                    path: add.path.clone(),
                    source,
                })?;
            let counted = add.get_stats().ok().flatten().map(|s| s.num_records as u64);
            if counted.is_some_and(|n| n != footer.rows) {
                return Err(JobError::Output {
                    message: format!(
                        "'{}' holds {} rows, {} were written",
                        add.path,
                        footer.rows,
                        counted.unwrap_or_default()
                    ),
                });
            }
            if u64::try_from(add.size).ok() != Some(meta.size) {
                return Err(JobError::Output {
                    message: format!(
                        "'{}' has {} bytes, {} were written",
                        add.path, meta.size, add.size
                    ),
                });
            }
        }
        if let Some(dir) = &self.local {
            // object_store never fsyncs local files: a power cut after the commit could otherwise
            // publish files whose data never reached the disk.
            let mut dirs = BTreeSet::new();
            for add in &staged.adds {
                let p = dir.join(relative_path(&add.path)?.as_ref());
                sync_path(&p)?;
                let mut d = p.parent().map(std::path::Path::to_path_buf);
                while let Some(x) = d {
                    if !x.starts_with(dir) {
                        break;
                    }
                    dirs.insert(x.clone());
                    d = x.parent().map(std::path::Path::to_path_buf);
                }
            }
            for d in dirs.iter().rev() {
                sync_path(d)?;
            }
        }
        Ok(())
    }

    /// Commits the staged files as the next version: this interval's files replaced
    /// (`overwrite_interval`), the previous files kept (`append`) or all replaced (`replace`).
    /// `still_owner` is asked right before each commit attempt (a lease check): a writer that lost
    /// its lease must not publish. Returns the committed version.
    pub async fn publish(
        &self,
        commit: Commit<'_>,
        staged: &Staged,
        facts: &RunFacts,
        still_owner: &(dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync),
    ) -> Result<u64, JobError> {
        let Commit {
            job,
            run_id,
            interval,
            mode,
        } = commit;
        let istart = interval.start.to_rfc3339();
        let info = RunInfo {
            job: job.to_string(),
            run_id: run_id.to_string(),
            run_date: interval.run_date.to_string(),
            interval_start: istart.clone(),
            interval_end: interval.end.to_rfc3339(),
            mode: mode.to_string(),
            sql_hash: facts.sql_hash.clone(),
            model_versions: facts.model_versions.clone(),
            input_files: facts.input_files.clone(),
            inputs: facts.inputs.clone(),
        };
        let info = serde_json::to_value(&info).map_err(|source| JobError::Encode {
            what: "commit info",
            source,
        })?;
        for _ in 0..COMMIT_ATTEMPTS {
            let Some(table) = self.table().await? else {
                return Err(JobError::Output {
                    message: format!("the output table '{}' disappeared before the commit", self.url()),
                });
            };
            let snapshot = table.snapshot().map_err(|e| self.delta_err(e))?;
            let mut actions: Vec<Action> = Vec::new();
            if mode != WriteMode::Append {
                for file in snapshot.log_data().iter() {
                    // The add action is the only way to a file's tags in delta-rs 1.1.
                    #[allow(deprecated)]
                    let replaced = match mode {
                        WriteMode::Replace => true,
                        _ => file
                            .add_action()
                            .tags
                            .as_ref()
                            .and_then(|t| t.get(TAG_INTERVAL).cloned().flatten())
                            .is_some_and(|s| s == istart),
                    };
                    if replaced {
                        actions.push(Action::Remove(file.remove_action(true)));
                    }
                }
            }
            actions.extend(staged.adds.iter().cloned().map(Action::Add));
            if !still_owner().await {
                return Err(JobError::LeaseLost {
                    job: job.to_string(),
                    interval: interval.run_date.to_string(),
                });
            }
            let partition_by = snapshot.metadata().partition_columns().to_vec();
            let operation = DeltaOperation::Write {
                mode: if mode == WriteMode::Append {
                    SaveMode::Append
                } else {
                    SaveMode::Overwrite
                },
                partition_by: (!partition_by.is_empty()).then_some(partition_by),
                predicate: None,
            };
            // delta-rs's own retry would rebase a commit that lost to "another writer" onto the next
            // version, and that writer may be this very commit, whose put landed while its reply was
            // lost: retries happen here, after looking for this run's commit in the log.
            let properties = CommitProperties::default()
                .with_metadata([(COMMIT_INFO_KEY.to_string(), info.clone())])
                .with_max_retries(0);
            let result = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(snapshot), table.log_store(), operation)
                .await;
            let err = match result {
                Ok(done) => return Ok(done.version),
                Err(e) => e,
            };
            // A commit whose put landed but whose reply was lost (a timeout, a dropped connection)
            // fails, or looks like another writer's version: if the log holds this run's commit, it
            // is published, and committing again would publish it twice.
            if let Ok(Some(version)) = self.find_run_commit_within(run_id, COMMIT_ATTEMPTS as u64).await {
                tracing::warn!(job, version, error = %err, "the commit landed although its reply was lost");
                return Ok(version);
            }
            match err {
                DeltaTableError::Transaction {
                    source:
                        TransactionError::CommitConflict(_)
                        | TransactionError::VersionAlreadyExists(_)
                        | TransactionError::MaxCommitAttempts(_),
                } => {
                    // Another writer changed the table: recompute the removes on its version.
                    tracing::debug!(
                        job,
                        "commit lost to another writer, retrying on the newer version"
                    );
                }
                e => return Err(self.delta_err(e)),
            }
        }
        Err(JobError::Output {
            message: format!("could not commit output of job '{job}': too many concurrent commits"),
        })
    }

    /// Writes the records a run quarantined to `_errors/run_date=<D>/errors-<run id>.parquet` beside the
    /// table (Delta readers and vacuum skip folders starting with `_`), with one put (readers see the
    /// whole file or none), and returns its path. Columns: job, run_id, function, message, the value's
    /// bytes unchanged (`value`) and as lossy text (`value_text`); the run date is the hive folder.
    pub async fn write_errors(
        &self,
        job: &str,
        run_id: &str,
        interval: &Interval,
        records: &[RecordError],
    ) -> Result<Path, JobError> {
        let n = records.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![job; n])),
            Arc::new(StringArray::from(vec![run_id; n])),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.function.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.message.as_str()),
            )),
            Arc::new(BinaryArray::from_iter_values(
                records.iter().map(|r| r.value.as_slice()),
            )),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| String::from_utf8_lossy(&r.value)),
            )),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("job", DataType::Utf8, false),
            Field::new("run_id", DataType::Utf8, false),
            Field::new("function", DataType::Utf8, false),
            Field::new("message", DataType::Utf8, false),
            Field::new("value", DataType::Binary, false),
            Field::new("value_text", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut buf = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props))?;
        writer.write(&batch)?;
        writer.close()?;
        let path = self
            .prefix
            .clone()
            .join("_errors")
            .join(format!("run_date={}", interval.run_date))
            .join(format!("errors-{run_id}.parquet"));
        self.store
            .put(&path, PutPayload::from(buf))
            .await
            .map_err(|e| store_err(&path, e))?;
        Ok(path)
    }

    /// Delta's vacuum: deletes the files that no version younger than `retain` references and that
    /// are older than `retain` (replaced files, and files of runs that were killed or lost their
    /// commit). A file any retained version references is never deleted, so time travel works
    /// within `retain`. Delta's vacuum commits its start and end to the log, so a vacuum that deletes
    /// files takes two versions; one with nothing to delete commits nothing. Returns how many files
    /// were deleted.
    pub async fn vacuum(&self, retain: chrono::Duration) -> Result<usize, JobError> {
        let Some(table) = self.table().await? else {
            return Ok(0);
        };
        let staging = match &self.local {
            Some(dir) => remove_stale_staging_files(dir, retain),
            None => 0,
        };
        // A vacuum commits its start and end to the log; a dry run first keeps the log to one
        // commit per run when there is nothing to delete (most runs, with a retention of days).
        let vacuum = |table: DeltaTable, dry_run: bool| {
            table
                .vacuum()
                .with_retention_period(retain)
                .with_enforce_retention_duration(false)
                .with_mode(VacuumMode::Full)
                .with_dry_run(dry_run)
        };
        let (table, planned) = vacuum(table, true).await.map_err(|e| self.delta_err(e))?;
        // The plan always lists the log's expired tombstones, also those an earlier vacuum already
        // deleted (until a checkpoint drops them): count only files that are still there.
        let mut present = 0;
        for file in &planned.files_deleted {
            let rel = Path::parse(file).map_err(|e| JobError::Output {
                message: format!("vacuum planned an invalid path '{file}': {e}"),
            })?;
            let path = Path::from_iter(self.prefix.parts().chain(rel.parts()));
            match self.store.head(&path).await {
                Ok(_) => present += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(&path, e)),
            }
        }
        if present == 0 {
            return Ok(staging);
        }
        vacuum(table, false).await.map_err(|e| self.delta_err(e))?;
        Ok(present + staging)
    }
}

/// Deletes, under the local output folder `dir`, the staging files (`name#N`, which object_store's
/// local store and ours write and then link or rename into place; listings and readers skip them)
/// that a killed writer left behind, once they are older than `retain`: a live writer's staging
/// file is seconds old. Returns how many were deleted; a file that cannot be read or deleted is
/// left for the next run.
fn remove_stale_staging_files(dir: &std::path::Path, retain: chrono::Duration) -> usize {
    let Ok(retain) = retain.to_std() else {
        return 0;
    };
    let stale = |p: &std::path::Path| {
        let staging = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('#'))
            .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
        staging
            && std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > retain)
    };
    let mut removed = 0;
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => folders.push(path),
                Ok(t) if t.is_file() && stale(&path) && std::fs::remove_file(&path).is_ok() => {
                    tracing::info!(file = %path.display(), "removed a staging file a killed run left behind");
                    removed += 1;
                }
                _ => {}
            }
        }
    }
    removed
}

/// `data_type` as a Delta table stores it: view and dictionary types become their plain types, and
/// unsigned integers (Delta has none) the signed type that holds every value (`UInt64` values above
/// `i64::MAX` fail the cast with an error naming the value rather than wrap).
fn plain_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, value) => plain_type(value),
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item) => DataType::List(Arc::new(plain_field(item))),
        DataType::FixedSizeList(item, _) => DataType::List(Arc::new(plain_field(item))),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| plain_field(f)).collect()),
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(plain_field(entries)), *sorted),
        other => other.clone(),
    }
}

fn plain_field(field: &Field) -> Field {
    Field::new(field.name(), plain_type(field.data_type()), field.is_nullable())
}

/// `data_type` as [`check_layout`](Publisher::check_layout) compares it: a Delta table names a
/// list's items `element` where Arrow says `item`, and states nested nullability its own way, so
/// nested field names of lists and nested nullability are left out; struct field names count.
fn comparable_type(data_type: &DataType) -> DataType {
    match plain_type(data_type) {
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            "item",
            comparable_type(item.data_type()),
            true,
        ))),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), comparable_type(f.data_type()), true))
                .collect(),
        ),
        DataType::Map(entries, sorted) => DataType::Map(
            Arc::new(Field::new("entries", comparable_type(entries.data_type()), false)),
            sorted,
        ),
        other => other,
    }
}

/// The schema a result is stored with (see [`plain_type`]).
fn storable_schema(schema: &Schema) -> Schema {
    Schema::new(schema.fields().iter().map(|f| plain_field(f)).collect::<Vec<_>>())
}

/// `batch` cast to `schema` (a [`storable_schema`] of its own).
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, JobError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sync_path(p: &std::path::Path) -> Result<(), JobError> {
    let io = |e: std::io::Error| JobError::Io {
        path: p.display().to_string(),
        source: std::io::Error::new(e.kind(), format!("fsync failed: {e}")),
    };
    std::fs::File::open(p).map_err(io)?.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::schedule::Schedule;

    /// An output table in the local folder `dir`.
    fn local_output(dir: &std::path::Path) -> Output {
        Output::new(
            Arc::new(LocalFileSystem::new()),
            ObjectStoreUrl::parse("file://").unwrap(),
            Path::from_absolute_path(dir).unwrap(),
            Some(dir.to_path_buf()),
        )
    }

    /// Two runs of a job's first interval: this one found no table and went on to create it, while
    /// the other created it and published (then holds the lease). Creating must use that table, not
    /// call its files foreign data (which hid the lost lease behind a wrong message).
    #[tokio::test]
    async fn a_table_another_run_created_meanwhile_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let out = local_output(dir.path());
        let interval = Schedule::parse("daily")
            .unwrap()
            .interval_containing("2024-06-01T12:00:00Z".parse().unwrap());
        let stream = SessionContext::new()
            .sql("SELECT CAST(1 AS BIGINT) AS v")
            .await
            .unwrap()
            .execute_stream()
            .await
            .unwrap();
        let schema = stream.schema();
        let mut staged = out.write(stream, &[], "other", &interval, |_| {}).await.unwrap();
        out.validate(&mut staged).await.unwrap();
        let owner = || -> futures::future::BoxFuture<'static, bool> { Box::pin(async { true }) };
        let facts = RunFacts {
            sql_hash: "sha256:x".into(),
            model_versions: vec![],
            input_files: vec![],
            inputs: vec![],
        };
        let commit = Commit {
            job: "t",
            run_id: "other",
            interval: &interval,
            mode: WriteMode::Append,
        };
        let published = out.publish(commit, &staged, &facts, &owner).await.unwrap();
        let table = out.create(&schema, &[], false).await.unwrap();
        assert_eq!(table.version(), Some(published));
    }

    /// A result with a list of structs (the fraud report's flagged transactions) publishes day after
    /// day: the table names list items `element` where Arrow says `item`, and nested view types are
    /// stored plain. A nested field renamed is still a different layout.
    #[tokio::test]
    async fn nested_results_publish_again_and_renamed_nested_fields_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let out = local_output(dir.path());
        let daily = Schedule::parse("daily").unwrap();
        let facts = RunFacts {
            sql_hash: "sha256:x".into(),
            model_versions: vec![],
            input_files: vec![],
            inputs: vec![],
        };
        let owner = || -> futures::future::BoxFuture<'static, bool> { Box::pin(async { true }) };
        let query = |field: &str| {
            format!(
                "SELECT CAST(1 AS BIGINT) AS v, [named_struct('{field}', arrow_cast('a', 'Utf8View'), \
                 'c', [named_struct('x', 1.5)])] AS reasons"
            )
        };
        for (day, field) in [("2024-06-01", "f"), ("2024-06-02", "f"), ("2024-06-03", "g")] {
            let interval = daily.interval_containing(format!("{day}T12:00:00Z").parse().unwrap());
            let stream = SessionContext::new()
                .sql(&query(field))
                .await
                .unwrap()
                .execute_stream()
                .await
                .unwrap();
            let written = out.write(stream, &[], day, &interval, |_| {}).await;
            if field == "g" {
                let Err(e) = written else {
                    panic!("a renamed nested field must not publish");
                };
                let e = e.to_string();
                assert!(e.contains("move the table aside"), "{e}");
                continue;
            }
            let mut staged = written.unwrap();
            out.validate(&mut staged).await.unwrap();
            let commit = Commit {
                job: "t",
                run_id: day,
                interval: &interval,
                mode: WriteMode::Append,
            };
            out.publish(commit, &staged, &facts, &owner).await.unwrap();
        }
    }
}
