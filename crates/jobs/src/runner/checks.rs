//! The checks of a job, run on its result (registered as the table `output`) before it is
//! published, against the job's own history: earlier runs in the ledger and earlier check values.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::JobError;
use crate::ledger::{CheckResult, RunRecord, RunState};
use crate::spec::{CheckKind, JobSpec, Severity};

/// What the checks are run for.
pub(super) struct CheckRun<'a> {
    pub job: &'a JobSpec,
    pub run_id: &'a str,
    pub run_date: &'a str,
    pub now: String,
}

/// Runs every check of the job on `batches` (its result) in `ctx`. A check whose query cannot run
/// is an error naming it; a check that fails is a result with the verdict `fail`.
pub(super) async fn evaluate(
    run: &CheckRun<'_>,
    ctx: &SessionContext,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    runs: &[RunRecord],
    past: &[CheckResult],
) -> Result<Vec<CheckResult>, JobError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    ctx.register_table(
        "output",
        Arc::new(MemTable::try_new(schema.clone(), vec![batches])?),
    )?;
    // The job's earlier published runs, newest first, one per run date (the last run of a date
    // replaced the others), without this run's date.
    let mut published: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| {
            r.job == run.job.name
                && r.run_date != run.run_date
                && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
        })
        .collect();
    published.sort_by(|a, b| (&b.interval_start, &b.started_at).cmp(&(&a.interval_start, &a.started_at)));
    let mut dates = HashSet::new();
    published.retain(|r| dates.insert(r.run_date.clone()));
    let published_ids: HashSet<&str> = published.iter().map(|r| r.run_id.as_str()).collect();

    let mut out = Vec::new();
    for (i, check) in run.job.checks.iter().enumerate() {
        let result =
            |value: Option<f64>, low: Option<f64>, high: Option<f64>, verdict: &str, message: String| {
                CheckResult {
                    run_id: run.run_id.to_string(),
                    job: run.job.name.clone(),
                    run_date: run.run_date.to_string(),
                    check: check.name.clone(),
                    kind: check.kind.name().to_string(),
                    severity: check.severity.as_str().to_string(),
                    value,
                    low,
                    high,
                    verdict: verdict.to_string(),
                    message,
                    checked_at: run.now.clone(),
                }
            };
        let bad_query = |message: String| JobError::Sql {
            job: run.job.name.clone(),
            location: format!("jobs.{}.checks[{i}] ('{}')", run.job.name, check.name),
            message,
        };
        match &check.kind {
            CheckKind::RowCount {
                max_change,
                runs,
                min_runs,
            } => {
                let history: Vec<f64> = published
                    .iter()
                    .take(*runs)
                    .map(|r| r.rows_written as f64)
                    .collect();
                let value = rows as f64;
                if history.len() < *min_runs {
                    out.push(result(
                        Some(value),
                        None,
                        None,
                        "skipped",
                        format!(
                            "{rows} rows; {} earlier published run(s), {min_runs} needed to judge by",
                            history.len()
                        ),
                    ));
                    continue;
                }
                let median = median(&history);
                let (low, high) = (median * (1.0 - max_change), median * (1.0 + max_change));
                let verdict = if (low..=high).contains(&value) {
                    "pass"
                } else {
                    "fail"
                };
                out.push(result(
                    Some(value),
                    Some(low),
                    Some(high),
                    verdict,
                    format!(
                        "{rows} rows; the median of the last {} runs is {median}, so {low:.0} to {high:.0} \
                         pass (max_change {:.0}%)",
                        history.len(),
                        max_change * 100.0
                    ),
                ));
            }
            CheckKind::NullShare { column, max } => {
                if schema.field_with_name(column).is_err() {
                    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                    return Err(bad_query(format!(
                        "the result has no column '{column}'; its columns are: {}",
                        columns.join(", ")
                    )));
                }
                let quoted = format!("\"{}\"", column.replace('"', "\"\""));
                let sql = format!("SELECT count(*) AS n, count({quoted}) AS present FROM output");
                let batches = query(ctx, &sql).await.map_err(bad_query)?;
                let (n, present) = match batches.iter().find(|b| b.num_rows() > 0) {
                    Some(b) => (int_at(b, 0), int_at(b, 1)),
                    None => (0, 0),
                };
                let share = if n == 0 {
                    0.0
                } else {
                    (n - present) as f64 / n as f64
                };
                let verdict = if share <= *max { "pass" } else { "fail" };
                out.push(result(
                    Some(share),
                    Some(0.0),
                    Some(*max),
                    verdict,
                    format!(
                        "{} of {n} values of '{column}' are NULL ({:.2}%); at most {:.2}% pass",
                        n - present,
                        share * 100.0,
                        max * 100.0
                    ),
                ));
            }
            CheckKind::Metric {
                sql,
                sigmas,
                min_change,
                runs,
                min_runs,
            } => {
                let batches = query(ctx, sql).await.map_err(bad_query)?;
                let values = metric_values(&check.name, &batches).map_err(bad_query)?;
                if values.is_empty() {
                    out.push(result(
                        None,
                        None,
                        None,
                        "skipped",
                        format!("the query returned no value ({rows} rows in the result)"),
                    ));
                }
                for (name, value) in values {
                    let mut history: Vec<&CheckResult> = past
                        .iter()
                        .filter(|c| {
                            c.job == run.job.name
                                && c.check == name
                                && c.value.is_some()
                                && published_ids.contains(c.run_id.as_str())
                        })
                        .collect();
                    history.sort_by(|a, b| b.run_date.cmp(&a.run_date));
                    let history: Vec<f64> = history.iter().take(*runs).filter_map(|c| c.value).collect();
                    let mut r = result(value, None, None, "skipped", String::new());
                    r.check = name.clone();
                    let Some(v) = value else {
                        r.verdict = "fail".into();
                        r.message = "the metric is NULL".into();
                        out.push(r);
                        continue;
                    };
                    if history.len() < *min_runs {
                        r.message = format!(
                            "{v}; {} earlier value(s), {min_runs} needed to judge by",
                            history.len()
                        );
                        out.push(r);
                        continue;
                    }
                    let (mean, sd) = mean_and_sd(&history);
                    let half = (sigmas * sd).max(min_change * mean.abs());
                    let (low, high) = (mean - half, mean + half);
                    r.low = Some(low);
                    r.high = Some(high);
                    r.verdict = if (low..=high).contains(&v) { "pass" } else { "fail" }.into();
                    r.message = format!(
                        "{v}; the last {} values have mean {mean:.6} and standard deviation {sd:.6}, so \
                         {low:.6} to {high:.6} pass ({sigmas} standard deviations, at least {:.0}% of the mean)",
                        history.len(),
                        min_change * 100.0
                    );
                    out.push(r);
                }
            }
            CheckKind::Sql { sql } => {
                let batches = query(ctx, sql).await.map_err(bad_query)?;
                let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
                let verdict = if n == 0 { "pass" } else { "fail" };
                let message = if n == 0 {
                    "no offending row".to_string()
                } else {
                    let first: Vec<RecordBatch> = batches
                        .iter()
                        .filter(|b| b.num_rows() > 0)
                        .take(1)
                        .map(|b| b.slice(0, b.num_rows().min(3)))
                        .collect();
                    let shown = datafusion::arrow::util::pretty::pretty_format_batches(&first)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    format!("{n} offending row(s), the first:\n{shown}")
                };
                out.push(result(Some(n as f64), Some(0.0), Some(0.0), verdict, message));
            }
        }
    }
    ctx.deregister_table("output")?;
    Ok(out)
}

