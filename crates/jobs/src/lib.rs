//! Scheduled SQL jobs for nightshift: job specs, schedules, the runner, the publisher of reports
//! as Delta Lake tables (through delta-rs) and the run ledger.
#![deny(missing_docs)]

mod alerts;
mod clock;
mod daemon;
mod error;
mod lease;
mod ledger;
mod legacy;
mod progress;
mod publisher;
mod runner;
mod schedule;
mod spec;

pub use clock::{Clock, SystemClock};
pub use daemon::{Daemon, DaemonClock, DaemonConfig, DaemonEvent};
pub use error::JobError;
pub use lease::Lease;
pub use ledger::{CheckResult, Ledger, RunRecord, RunState, checks_batch, process_usage, runs_batch};
pub use nightshift_core::OnRecordError;
pub use progress::{ProgressFn, RunProgress};
pub use publisher::{
    COMMIT_INFO_KEY, Commit, InputFile, Output, RUN_COMMIT_LOOKBACK, RunFacts, RunInfo, Staged, TAG_INTERVAL,
    TAG_RUN,
};
pub use runner::{InputsChange, PlannedRun, Rerun, RerunPins, Runner, Selection, interval_params};
pub use schedule::{Interval, Schedule, ScheduleError};
pub use spec::{
    AlertTarget, Alerts, CheckKind, CheckSpec, DEFAULT_RETAIN, JobSet, JobSpec, SchedulerSettings, Severity,
    SpecError, WriteMode, parse_duration,
};
