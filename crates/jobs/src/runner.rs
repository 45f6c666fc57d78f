//! Running jobs: planning intervals (now, due, backfills), one fresh session per run, retries,
//! timeouts, publishing and recording each run with its KPIs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;
use nightshift_core::{OnRecordError, Params, RecordErrors, Session, Settings, split_statements};
use object_store::ObjectStore;
use object_store::path::Path;

use crate::error::JobError;
use crate::lease::Lease;
use crate::ledger::{Ledger, RunRecord, RunState, process_usage};
use crate::publisher::{Output, RunFacts};
use crate::schedule::Interval;
use crate::spec::{JobSet, JobSpec};

/// The time source of planning: injectable so tests can step the clock.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Which intervals to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The latest due interval of each job.
    Now,
    /// Every interval due since the last committed one in the ledger (at most `catch_up_limit`,
    /// the newest), or the latest due one for a job that never ran.
    Due,
    /// The intervals whose run dates fall in `from..=to`.
    Dates(NaiveDate, NaiveDate),
}

/// One planned run.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// The job.
    pub job: JobSpec,
    /// The interval.
    pub interval: Interval,
}

/// What a run is doing, for progress displays (`nightshift run` draws a bar from it on a terminal).
#[derive(Debug, Clone, Copy)]
pub enum RunProgress<'a> {
    /// The run entered a stage: `querying`, `writing`, `validating` or `publishing`.
    Stage {
        /// The job.
        job: &'a str,
        /// The interval's run date.
        run_date: NaiveDate,
        /// The stage.
        stage: &'static str,
    },
    /// Rows the run has written so far.
    Rows(u64),
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(RunProgress<'_>) + Send + Sync>;

/// Where runs execute. Each run gets a fresh session from [`Engine::session`]; the runner itself
/// (staging, validation, the manifest, the ledger) always works from this process, with its own
/// credentials, so a cluster run publishes exactly as atomically as a local one.
pub trait Engine: Send + Sync {
    /// Where, as the ledger's `executed_on` records it: `local`, `standalone` or a scheduler's URL.
    fn name(&self) -> String;
    /// Whether statements run in other processes (a Ballista cluster).
    fn is_remote(&self) -> bool;
    /// A fresh session of `settings` for one run; `label` (`nightshift:<job>:<run id>`) names the
    /// work it submits, for [`Engine::executor_cpu_seconds`] and the cluster's job list.
    fn session(
        &self,
        settings: Settings,
        label: String,
    ) -> BoxFuture<'_, Result<Session, nightshift_core::CoreError>>;
    /// CPU seconds the cluster's executors spent on everything submitted under `label`, summed
    /// over executors; `None` where it ran in this process (the run's `cpu_seconds` counts it).
    fn executor_cpu_seconds<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Option<f64>> {
        let _ = label;
        Box::pin(async { None })
    }
}

/// Runs in this process, on a fresh local session each.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalEngine;

impl Engine for LocalEngine {
    fn name(&self) -> String {
        local_name()
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn session(
        &self,
        settings: Settings,
        _label: String,
    ) -> BoxFuture<'_, Result<Session, nightshift_core::CoreError>> {
        Box::pin(async move { Session::new(settings).await })
    }
}

/// Runs jobs of one project against its lake.
pub struct Runner {
    settings: Settings,
    jobs: JobSet,
    clock: Arc<dyn Clock>,
    store: Arc<dyn ObjectStore>,
    store_url: datafusion::execution::object_store::ObjectStoreUrl,
    lake_prefix: Path,
    lake_local: Option<std::path::PathBuf>,
    ledger: Ledger,
    progress: Option<ProgressFn>,
    engine: Arc<dyn Engine>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("lake", &self.settings.lake.root)
            .finish()
    }
}

