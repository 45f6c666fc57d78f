//! Integration tests of nightshift-fraud.
