//! Atomic, manifest-committed Parquet outputs.
//!
//! A run writes its files under their final, unique names (`part-<run id>-<n>.parquet`, in hive
//! folders when the job partitions its output); no manifest names them yet, so readers that trust
//! manifests do not see them. The files are then validated (footers read back, row counts checked),
//! fsynced with their folders on local disk, and the run commits by creating the next manifest
//! `_manifests/<version>.json` with a create-only put: exactly one writer wins each version. The
//! manifest lists the output's complete file set, so a reader sees the previous version or this one,
//! never a mix. `_manifest.json` and `_SUCCESS` beside the data are copies for other tools, written
//! after the commit. Files no manifest names any more (the replaced interval, files of killed runs,
//! `*#N` upload staging files of the local store) are removed by [`Output::collect_garbage`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{StreamExt, TryStreamExt};
use nightshift_core::RecordError;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use nightshift_lake::{MANIFESTS, Manifest, ManifestFile};

use crate::error::JobError;
use crate::schedule::Interval;
use crate::spec::WriteMode;

/// Rows per row group of report files.
const ROW_GROUP_ROWS: usize = 512 * 1024;
/// A file is closed and the next one started beyond this many rows.
const FILE_ROWS: usize = 8 * ROW_GROUP_ROWS;

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
    /// The written files.
    pub files: Vec<ManifestFile>,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The data files' schema.
    pub schema: SchemaRef,
}

/// Facts about the run recorded in its manifest.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// SHA-256 of the SQL.
    pub sql_hash: String,
    /// Models used.
    pub model_versions: Vec<String>,
    /// Input files read.
    pub input_files: Vec<String>,
}

/// One job's output folder in a store.
#[derive(Debug, Clone)]
pub struct Output {
    store: Arc<dyn ObjectStore>,
    store_url: ObjectStoreUrl,
    prefix: Path,
    /// The folder on local disk, when the store is local (for fsync and staging clean-up).
    local: Option<PathBuf>,
}

fn store_err(path: &Path, source: object_store::Error) -> JobError {
    JobError::Store {
        path: path.to_string(),
        source,
    }
}

