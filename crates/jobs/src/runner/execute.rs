//! One run's execution: attempts with retries and the timeout, the statements of the job's SQL file,
//! writing, validating and publishing the result, and the run's ledger record with its KPIs.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use futures::FutureExt;
use futures::future::BoxFuture;
use nightshift_core::{LocalEngine, OnRecordError, Params, split_statements};
use nightshift_lake::DeltaSnapshotTable;

use super::Runner;
use super::checks;
use super::record_errors::RecordCounts;
use crate::error::JobError;
use crate::ledger::{RunRecord, RunState, process_usage};
use crate::progress::RunProgress;
use crate::publisher::{Commit, RunFacts};
use crate::schedule::Interval;
use crate::spec::JobSpec;

/// `sha256:<hex>` of the job's SQL text, for the commit info: which SQL produced a version.
pub(super) fn sql_hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Runner {
    #[tracing::instrument(level = "info", skip_all, fields(job = %job.name, run_date = %interval.run_date))]
    pub(super) async fn run_inner(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: String,
        owner: &(dyn Fn() -> BoxFuture<'static, bool> + Send + Sync),
    ) -> RunRecord {
        let started = self.clock.now();
        let mut record = new_record(run_id.clone(), job, interval, started.to_rfc3339());
        if let Some(pins) = &self.pins {
            record.message = Some(format!("a rerun of run {}", pins.run_id));
        }
        record.executed_on = self.engine.name();
        if let Err(e) = self.ledger.record(&record).await {
            tracing::warn!(error = %e, "cannot record the run start");
        }
        let clock = Instant::now();
        let (cpu0, _) = process_usage();
        if !self.force && (job.ready_when.is_some() || !job.wait_for.is_empty()) {
            let not_ready = match self.wait_for_input(job, interval, &run_id).await {
                Ok(None) => None,
                Ok(Some(why)) => Some((
                    RunState::InputMissing,
                    format!(
                        "the input is not ready: {why} after waiting {}{}; nothing was published. The \
                         next `run --due` (and the scheduler) asks again; `nightshift run {} --date {} \
                         --force` runs it anyway",
                        humantime_secs(clock.elapsed()),
                        if self.wait_for_inputs {
                            " (wait_timeout)"
                        } else {
                            " (a run of a given date asks once; the scheduler and `run --due` wait \
                             up to wait_timeout)"
                        },
                        job.name,
                        interval.run_date
                    ),
                )),
                Err(e) => Some((RunState::Failed, e.to_string())),
            };
            if let Some((state, message)) = not_ready {
                record.state = state;
                record.message = Some(message);
                record.ended_at = Some(self.clock.now().to_rfc3339());
                record.duration_seconds = clock.elapsed().as_secs_f64();
                if let Err(e) = self.ledger.record(&record).await {
                    tracing::warn!(error = %e, "cannot record the run end");
                }
                tracing::info!(state = record.state.as_str(), "run did not start");
                self.alert_run(job, &record).await;
                return record;
            }
        }
        let mut backoff = job.retry_backoff;
        let mut counts = RecordCounts::default();
        let mut sort_merge = false;
        let result = loop {
            record.attempts += 1;
            // A panic inside the engine (a function's bug) fails this run, not the process: a
            // scheduler keeps serving its other jobs and intervals.
            let attempt =
                AssertUnwindSafe(self.attempt(job, interval, &run_id, owner, &mut counts, sort_merge))
                    .catch_unwind()
                    .map(|r| {
                        r.unwrap_or_else(|panic| {
                            Err(JobError::Panicked {
                                job: job.name.clone(),
                                message: nightshift_core::panic_message(panic.as_ref()),
                            })
                        })
                    });
            let outcome = match job.timeout {
                Some(t) => match tokio::time::timeout(t, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(JobError::Timeout {
                        job: job.name.clone(),
                        seconds: t.as_secs(),
                    }),
                },
                None => attempt.await,
            };
            match outcome {
                // Joins are hash joins under a memory limit too, and a hash join's build side cannot
                // spill in DataFusion 55: a run that ran out of memory runs again (nothing was
                // published) with sort-merge joins, which spill.
                Err(e)
                    if !sort_merge
                        && self.settings.engine.memory_limit.is_some()
                        && nightshift_core::hash_join_out_of_memory(&e.to_string()) =>
                {
                    tracing::warn!(error = %e, "the run ran out of memory with hash joins: running it again with sort-merge joins, which spill to disk");
                    sort_merge = true;
                }
                Err(e) if e.is_transient() && record.attempts <= job.retries => {
                    tracing::warn!(attempt = record.attempts, error = %e, backoff_ms = backoff.as_millis() as u64, "transient failure, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
                other => break other,
            }
        };
        let (cpu1, peak) = process_usage();
        let secs = clock.elapsed().as_secs_f64();
        record.ended_at = Some(self.clock.now().to_rfc3339());
        record.duration_seconds = secs;
        record.cpu_seconds = (cpu1 - cpu0).max(0.0);
        record.executor_cpu_seconds = self
            .engine
            .executor_cpu_seconds(&run_label(job, &run_id))
            .await
            .unwrap_or(0.0);
        record.peak_memory_bytes = peak;
        record.error_records = counts.failed;
        match result {
            Ok(done) => {
                record.state = if counts.failed > 0 {
                    // Published, but some records were skipped (NULL) or quarantined.
                    record.message = Some(counts.summary(job));
                    RunState::PartiallySucceeded
                } else {
                    RunState::Succeeded
                };
                if !done.warnings.is_empty() {
                    let mut lines: Vec<String> = record.message.take().into_iter().collect();
                    lines.extend(done.warnings);
                    record.message = Some(lines.join("\n"));
                }
                record.rows_written = done.rows;
                record.bytes_written = done.bytes_written;
                record.bytes_read = done.bytes_read;
                record.output_version = done.version;
            }
            Err(e) => {
                record.state = match e {
                    JobError::Cancelled { .. } => RunState::Cancelled,
                    JobError::Blocked { .. } => RunState::Blocked,
                    _ => RunState::Failed,
                };
                record.message = Some(e.to_string());
            }
        }
        record.rows_per_second = record.rows_written as f64 / secs.max(1e-9);
        record.error_rate = counts.rate();
        record.cost_per_1000_rows = if record.rows_written == 0 {
            0.0
        } else {
            (record.cpu_seconds + record.executor_cpu_seconds) / 3600.0
                * self.jobs.scheduler.price_per_cpu_hour
                / record.rows_written as f64
                * 1000.0
        };
        if let Err(e) = self.ledger.record(&record).await {
            tracing::warn!(error = %e, "cannot record the run end");
        }
        tracing::info!(
            state = record.state.as_str(),
            rows = record.rows_written,
            seconds = secs,
            "run finished"
        );
        self.alert_run(job, &record).await;
        record
    }

    /// Asks the job's `ready_when` and looks at its `wait_for` tables until the input is ready or
    /// `wait_timeout` has passed, each time in a fresh session (which sees files that landed since).
    /// `Ok(Some(why))`: still not ready.
    async fn wait_for_input(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: &str,
    ) -> Result<Option<String>, JobError> {
        let started = Instant::now();
        let deadline = started
            + if self.wait_for_inputs {
                job.wait_timeout
            } else {
                Duration::ZERO
            };
        let params = interval_params(job, interval);
        let bad = |message: String| JobError::Sql {
            job: job.name.clone(),
            location: format!("jobs.{}.ready_when", job.name),
            message,
        };
        loop {
            let session = self
                .engine
                .session(self.settings.clone(), run_label(job, run_id))
                .await?;
            self.ledger.register(session.context()).await?;
            let mut why = None;
            for table in &job.wait_for {
                if let Some(reason) = self.not_committed_since(job, &session, table, interval).await? {
                    why = Some(reason);
                    break;
                }
            }
            if why.is_none()
                && let Some(query) = &job.ready_when
            {
                let df = session
                    .sql(query, &params)
                    .await
                    .map_err(|e| bad(e.to_string()))?;
                let batches = df.collect().await.map_err(|e| bad(e.strip_backtrace()))?;
                if !ready_answer(&batches).map_err(bad)? {
                    why = Some("ready_when was still false".to_string());
                }
            }
            let Some(why) = why else {
                return Ok(None);
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(Some(why));
            }
            self.stage(job, interval, "waiting for its input");
            tracing::info!(job = %job.name, run_date = %interval.run_date, %why, "the input is not ready yet; waiting");
            tokio::time::sleep(job.wait_poll.min(deadline - now)).await;
        }
    }

    /// Why the Delta table `name` is not ready for `interval`: it does not exist yet, or its latest
    /// commit is older than the interval's end. `None`: ready.
    async fn not_committed_since(
        &self,
        job: &JobSpec,
        session: &nightshift_core::Session,
        name: &str,
        interval: &Interval,
    ) -> Result<Option<String>, JobError> {
        let location = format!("jobs.{}.wait_for", job.name);
        let Some(table) = session.catalog().table(name) else {
            return Ok(Some(format!("the table {name} does not exist yet")));
        };
        if !matches!(table.format, nightshift_lake::TableFormat::Delta { .. }) {
            return Err(JobError::Sql {
                job: job.name.clone(),
                location,
                message: format!(
                    "'{name}' is not a Delta table: wait_for needs a table whose commits have times \
                     (a report, or any Delta table); use ready_when for other inputs"
                ),
            });
        }
        let store = session
            .context()
            .runtime_env()
            .object_store(session.catalog().location().store_url())
            .map_err(JobError::DataFusion)?;
        let opened = nightshift_lake::DeltaLocation::new(store, &table.location)
            .map_err(|e| JobError::Output {
                message: e.to_string(),
            })?
            .open(None)
            .await
            .map_err(|e| JobError::Output {
                message: e.to_string(),
            })?;
        let committed = opened
            .version()
            .and_then(|v| opened.snapshot().ok()?.version_timestamp(v))
            .and_then(chrono::DateTime::from_timestamp_millis);
        match committed {
            Some(t) if t >= interval.end => Ok(None),
            Some(t) => Ok(Some(format!(
                "{name} has no commit since the interval's end ({}; its latest is from {})",
                interval.end.to_rfc3339(),
                t.to_rfc3339()
            ))),
            None => Ok(Some(format!("{name} has no commit yet"))),
        }
    }

    async fn attempt(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: &str,
        owner: &(dyn Fn() -> BoxFuture<'static, bool> + Send + Sync),
        counts: &mut RecordCounts,
        sort_merge: bool,
    ) -> Result<Done, JobError> {
        let sql_file = job.sql.display().to_string();
        let text = std::fs::read_to_string(&job.sql).map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: sql_file.clone(),
            message: format!("cannot read the SQL file: {e}"),
        })?;
        let statements = split_statements(&text).map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: format!("{sql_file}:{}:{}", e.line, e.column),
            message: e.message.clone(),
        })?;
        let params = interval_params(job, interval);
        self.stage(job, interval, "querying");
        if self.engine.is_remote() && job.on_record_error != OnRecordError::Fail {
            return Err(JobError::Engine {
                job: job.name.clone(),
                message: format!(
                    "on_record_error = '{}' needs the failed records back in this process, which a \
                     Ballista cluster does not return: run this job without --cluster, or use \
                     on_record_error = 'fail'",
                    job.on_record_error
                ),
            });
        }
        // A fresh session per run: a long-lived one caches file listings and misses new inputs.
        let mut settings = self.settings.clone();
        if sort_merge {
            nightshift_core::with_sort_merge_joins(&mut settings);
        }
        let executors_before = self.engine.executors().await;
        let session = self.engine.session(settings, run_label(job, run_id)).await?;
        let errors = session.set_on_record_error(job.on_record_error);
        self.pin_dependency_models(job, interval, &session).await?;
        if let Some(pins) = &self.pins {
            self.apply_pins(pins, &session).await?;
        }
        *counts = RecordCounts::default();
        self.ledger.register(session.context()).await?;
        let mut last = None;
        let mut facts = RunFacts {
            sql_hash: sql_hash(&text),
            ..Default::default()
        };
        let n = statements.len();
        for (i, st) in statements.iter().enumerate() {
            let location = format!("{sql_file}:{}:{}", st.line, st.column);
            let sql_err = |e: String| JobError::Sql {
                job: job.name.clone(),
                location: location.clone(),
                message: e,
            };
            let df = session
                .sql(&st.text, &params)
                .await
                .map_err(|e| sql_err(e.to_string()))?;
            collect_inputs(df.logical_plan(), &mut facts.input_files);
            if i + 1 < n {
                df.collect().await.map_err(|e| sql_err(e.strip_backtrace()))?;
            } else {
                last = Some((df, location));
            }
        }
        // Statements load the models they score with while planning; CREATE MODEL adds its own.
        facts.model_versions = session.models().loaded();
        let Some((df, location)) = last else {
            return Err(JobError::Sql {
                job: job.name.clone(),
                location: sql_file,
                message: "the SQL file holds no statement".into(),
            });
        };
        let task = Arc::new(df.task_ctx());
        let df_plan = session.context().state().optimize(df.logical_plan()).ok();
        let plan = df.create_physical_plan().await.map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: location.clone(),
            message: e.strip_backtrace(),
        })?;
        facts.inputs = read_files(&session, df_plan.as_ref()).await;
        let stream =
            datafusion::physical_plan::execute_stream(plan.clone(), task).map_err(|e| JobError::Sql {
                job: job.name.clone(),
                location: location.clone(),
                message: e.strip_backtrace(),
            })?;
        if stream.schema().fields().is_empty() {
            // A statement without a result (CREATE MODEL …): nothing to publish.
            let mut s = stream;
            use futures::StreamExt;
            while let Some(b) = s.next().await {
                b.map_err(|e| JobError::Sql {
                    job: job.name.clone(),
                    location: location.clone(),
                    message: e.strip_backtrace(),
                })?;
            }
            self.settle_record_errors(job, run_id, interval, &errors, counts)
                .await?;
            return Ok(Done {
                rows: 0,
                bytes_written: 0,
                bytes_read: bytes_scanned(&plan),
                version: None,
                warnings: Vec::new(),
            });
        }
        let (stream, warnings) = if job.checks.is_empty() {
            (stream, Vec::new())
        } else {
            self.check(job, interval, run_id, &session, stream, &location)
                .await?
        };
        let output = self.output(job);
        self.stage(job, interval, "writing");
        let mut written = 0;
        let on_rows = |n| {
            written += n;
            self.report(RunProgress::Rows(written));
        };
        let mut staged = match output
            .write(stream, &job.partition_by, run_id, interval, on_rows)
            .await
        {
            Ok(s) => s,
            Err(JobError::DataFusion(e)) => {
                let mut message = e.strip_backtrace();
                if let Some(hint) = nightshift_core::resource_hint(&message, &self.settings.engine) {
                    message = format!("{message} (hint: {hint})");
                }
                return Err(JobError::Sql {
                    job: job.name.clone(),
                    location,
                    message,
                });
            }
            Err(e) => return Err(e),
        };
        self.stage(job, interval, "validating");
        if let Err(e) = output.validate(&mut staged).await {
            output.discard_staged(&staged).await;
            return Err(e);
        }
        if let Some(before) = &executors_before
            && let Some(after) = self.engine.executors().await
        {
            let lost: Vec<&str> = before
                .iter()
                .filter(|e| !after.contains(e))
                .map(String::as_str)
                .collect();
            if !lost.is_empty() {
                output.discard_staged(&staged).await;
                return Err(JobError::ExecutorLost {
                    job: job.name.clone(),
                    executors: lost.join(", "),
                });
            }
        }
        self.settle_record_errors(job, run_id, interval, &errors, counts)
            .await?;
        self.stage(job, interval, "publishing");
        let version = output
            .publish(
                Commit {
                    job: &job.name,
                    run_id,
                    interval,
                    mode: job.mode,
                },
                &staged,
                &facts,
                owner,
            )
            .await?;
        // Replaced files older than `retain` and files of killed runs go; every file a version
        // younger than `retain` references stays, and so do files of runs still writing (they are
        // younger than the shortest `retain`, an hour).
        let retain = chrono::Duration::from_std(job.retain).unwrap_or(chrono::Duration::days(7));
        match output.vacuum(retain).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "vacuum removed unreferenced files"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "vacuum failed; the next run retries it"),
        }
        Ok(Done {
            rows: staged.rows,
            bytes_written: staged.bytes,
            bytes_read: bytes_scanned(&plan),
            version: Some(version),
            warnings,
        })
    }

    /// Runs the job's checks on its result (held in memory: reports are aggregates) and records
    /// them; a failed `error` check blocks the run. Returns the result to write, and the failed
    /// `warn` checks.
    async fn check(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: &str,
        session: &nightshift_core::Session,
        stream: datafusion::physical_plan::SendableRecordBatchStream,
        location: &str,
    ) -> Result<(datafusion::physical_plan::SendableRecordBatchStream, Vec<String>), JobError> {
        use futures::TryStreamExt;
        self.stage(job, interval, "checking");
        let schema = stream.schema();
        let batches: Vec<_> = stream.try_collect().await.map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: location.to_string(),
            message: e.strip_backtrace(),
        })?;
        let runs = self.ledger.runs().await?;
        let past = self.ledger.checks().await?;
        let run_date = interval.run_date.to_string();
        let run = checks::CheckRun {
            job,
            run_id,
            run_date: &run_date,
            now: self.clock.now().to_rfc3339(),
        };
        // The result is in this process: on a cluster, the checks run here too, in a local session
        // of the same lake (the cluster cannot read an in-memory table).
        let local;
        let session = if self.engine.is_remote() {
            local = nightshift_core::Session::new(self.settings.clone())
                .await
                .map_err(|e| JobError::Engine {
                    job: job.name.clone(),
                    message: format!("cannot open a local session for the checks: {e}"),
                })?;
            self.ledger.register(local.context()).await?;
            &local
        } else {
            session
        };
        let results = checks::evaluate(
            &run,
            session.context(),
            schema.clone(),
            batches.clone(),
            &runs,
            &past,
        )
        .await?;
        self.ledger.record_checks(&results).await?;
        let blocked = checks::blocking(&results);
        if !blocked.is_empty() {
            return Err(JobError::Blocked {
                job: job.name.clone(),
                failed: blocked.join("\n"),
            });
        }
        let stream = datafusion::physical_plan::memory::MemoryStream::try_new(batches, schema, None)?;
        Ok((Box::pin(stream), checks::warnings(&results)))
    }
}

