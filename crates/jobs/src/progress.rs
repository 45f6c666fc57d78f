//! Progress events of a run, for progress displays.

use std::sync::Arc;

use chrono::NaiveDate;

/// What a run is doing, for progress displays (`nightshift run` draws a bar from it on a terminal).
#[derive(Debug, Clone, Copy)]
pub enum RunProgress<'a> {
    /// The run entered a stage: `querying`, `writing`, `validating` or `publishing`.
    Stage {
        /// The job.
        job: &'a str,
        /// The interval's run date.
        run_date: NaiveDate,
        /// The stage.
        stage: &'static str,
    },
    /// Rows the run has written so far.
    Rows(u64),
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(RunProgress<'_>) + Send + Sync>;
