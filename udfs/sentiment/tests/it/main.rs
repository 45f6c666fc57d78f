//! Integration tests of nightshift-sentiment, compiled into one binary.

mod corpus;
mod live_reference;
mod parity;
mod pathological;
mod reference_cases;
mod rules;
mod sql;
