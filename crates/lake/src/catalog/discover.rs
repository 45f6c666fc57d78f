//! Discovery: one listing of the lake sorted into plain tables (top-level folders of Parquet files)
//! and outputs published by jobs (folders holding `_manifests/`).

use std::collections::BTreeMap;

use datafusion::common::TableReference;
use futures::StreamExt;
use object_store::{ObjectMeta, ObjectStore};

use crate::error::LakeError;
use crate::partitions::split_hive_segment;
use crate::published::MANIFESTS;
use crate::stores::LakeLocation;

/// A file of a table with its hive partition values.
pub(crate) struct TableFile {
    pub(crate) meta: ObjectMeta,
    pub(crate) partitions: Vec<(String, String)>,
}

fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || segment.starts_with('_')
}

/// What a listing of the lake finds: plain tables (top-level folders) and outputs published by jobs.
pub(crate) struct Discovered {
    pub(crate) tables: BTreeMap<String, Vec<TableFile>>,
    pub(crate) published: Vec<Published>,
}

/// A folder holding `_manifests/`: a job's output, read through its latest manifest.
pub(crate) struct Published {
    /// Path segments below the lake root (`["reports", "daily_sentiment"]`).
    pub(crate) parts: Vec<String>,
    /// Its Parquet files, published or not; partitions relative to the folder.
    pub(crate) files: Vec<TableFile>,
    /// The objects under `_manifests/`.
    pub(crate) manifests: Vec<ObjectMeta>,
}

impl Published {
    /// `reports.daily_sentiment` (schema `reports`), or a bare name for a folder at the root; deeper
    /// folders join the rest with `_` (`a/b/c` is `a.b_c`).
    pub(crate) fn reference(&self) -> TableReference {
        match self.parts.split_first() {
            Some((only, [])) => TableReference::bare(only.clone()),
            Some((schema, rest)) => TableReference::partial(schema.clone(), rest.join("_")),
            None => TableReference::bare(""),
        }
    }
}

/// Lists the lake under its root once and sorts the Parquet files into tables and published outputs.
pub(crate) async fn discover(
    store: &dyn ObjectStore,
    location: &LakeLocation,
) -> Result<Discovered, LakeError> {
    let prefix = location.prefix();
    let prefix_parts = prefix.parts().count();
    let mut files: Vec<(Vec<String>, ObjectMeta)> = Vec::new();
    // Folders written by nightshift's job publisher hold `_manifests/`; only the files a manifest
    // names are published, so such folders become tables read through their manifests.
    let mut published: BTreeMap<Vec<String>, Vec<ObjectMeta>> = BTreeMap::new();
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|source| LakeError::ObjectStore {
            location: location.url().to_string(),
            source,
        })?;
        let parts: Vec<String> = meta
            .location
            .parts()
            .skip(prefix_parts)
            .map(|p| p.as_ref().to_string())
            .collect();
        if let Some(i) = parts.iter().position(|p| p == MANIFESTS) {
            if i > 0 && !parts[..i].iter().any(|p| is_hidden(p)) {
                published.entry(parts[..i].to_vec()).or_default().push(meta);
            }
            continue;
        }
        // root/table/[k=v/…]file.parquet; files directly under the root and hidden folders
        // (`_models`, `_staging`, `_errors`, `.tmp`) are not tables.
        if parts.len() < 2
            || parts.iter().any(|p| is_hidden(p))
            || !parts[parts.len() - 1].ends_with(".parquet")
        {
            continue;
        }
        files.push((parts, meta));
    }
    let hive = |segments: &[String]| -> Vec<(String, String)> {
        segments
            .iter()
            .filter_map(|s| split_hive_segment(s).map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let mut found = Discovered {
        tables: BTreeMap::new(),
        published: published
            .into_iter()
            .map(|(parts, manifests)| Published {
                parts,
                files: Vec::new(),
                manifests,
            })
            .collect(),
    };
    for (parts, meta) in files {
        // The innermost published folder holding the file, if any.
        let owner = found
            .published
            .iter_mut()
            .filter(|p| p.parts.len() < parts.len() && parts.starts_with(&p.parts))
            .max_by_key(|p| p.parts.len());
        match owner {
            Some(p) => {
                let partitions = hive(&parts[p.parts.len()..parts.len() - 1]);
                p.files.push(TableFile { meta, partitions });
            }
            None => {
                let partitions = hive(&parts[1..parts.len() - 1]);
                found
                    .tables
                    .entry(parts[0].clone())
                    .or_default()
                    .push(TableFile { meta, partitions });
            }
        }
    }
    Ok(found)
}
