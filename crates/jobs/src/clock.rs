//! The time source of planning and scheduling, injectable so that tests can step the clock.

use chrono::{DateTime, Utc};

/// The time source of planning: injectable so tests can step the clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