/// The failed `error` checks, which block publishing, as lines for the run's message.
pub(super) fn blocking(results: &[CheckResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.verdict == "fail" && r.severity == Severity::Error.as_str())
        .map(|r| format!("{}: {}", r.check, r.message))
        .collect()
}

/// The failed `warn` checks, as lines for the run's message.
pub(super) fn warnings(results: &[CheckResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.verdict == "fail" && r.severity == Severity::Warn.as_str())
        .map(|r| format!("warning, check {}: {}", r.check, r.message))
        .collect()
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let df = ctx.sql(sql).await.map_err(|e| e.strip_backtrace())?;
    df.collect().await.map_err(|e| e.strip_backtrace())
}

fn int_at(batch: &RecordBatch, column: usize) -> i64 {
    cast(batch.column(column), &DataType::Int64)
        .ok()
        .map(|a| {
            a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0)
        })
        .unwrap_or(0)
}

/// A metric query's values: one number (named after the check), or rows of (name, number), each
/// named `check:name`; none when it returned no row (a grouped metric over an empty result).
fn metric_values(check: &str, batches: &[RecordBatch]) -> Result<Vec<(String, Option<f64>)>, String> {
    let expected = "it must return one number, or rows of (name, number)";
    let mut out = Vec::new();
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let (names, values) = match b.num_columns() {
            1 => (None, b.column(0)),
            2 => (
                Some(cast(b.column(0), &DataType::Utf8).map_err(|e| e.to_string())?),
                b.column(1),
            ),
            n => return Err(format!("returned {n} columns; {expected}")),
        };
        let values = cast(values, &DataType::Float64)
            .map_err(|_| format!("its values are {}, not numbers; {expected}", values.data_type()))?;
        let values = values.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for row in 0..b.num_rows() {
            let name = match &names {
                None => check.to_string(),
                Some(n) => {
                    let n = n.as_string::<i32>();
                    format!("{check}:{}", if n.is_valid(row) { n.value(row) } else { "NULL" })
                }
            };
            out.push((name, values.is_valid(row).then(|| values.value(row))));
        }
    }
    let mut seen = HashSet::new();
    if let Some((name, _)) = out.iter().find(|(n, _)| !seen.insert(n.clone())) {
        return Err(format!(
            "returned '{name}' more than once; {expected}, one row per name"
        ));
    }
    Ok(out)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The mean and the sample standard deviation.
fn mean_and_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_deviations() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let (mean, sd) = mean_and_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(mean, 5.0);
        assert!((sd - 2.138_089_935).abs() < 1e-6, "{sd}");
    }
}
