//! The manifest format of published job outputs, with its one owner: the jobs publisher writes
//! [`Manifest`]s and the catalog reads them, both through these types.

use object_store::ObjectMeta;
use serde::{Deserialize, Serialize};

/// The folder holding an output's committed manifests (`<version>.json`, created once each).
pub const MANIFESTS: &str = "_manifests";

/// One data file of a published output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the output folder.
    pub path: String,
    /// Rows in the file.
    #[serde(default)]
    pub rows: u64,
    /// Bytes of the file.
    #[serde(default)]
    pub bytes: u64,
    /// Start of the interval whose run wrote it (RFC 3339).
    #[serde(default)]
    pub interval_start: String,
}

/// A committed version of an output. Readers need only `version` and the files' paths; the rest
/// describes the run and defaults when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// 1, 2, 3… in commit order.
    pub version: u64,
    /// The job.
    #[serde(default)]
    pub job: String,
    /// The run that committed this version.
    #[serde(default)]
    pub run_id: String,
    /// The run's interval.
    #[serde(default)]
    pub interval_start: String,
    /// The run's interval end.
    #[serde(default)]
    pub interval_end: String,
    /// The run's `$run_date`.
    #[serde(default)]
    pub run_date: String,
    /// When it was committed.
    #[serde(default)]
    pub committed_at: String,
    /// `overwrite_interval`, `append` or `replace`.
    #[serde(default)]
    pub mode: String,
    /// The complete file set of this version.
    pub files: Vec<ManifestFile>,
    /// Rows over all files.
    #[serde(default)]
    pub rows: u64,
    /// Bytes over all files.
    #[serde(default)]
    pub bytes: u64,
    /// The Arrow schema of the data files, as text.
    #[serde(default)]
    pub schema: String,
    /// SHA-256 of the job's SQL text (`sha256:<hex>`).
    #[serde(default)]
    pub sql_hash: String,
    /// Models the run used (`name@version`).
    #[serde(default)]
    pub model_versions: Vec<String>,
    /// Input files the run read.
    #[serde(default)]
    pub input_files: Vec<String>,
}

/// The newest `<version>.json` among the objects under an output's `_manifests/`, with its version:
/// what readers of a published output trust (the jobs publisher and the catalog alike).
pub fn latest_manifest_object(manifests: &[ObjectMeta]) -> Option<(u64, &ObjectMeta)> {
    manifests
        .iter()
        .filter_map(|m| {
            let name = m.location.filename()?;
            name.strip_suffix(".json")?.parse::<u64>().ok().map(|v| (v, m))
        })
        .max_by_key(|(v, _)| *v)
}
