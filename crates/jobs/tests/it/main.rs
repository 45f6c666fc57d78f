//! Integration tests of nightshift-jobs: the publisher under SIGKILL, and jobs run end to end on a
//! generated demo lake.

mod publisher;
mod runner;