/// `sha256:<hex>` of the job's SQL text, for the manifest: which SQL produced a version.
fn sql_hash(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Runner {
    /// A runner over the lake of `session` (used for its object store); each run builds its own
    /// fresh session from `settings`, so new input files are always seen.
    pub fn new(session: &Session, jobs: JobSet, clock: Arc<dyn Clock>) -> Result<Self, JobError> {
        let location = session.catalog().location().clone();
        let store = session
            .context()
            .runtime_env()
            .object_store(location.store_url())
            .map_err(JobError::DataFusion)?;
        let lake_prefix = location.prefix();
        let lake_local = location.url().to_file_path().ok().filter(|_| location.is_local());
        let ledger = Ledger::new(store.clone(), &lake_prefix);
        Ok(Self {
            settings: session.settings().clone(),
            jobs,
            clock,
            store,
            store_url: location.store_url(),
            lake_prefix,
            lake_local,
            ledger,
            progress: None,
            engine: Arc::new(LocalEngine),
        })
    }

    /// Runs statements on `engine` (a Ballista cluster) instead of in this process.
    pub fn with_engine(mut self, engine: Arc<dyn Engine>) -> Self {
        self.engine = engine;
        self
    }

    /// Reports each run's stages and rows written to `progress`.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    fn report(&self, event: RunProgress<'_>) {
        if let Some(p) = &self.progress {
            p(event);
        }
    }

    fn stage(&self, job: &JobSpec, interval: &Interval, stage: &'static str) {
        self.report(RunProgress::Stage {
            job: &job.name,
            run_date: interval.run_date,
            stage,
        });
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The jobs.
    pub fn jobs(&self) -> &JobSet {
        &self.jobs
    }

    /// The output of a job.
    pub fn output(&self, job: &JobSpec) -> Output {
        let mut prefix = self.lake_prefix.clone();
        for part in job.output.split('/').filter(|s| !s.is_empty()) {
            prefix = prefix.join(part);
        }
        let local = self.lake_local.as_ref().map(|d| d.join(&job.output));
        Output::new(self.store.clone(), self.store_url.clone(), prefix, local)
    }

    /// The runs for `names` (all jobs if empty), oldest interval first, each job after its
    /// dependencies within an interval.
    pub async fn plan(&self, names: &[String], selection: &Selection) -> Result<Vec<PlannedRun>, JobError> {
        let jobs: Vec<&JobSpec> = if names.is_empty() {
            self.jobs.jobs.iter().collect()
        } else {
            self.jobs
                .select(names)
                .map(|v| v.to_vec())
                .map_err(|m| JobError::Output { message: m })?
        };
        let now = self.clock.now();
        let runs = if *selection == Selection::Due {
            self.ledger.runs().await?
        } else {
            Vec::new()
        };
        let mut plan = Vec::new();
        for (order, job) in jobs.iter().enumerate() {
            let s = &job.schedule;
            let intervals = match selection {
                Selection::Now => vec![s.latest_due(now)],
                Selection::Dates(from, to) => s.intervals_for_dates(*from, *to),
                Selection::Due => {
                    let latest = s.latest_due(now);
                    // From the ledger, never from now() alone: a clock stepped back re-runs nothing
                    // and a clock stepped forward catches up every missed interval.
                    match Ledger::last_committed(&runs, &job.name)
                        .and_then(|r| DateTime::parse_from_rfc3339(&r.interval_start).ok())
                    {
                        Some(start) => {
                            let mut out = Vec::new();
                            let mut iv = s.next(&s.interval_containing(start.with_timezone(&Utc)));
                            while iv.fire_at <= now {
                                out.push(iv);
                                iv = s.next(&iv);
                            }
                            let limit = self.jobs.scheduler.catch_up_limit;
                            if out.len() > limit {
                                tracing::warn!(job = %job.name, missed = out.len(), limit, "catch-up limited to the newest intervals");
                                out.drain(..out.len() - limit);
                            }
                            out
                        }
                        None => vec![latest],
                    }
                }
            };
            plan.extend(
                intervals
                    .into_iter()
                    .map(|iv| (iv.start, order, (*job).clone(), iv)),
            );
        }
        plan.sort_by_key(|a| (a.0, a.1));
        Ok(plan
            .into_iter()
            .map(|(_, _, job, interval)| PlannedRun { job, interval })
            .collect())
    }

    /// Runs one interval of a job (an explicit run: it reruns a committed interval) with retries and
    /// its timeout, records it in the ledger, and returns the record (failures are in the record, not
    /// an error). The interval's lease is taken first: if another process is running it, the run fails.
    pub async fn run(&self, job: &JobSpec, interval: &Interval) -> RunRecord {
        match self.run_with_lease(job, interval, false).await {
            Ok(Some(r)) => r,
            Ok(None) => self.failed_record(
                job,
                interval,
                "another process is running this interval (its lease is held)".into(),
            ),
            Err(e) => self.failed_record(job, interval, format!("cannot take the interval's lease: {e}")),
        }
    }

    /// The scheduler's run: `None` when another process holds the interval's lease or the ledger shows
    /// the interval committed, so two schedulers on one lake run each interval exactly once.
    pub async fn run_due(&self, job: &JobSpec, interval: &Interval) -> Result<Option<RunRecord>, JobError> {
        self.run_with_lease(job, interval, true).await
    }

    fn failed_record(&self, job: &JobSpec, interval: &Interval, message: String) -> RunRecord {
        let now = self.clock.now().to_rfc3339();
        RunRecord {
            state: RunState::Failed,
            ended_at: Some(now.clone()),
            message: Some(message),
            ..new_record(String::new(), job, interval, now)
        }
    }

    async fn run_with_lease(
        &self,
        job: &JobSpec,
        interval: &Interval,
        skip_committed: bool,
    ) -> Result<Option<RunRecord>, JobError> {
        let run_id = format!(
            "{}z{:08x}",
            self.clock.now().format("%Y%m%dT%H%M%S"),
            rand::random::<u32>()
        );
        let ttl = self.jobs.scheduler.lease_ttl;
        let run_date = interval.run_date.to_string();
        let Some(lease) = Lease::acquire(
            self.store.clone(),
            &self.lake_prefix,
            &job.name,
            &run_date,
            &run_id,
            ttl,
            self.clock.now(),
        )
        .await?
        else {
            return Ok(None);
        };
        if skip_committed {
            let start = interval.start.to_rfc3339();
            let runs = self.ledger.runs().await?;
            if runs.iter().any(|r| {
                r.job == job.name
                    && r.interval_start == start
                    && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
            }) {
                lease.release(self.clock.now()).await?;
                return Ok(None);
            }
        }
        let renewer = {
            let (lease, clock) = (lease.clone(), self.clock.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if !lease.renew(clock.now()).await.unwrap_or(false) {
                        tracing::warn!("lost the interval's lease; the run will not publish");
                        return;
                    }
                }
            })
        };
        let owner = {
            let (lease, clock) = (lease.clone(), self.clock.clone());
            move || -> BoxFuture<'static, bool> {
                let (lease, clock) = (lease.clone(), clock.clone());
                Box::pin(async move { lease.is_held(clock.now()).await })
            }
        };
        let record = self.run_inner(job, interval, run_id, &owner).await;
        renewer.abort();
        if let Err(e) = lease.release(self.clock.now()).await {
            tracing::warn!(error = %e, "cannot release the lease; it expires on its own");
        }
        Ok(Some(record))
    }

    #[tracing::instrument(level = "info", skip_all, fields(job = %job.name, run_date = %interval.run_date))]
    async fn run_inner(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: String,
        owner: &(dyn Fn() -> BoxFuture<'static, bool> + Send + Sync),
    ) -> RunRecord {
        let started = self.clock.now();
        let mut record = new_record(run_id.clone(), job, interval, started.to_rfc3339());
        record.executed_on = self.engine.name();
        if let Err(e) = self.ledger.record(&record).await {
            tracing::warn!(error = %e, "cannot record the run start");
        }
        let clock = Instant::now();
        let (cpu0, _) = process_usage();
        let mut backoff = job.retry_backoff;
        let mut counts = RecordCounts::default();
        let result = loop {
            record.attempts += 1;
            let attempt = self.attempt(job, interval, &run_id, owner, &mut counts);
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
                record.rows_written = done.rows;
                record.bytes_written = done.bytes_written;
                record.bytes_read = done.bytes_read;
                record.output_version = done.version;
            }
            Err(e) => {
                record.state = match e {
                    JobError::Cancelled { .. } => RunState::Cancelled,
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
        record
    }

    async fn attempt(
        &self,
        job: &JobSpec,
        interval: &Interval,
        run_id: &str,
        owner: &(dyn Fn() -> BoxFuture<'static, bool> + Send + Sync),
        counts: &mut RecordCounts,
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
        let session = self
            .engine
            .session(self.settings.clone(), run_label(job, run_id))
            .await?;
        let errors = session.set_on_record_error(job.on_record_error);
        self.pin_dependency_models(job, interval, &session).await?;
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
        let plan = df.create_physical_plan().await.map_err(|e| JobError::Sql {
            job: job.name.clone(),
            location: location.clone(),
            message: e.strip_backtrace(),
        })?;
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
            });
        }
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
                return Err(JobError::Sql {
                    job: job.name.clone(),
                    location,
                    message: e.strip_backtrace(),
                });
            }
            Err(e) => return Err(e),
        };
        self.stage(job, interval, "validating");
        output.validate(&mut staged).await?;
        self.settle_record_errors(job, run_id, interval, &errors, counts)
            .await?;
        self.stage(job, interval, "publishing");
        let manifest = output
            .publish(&job.name, run_id, interval, job.mode, &staged, &facts, owner)
            .await?;
        // Files of the replaced interval and of killed runs go; files of runs still going stay.
        let runs = self.ledger.runs().await.unwrap_or_default();
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(self.jobs.scheduler.lease_ttl).unwrap_or_default();
        let live: Vec<String> = runs
            .iter()
            .filter(|r| {
                r.state == RunState::Running
                    && r.run_id != run_id
                    && DateTime::parse_from_rfc3339(&r.started_at)
                        .is_ok_and(|t| now - t.with_timezone(&Utc) < ttl)
            })
            .map(|r| r.run_id.clone())
            .collect();
        match output.collect_garbage(&|r| live.iter().any(|l| l == r)).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "removed unpublished and replaced files"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "garbage collection failed; the next run retries it"),
        }
        Ok(Done {
            rows: staged.rows,
            bytes_written: staged.bytes,
            bytes_read: bytes_scanned(&plan),
            version: Some(manifest.version),
        })
    }
}

