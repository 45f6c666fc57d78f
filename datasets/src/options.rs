//! The generator's options and summary, and the plan of days and rows validated from them.

use std::path::PathBuf;

use chrono::{Datelike, Days, NaiveDate};

use crate::DatasetError;

/// What [`generate`](crate::generate) writes, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// The lake folder; `reviews/` and `transactions/` are (re)written inside it, nothing else is touched.
    pub out: PathBuf,
    /// Total number of product reviews, spread evenly over the days.
    pub reviews: usize,
    /// Total number of card transactions, spread evenly over the days.
    pub transactions: usize,
    /// Number of daily partitions (at least 1).
    pub days: u32,
    /// Seed of every random choice: the same options give byte-identical files.
    pub seed: u64,
    /// The date of the first partition.
    pub start_date: NaiveDate,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("datasets/lake"),
            reviews: 20_000,
            transactions: 100_000,
            days: 30,
            seed: 42,
            start_date: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap_or_default(),
        }
    }
}

/// What [`generate`](crate::generate) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    /// One entry per table, `reviews` first, then `transactions`.
    pub tables: Vec<TableSummary>,
}

/// What was written for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// The table (and folder) name.
    pub name: String,
    /// Rows written over all partitions.
    pub rows: usize,
    /// Parquet files written (one per day).
    pub files: usize,
    /// Bytes of Parquet written.
    pub bytes: u64,
}

/// Largest row count accepted per table; keeps ids and per-day buffers far from any limit.
const MAX_ROWS: usize = 1 << 40;

/// The validated options, with the calendar of partitions worked out.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) dates: Vec<NaiveDate>,
}

impl Plan {
    pub(crate) fn new(opts: &GenerateOptions) -> Result<Self, DatasetError> {
        if opts.days == 0 {
            return Err(DatasetError::invalid("days", "must be at least 1, got 0"));
        }
        if opts.out.as_os_str().is_empty() {
            return Err(DatasetError::invalid("out", "must not be empty"));
        }
        for (option, rows) in [("reviews", opts.reviews), ("transactions", opts.transactions)] {
            if rows > MAX_ROWS {
                return Err(DatasetError::invalid(
                    option,
                    format!("must be at most {MAX_ROWS}, got {rows}"),
                ));
            }
        }
        let last = opts
            .start_date
            .checked_add_days(Days::new(u64::from(opts.days - 1)))
            .filter(|d| (1..=9999).contains(&opts.start_date.year()) && d.year() <= 9999);
        if last.is_none() {
            return Err(DatasetError::invalid(
                "days",
                format!(
                    "{} days from {} run past the years 1 to 9999",
                    opts.days, opts.start_date
                ),
            ));
        }
        let dates = (0..opts.days)
            .filter_map(|d| opts.start_date.checked_add_days(Days::new(u64::from(d))))
            .collect();
        Ok(Self { dates })
    }
}

/// Rows of day `day` when `total` rows are spread over `days` days, and the number of rows before it.
/// The first `total % days` days get one extra row.
pub(crate) fn day_share(total: usize, days: usize, day: usize) -> (usize, usize) {
    let base = total / days;
    let extra = total % days;
    let rows = base + usize::from(day < extra);
    let before = day * base + day.min(extra);
    (rows, before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, days) in [(0, 3), (10, 3), (100_000, 30), (7, 10)] {
            let mut next = 0;
            for day in 0..days {
                let (rows, before) = day_share(total, days, day);
                assert_eq!(before, next);
                next += rows;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn rejects_bad_options() {
        let opts = GenerateOptions {
            days: 0,
            ..GenerateOptions::default()
        };
        let err = Plan::new(&opts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid option 'days': must be at least 1, got 0"
        );

        let opts = GenerateOptions {
            start_date: NaiveDate::from_ymd_opt(9999, 12, 30).unwrap(),
            days: 5,
            ..GenerateOptions::default()
        };
        assert!(matches!(
            Plan::new(&opts),
            Err(DatasetError::InvalidOptions { option: "days", .. })
        ));

        let opts = GenerateOptions {
            out: PathBuf::new(),
            ..GenerateOptions::default()
        };
        assert!(matches!(
            Plan::new(&opts),
            Err(DatasetError::InvalidOptions { option: "out", .. })
        ));
    }

    #[test]
    fn plans_consecutive_dates() {
        let opts = GenerateOptions {
            days: 3,
            ..GenerateOptions::default()
        };
        let plan = Plan::new(&opts).unwrap();
        let names: Vec<String> = plan.dates.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["2024-06-01", "2024-06-02", "2024-06-03"]);
    }
}
