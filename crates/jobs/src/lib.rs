//! Scheduled SQL jobs for nightshift: job specs, schedules, the runner, the atomic publisher and the
//! run ledger.
#![deny(missing_docs)]

mod schedule;

pub use schedule::{Interval, Schedule, ScheduleError};
