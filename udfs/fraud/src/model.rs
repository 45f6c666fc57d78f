//! A trained model: its features, forest and the facts of its training.

use datafusion::arrow::array::{ArrayRef, Float64Array};
use serde::{Deserialize, Serialize};

use crate::forest::Forest;
use crate::{Feature, FraudError, Metrics, ModelOptions};

/// Everything about a model except its trees; stored as `model.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The model's name (empty until saved).
    pub name: String,
    /// Its version (0 until saved).
    pub version: u32,
    /// The input features, in argument order.
    pub features: Vec<Feature>,
    /// The label column.
    pub target: String,
    /// The options it was trained with, seed included.
    pub options: ModelOptions,
    /// Rows it was trained on.
    pub training_rows: u64,
    /// Positive rows among them.
    pub training_positives: u64,
    /// Rows held out for evaluation.
    pub holdout_rows: u64,
    /// Metrics on the holdout rows, when there was a holdout.
    pub metrics: Option<Metrics>,
    /// Training wall time in seconds (reading the query included).
    pub duration_secs: f64,
    /// When training finished, RFC 3339 UTC.
    pub created_at: String,
    /// The statement that produced it, when the session gave it.
    pub sql: Option<String>,
    /// Number of trees and nodes, for `SHOW MODELS`.
    pub trees: usize,
    /// Total nodes over all trees.
    pub nodes: usize,
    /// Each feature's global importance, in feature order; `None` for models trained before it
    /// was recorded.
    #[serde(default)]
    pub importance: Option<Vec<crate::FeatureImportance>>,
    /// Boosted trees: the base log-odds their sum is added to; `None` for a random forest.
    #[serde(default)]
    pub logit_base: Option<f64>,
}

/// Scores with their reasons: for each row, `base` plus its contributions is its score (to
/// rounding), in probability space for a random forest and in log-odds for boosted trees.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The model's expected score over its training data (the same for every row).
    pub base: f64,
    /// Each row's score: as `predict` gives it for a random forest, its log-odds for boosted trees.
    pub scores: Vec<f64>,
    /// Each row's contribution of each feature, in the model's feature order.
    pub contributions: Vec<Vec<f64>>,
}

/// A trained random forest, ready to score.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) meta: ModelMeta,
    pub(crate) forest: Forest,
}

impl Model {
    pub(crate) fn new(meta: ModelMeta, mut forest: Forest) -> Self {
        forest.logit_base = meta.logit_base;
        forest.prepare();
        Self { meta, forest }
    }

    /// The model's name (empty before it is saved).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// The stored version (0 before it is saved).
    pub fn version(&self) -> u32 {
        self.meta.version
    }

    /// `name@vN`.
    pub fn reference(&self) -> String {
        format!("{}@v{}", self.meta.name, self.meta.version)
    }

    /// The input features, in argument order.
    pub fn features(&self) -> &[Feature] {
        &self.meta.features
    }

    /// Holdout metrics, when the model was trained with a holdout.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.meta.metrics.as_ref()
    }

    /// All metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Records the statement that produced the model (stored with it).
    pub fn set_sql(&mut self, sql: String) {
        self.meta.sql = Some(sql);
    }

    pub(crate) fn set_identity(&mut self, name: &str, version: u32) {
        self.meta.name = name.to_owned();
        self.meta.version = version;
    }

    /// The features as `(name TYPE, ...)` for messages.
    pub fn signature_text(&self) -> String {
        let parts: Vec<String> = self
            .meta
            .features
            .iter()
            .map(|f| format!("{} {}", f.name, f.kind.sql_name()))
            .collect();
        format!("({})", parts.join(", "))
    }

    /// Each row's score with its exact TreeSHAP contributions (see [`Explanation`]); `columns` as
    /// for [`Model::score_batch`]. An error for a model stored before node covers were kept.
    pub fn explain_batch(&self, columns: &[ArrayRef]) -> Result<Explanation, FraudError> {
        self.explain_with(columns, true)
    }

    fn explain_with(&self, columns: &[ArrayRef], batch: bool) -> Result<Explanation, FraudError> {
        let (encoded, rows) = self.checked_encode(columns)?;
        let Some(base) = self.forest.base_value() else {
            return Err(FraudError::Scoring(format!(
                "model '{}' was trained before nightshift kept the node covers that explaining \
                 needs: train it again (CREATE OR REPLACE MODEL … with the same query) to explain it",
                self.reference()
            )));
        };
        let features = self.meta.features.len();
        let phi = self.forest.contributions(&encoded, rows, batch);
        Ok(Explanation {
            base,
            scores: self.forest.explained_scores(&encoded, rows),
            contributions: (0..rows)
                .map(|r| (0..features).map(|f| phi[f * rows + r]).collect())
                .collect(),
        })
    }

    /// The forest in the `shap` package's custom tree format (a dict of `trees`, each with
    /// `children_left`, `children_right`, `children_default`, `features`, `thresholds`, `values`
    /// and `node_sample_weight`; infinite thresholds as the strings `"inf"` and `"-inf"`, which
    /// JSON has no numbers for), so that `shap.TreeExplainer` explains the same trees: inputs as
    /// [`Model::encode`] gives them, values already divided by the number of trees (the forest's
    /// score is their sum), each split's value its subtree's expected value. `None` for a model
    /// stored without covers.
    pub fn to_shap_json(&self) -> Option<serde_json::Value> {
        if !self.forest.explainable() {
            return None;
        }
        Some(self.forest.to_shap_json())
    }

    /// The feature columns as the trees compare them: numbers as `f64`, categories as their codes,
    /// NULLs and unseen categories as NaN; one vector per feature.
    pub fn encode(&self, columns: &[ArrayRef]) -> Result<Vec<Vec<f64>>, FraudError> {
        crate::features::encode_columns(&self.meta.name, &self.meta.features, columns)
    }

    /// [`Model::explain_batch`] by the path algorithm (shap's), row by row: the reference the batch
    /// algorithm is compared with in benchmarks.
    #[doc(hidden)]
    pub fn explain_batch_reference(&self, columns: &[ArrayRef]) -> Result<Explanation, FraudError> {
        self.explain_with(columns, false)
    }

    /// Probability of the positive class for each row; `columns` are the features in order, of
    /// accepted types (see [`FeatureKind::accepts`](crate::FeatureKind::accepts)). NULLs and unseen
    /// categories are missing values.
    pub fn score_batch(&self, columns: &[ArrayRef]) -> Result<Float64Array, FraudError> {
        let (encoded, rows) = self.checked_encode(columns)?;
        Ok(Float64Array::from(self.forest.predict(&encoded, rows)))
    }

    /// `columns` checked against the model's features (count and lengths) and encoded as the trees
    /// compare them, with the number of rows.
    fn checked_encode(&self, columns: &[ArrayRef]) -> Result<(Vec<Vec<f64>>, usize), FraudError> {
        let name = if self.meta.name.is_empty() {
            "<unsaved>"
        } else {
            &self.meta.name
        };
        if columns.len() != self.meta.features.len() {
            return Err(FraudError::Signature {
                function: None,
                model: name.to_owned(),
                expected: format!("{} arguments {}", self.meta.features.len(), self.signature_text()),
                given: format!("{} arguments", columns.len()),
                argument: None,
            });
        }
        let rows = columns.first().map_or(0, |c| c.len());
        if columns.iter().any(|c| c.len() != rows) {
            return Err(FraudError::Scoring(
                "feature columns have different lengths".into(),
            ));
        }
        let encoded = crate::features::encode_columns(name, &self.meta.features, columns)?;
        Ok((encoded, rows))
    }
}
