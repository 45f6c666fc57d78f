//! The run ledger: one JSON record per run under `_nightshift/runs/` in the lake, queryable as the
//! table `nightshift.runs`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::JobError;

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Started, not finished (or its process died: see `heartbeat_at`).
    Running,
    /// Published its output.
    Succeeded,
    /// Published its output, but some records were quarantined or nulled.
    PartiallySucceeded,
    /// Failed; the previous output is intact.
    Failed,
    /// Stopped by a shutdown; the previous output is intact.
    Cancelled,
    /// Did not run: the job's `ready_when` was still false when its `wait_timeout` ran out. The
    /// previous output is intact, and the next due run asks again.
    InputMissing,
    /// Ran, but a check of severity `error` failed on its result: nothing was published.
    Blocked,
}

impl RunState {
    /// The state as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::PartiallySucceeded => "partially_succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::InputMissing => "input_missing",
            RunState::Blocked => "blocked",
        }
    }
}

/// One run, with the seed's KPIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique id (also in the output's file names).
    pub run_id: String,
    /// The job.
    pub job: String,
    /// `$run_date`.
    pub run_date: String,
    /// `$interval_start` (RFC 3339, UTC).
    pub interval_start: String,
    /// `$interval_end`.
    pub interval_end: String,
    /// The state.
    pub state: RunState,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// End, when finished.
    pub ended_at: Option<String>,
    /// Job completion time in seconds.
    pub duration_seconds: f64,
    /// Rows written.
    pub rows_written: u64,
    /// Throughput: rows written per second.
    pub rows_per_second: f64,
    /// Records that failed (UDF errors).
    pub error_records: u64,
    /// `error_records / (rows + error_records)`.
    pub error_rate: f64,
    /// CPU time of the process during the run, in seconds.
    pub cpu_seconds: f64,
    /// Peak resident memory of the process, in bytes.
    pub peak_memory_bytes: u64,
    /// Bytes the scans read.
    pub bytes_read: u64,
    /// Bytes of the published files.
    pub bytes_written: u64,
    /// `cpu_seconds / 3600 * price_per_cpu_hour / rows * 1000`.
    pub cost_per_1000_rows: f64,
    /// The Delta version the run committed, if it published.
    pub output_version: Option<u64>,
    /// The error of a failed run.
    pub message: Option<String>,
    /// Where the run executed: `local`, `standalone` or the Ballista scheduler's URL.
    #[serde(default = "local")]
    pub executed_on: String,
    /// CPU seconds the cluster's executors spent on the run's statements, summed over executors
    /// (from Ballista's task metrics); 0 for a local run, whose work `cpu_seconds` counts.
    #[serde(default)]
    pub executor_cpu_seconds: f64,
}

/// The outcome of one check of one run (`nightshift.checks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The run.
    pub run_id: String,
    /// The job.
    pub job: String,
    /// The run's `$run_date`.
    pub run_date: String,
    /// The check's name; a metric's named values are `name:value_name`.
    pub check: String,
    /// `row_count`, `null_share`, `metric` or `sql`.
    pub kind: String,
    /// `error` or `warn`.
    pub severity: String,
    /// What was measured (rows, a share, a metric, offending rows), when it could be.
    pub value: Option<f64>,
    /// The lowest value that passes, if there is one.
    pub low: Option<f64>,
    /// The highest value that passes, if there is one.
    pub high: Option<f64>,
    /// `pass`, `fail`, or `skipped` (not enough history to judge by).
    pub verdict: String,
    /// Why, in words.
    pub message: String,
    /// When it was checked (RFC 3339, UTC).
    pub checked_at: String,
}

fn local() -> String {
    "local".to_string()
}

/// The ledger of a lake.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Arc<dyn ObjectStore>,
    dir: Path,
}

impl Ledger {
    /// The ledger under `<lake prefix>/_nightshift/runs/`.
    pub fn new(store: Arc<dyn ObjectStore>, lake_prefix: &Path) -> Self {
        Self {
            store,
            dir: lake_prefix.clone().join("_nightshift").join("runs"),
        }
    }

    fn path(&self, r: &RunRecord) -> Path {
        self.dir
            .clone()
            .join(r.job.as_str())
            .join(format!("{}_{}.json", r.run_date, r.run_id))
    }

    /// Writes (or rewrites) a run's record.
    pub async fn record(&self, r: &RunRecord) -> Result<(), JobError> {
        self.put_json(&self.path(r), r, "run record").await
    }