/// The answer of a `ready_when` query: one row of one boolean column; NULL counts as not ready.
fn ready_answer(batches: &[datafusion::arrow::array::RecordBatch]) -> Result<bool, String> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::DataType;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err("returned no row; it must return one boolean (true once the input is ready)".into());
    };
    if rows > 1 || batch.num_columns() != 1 || batch.column(0).data_type() != &DataType::Boolean {
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        return Err(format!(
            "returned {rows} row(s) of ({}); it must return one boolean (true once the input is \
             ready), such as SELECT count(*) > 0 FROM …",
            columns.join(", ")
        ));
    }
    let column = batch.column(0).as_boolean();
    Ok(column.is_valid(0) && column.value(0))
}

/// A duration for messages: `0.2 s`, `61.0 s`.
fn humantime_secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub(super) struct Done {
    rows: u64,
    bytes_written: u64,
    bytes_read: u64,
    version: Option<u64>,
    /// The failed `warn` checks.
    warnings: Vec<String>,
}

/// `$run_date` (DATE), `$interval_start` and `$interval_end` (TIMESTAMP, UTC), then the job's own.
pub fn interval_params(job: &JobSpec, interval: &Interval) -> Params {
    let mut p = Params::new();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    p.set(
        "run_date",
        ScalarValue::Date32(Some((interval.run_date - epoch).num_days() as i32)),
    );
    p.set(
        "interval_start",
        ScalarValue::TimestampMicrosecond(Some(interval.start.timestamp_micros()), None),
    );
    p.set(
        "interval_end",
        ScalarValue::TimestampMicrosecond(Some(interval.end.timestamp_micros()), None),
    );
    for (k, v) in &job.params {
        p.set(k, v.clone());
    }
    p
}

