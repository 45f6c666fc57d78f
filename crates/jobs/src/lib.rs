//! Scheduled SQL jobs for nightshift: job specs, schedules, the runner, the atomic publisher and the
//! run ledger.
#![deny(missing_docs)]

mod daemon;
mod error;
mod lease;
mod ledger;
mod publisher;
mod runner;
mod schedule;
mod spec;

pub use daemon::{Daemon, DaemonClock, DaemonConfig, DaemonEvent};
pub use error::JobError;
pub use lease::Lease;
pub use ledger::{Ledger, RunRecord, RunState, process_usage, runs_batch};
pub use nightshift_core::OnRecordError;
pub use publisher::{Manifest, ManifestFile, Output, RunFacts, Staged};
pub use runner::{
    Clock, Engine, LocalEngine, PlannedRun, ProgressFn, RunProgress, Runner, Selection, SystemClock,
    interval_params,
};
pub use schedule::{Interval, Schedule, ScheduleError};
pub use spec::{JobSet, JobSpec, SchedulerSettings, SpecError, WriteMode, parse_duration};