impl Runner {
    /// A run uses what its dependencies produced for an interval not newer than its own: for each
    /// dependency, its latest successful run whose interval starts no later than this run's, and the
    /// model versions that run recorded in its manifest are pinned in the session (so `fraud_score`
    /// and `predict('fraud', …)` score with them, not with a model trained later, and a rerun of an
    /// old interval gives the same report). A dependency that never succeeded pins nothing; one that
    /// succeeded only for newer intervals fails the run.
    async fn pin_dependency_models(
        &self,
        job: &JobSpec,
        interval: &Interval,
        session: &Session,
    ) -> Result<(), JobError> {
        if job.depends_on.is_empty() {
            return Ok(());
        }
        let runs = self.ledger.runs().await?;
        let start_of = |r: &RunRecord| DateTime::parse_from_rfc3339(&r.interval_start).ok();
        for dep in &job.depends_on {
            let Some(dep_job) = self.jobs.get(dep) else {
                continue;
            };
            let done: Vec<&RunRecord> = runs
                .iter()
                .filter(|r| {
                    &r.job == dep && matches!(r.state, RunState::Succeeded | RunState::PartiallySucceeded)
                })
                .collect();
            if done.is_empty() {
                continue;
            }
            let usable = done
                .iter()
                .filter(|r| start_of(r).is_some_and(|s| s <= interval.start))
                .max_by_key(|r| (start_of(r), r.ended_at.clone()));
            let Some(from) = usable else {
                let oldest = done.iter().filter_map(|r| start_of(r)).min();
                return Err(JobError::Dependency {
                    job: job.name.clone(),
                    message: format!(
                        "its dependency '{dep}' has succeeded only for intervals newer than this run's \
                         ({}; the oldest starts {}), and a run may not use what was made from newer \
                         data: run `nightshift run {dep} --date {}` first",
                        interval.run_date,
                        oldest.map_or_else(|| "?".to_string(), |t| t.date_naive().to_string()),
                        interval.run_date
                    ),
                });
            };
            let Some(version) = from.output_version else {
                continue;
            };
            let manifest = self.output(dep_job).manifest(version).await?;
            for reference in &manifest.model_versions {
                if let Some((name, v)) = reference.split_once("@v")
                    && let Ok(v) = v.parse::<u32>()
                {
                    tracing::info!(model = name, version = v, dependency = %dep, "model pinned to the dependency's run");
                    session.models().pin(name, v);
                }
            }
        }
        Ok(())
    }
}

