//! Integration tests of nightshift-sentiment, compiled into one binary.

mod corpus;
mod edge_cases;
mod live_reference;
mod parity;
mod pathological;
mod reference_cases;
mod rules;
mod sql;
