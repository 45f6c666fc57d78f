//! Training a random forest from a stream of record batches.

use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;

use crate::{FraudError, Model, ModelOptions};

/// Where training is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainStage {
    /// Reading the query's record batches.
    Reading,
    /// Quantising features into bins.
    Binning,
    /// Growing trees.
    Trees,
    /// Scoring the holdout rows.
    Evaluating,
    /// Done.
    Done,
}

/// A progress report of [`train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainProgress {
    /// The current stage.
    pub stage: TrainStage,
    /// Rows read so far.
    pub rows_read: u64,
    /// Trees grown so far.
    pub trees_done: usize,
    /// Trees to grow.
    pub trees_total: usize,
}

/// Trains a model on `stream`: every column except the target (and the holdout column) is a
/// feature. The CPU work runs on blocking threads using every core; `progress` is called as it goes.
pub async fn train(
    stream: SendableRecordBatchStream,
    options: &ModelOptions,
    progress: Arc<dyn Fn(TrainProgress) + Send + Sync>,
) -> Result<Model, FraudError> {
    let _ = (stream, options, progress);
    unimplemented!()
}
