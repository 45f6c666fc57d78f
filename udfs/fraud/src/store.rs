//! Versioned, immutable model artifacts in an object store.
//!
//! ```text
//! _models/<name>/v<N>/trees-<token>.bin   the forest, compact little-endian binary
//! _models/<name>/v<N>/model.json          the manifest: metadata, features, categories, options,
//!                                         metrics, and the trees file's name, size and checksum
//! ```
//!
//! A version exists once its `model.json` exists. The trees file is written first under a name no
//! other writer uses, then the manifest with `PutMode::Create`: of two writers racing for the same
//! version one wins, the other removes its trees file and takes the next number. A version is never
//! rewritten.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::forest::{Forest, Node};
use crate::model::ModelMeta;
use crate::rng::mix64;
use crate::{FraudError, Model};

const FORMAT: &str = "nightshift-random-forest";
const FORMAT_VERSION: u32 = 1;
/// The manifest version of boosted trees: builds that read only version 1 (random forests) refuse
/// them instead of scoring their log-odds leaves as probabilities.
const BOOSTED_FORMAT_VERSION: u32 = 2;
const TREES_MAGIC: &[u8; 4] = b"NSRF";
const MANIFEST: &str = "model.json";

/// One stored version of a model, as `SHOW MODELS` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Model name.
    pub name: String,
    /// Version number.
    pub version: u32,
    /// When it was trained (RFC 3339 UTC).
    pub created_at: String,
    /// Training rows.
    pub training_rows: u64,
    /// Holdout AUC-ROC, if it had a holdout.
    pub auc_roc: Option<f64>,
    /// Holdout average precision, if it had a holdout.
    pub average_precision: Option<f64>,
    /// Number of trees.
    pub trees: usize,
    /// Feature names, comma-separated.
    pub features: String,
    /// The target column.
    pub target: String,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    format_version: u32,
    trees_file: String,
    trees_bytes: u64,
    trees_checksum: String,
    model: ModelMeta,
}

/// The `_models/` folder of a lake: `name/vN/` per version.
#[derive(Debug, Clone)]
pub struct ModelStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

/// Checks a model name: letters, digits, `_` and `-`, starting with a letter or `_`.
pub(crate) fn check_name(name: &str) -> Result<(), FraudError> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(FraudError::InvalidReference(name.to_owned()))
    }
}

