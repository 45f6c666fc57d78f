//! What nightshift's UDF families share.
//!
//! [`RecordErrors`] is the per-record error policy (`on_record_error = fail | null | quarantine`): a
//! DataFusion config extension (`SET nightshift.on_record_error = 'null'`) that a function reads from
//! the `ScalarFunctionArgs` of each batch, with a sink that counts the records evaluated and keeps the
//! failed ones for the caller (a job writes them to `_errors/`).
#![deny(missing_docs)]

mod record_errors;

pub use record_errors::{OnRecordError, RecordError, RecordErrorSink, RecordErrors};
