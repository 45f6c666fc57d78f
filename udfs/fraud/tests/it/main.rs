//! Integration tests of nightshift-fraud: training, the model store, the SQL functions, metrics
//! against scikit-learn, model quality on the demo lake and explanations against the shap package.

mod boosting;
mod common;
mod edge_cases;
mod metrics;
mod quality;
mod shap;
mod store;
mod train;
mod udfs;
