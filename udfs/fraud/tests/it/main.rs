//! Integration tests of nightshift-fraud: training, the model store, the SQL functions, metrics
//! against scikit-learn and model quality on the demo lake.

mod common;
mod edge_cases;
mod metrics;
mod quality;
mod store;
mod train;
mod udfs;
