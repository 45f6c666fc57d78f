//! What a job definition resolves to: a job, its write mode, and the scheduler's settings.

use std::path::PathBuf;
use std::time::Duration;

use datafusion::common::ScalarValue;
use nightshift_core::OnRecordError;

use crate::schedule::Schedule;

/// How a run's output replaces what was there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Replace exactly this run's interval (the default): reruns give the same report.
    #[default]
    OverwriteInterval,
    /// Add this run's files to what is there.
    Append,
    /// Replace the whole output.
    Replace,
}

impl std::fmt::Display for WriteMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteMode::OverwriteInterval => "overwrite_interval",
            WriteMode::Append => "append",
            WriteMode::Replace => "replace",
        })
    }
}

/// One job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The job's name (`[jobs.NAME]`).
    pub name: String,
    /// Where it was declared (`file:line`).
    pub origin: String,
    /// The SQL file (absolute, or relative to the current folder).
    pub sql: PathBuf,
    /// When it runs and which interval each run covers.
    pub schedule: Schedule,
    /// Output folder, relative to the lake root (or a URL).
    pub output: String,
    /// Hive partition columns of the output.
    pub partition_by: Vec<String>,
    /// How the output is replaced.
    pub mode: WriteMode,
    /// Jobs that run before this one.
    pub depends_on: Vec<String>,
    /// Retries after a transient failure (object store, I/O).
    pub retries: u32,
    /// First backoff; doubled on each retry.
    pub retry_backoff: Duration,
    /// A run that takes longer fails.
    pub timeout: Option<Duration>,
    /// Replaced files are kept this long, so earlier versions stay readable (time travel); then
    /// Delta's vacuum, run after each commit, deletes them.
    pub retain: Duration,
    /// What a record a function cannot evaluate does (`fail`, `null`, `quarantine` to `_errors/`).
    pub on_record_error: OnRecordError,
    /// A run whose share of failed records is larger fails and publishes nothing; `None`: no limit.
    pub max_error_rate: Option<f64>,
    /// Extra typed parameters bound as `$name`.
    pub params: Vec<(String, ScalarValue)>,
    /// A query that returns one boolean, true once the interval's input is ready (`$run_date` and
    /// the other parameters bound); `None`: always ready.
    pub ready_when: Option<String>,
    /// Delta tables (reports of other jobs, or any) that must have a commit at or after the
    /// interval's end before it runs.
    pub wait_for: Vec<String>,
    /// How long a run waits for `ready_when` before it ends as `input_missing` (0: asks once).
    pub wait_timeout: Duration,
    /// How often `ready_when` is asked again while waiting.
    pub wait_poll: Duration,
    /// Checks run on the result before it is published (`[[jobs.NAME.checks]]`).
    pub checks: Vec<super::checks::CheckSpec>,
    /// Where failed, blocked, partial and input-missing runs and missed deadlines are reported.
    pub alerts: super::alerts::Alerts,
    /// How many of the latest published intervals a due run checks for changed inputs (late data),
    /// running again those whose inputs changed since they were published; 0: none.
    pub lookback: usize,
}

/// `[scheduler]`: settings of `nightshift schedule` and the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerSettings {
    /// At most this many missed intervals per job are caught up after downtime (the latest ones).
    pub catch_up_limit: usize,
    /// A lease not renewed for this long is taken over.
    pub lease_ttl: Duration,
    /// After SIGTERM, a running job gets this long to finish before it is abandoned.
    pub grace_period: Duration,
    /// How often the scheduler wakes up when nothing is due sooner.
    pub poll_interval: Duration,
    /// Price of one CPU-hour, for the cost per 1,000 rows KPI.
    pub price_per_cpu_hour: f64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            catch_up_limit: 30,
            lease_ttl: Duration::from_secs(600),
            grace_period: Duration::from_secs(30),
            poll_interval: Duration::from_secs(30),
            price_per_cpu_hour: 0.05,
        }
    }
}
