//! Scheduled SQL jobs for nightshift: job specs, schedules, the runner, the atomic publisher and the
//! run ledger.
#![deny(missing_docs)]

mod schedule;
mod spec;

pub use schedule::{Interval, Schedule, ScheduleError};
pub use spec::{JobSet, JobSpec, OnRecordError, SchedulerSettings, SpecError, WriteMode, parse_duration};
