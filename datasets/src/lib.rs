//! The deterministic demo-lake generator of nightshift.
//!
//! [`generate`] writes two hive-partitioned Parquet tables, one file per day:
//!
//! - `reviews/review_date=YYYY-MM-DD/part-0.parquet`: product reviews whose English text mixes
//!   positive, negative, neutral, negated, intensified, ALL-CAPS, emoji and "but" phrasing, with a
//!   1–5 star rating that follows the text's sentiment, noisily;
//! - `transactions/tx_date=YYYY-MM-DD/part-0.parquet`: card transactions, below 1% of them labelled
//!   fraudulent following three learnable scenarios.
//!
//! The same [`GenerateOptions`] always give byte-identical files. The columns and the fraud scenarios
//! are documented in `docs/datasets.md`.
//!
//! ```no_run
//! let opts = nightshift_datasets::GenerateOptions { days: 7, ..Default::default() };
//! let summary = nightshift_datasets::generate(&opts)?;
//! for table in &summary.tables {
//!     println!("{}: {} rows in {} files", table.name, table.rows, table.files);
//! }
//! # Ok::<(), nightshift_datasets::DatasetError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod generate;
mod options;
mod reviews;
mod rng;
mod tpch;
mod transactions;
mod writer;

pub use crate::{
    error::DatasetError,
    generate::generate,
    options::{GenerateOptions, GenerateSummary, TableSummary},
    tpch::{TPCH_TABLES, TpchOptions, generate_tpch, tpch_is_generated},
};
