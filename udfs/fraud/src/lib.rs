//! Fraud detection models for nightshift: random-forest training from SQL, versioned model
//! artifacts in the lake, and batch scoring functions.
//!
//! | SQL | returns |
//! |---|---|
//! | `predict('model', feature, ...)` | `DOUBLE`, the probability of the positive class |
//! | `predict_label('model', feature, ...)` | `BOOLEAN`, whether that probability is above 0.5 |
//! | `fraud_score(feature, ...)` | `DOUBLE`, `predict` with the project's default fraud model |
//! | `explain_predict('model', feature, ...)` | each feature's exact contribution (TreeSHAP) |
//! | `explain_top('model', k, feature, ...)` | the `k` largest contributions |
//! | `fraud_reasons(k, feature, ...)` | `explain_top` with the default fraud model |
//! | `SELECT * FROM feature_importance('model')` | each feature's global importance |
//!
//! The session trains with [`train`] (for `CREATE MODEL`), stores models with [`ModelStore`],
//! caches them per session in a [`ModelRegistry`] and registers [`functions`].
#![deny(missing_docs)]

mod error;
mod explain;
mod explain_predict;
mod fast_shap;
mod features;
mod forest;
mod fraud_score;
mod importance;
mod metrics;
mod model;
mod options;
mod pins;
mod predict;
mod predict_label;
mod registry;
mod rng;
mod scoring;
mod store;
mod train;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use crate::{
    error::FraudError,
    explain_predict::{ExplainPredictFunc, ExplainTopFunc, FraudReasonsFunc},
    features::{Feature, FeatureKind},
    fraud_score::FraudScoreFunc,
    importance::{FeatureImportance, FeatureImportanceFunc},
    metrics::{Metrics, evaluate},
    model::{Explanation, Model, ModelMeta},
    options::{
        ClassWeight, HOLDOUT_COLUMN, Holdout, MAX_BINS, MaxFeatures, ModelKind, ModelOptions, TrainOptions,
    },
    pins::ModelPins,
    predict::PredictFunc,
    predict_label::PredictLabelFunc,
    registry::{ModelRegistry, parse_reference},
    store::{ModelInfo, ModelStore},
    train::{TrainProgress, TrainStage, read_labels, train},
};

/// `predict`, `predict_label`, `fraud_score`, `fraud_reasons`, `explain_predict` and `explain_top`,
/// planning against
/// `registry`.
pub fn functions(registry: Arc<ModelRegistry>) -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(PredictFunc::new(registry.clone()))),
        Arc::new(ScalarUDF::new_from_impl(ExplainPredictFunc::new(
            registry.clone(),
        ))),
        Arc::new(ScalarUDF::new_from_impl(ExplainTopFunc::new(registry.clone()))),
        Arc::new(ScalarUDF::new_from_impl(PredictLabelFunc::new(registry.clone()))),
        Arc::new(ScalarUDF::new_from_impl(FraudReasonsFunc::new(registry.clone()))),
        Arc::new(ScalarUDF::new_from_impl(FraudScoreFunc::new(registry))),
    ]
}
