//! Discovery: one listing of the lake sorted into plain tables (top-level folders of Parquet files),
//! Delta tables (folders holding `_delta_log/`, at any depth, job reports included) and folders
//! the lake refuses to read (Iceberg, Hudi, and reports still in nightshift's pre-Delta layout). A
//! file inside a Delta or refused folder never becomes part of a plain table.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::TableReference;
use futures::StreamExt;
use object_store::{ObjectMeta, ObjectStore};

use crate::delta::{DELTA_LOG, foreign_format};
use crate::error::LakeError;
use crate::partitions::split_hive_segment;
use crate::stores::LakeLocation;

/// A file of a table with its hive partition values.
pub(crate) struct TableFile {
    pub(crate) meta: ObjectMeta,
    pub(crate) partitions: Vec<(String, String)>,
}

fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || segment.starts_with('_')
}

/// What a listing of the lake finds: plain tables (top-level folders), Delta tables, and folders in
/// formats the lake cannot read.
#[derive(Default)]
pub(crate) struct Discovered {
    pub(crate) tables: BTreeMap<String, Vec<TableFile>>,
    /// Folders holding `_delta_log/`, as path segments below the root.
    pub(crate) delta: Vec<Vec<String>>,
    /// Folders of another table format, with the format's name.
    pub(crate) foreign: Vec<(Vec<String>, &'static str)>,
}

/// `reports.daily_sentiment` (schema `reports`) for `reports/daily_sentiment`, or a bare name for a
/// folder at the root; deeper folders join the rest with `_` (`a/b/c` is `a.b_c`).
pub(crate) fn reference_of(parts: &[String]) -> TableReference {
    match parts.split_first() {
        Some((only, [])) => TableReference::bare(only.clone()),
        Some((schema, rest)) => TableReference::partial(schema.clone(), rest.join("_")),
        None => TableReference::bare(""),
    }
}

/// Lists the lake under its root once and sorts what it holds into plain, Delta and refused tables.
pub(crate) async fn discover(
    store: &dyn ObjectStore,
    location: &LakeLocation,
) -> Result<Discovered, LakeError> {
    let prefix = location.prefix();
    let prefix_parts = prefix.parts().count();
    let mut files: Vec<(Vec<String>, ObjectMeta)> = Vec::new();
    let mut delta: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut foreign: BTreeMap<Vec<String>, &'static str> = BTreeMap::new();
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
        if let Some(i) = parts.iter().position(|p| p == DELTA_LOG) {
            if i > 0 && !parts[..i].iter().any(|p| is_hidden(p)) {
                delta.insert(parts[..i].to_vec());
            }
            continue;
        }
        if let Some((i, format)) = foreign_format(&parts) {
            if !parts[..i].iter().any(|p| is_hidden(p)) {
                foreign.insert(parts[..i].to_vec(), format);
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
    // The outermost of nested Delta folders is the table; a refused folder inside one is its data.
    let delta: Vec<Vec<String>> = delta
        .iter()
        .filter(|d| !delta.iter().any(|o| o.len() < d.len() && d.starts_with(o)))
        .cloned()
        .collect();
    let foreign: Vec<(Vec<String>, &'static str)> = foreign
        .into_iter()
        .filter(|(f, _)| !delta.iter().any(|d| f.starts_with(d)))
        .collect();
    // A file inside a Delta or refused folder belongs to that table, whatever it is.
    let claimed: Vec<&Vec<String>> = delta.iter().chain(foreign.iter().map(|(f, _)| f)).collect();
    let inside = |parts: &[String]| {
        claimed
            .iter()
            .any(|c| parts.len() > c.len() && parts.starts_with(c))
    };
    let mut found = Discovered::default();
    for (parts, meta) in files {
        if inside(&parts) {
            continue;
        }
        let partitions = parts[1..parts.len() - 1]
            .iter()
            .filter_map(|s| split_hive_segment(s).map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        found
            .tables
            .entry(parts[0].clone())
            .or_default()
            .push(TableFile { meta, partitions });
    }
    found.delta = delta;
    found.foreign = foreign;
    Ok(found)
}