/// Records the run's functions evaluated and failed on (`on_record_error = null | quarantine`).
#[derive(Debug, Default)]
struct RecordCounts {
    evaluated: u64,
    failed: u64,
    quarantined_at: Option<String>,
}

impl RecordCounts {
    fn rate(&self) -> f64 {
        if self.evaluated == 0 {
            0.0
        } else {
            self.failed as f64 / self.evaluated as f64
        }
    }

    fn summary(&self, job: &JobSpec) -> String {
        let mut m = format!(
            "{} of {} records failed and were {}",
            self.failed,
            self.evaluated,
            match job.on_record_error {
                OnRecordError::Quarantine => "quarantined",
                _ => "written as NULL",
            }
        );
        if let Some(at) = &self.quarantined_at {
            m.push_str(&format!(" (in {at})"));
        }
        m
    }
}

impl Runner {
    /// After the run's query has finished: counts its failed records, writes the quarantined ones to
    /// `_errors/`, and fails the run (before anything is published) above `max_error_rate`.
    async fn settle_record_errors(
        &self,
        job: &JobSpec,
        run_id: &str,
        interval: &Interval,
        errors: &RecordErrors,
        counts: &mut RecordCounts,
    ) -> Result<(), JobError> {
        counts.evaluated = errors.sink().evaluated();
        counts.failed = errors.sink().failed();
        let kept = errors.sink().take();
        if !kept.is_empty() {
            let path = self
                .output(job)
                .write_errors(&job.name, run_id, interval, &kept)
                .await?;
            tracing::warn!(records = kept.len(), file = %path, "quarantined records that functions could not evaluate");
            counts.quarantined_at = Some(path.to_string());
        }
        if let Some(max) = job.max_error_rate
            && counts.rate() > max
        {
            return Err(JobError::ErrorRate {
                job: job.name.clone(),
                failed: counts.failed,
                evaluated: counts.evaluated,
                rate: counts.rate() * 100.0,
                max: max * 100.0,
                where_: counts
                    .quarantined_at
                    .as_ref()
                    .map(|p| format!("; the failed records are in {p}"))
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }
}

struct Done {
    rows: u64,
    bytes_written: u64,
    bytes_read: u64,
    version: Option<u64>,
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
            && let Some(table) = provider.as_ref().downcast_ref::<ListingTable>()
        {
            for url in table.table_paths() {
                let s = url.as_str().to_string();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

fn bytes_scanned(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map_or(0, |v| v.as_usize() as u64);
    own + plan.children().iter().map(|c| bytes_scanned(c)).sum::<u64>()
}

/// A ledger record of `job` for `interval`, running since `started_at`, with no work counted yet.
fn new_record(run_id: String, job: &JobSpec, interval: &Interval, started_at: String) -> RunRecord {
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
        executed_on: local_name(),
        executor_cpu_seconds: 0.0,
    }
}

/// What a run's work is called on a cluster: `nightshift:<job>:<run id>`.
fn run_label(job: &JobSpec, run_id: &str) -> String {
    format!("nightshift:{}:{run_id}", job.name)
}

fn local_name() -> String {
    "local".to_string()
}