impl Output {
    /// The output at `prefix` in `store`; `local` is the same folder on local disk, if it is local.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        store_url: ObjectStoreUrl,
        prefix: Path,
        local: Option<PathBuf>,
    ) -> Self {
        Self {
            store,
            store_url,
            prefix,
            local,
        }
    }

    fn child(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The latest committed manifest, if any: the only thing readers should trust.
    pub async fn latest(&self) -> Result<Option<Manifest>, JobError> {
        let dir = self.child(MANIFESTS);
        let metas: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| store_err(&dir, e))?;
        let Some((_, last)) = nightshift_lake::latest_manifest_object(&metas) else {
            return Ok(None);
        };
        self.read_manifest(&last.location).await.map(Some)
    }

    /// Version `version` of the output's manifest (older versions are kept).
    pub async fn manifest(&self, version: u64) -> Result<Manifest, JobError> {
        self.read_manifest(&self.child(&format!("{MANIFESTS}/{version:020}.json")))
            .await
    }

    async fn read_manifest(&self, path: &Path) -> Result<Manifest, JobError> {
        let bytes = self
            .store
            .get(path)
            .await
            .map_err(|e| store_err(path, e))?
            .bytes()
            .await
            .map_err(|e| store_err(path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| JobError::Corrupt {
            path: path.to_string(),
            what: "manifest",
            source,
        })
    }

    /// The locations (`file:///…`, `s3://…`) of the files of the latest published version.
    pub async fn published_files(&self) -> Result<Vec<String>, JobError> {
        let base = self.store_url.as_str().trim_end_matches('/').to_string();
        Ok(self
            .latest()
            .await?
            .map(|m| {
                m.files
                    .iter()
                    .map(|f| format!("{base}/{}", self.child(&f.path)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Writes a result stream as zstd Parquet files named for `run_id`, split into hive folders by
    /// `partition_by` (those columns leave the files, as in every hive layout). Nothing is published.
    pub async fn write(
        &self,
        mut stream: SendableRecordBatchStream,
        partition_by: &[String],
        run_id: &str,
        interval: &Interval,
        mut on_rows: impl FnMut(u64),
    ) -> Result<Staged, JobError> {
        let schema = stream.schema();
        let mut part_idx = Vec::new();
        for p in partition_by {
            let i = schema.index_of(p).map_err(|_| JobError::Output {
                message: format!(
                    "partition column '{p}' is not in the result; its columns are: {}",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
            part_idx.push(i);
        }
        let data_idx: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !part_idx.contains(i))
            .collect();
        let data_schema = Arc::new(schema.project(&data_idx)?);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let istart = interval.start.to_rfc3339();
        let mut writers: BTreeMap<String, (Path, AsyncArrowWriter<object_store::buffered::BufWriter>, u64)> =
            BTreeMap::new();
        let mut files = Vec::new();
        let mut seq = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            on_rows(batch.num_rows() as u64);
            for (folder, rows) in split_by_partition(&batch, &part_idx)? {
                let sub = batch.project(&data_idx)?;
                let sub = if rows.len() == batch.num_rows() {
                    sub
                } else {
                    let idx = UInt32Array::from(rows);
                    let cols: Vec<ArrayRef> = sub
                        .columns()
                        .iter()
                        .map(|c| take(c.as_ref(), &idx, None))
                        .collect::<Result<_, _>>()?;
                    RecordBatch::try_new(data_schema.clone(), cols)?
                };
                if !writers.contains_key(&folder) {
                    let rel = format!("{folder}part-{run_id}-{seq:05}.parquet");
                    seq += 1;
                    let path = self.child(&rel);
                    let w = AsyncArrowWriter::try_new(
                        object_store::buffered::BufWriter::new(self.store.clone(), path.clone()),
                        data_schema.clone(),
                        Some(props.clone()),
                    )?;
                    writers.insert(folder.clone(), (path, w, 0));
                }
                let Some((_, w, n)) = writers.get_mut(&folder) else {
                    continue;
                };
                w.write(&sub).await?;
                *n += sub.num_rows() as u64;
                if *n as usize >= FILE_ROWS
                    && let Some((path, w, n)) = writers.remove(&folder)
                {
                    files.push(self.finish(path, w, n, &istart).await?);
                }
            }
        }
        for (_, (path, w, n)) in std::mem::take(&mut writers) {
            files.push(self.finish(path, w, n, &istart).await?);
        }
        if files.is_empty() {
            // An empty interval still publishes one (empty) file, so the schema is known and a rerun
            // that finds no rows replaces the old report.
            let rel = format!("part-{run_id}-{seq:05}.parquet");
            let path = self.child(&rel);
            let w = AsyncArrowWriter::try_new(
                object_store::buffered::BufWriter::new(self.store.clone(), path.clone()),
                data_schema.clone(),
                Some(props.clone()),
            )?;
            files.push(self.finish(path, w, 0, &istart).await?);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Staged {
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
            schema: data_schema,
        })
    }

    async fn finish(
        &self,
        path: Path,
        w: AsyncArrowWriter<object_store::buffered::BufWriter>,
        rows: u64,
        istart: &str,
    ) -> Result<ManifestFile, JobError> {
        w.close().await?;
        let rel = path
            .as_ref()
            .strip_prefix(self.prefix.as_ref())
            .unwrap_or(path.as_ref())
            .trim_start_matches('/')
            .to_string();
        Ok(ManifestFile {
            path: rel,
            rows,
            bytes: 0,
            interval_start: istart.to_string(),
        })
    }

    /// Reads every staged file's footer back: it must be complete Parquet with the expected rows and
    /// schema. Fills in the byte sizes. On local disk, fsyncs the files and their folders.
    pub async fn validate(&self, staged: &mut Staged) -> Result<(), JobError> {
        for f in &mut staged.files {
            let path = self.child(&f.path);
            let meta = self.store.head(&path).await.map_err(|e| store_err(&path, e))?;
            let footer = nightshift_lake::read_footer(self.store.as_ref(), &self.store_url, &meta)
                .await
                .map_err(|source| JobError::Validation {
                    path: f.path.clone(),
                    source,
                })?;
            if footer.rows != f.rows {
                return Err(JobError::Output {
                    message: format!("'{}' holds {} rows, {} were written", f.path, footer.rows, f.rows),
                });
            }
            if footer.schema.fields().len() != staged.schema.fields().len() {
                return Err(JobError::Output {
                    message: format!("'{}' does not have the result's schema", f.path),
                });
            }
            f.bytes = meta.size;
        }
        staged.bytes = staged.files.iter().map(|f| f.bytes).sum();
        if let Some(dir) = &self.local {
            // object_store never fsyncs local files: a power cut after the manifest could otherwise
            // publish files whose data never reached the disk.
            let mut dirs = BTreeSet::new();
            for f in &staged.files {
                let p = dir.join(&f.path);
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

    /// Commits the staged files as the next version: the new file set is the previous one with this
    /// interval's files replaced (`overwrite_interval`), kept (`append`) or all replaced (`replace`).
    /// `still_owner` is asked right before the commit (a lease check): a writer that lost its lease
    /// must not publish.
    pub async fn publish(
        &self,
        commit: Commit<'_>,
        staged: &Staged,
        facts: &RunFacts,
        still_owner: &(dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync),
    ) -> Result<Manifest, JobError> {
        let Commit {
            job,
            run_id,
            interval,
            mode,
        } = commit;
        let istart = interval.start.to_rfc3339();
        for _attempt in 0..8 {
            let previous = self.latest().await?;
            let version = previous.as_ref().map_or(1, |m| m.version + 1);
            let mut files: Vec<ManifestFile> = match (&previous, mode) {
                (None, _) | (_, WriteMode::Replace) => Vec::new(),
                (Some(p), WriteMode::Append) => p.files.clone(),
                (Some(p), WriteMode::OverwriteInterval) => p
                    .files
                    .iter()
                    .filter(|f| f.interval_start != istart)
                    .cloned()
                    .collect(),
            };
            files.extend(staged.files.iter().cloned());
            files.sort_by(|a, b| a.path.cmp(&b.path));
            let manifest = Manifest {
                version,
                job: job.to_string(),
                run_id: run_id.to_string(),
                interval_start: istart.clone(),
                interval_end: interval.end.to_rfc3339(),
                run_date: interval.run_date.to_string(),
                committed_at: Utc::now().to_rfc3339(),
                mode: match mode {
                    WriteMode::OverwriteInterval => "overwrite_interval",
                    WriteMode::Append => "append",
                    WriteMode::Replace => "replace",
                }
                .to_string(),
                rows: files.iter().map(|f| f.rows).sum(),
                bytes: files.iter().map(|f| f.bytes).sum(),
                files,
                schema: format_schema(&staged.schema),
                sql_hash: facts.sql_hash.clone(),
                model_versions: facts.model_versions.clone(),
                input_files: facts.input_files.clone(),
            };
            let body = serde_json::to_vec_pretty(&manifest).map_err(|source| JobError::Encode {
                what: "manifest",
                source,
            })?;
            if !still_owner().await {
                return Err(JobError::LeaseLost {
                    job: job.to_string(),
                    interval: interval.run_date.to_string(),
                });
            }
            let path = self.child(&format!("{MANIFESTS}/{version:020}.json"));
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => {}
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Another writer committed this version first: rebuild on top of it.
                    tracing::debug!(
                        job,
                        version,
                        "manifest version taken, retrying on the newer version"
                    );
                    continue;
                }
                Err(e) => {
                    // The outcome of a failed create is unknown (a timeout after the write landed):
                    // read it back to settle it.
                    match self.read_manifest(&path).await {
                        Ok(m) if m.run_id == run_id => {}
                        Ok(_) => continue,
                        Err(_) => return Err(store_err(&path, e)),
                    }
                }
            }
            if let Some(dir) = &self.local {
                sync_path(&dir.join(MANIFESTS))?;
            }
            // Copies for tools that look for them; readers trust `_manifests/`.
            let copy = self.child("_manifest.json");
            self.store
                .put(&copy, PutPayload::from(body))
                .await
                .map_err(|e| store_err(&copy, e))?;
            let success = self.child("_SUCCESS");
            self.store
                .put(&success, PutPayload::default())
                .await
                .map_err(|e| store_err(&success, e))?;
            self.refresh_view().await?;
            return Ok(manifest);
        }
        Err(JobError::Output {
            message: format!("could not commit output of job '{job}': too many concurrent commits"),
        })
    }

    /// On local disk, points `current/` at a folder of hard links to exactly the files of the latest
    /// version (`_v/<version>/`), replacing the symlink with one `rename`: a tool that reads
    /// `<output>/current/` (DuckDB, Spark, pyarrow) sees the previous complete version or the new one,
    /// never a mix, whatever the folder around it holds. The two newest views are kept, so a reader
    /// that resolved the link just before a switch can finish. A no-op on object stores (they have no
    /// atomic rename of a set of files: read `_manifest.json` there) and when the view is current; a
    /// run killed before the switch leaves the previous view, and the next publish or clean-up
    /// switches it.
    pub async fn refresh_view(&self) -> Result<(), JobError> {
        let Some(dir) = self.local.clone() else {
            return Ok(());
        };
        let Some(latest) = self.latest().await? else {
            return Ok(());
        };
        #[cfg(unix)]
        {
            let task = tokio::task::spawn_blocking(move || switch_view(&dir, &latest));
            task.await.map_err(|e| JobError::Output {
                message: format!("the view switch panicked: {e}"),
            })?
        }
        #[cfg(not(unix))]
        {
            let _ = (dir, latest);
            Ok(())
        }
    }

    /// Writes the records a run quarantined to `_errors/run_date=<D>/errors-<run id>.parquet` beside the
    /// report, with one put (readers see the whole file or none), and returns its path. Columns: job,
    /// run_id, function, message, the value's bytes unchanged (`value`) and as lossy text
    /// (`value_text`); the run date is the hive folder. Garbage collection never touches `_errors/`.
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

    /// Deletes data files no manifest version names any more and local upload staging files, except
    /// files of runs for which `in_flight(run_id)` is true. Returns how many were deleted.
    pub async fn collect_garbage(
        &self,
        in_flight: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<usize, JobError> {
        let latest = self.latest().await?;
        let keep: BTreeSet<String> = latest
            .iter()
            .flat_map(|m| m.files.iter().map(|f| f.path.clone()))
            .collect();
        let metas: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| store_err(&self.prefix, e))?;
        let mut deleted = 0;
        for m in metas {
            let rel = m
                .location
                .as_ref()
                .strip_prefix(self.prefix.as_ref())
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string();
            let Some(name) = m.location.filename() else {
                continue;
            };
            // `current/` is the readers' view: links to files the latest manifest names.
            if rel.starts_with('_')
                || rel.starts_with(&format!("{CURRENT}/"))
                || !name.starts_with("part-")
                || keep.contains(&rel)
            {
                continue;
            }
            if let Some(run) = run_of(name)
                && in_flight(run)
            {
                continue;
            }
            match self.store.delete(&m.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(store_err(&m.location, e)),
            }
        }
        // Older manifests are kept: they are small and show the output's history.
        if let Some(dir) = &self.local {
            deleted += remove_upload_staging(dir, in_flight)?;
        }
        // A run killed between its commit and the view switch left `current/` behind.
        self.refresh_view().await?;
        Ok(deleted)
    }
}

/// `part-<run id>-00001.parquet` → the run id.
fn run_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("part-")?;
    let (run, _) = rest.rsplit_once('-')?;
    Some(run)
}

/// The local store writes `name#N` and renames it when the upload completes; a killed process leaves it.
fn remove_upload_staging(
    dir: &std::path::Path,
    in_flight: &(dyn Fn(&str) -> bool + Send + Sync),
) -> Result<usize, JobError> {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if let Some((base, suffix)) = name.rsplit_once('#')
                && suffix.chars().all(|c| c.is_ascii_digit())
                && !run_of(base).is_some_and(in_flight)
            {
                std::fs::remove_file(&p).map_err(|source| JobError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                n += 1;
            }
        }
    }
    Ok(n)
}

const VIEWS: &str = "_v";
const CURRENT: &str = "current";

/// The version `current` points at (`_v/<version>`), if it is such a link.
#[cfg(unix)]
fn current_view(dir: &std::path::Path) -> Option<u64> {
    let target = std::fs::read_link(dir.join(CURRENT)).ok()?;
    target.file_name()?.to_str()?.parse().ok()
}

#[cfg(unix)]
fn switch_view(dir: &std::path::Path, manifest: &Manifest) -> Result<(), JobError> {
    let io = |p: &std::path::Path| {
        let p = p.display().to_string();
        move |source: std::io::Error| JobError::Io { path: p, source }
    };
    let version = manifest.version;
    if current_view(dir).is_some_and(|v| v >= version) {
        return Ok(()); // already current, or a newer version switched it meanwhile
    }
    let views = dir.join(VIEWS);
    let name = format!("{version:020}");
    let view = views.join(&name);
    if !view.exists() {
        let tmp = views.join(format!(".{name}.{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        for f in &manifest.files {
            let (src, dst) = (dir.join(&f.path), tmp.join(&f.path));
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            // A hard link costs no space; a copy where the file system has none.
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).map_err(io(&src))?;
            }
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        std::fs::write(tmp.join("_SUCCESS"), b"").map_err(io(&tmp))?;
        sync_tree(&tmp)?;
        std::fs::rename(&tmp, &view).map_err(io(&view))?;
        sync_path(&views)?;
    }
    let link = dir.join(format!(".{CURRENT}.{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(std::path::Path::new(VIEWS).join(&name), &link).map_err(io(&link))?;
    if current_view(dir).is_some_and(|v| v > version) {
        let _ = std::fs::remove_file(&link);
        return Ok(());
    }
    // rename(2) replaces the old link atomically: `current` always resolves to a complete version.
    std::fs::rename(&link, dir.join(CURRENT)).map_err(io(&link))?;
    sync_path(dir)?;
    // Keep the two newest views; older ones (and left-over temporary folders) go.
    let mut names: Vec<String> = std::fs::read_dir(&views)
        .map_err(io(&views))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let finished: Vec<&String> = names.iter().filter(|n| !n.starts_with('.')).collect();
    let keep = finished.len().saturating_sub(2);
    for old in finished.into_iter().take(keep) {
        let _ = std::fs::remove_dir_all(views.join(old));
    }
    for tmp in names.iter().filter(|n| n.starts_with('.')) {
        // Another process's temporary view is its own; ours was renamed.
        if tmp.ends_with(&format!(".{}", std::process::id())) {
            let _ = std::fs::remove_dir_all(views.join(tmp));
        }
    }
    Ok(())
}

/// fsyncs every file and folder under `root`, children first.
#[cfg(unix)]
fn sync_tree(root: &std::path::Path) -> Result<(), JobError> {
    let entries = std::fs::read_dir(root).map_err(|source| JobError::Io {
        path: root.display().to_string(),
        source,
    })?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            sync_path(&p)?;
        }
    }
    sync_path(root)
}

fn sync_path(p: &std::path::Path) -> Result<(), JobError> {
    let io = |e: std::io::Error| JobError::Io {
        path: p.display().to_string(),
        source: std::io::Error::new(e.kind(), format!("fsync failed: {e}")),
    };
    std::fs::File::open(p).map_err(io)?.sync_all().map_err(io)
}

fn format_schema(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " NOT NULL" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of `batch` grouped by their hive folder (`col=value/…/`), in first-seen order.
fn split_by_partition(batch: &RecordBatch, idx: &[usize]) -> Result<Vec<(String, Vec<u32>)>, JobError> {
    if idx.is_empty() {
        return Ok(vec![(String::new(), (0..batch.num_rows() as u32).collect())]);
    }
    let schema = batch.schema();
    let mut texts = Vec::new();
    for &i in idx {
        texts.push(cast(batch.column(i), &DataType::Utf8)?);
    }
    let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let mut folder = String::new();
        for (k, &i) in idx.iter().enumerate() {
            let col = texts[k]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| JobError::Output {
                    message: "partition value is not text".into(),
                })?;
            let v = if col.is_null(row) {
                "__HIVE_DEFAULT_PARTITION__".to_string()
            } else {
                encode_partition_value(col.value(row))
            };
            folder.push_str(&format!("{}={v}/", schema.field(i).name()));
        }
        let g = *index.entry(folder.clone()).or_insert_with(|| {
            groups.push((folder, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(row as u32);
    }
    Ok(groups)
}

fn encode_partition_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c.is_ascii_alphanumeric() || "-_.: ".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}