    /// Every run, oldest first (by start time).
    pub async fn runs(&self) -> Result<Vec<RunRecord>, JobError> {
        let mut out: Vec<RunRecord> = self.read_all(&self.dir, "run record").await?;
        out.sort_by(|a, b| (&a.started_at, &a.run_id).cmp(&(&b.started_at, &b.run_id)));
        Ok(out)
    }

    /// Writes `value` as pretty JSON at `path`.
    async fn put_json(
        &self,
        path: &Path,
        value: &impl Serialize,
        what: &'static str,
    ) -> Result<(), JobError> {
        let body = serde_json::to_vec_pretty(value).map_err(|source| JobError::Encode { what, source })?;
        self.store
            .put(path, PutPayload::from(body))
            .await
            .map_err(|source| JobError::Store {
                path: path.to_string(),
                source,
            })?;
        Ok(())
    }

    /// Every `.json` file under `dir`, read as a `T`; one that cannot be read is skipped with a
    /// warning (a torn write must not hide the rest of the ledger).
    async fn read_all<T: serde::de::DeserializeOwned>(
        &self,
        dir: &Path,
        what: &str,
    ) -> Result<Vec<T>, JobError> {
        let metas: Vec<_> =
            self.store
                .list(Some(dir))
                .try_collect()
                .await
                .map_err(|source| JobError::Store {
                    path: dir.to_string(),
                    source,
                })?;
        let mut out = Vec::new();
        for m in metas.iter().filter(|m| m.location.as_ref().ends_with(".json")) {
            let bytes = match self.store.get(&m.location).await {
                Ok(g) => g.bytes().await,
                Err(e) => Err(e),
            };
            match bytes.map(|b| serde_json::from_slice::<T>(&b)) {
                Ok(Ok(r)) => out.push(r),
                Ok(Err(e)) => tracing::warn!(file = %m.location, error = %e, "skipping an unreadable {what}"),
                Err(e) => tracing::warn!(file = %m.location, error = %e, "skipping an unreadable {what}"),
            }
        }
        Ok(out)
    }

    /// `<lake>/_nightshift/checks/`, beside the runs.
    fn checks_dir(&self) -> Path {
        let parts: Vec<_> = self.dir.parts().collect();
        let parent = &parts[..parts.len().saturating_sub(1)];
        Path::from_iter(parent.iter().cloned()).join("checks")
    }

    /// Writes (or rewrites) the check results of one run (all of one run).
    pub async fn record_checks(&self, results: &[CheckResult]) -> Result<(), JobError> {
        let Some(run) = results.first() else {
            return Ok(());
        };
        let path = self
            .checks_dir()
            .join(run.job.as_str())
            .join(format!("{}_{}.json", run.run_date, run.run_id));
        self.put_json(&path, &results, "check results").await
    }

    /// Every check result, oldest first (by check time).
    pub async fn checks(&self) -> Result<Vec<CheckResult>, JobError> {
        let per_run: Vec<Vec<CheckResult>> = self.read_all(&self.checks_dir(), "check results").await?;
        let mut out: Vec<CheckResult> = per_run.into_iter().flatten().collect();
        out.sort_by(|a, b| (&a.checked_at, &a.run_id, &a.check).cmp(&(&b.checked_at, &b.run_id, &b.check)));
        Ok(out)
    }

    /// The last interval (by start) that a job completed successfully, as `(start, end)` in RFC 3339.
    pub fn last_committed<'r>(runs: &'r [RunRecord], job: &str) -> Option<&'r RunRecord> {
        runs.iter()
            .filter(|r| r.job == job && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded))
            .max_by(|a, b| a.interval_start.cmp(&b.interval_start))
    }

    /// Registers the ledger as `nightshift.runs` and `nightshift.checks` in `ctx` (a snapshot taken
    /// now, replacing an earlier one).
    pub async fn register(&self, ctx: &SessionContext) -> Result<(), JobError> {
        let runs = self.runs().await?;
        let batch = runs_batch(&runs)?;
        let catalog = ctx
            .catalog(&ctx.state().config_options().catalog.default_catalog)
            .ok_or_else(|| JobError::Output {
                message: "the session has no default catalog".into(),
            })?;
        if catalog.schema("nightshift").is_none() {
            catalog.register_schema("nightshift", Arc::new(MemorySchemaProvider::new()))?;
        }
        // Registering again (a REPL refreshing its view) replaces the snapshot.
        let runs_name = datafusion::common::TableReference::partial("nightshift", "runs");
        ctx.deregister_table(runs_name.clone())?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(runs_name, Arc::new(table))?;
        let checks = checks_batch(&self.checks().await?)?;
        let checks_name = datafusion::common::TableReference::partial("nightshift", "checks");
        ctx.deregister_table(checks_name.clone())?;
        let table = MemTable::try_new(checks.schema(), vec![vec![checks]])?;
        ctx.register_table(checks_name, Arc::new(table))?;
        Ok(())
    }
}