impl ModelStore {
    /// A store rooted at `prefix` (usually `_models` under the lake root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self { store, prefix }
    }

    fn model_dir(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    fn version_dir(&self, name: &str, version: u32) -> Path {
        self.model_dir(name).join(format!("v{version}"))
    }

    fn err(path: &Path) -> impl FnOnce(object_store::Error) -> FraudError + '_ {
        move |source| FraudError::Store {
            path: path.to_string(),
            source,
        }
    }

    /// Every object under `dir`.
    async fn objects(&self, dir: &Path) -> Result<Vec<ObjectMeta>, FraudError> {
        self.store
            .list(Some(dir))
            .try_collect()
            .await
            .map_err(Self::err(dir))
    }

    /// The committed versions of `name`, ascending.
    async fn versions(&self, name: &str) -> Result<Vec<u32>, FraudError> {
        let dir = self.model_dir(name);
        let objects = self.objects(&dir).await?;
        let mut versions: Vec<u32> = objects
            .iter()
            .filter_map(|o| {
                let parts: Vec<_> = o.location.prefix_match(&dir)?.collect();
                match parts.as_slice() {
                    [v, file] if file.as_ref() == MANIFEST => v.as_ref().strip_prefix('v')?.parse().ok(),
                    _ => None,
                }
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Saves `model` as the next version of `name` and returns it with its name and version set.
    pub async fn save(&self, name: &str, mut model: Model) -> Result<Arc<Model>, FraudError> {
        check_name(name)?;
        let trees = encode_forest(&model.forest);
        let checksum = format!("{:016x}", fnv1a(&trees));
        let mut version = self.versions(name).await?.last().map_or(1, |v| v + 1);
        for _ in 0..16 {
            model.set_identity(name, version);
            let dir = self.version_dir(name, version);
            let trees_file = format!("trees-{}.bin", unique_token());
            let trees_path = dir.clone().join(trees_file.as_str());
            self.store
                .put(&trees_path, PutPayload::from(trees.clone()))
                .await
                .map_err(Self::err(&trees_path))?;
            let manifest = Manifest {
                format: FORMAT.into(),
                format_version: if model.meta.logit_base.is_some() {
                    BOOSTED_FORMAT_VERSION
                } else {
                    FORMAT_VERSION
                },
                trees_file,
                trees_bytes: trees.len() as u64,
                trees_checksum: checksum.clone(),
                model: model.meta.clone(),
            };
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| FraudError::Scoring(format!("cannot serialise model '{name}': {e}")))?;
            let manifest_path = dir.join(MANIFEST);
            let put = self
                .store
                .put_opts(
                    &manifest_path,
                    PutPayload::from(json),
                    PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    },
                )
                .await;
            match put {
                Ok(_) => {
                    tracing::info!(model = name, version, "saved model");
                    return Ok(Arc::new(model));
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Another writer took this version: ours was never visible; try the next one.
                    let _ = self.store.delete(&trees_path).await;
                    version += 1;
                }
                Err(e) => {
                    let _ = self.store.delete(&trees_path).await;
                    return Err(Self::err(&manifest_path)(e));
                }
            }
        }
        Err(FraudError::Training(format!(
            "could not find a free version of model '{name}' after 16 attempts; try again"
        )))
    }

    /// Loads a version of `name` (`None`: the latest).
    pub async fn load(&self, name: &str, version: Option<u32>) -> Result<Arc<Model>, FraudError> {
        check_name(name)?;
        let not_found = || FraudError::NotFound {
            name: version.map_or_else(|| name.to_owned(), |v| format!("{name}@v{v}")),
            base: name.to_owned(),
        };
        let version = match version {
            Some(v) => v,
            None => *self.versions(name).await?.last().ok_or_else(not_found)?,
        };
        let dir = self.version_dir(name, version);
        let manifest_path = dir.clone().join(MANIFEST);
        let bytes = match self.store.get(&manifest_path).await {
            Ok(r) => r.bytes().await.map_err(Self::err(&manifest_path))?,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(Self::err(&manifest_path)(e)),
        };
        let corrupt = |path: &Path, message: String| FraudError::CorruptArtifact {
            path: path.to_string(),
            message,
        };
        let manifest = read_manifest(&bytes).map_err(|m| corrupt(&manifest_path, m))?;
        let trees_path = dir.join(manifest.trees_file.as_str());
        let trees = match self.store.get(&trees_path).await {
            Ok(r) => r.bytes().await.map_err(Self::err(&trees_path))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(corrupt(&trees_path, "the trees file is missing".into()));
            }
            Err(e) => return Err(Self::err(&trees_path)(e)),
        };
        if trees.len() as u64 != manifest.trees_bytes {
            return Err(corrupt(
                &trees_path,
                format!(
                    "{} bytes where the manifest says {}",
                    trees.len(),
                    manifest.trees_bytes
                ),
            ));
        }
        if format!("{:016x}", fnv1a(&trees)) != manifest.trees_checksum {
            return Err(corrupt(&trees_path, "checksum mismatch".into()));
        }
        let mut forest = decode_forest(&trees).map_err(|m| corrupt(&trees_path, m))?;
        let mut meta = manifest.model;
        forest.logit_base = meta.logit_base;
        forest
            .validate(meta.features.len())
            .map_err(|m| corrupt(&trees_path, m))?;
        if meta.name != name || meta.version != version {
            return Err(corrupt(
                &manifest_path,
                format!("it describes {}@v{}", meta.name, meta.version),
            ));
        }
        for f in &mut meta.features {
            f.build_index();
        }
        Ok(Arc::new(Model::new(meta, forest)))
    }

    /// Every version of every model, by name then version. Unreadable manifests are skipped with a
    /// warning so one bad artifact does not hide the others.
    pub async fn list(&self) -> Result<Vec<ModelInfo>, FraudError> {
        let objects = self.objects(&self.prefix).await?;
        let mut out = Vec::new();
        for o in objects {
            let Some(parts) = o.location.prefix_match(&self.prefix) else {
                continue;
            };
            let parts: Vec<_> = parts.collect();
            if parts.len() != 3 || parts[2].as_ref() != MANIFEST {
                continue;
            }
            let bytes = match self.store.get(&o.location).await {
                Ok(r) => r.bytes().await.map_err(Self::err(&o.location))?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(Self::err(&o.location)(e)),
            };
            match read_manifest(&bytes) {
                Ok(m) => {
                    let meta = m.model;
                    out.push(ModelInfo {
                        name: meta.name,
                        version: meta.version,
                        created_at: meta.created_at,
                        training_rows: meta.training_rows,
                        auc_roc: meta.metrics.as_ref().map(|m| m.auc_roc),
                        average_precision: meta.metrics.as_ref().map(|m| m.average_precision),
                        trees: meta.trees,
                        features: meta
                            .features
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        target: meta.target,
                    })
                }
                Err(e) => tracing::warn!(path = %o.location, "skipping unreadable model manifest: {e}"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.version.cmp(&b.version)));
        Ok(out)
    }

    /// Deletes every version of `name`; returns how many there were. Manifests go first, so a
    /// version disappears whole even if deleting its trees file then fails.
    pub async fn drop_model(&self, name: &str) -> Result<usize, FraudError> {
        check_name(name)?;
        let dir = self.model_dir(name);
        let objects = self.objects(&dir).await?;
        let (manifests, data): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .map(|o| o.location)
            .partition(|p| p.filename() == Some(MANIFEST));
        for p in manifests.iter().chain(&data) {
            match self.store.delete(p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Self::err(p)(e)),
            }
        }
        Ok(manifests.len())
    }

    /// Whether `name` has at least one version.
    pub async fn exists(&self, name: &str) -> Result<bool, FraudError> {
        check_name(name)?;
        Ok(!self.versions(name).await?.is_empty())
    }
}

