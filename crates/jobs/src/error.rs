//! The jobs crate's error type; each variant keeps the cause it wraps.

use datafusion::error::DataFusionError;

use crate::spec::SpecError;

/// Errors of jobs, runs, outputs and the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The engine panicked while running the job: a bug, reported as the run's failure instead of
    /// ending the process (and the scheduler with it).
    #[error(
        "job '{job}': the engine panicked: {message}; this is a bug in nightshift or one of its functions, please report it with the job's SQL"
    )]
    Panicked {
        /// The job.
        job: String,
        /// The panic's message.
        message: String,
    },
    /// The job definitions are invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Settings or session set-up failed.
    #[error(transparent)]
    Core(#[from] nightshift_core::CoreError),
    /// The run's engine could not hand out a session (a cluster that failed or is unreachable).
    #[error(transparent)]
    Session(#[from] nightshift_core::EngineError),
    /// A statement of the job's SQL failed (a SQL or data error: never retried).
    #[error("job '{job}': statement at {location} failed: {message}")]
    Sql {
        /// The job.
        job: String,
        /// `file:line:column`.
        location: String,
        /// The engine's message.
        message: String,
    },
    /// An object store call failed (transient: retried).
    #[error("object store error at '{path}': {source}")]
    Store {
        /// The object.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A local file operation failed (transient: retried).
    #[error("i/o error at '{path}': {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON object nightshift reads (a Delta commit, a lease, a run record) cannot be read back: it is
    /// torn or was edited. Not transient: retrying reads the same bytes.
    #[error("'{path}' is not a valid {what}: {source}")]
    Corrupt {
        /// The object.
        path: String,
        /// What it should be (`Delta commit`, `lease`).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A record could not be encoded as JSON.
    #[error("cannot encode the {what}: {source}")]
    Encode {
        /// What (`commit info`, `run record`, `lease`).
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// delta-rs failed on the output table: reading its log, writing its files or committing.
    #[error("Delta table '{path}': {source}")]
    Delta {
        /// The table's folder.
        path: String,
        /// What delta-rs reported.
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },
    /// A written file failed validation: its footer cannot be read back.
    #[error("output: validation of '{path}' failed: {source}")]
    Validation {
        /// The file, relative to the output folder.
        path: String,
        /// The lake's reading of the footer.
        #[source]
        source: nightshift_lake::LakeError,
    },
    /// The output could not be written or validated.
    #[error("output: {message}")]
    Output {
        /// What is wrong.
        message: String,
    },
    /// Another process took over this run's lease; this run must not publish.
    #[error(
        "job '{job}' interval {interval}: the lease was lost to another scheduler; nothing was published"
    )]
    LeaseLost {
        /// The job.
        job: String,
        /// The interval's run date.
        interval: String,
    },
    /// A check of severity `error` failed on the run's result; nothing was published.
    #[error("job '{job}': blocked by its checks; nothing was published:\n{failed}")]
    Blocked {
        /// The job.
        job: String,
        /// The failed checks, a line each.
        failed: String,
    },
    /// An executor of the cluster was lost while the run's statements ran there. Ballista 55
    /// re-plans the lost work, and its results after a loss are not to be trusted (rows were
    /// doubled and lost in our tests, see vendor/README.md): the attempt publishes nothing and
    /// is run again.
    #[error(
        "job '{job}': executor {executors} was lost while the run's statements ran on the cluster; \
         results after a loss are not trusted, so nothing was published and the attempt is run again"
    )]
    ExecutorLost {
        /// The job.
        job: String,
        /// The lost executors' ids.
        executors: String,
    },
    /// The run took longer than the job's timeout.
    #[error("job '{job}': timed out after {seconds} s")]
    Timeout {
        /// The job.
        job: String,
        /// The timeout.
        seconds: u64,
    },
    /// More records failed than the job's `max_error_rate` allows; nothing was published.
    #[error(
        "job '{job}': {failed} of {evaluated} records failed ({rate:.3}%), above max_error_rate {max:.3}%; \
         nothing was published{where_}"
    )]
    ErrorRate {
        /// The job.
        job: String,
        /// Records that failed.
        failed: u64,
        /// Records evaluated.
        evaluated: u64,
        /// Failed share, in percent.
        rate: f64,
        /// The limit, in percent.
        max: f64,
        /// Where the quarantined records went (`; the failed records are in …`), if they were kept.
        where_: String,
    },
    /// A dependency has not produced anything this run may use.
    #[error("job '{job}': {message}")]
    Dependency {
        /// The job.
        job: String,
        /// What is missing and what to run.
        message: String,
    },
    /// The job asks for something its engine cannot do (a record-error policy on a cluster).
    #[error("job '{job}': {message}")]
    Engine {
        /// The job.
        job: String,
        /// What and what to do.
        message: String,
    },
    /// The run was cancelled (shutdown).
    #[error("job '{job}': cancelled")]
    Cancelled {
        /// The job.
        job: String,
    },
    /// The engine failed outside a statement (writing, reading footers).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// Arrow failed while splitting partitions.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// Parquet encoding failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl JobError {
    /// Whether retrying may help: object store and I/O failures (delta-rs's included); never SQL,
    /// data or commit-protocol errors.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Delta { source, .. } => matches!(
                source.as_ref(),
                deltalake_core::DeltaTableError::ObjectStore { .. }
                    | deltalake_core::DeltaTableError::Transaction {
                        source: deltalake_core::kernel::transaction::TransactionError::ObjectStore { .. }
                    }
            ),
            _ => matches!(
                self,
                JobError::Store { .. }
                    | JobError::Io { .. }
                    | JobError::Parquet(parquet::errors::ParquetError::External(_))
                    | JobError::DataFusion(DataFusionError::ObjectStore(_) | DataFusionError::IoError(_))
                    | JobError::ExecutorLost { .. }
            ),
        }
    }
}
