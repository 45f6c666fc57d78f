//! Scheduled SQL jobs for nightshift: job specs, schedules, the runner, the atomic publisher and the
//! run ledger. Nothing is built here yet; see issue 5. The crate exists so that the workspace layout
//! and dependency direction (`jobs` → `core`) are fixed from the start.
#![deny(missing_docs)]