/// The check results as one record batch, in the column order of `nightshift.checks`.
pub fn checks_batch(checks: &[CheckResult]) -> Result<RecordBatch, JobError> {
    let s = |f: &dyn Fn(&CheckResult) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(checks.iter().map(f)))
    };
    let d = |f: &dyn Fn(&CheckResult) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(checks.iter().map(f).collect::<Vec<_>>()))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("job", DataType::Utf8, false),
        Field::new("run_date", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
        Field::new("verdict", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
        Field::new("checked_at", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        s(&|c| c.job.clone()),
        s(&|c| c.run_date.clone()),
        s(&|c| c.check.clone()),
        s(&|c| c.kind.clone()),
        s(&|c| c.severity.clone()),
        d(&|c| c.value),
        d(&|c| c.low),
        d(&|c| c.high),
        s(&|c| c.verdict.clone()),
        s(&|c| c.message.clone()),
        s(&|c| c.checked_at.clone()),
        s(&|c| c.run_id.clone()),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The runs as one record batch, in the column order of `nightshift.runs`.
pub fn runs_batch(runs: &[RunRecord]) -> Result<RecordBatch, JobError> {
    let s = |f: &dyn Fn(&RunRecord) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(runs.iter().map(f).collect::<Vec<_>>()))
    };
    let u = |f: &dyn Fn(&RunRecord) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(runs.iter().map(f)))
    };
    let d = |f: &dyn Fn(&RunRecord) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(runs.iter().map(f)))
    };
    let ts = DataType::Utf8;
    let schema = Arc::new(Schema::new(vec![
        Field::new("job", DataType::Utf8, false),
        Field::new("run_date", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("attempts", DataType::UInt32, false),
        Field::new("interval_start", ts.clone(), false),
        Field::new("interval_end", ts.clone(), false),
        Field::new("started_at", ts.clone(), false),
        Field::new("ended_at", ts, true),
        Field::new("duration_seconds", DataType::Float64, false),
        Field::new("rows_written", DataType::UInt64, false),
        Field::new("rows_per_second", DataType::Float64, false),
        Field::new("error_records", DataType::UInt64, false),
        Field::new("error_rate", DataType::Float64, false),
        Field::new("cpu_seconds", DataType::Float64, false),
        Field::new("peak_memory_bytes", DataType::UInt64, false),
        Field::new("bytes_read", DataType::UInt64, false),
        Field::new("bytes_written", DataType::UInt64, false),
        Field::new("cost_per_1000_rows", DataType::Float64, false),
        Field::new("output_version", DataType::UInt64, true),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, true),
        Field::new("executed_on", DataType::Utf8, false),
        Field::new("executor_cpu_seconds", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        s(&|r| Some(r.job.clone())),
        s(&|r| Some(r.run_date.clone())),
        s(&|r| Some(r.state.as_str().to_string())),
        Arc::new(UInt32Array::from_iter_values(runs.iter().map(|r| r.attempts))),
        s(&|r| Some(r.interval_start.clone())),
        s(&|r| Some(r.interval_end.clone())),
        s(&|r| Some(r.started_at.clone())),
        s(&|r| r.ended_at.clone()),
        d(&|r| r.duration_seconds),
        u(&|r| r.rows_written),
        d(&|r| r.rows_per_second),
        u(&|r| r.error_records),
        d(&|r| r.error_rate),
        d(&|r| r.cpu_seconds),
        u(&|r| r.peak_memory_bytes),
        u(&|r| r.bytes_read),
        u(&|r| r.bytes_written),
        d(&|r| r.cost_per_1000_rows),
        Arc::new(UInt64Array::from(
            runs.iter().map(|r| r.output_version).collect::<Vec<_>>(),
        )),
        s(&|r| Some(r.run_id.clone())),
        s(&|r| r.message.clone()),
        s(&|r| Some(r.executed_on.clone())),
        d(&|r| r.executor_cpu_seconds),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// CPU seconds (user + system) and peak resident bytes of this process, from `/proc` (Linux);
/// zeros elsewhere.
pub fn process_usage() -> (f64, u64) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            // Linux reports clock ticks; USER_HZ is 100 on every mainstream architecture.
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0);
    (cpu, peak)
}
