//! Training a random forest from a stream of record batches.
//!
//! 1. The stream is read batch by batch into one `f64` vector per feature (categories as codes),
//!    the labels and the holdout mask: no row structs.
//! 2. On blocking threads: categories are coded in sorted order (those seen in training rows),
//!    every feature is quantised into at most `max_bins` quantile bins (u8 codes, 255 =
//!    missing), and the trees are grown in parallel from per-node histograms.
//! 3. The holdout rows are scored through the finished forest, exactly as `predict` would.
//!
//! The steps live in their own modules: `ingest` reads the stream, `binning` quantises the
//! features, `grow` grows one tree, and `fit` drives the forest from binning to the holdout
//! metrics.

mod binning;
mod boost;
mod fit;
mod grow;
mod ingest;

use std::sync::Arc;
use std::time::Instant;

use datafusion::execution::SendableRecordBatchStream;

use crate::{FraudError, Model, ModelOptions};

pub use self::ingest::read_labels;

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

/// The worker threads of the runtime this is called on (the process's `--threads`), or the cores
/// outside one: training uses as many, so that a user who limits the engine limits training too.
/// (`nightshift_core::runtime_threads` is the same for the session; core depends on this crate,
/// not the other way round, so this crate keeps its own.)
fn runtime_threads() -> usize {
    tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_workers())
        .unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1)
}

/// Trains a model on `stream`: every column except the target (and the holdout column) is a
/// feature. The CPU work runs on blocking threads, as many at once as the calling runtime has
/// workers (`--threads`; every core by default); `progress` is called as it goes.
pub async fn train(
    stream: SendableRecordBatchStream,
    options: &ModelOptions,
    progress: Arc<dyn Fn(TrainProgress) + Send + Sync>,
) -> Result<Model, FraudError> {
    let started = Instant::now();
    let trees_total = options.train.trees;
    let set = ingest::ingest(stream, options, progress.as_ref()).await?;
    let options = options.clone();
    let rows_read = set.labels.len() as u64;
    let progress2 = progress.clone();
    let threads = runtime_threads();
    let fit = tokio::task::spawn_blocking(move || fit::fit(set, options, threads, started, progress2));
    let model = fit
        .await
        .map_err(|e| FraudError::Training(format!("training thread failed: {e}")))??;
    progress(TrainProgress {
        stage: TrainStage::Done,
        rows_read,
        trees_done: trees_total,
        trees_total,
    });
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::runtime_threads;

    #[test]
    fn training_uses_the_runtimes_workers_also_on_its_blocking_threads() {
        for workers in [1, 3] {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .unwrap();
            let (outside, inside) = rt.block_on(async {
                let outside = runtime_threads();
                let inside = tokio::task::spawn_blocking(runtime_threads).await.unwrap();
                (outside, inside)
            });
            assert_eq!((outside, inside), (workers, workers));
        }
    }
}
