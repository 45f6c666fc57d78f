//! Versioned, immutable model artifacts in an object store.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;

use crate::{FraudError, Model};

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

/// The `_models/` folder of a lake: `name/vN/` per version.
#[derive(Debug, Clone)]
pub struct ModelStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl ModelStore {
    /// A store rooted at `prefix` (usually `_models` under the lake root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self { store, prefix }
    }

    /// Saves `model` as the next version of `name`.
    pub async fn save(&self, name: &str, model: Model) -> Result<Arc<Model>, FraudError> {
        let _ = (&self.store, &self.prefix, name, model);
        unimplemented!()
    }

    /// Loads a version of `name` (`None`: the latest).
    pub async fn load(&self, name: &str, version: Option<u32>) -> Result<Arc<Model>, FraudError> {
        let _ = (name, version);
        unimplemented!()
    }

    /// Every version of every model.
    pub async fn list(&self) -> Result<Vec<ModelInfo>, FraudError> {
        unimplemented!()
    }

    /// Deletes every version of `name`; returns how many there were.
    pub async fn drop_model(&self, name: &str) -> Result<usize, FraudError> {
        let _ = name;
        unimplemented!()
    }

    /// Whether `name` has at least one version.
    pub async fn exists(&self, name: &str) -> Result<bool, FraudError> {
        let _ = name;
        unimplemented!()
    }
}