fn read_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    #[derive(Deserialize)]
    struct Header {
        format: String,
        format_version: u32,
    }
    let header: Header = serde_json::from_slice(bytes).map_err(|e| format!("unreadable manifest: {e}"))?;
    if header.format != FORMAT {
        return Err(format!("format '{}' is not '{FORMAT}'", header.format));
    }
    if !(FORMAT_VERSION..=BOOSTED_FORMAT_VERSION).contains(&header.format_version) {
        return Err(format!(
            "format version {} (this build reads versions {FORMAT_VERSION} to {BOOSTED_FORMAT_VERSION})",
            header.format_version
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("unreadable manifest: {e}"))
}

fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}",
        mix64(nanos ^ mix64(u64::from(std::process::id())) ^ mix64(c.wrapping_add(0x5eed)))
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The trees file's layout: 1 without covers, 2 with one f64 cover per node after the nodes.
const TREES_VERSION: u32 = 2;

/// `NSRF`, u32 trees format version, u32 trees, u32 nodes, the roots (u32 each), then 16 bytes a
/// node: f64 threshold, u16 feature, u16 flags, u32 left child; then (version 2) an f64 cover per
/// node. All little-endian. A forest without covers is written as version 1.
pub(crate) fn encode_forest(forest: &Forest) -> Vec<u8> {
    let with_covers = forest.covers.len() == forest.nodes.len() && !forest.nodes.is_empty();
    let mut out = Vec::with_capacity(16 + forest.roots.len() * 4 + forest.nodes.len() * 24);
    out.extend_from_slice(TREES_MAGIC);
    let version: u32 = if with_covers { TREES_VERSION } else { 1 };
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(forest.roots.len() as u32).to_le_bytes());
    out.extend_from_slice(&(forest.nodes.len() as u32).to_le_bytes());
    for r in &forest.roots {
        out.extend_from_slice(&r.to_le_bytes());
    }
    for n in &forest.nodes {
        out.extend_from_slice(&n.threshold.to_le_bytes());
        out.extend_from_slice(&n.feature.to_le_bytes());
        out.extend_from_slice(&n.flags.to_le_bytes());
        out.extend_from_slice(&n.left.to_le_bytes());
    }
    if with_covers {
        for c in &forest.covers {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    out
}

pub(crate) fn decode_forest(bytes: &[u8]) -> Result<Forest, String> {
    let u32_at = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "the trees file is truncated".to_string())
    };
    if bytes.get(0..4) != Some(TREES_MAGIC.as_slice()) {
        return Err("the trees file does not start with NSRF".into());
    }
    let version = u32_at(4)?;
    if !(1..=TREES_VERSION).contains(&version) {
        return Err(format!(
            "trees format version {version} (this build reads 1 to {TREES_VERSION})"
        ));
    }
    let trees = u32_at(8)? as usize;
    let nodes = u32_at(12)? as usize;
    let node_bytes = if version >= 2 { 24 } else { 16 };
    let expected = 16usize
        .checked_add(trees.checked_mul(4).ok_or("too many trees")?)
        .and_then(|n| n.checked_add(nodes.checked_mul(node_bytes)?))
        .ok_or("too many nodes")?;
    if bytes.len() != expected {
        return Err(format!(
            "the trees file has {} bytes, expected {expected}",
            bytes.len()
        ));
    }
    let mut forest = Forest::default();
    for t in 0..trees {
        let root = u32_at(16 + 4 * t)?;
        if root as usize >= nodes || forest.roots.last().is_some_and(|&p| p >= root) {
            return Err(format!("tree {t} starts at node {root}, out of order"));
        }
        forest.roots.push(root);
    }
    let base = 16 + 4 * trees;
    forest.nodes.reserve(nodes);
    for i in 0..nodes {
        let b = &bytes[base + 16 * i..base + 16 * (i + 1)];
        forest.nodes.push(Node {
            threshold: f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            feature: u16::from_le_bytes([b[8], b[9]]),
            flags: u16::from_le_bytes([b[10], b[11]]),
            left: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        });
    }
    if version >= 2 {
        let at = base + 16 * nodes;
        forest.covers = bytes[at..at + 8 * nodes]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        if forest.covers.iter().any(|c| !c.is_finite() || *c < 0.0) {
            return Err("the trees file holds a negative or non-finite cover".into());
        }
    }
    Ok(forest)
}