fn collect_inputs(plan: &LogicalPlan, out: &mut Vec<String>) {
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
        {
            let mut locations = Vec::new();
            if let Some(table) = provider.as_ref().downcast_ref::<ListingTable>() {
                locations.extend(table.table_paths().iter().map(|u| u.as_str().to_string()));
            } else if let Some(table) = provider.as_ref().downcast_ref::<DeltaSnapshotTable>() {
                locations.push(format!("{}@v{}", table.url(), table.version()));
            }
            for s in locations {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// The files an (optimized) logical plan reads, each once, sorted: each table scan planned with its
/// pushed-down filters (so only the interval's partitions of a partitioned input), whatever the
/// physical optimizer later makes of it (a count answered from statistics reads no file, but its
/// answer still comes from these files).
pub(super) async fn read_files(
    session: &nightshift_core::Session,
    plan: Option<&LogicalPlan>,
) -> Vec<crate::publisher::InputFile> {
    let Some(plan) = plan else {
        return Vec::new();
    };
    let mut scans = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            scans.push(scan.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let state = session.context().state();
    let mut out = Vec::new();
    for scan in scans {
        let Ok(provider) = source_as_provider(&scan.source) else {
            continue;
        };
        // The scan's filters name `table.column`; a provider takes plain column names.
        let filters = datafusion::logical_expr::expr_rewriter::unnormalize_cols(scan.filters.clone());
        match provider
            .scan(&state, scan.projection.as_ref(), &filters, None)
            .await
        {
            Ok(exec) => out.extend(scanned_files(&exec)),
            Err(e) => tracing::debug!(table = %scan.table_name, error = %e, "cannot list a scan's files"),
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.path == b.path);
    out
}

/// The files a physical plan reads, each once, sorted: from every file scan's file groups.
pub(super) fn scanned_files(plan: &Arc<dyn ExecutionPlan>) -> Vec<crate::publisher::InputFile> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(config) = nightshift_lake::file_scan(node.as_ref()) {
            // `file:///` + `tmp/lake/…`, `s3://bucket/` + `key`.
            let store = config.object_store_url.as_str();
            let store = if store.ends_with('/') {
                store.to_string()
            } else {
                format!("{store}/")
            };
            for file in config.file_groups.iter().flat_map(|g| g.files()) {
                let meta = &file.object_meta;
                let path = format!("{store}{}", meta.location);
                out.entry(path.clone()).or_insert(crate::publisher::InputFile {
                    path,
                    size: meta.size,
                    version: meta
                        .e_tag
                        .clone()
                        .or_else(|| Some(meta.last_modified.to_rfc3339())),
                });
            }
        }
        stack.extend(node.children().into_iter().cloned());
    }
    out.into_values().collect()
}

fn bytes_scanned(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map_or(0, |v| v.as_usize() as u64);
    own + plan.children().iter().map(|c| bytes_scanned(c)).sum::<u64>()
}

/// A ledger record of `job` for `interval`, running since `started_at`, with no work counted yet.
pub(super) fn new_record(
    run_id: String,
    job: &JobSpec,
    interval: &Interval,
    started_at: String,
) -> RunRecord {
    RunRecord {
        run_id,
        job: job.name.clone(),
        run_date: interval.run_date.to_string(),
        interval_start: interval.start.to_rfc3339(),
        interval_end: interval.end.to_rfc3339(),
        state: RunState::Running,
        attempts: 0,
        started_at,
        ended_at: None,
        duration_seconds: 0.0,
        rows_written: 0,
        rows_per_second: 0.0,
        error_records: 0,
        error_rate: 0.0,
        cpu_seconds: 0.0,
        peak_memory_bytes: 0,
        bytes_read: 0,
        bytes_written: 0,
        cost_per_1000_rows: 0.0,
        output_version: None,
        message: None,
        executed_on: LocalEngine::NAME.to_string(),
        executor_cpu_seconds: 0.0,
    }
}

/// What a run's work is called on a cluster: `nightshift:<job>:<run id>`.
fn run_label(job: &JobSpec, run_id: &str) -> String {
    format!("nightshift:{}:{run_id}", job.name)
}
