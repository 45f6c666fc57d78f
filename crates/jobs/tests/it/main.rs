//! Integration tests of nightshift-jobs: the publisher under SIGKILL, jobs run end to end on a
//! generated demo lake, and the parsers of schedules, durations and job files fuzzed.

mod fuzz;
mod publisher;
mod runner;
