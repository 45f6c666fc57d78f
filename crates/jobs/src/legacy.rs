//! Conversion of outputs written before reports became Delta tables: nightshift's own layout
//! (`_manifests/<version>.json`, `_manifest.json`, `_SUCCESS`, and on a local disk `current/` and
//! `_v/`). A job's first run on such an output converts it in place: the files of its latest
//! manifest become the first Delta version (each tagged with the interval its run covered, so
//! `overwrite_interval` goes on replacing exactly one interval), and then the old metadata is
//! deleted. The data files are not rewritten. Until then the lake refuses to read the folder,
//! so the two layouts are never mixed.

use std::collections::HashMap;

use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

use crate::error::JobError;
use crate::publisher::{TAG_INTERVAL, TAG_RUN};

/// The folder of the old layout's manifests.
pub const MANIFESTS: &str = "_manifests";

/// What a file path in the Delta log escapes (RFC 3986 path characters, as Spark writes them).
const LOG_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'\\');

/// One file of an old manifest: what the conversion needs.
#[derive(Debug, Deserialize)]
struct OldFile {
    path: String,
    #[serde(default)]
    rows: u64,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    interval_start: String,
}

/// An old manifest: its version and files.
#[derive(Debug, Deserialize)]
struct OldManifest {
    version: u64,
    #[serde(default)]
    run_id: String,
    files: Vec<OldFile>,
}

/// Every object under `prefix/sub`.
async fn list(store: &dyn ObjectStore, prefix: &Path, sub: &str) -> Result<Vec<ObjectMeta>, JobError> {
    let dir = prefix.clone().join(sub);
    store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|source| JobError::Store {
            path: dir.to_string(),
            source,
        })
}

/// Whether the output folder `prefix` holds the old layout.
pub(crate) async fn has_old_layout(store: &dyn ObjectStore, prefix: &Path) -> Result<bool, JobError> {
    Ok(!list(store, prefix, MANIFESTS).await?.is_empty())
}

/// The add actions publishing the files of the latest old manifest under `prefix`, and its version.
pub(crate) async fn old_files(store: &dyn ObjectStore, prefix: &Path) -> Result<(u64, Vec<Add>), JobError> {
    let metas = list(store, prefix, MANIFESTS).await?;
    let latest = metas
        .iter()
        .filter_map(|m| {
            let name = m.location.filename()?;
            name.strip_suffix(".json")?.parse::<u64>().ok().map(|v| (v, m))
        })
        .max_by_key(|(v, _)| *v);
    let Some((_, meta)) = latest else {
        return Ok((0, Vec::new()));
    };
    let path = &meta.location;
    let bytes = store
        .get(path)
        .await
        .map_err(|source| JobError::Store {
            path: path.to_string(),
            source,
        })?
        .bytes()
        .await
        .map_err(|source| JobError::Store {
            path: path.to_string(),
            source,
        })?;
    let manifest: OldManifest = serde_json::from_slice(&bytes).map_err(|source| JobError::Corrupt {
        path: path.to_string(),
        what: "pre-Delta manifest (delete the output folder and run the job again to rebuild it)",
        source,
    })?;
    let modification_time = meta.last_modified.timestamp_millis();
    let adds = manifest
        .files
        .iter()
        .map(|f| {
            let mut tags = HashMap::new();
            tags.insert(TAG_INTERVAL.to_string(), Some(f.interval_start.clone()));
            tags.insert(TAG_RUN.to_string(), Some(manifest.run_id.clone()));
            Add {
                path: f
                    .path
                    .split('/')
                    .map(|s| utf8_percent_encode(s, LOG_PATH).to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                partition_values: hive_values(&f.path),
                size: i64::try_from(f.bytes).unwrap_or(i64::MAX),
                modification_time,
                data_change: true,
                stats: Some(format!("{{\"numRecords\":{}}}", f.rows)),
                tags: Some(tags),
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
                clustering_provider: None,
            }
        })
        .collect();
    Ok((manifest.version, adds))
}

/// The partition values of an old file path (`k=a%2Fb/part-….parquet`): its hive folders, decoded
/// once; `__HIVE_DEFAULT_PARTITION__` is NULL.
fn hive_values(path: &str) -> HashMap<String, Option<String>> {
    let segments: Vec<&str> = path.split('/').collect();
    segments[..segments.len().saturating_sub(1)]
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| {
            let value = (v != "__HIVE_DEFAULT_PARTITION__")
                .then(|| percent_decode_str(v).decode_utf8_lossy().into_owned());
            (k.to_string(), value)
        })
        .collect()
}

/// Commits `adds` (the old layout's latest files) into the freshly created table, then deletes the
/// old layout's metadata. Returns the version committed.
pub(crate) async fn convert(
    table: &deltalake_core::DeltaTable,
    store: &dyn ObjectStore,
    prefix: &Path,
    local: Option<&std::path::Path>,
    old_version: u64,
    adds: Vec<Add>,
) -> Result<u64, JobError> {
    let delta_err = |source| JobError::Delta {
        path: table.table_url().to_string(),
        source: Box::new(source),
    };
    let snapshot = table.snapshot().map_err(delta_err)?;
    let partition_by = snapshot.metadata().partition_columns().to_vec();
    let properties = CommitProperties::default().with_metadata([(
        "nightshift_converted_from".to_string(),
        serde_json::json!(format!("{MANIFESTS}/{old_version:020}.json")),
    )]);
    let done = CommitBuilder::from(properties)
        .with_actions(adds.into_iter().map(Action::Add).collect())
        .build(
            Some(snapshot),
            table.log_store(),
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: (!partition_by.is_empty()).then_some(partition_by),
                predicate: None,
            },
        )
        .await
        .map_err(delta_err)?;
    // The Delta log is now the truth; the old layout's metadata goes (its data files stay, named
    // by the new version).
    if let Some(dir) = local {
        // The readers' view: a symlink to hard links of the data files.
        let _ = std::fs::remove_file(dir.join("current"));
        let _ = std::fs::remove_dir_all(dir.join("_v"));
    }
    let mut old = Vec::new();
    for sub in [MANIFESTS, "_v"] {
        old.extend(list(store, prefix, sub).await?.into_iter().map(|m| m.location));
    }
    old.push(prefix.clone().join("_manifest.json"));
    old.push(prefix.clone().join("_SUCCESS"));
    for path in old {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => {
                tracing::warn!(path = %path, error = %source, "could not delete old report metadata");
            }
        }
    }
    if let Some(dir) = local {
        // object_store deletes files, not the folders a local disk keeps.
        let _ = std::fs::remove_dir(dir.join(MANIFESTS));
    }
    tracing::info!(
        version = done.version,
        from = old_version,
        "converted a pre-Delta report to Delta Lake"
    );
    Ok(done.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_folders_give_partition_values() {
        let v = hive_values("k=a%2Fb/d=2024-06-01/part-1.parquet");
        assert_eq!(v["k"].as_deref(), Some("a/b"));
        assert_eq!(v["d"].as_deref(), Some("2024-06-01"));
        let v = hive_values("k=__HIVE_DEFAULT_PARTITION__/part-1.parquet");
        assert_eq!(v["k"], None);
        assert!(hive_values("part-1.parquet").is_empty());
    }
}
