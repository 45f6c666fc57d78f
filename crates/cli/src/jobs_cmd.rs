//! `nightshift jobs | run | runs | schedule`: the CLI side of nightshift-jobs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nightshift_core::Session;
use nightshift_jobs::{
    JobSet, Ledger, ProgressFn, RunProgress, RunRecord, RunState, Runner, Selection, SystemClock,
};
use std::io::IsTerminal;

use crate::{Failure, OutputArgs};

/// Arguments of `nightshift run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Jobs to run (with --all or --due, none means every job).
    #[arg(value_name = "JOB")]
    jobs: Vec<String>,
    /// Run every job.
    #[arg(long)]
    all: bool,
    /// Run every interval due since the last one committed in the ledger.
    #[arg(long, conflicts_with_all = ["date", "from"])]
    due: bool,
    /// Run the interval of this date (YYYY-MM-DD).
    #[arg(long, value_parser = crate::parse_date, conflicts_with_all = ["from", "to"])]
    date: Option<chrono::NaiveDate>,
    /// Backfill from this date (with --to), oldest first.
    #[arg(long, value_parser = crate::parse_date, requires = "to")]
    from: Option<chrono::NaiveDate>,
    /// Backfill up to this date, inclusive.
    #[arg(long, value_parser = crate::parse_date, requires = "from")]
    to: Option<chrono::NaiveDate>,
    /// Print the plan (intervals, inputs, outputs) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// No progress bar, even on a terminal (there is none with --log-format json or when stderr is
    /// not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// Arguments of `nightshift runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this job's runs.
    #[arg(long, value_name = "JOB")]
    job: Option<String>,
    /// The last N runs (0 shows all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    last: usize,
    #[command(flatten)]
    output: OutputArgs,
}

/// Arguments of `nightshift schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Check once for due intervals, run them, and exit.
    #[arg(long)]
    once: bool,
}

/// Registers `nightshift.runs` in every session the CLI builds; a lake without a ledger gets an
/// empty table, and a ledger that cannot be read only logs a warning.
pub async fn register_runs(session: &Session) {
    let Ok(store) = session
        .context()
        .runtime_env()
        .object_store(session.catalog().location().store_url())
    else {
        return;
    };
    let ledger = Ledger::new(store, &session.catalog().location().prefix());
    if let Err(e) = ledger.register(session.context()).await {
        tracing::warn!(error = %e, "nightshift.runs is not available");
    }
}

fn job_set(session: &Session) -> Result<JobSet, Failure> {
    JobSet::from_settings(session.settings()).map_err(|e| Failure::Usage(e.into()))
}

fn runner(session: &Session) -> Result<Runner, Failure> {
    let jobs = job_set(session)?;
    if jobs.jobs.is_empty() {
        return Err(Failure::Usage(anyhow!(
            "no jobs are declared: add [jobs.NAME] tables to nightshift.toml (see docs/jobs.md)"
        )));
    }
    Runner::new(session, jobs, Arc::new(SystemClock)).map_err(|e| Failure::Usage(e.into()))
}

pub async fn jobs(session: &Session, output: &OutputArgs) -> Result<(), Failure> {
    let runner = runner(session)?;
    let runs = runner.ledger().runs().await?;
    let now = chrono::Utc::now();
    let jobs = &runner.jobs().jobs;
    let col = |f: &dyn Fn(&nightshift_jobs::JobSpec) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(jobs.iter().map(f)))
    };
    let last = |j: &nightshift_jobs::JobSpec| {
        runs.iter()
            .rfind(|r| r.job == j.name)
            .map(|r| format!("{} {}", r.run_date, r.state.as_str()))
            .unwrap_or_default()
    };
    let schema = Arc::new(Schema::new(
        ["job", "schedule", "output", "depends_on", "last_run", "next_fire"]
            .map(|n| Field::new(n, DataType::Utf8, false))
            .to_vec(),
    ));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            col(&|j| j.name.clone()),
            col(&|j| j.schedule.to_string()),
            col(&|j| j.output.clone()),
            col(&|j| j.depends_on.join(", ")),
            col(&last),
            col(&|j| j.schedule.next_fire(now).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ],
    )
    .map_err(|e| Failure::Query(e.into()))?;
    crate::commands::print_batch(batch, output).await
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// The one-line KPI summary of a run.
fn summary(r: &RunRecord) -> String {
    let mut s = format!(
        "{} {} {} in {:.2} s (attempts {}): {} rows, {:.0} rows/s, error rate {:.4}, cpu {:.2} s, peak {}, read {}, wrote {}, {:.6} per 1k rows",
        r.job,
        r.run_date,
        r.state.as_str(),
        r.duration_seconds,
        r.attempts,
        r.rows_written,
        r.rows_per_second,
        r.error_rate,
        r.cpu_seconds,
        human_bytes(r.peak_memory_bytes),
        human_bytes(r.bytes_read),
        human_bytes(r.bytes_written),
        r.cost_per_1000_rows,
    );
    if let Some(m) = &r.message {
        s.push_str(&format!("\n  {}", m.lines().collect::<Vec<_>>().join("\n  ")));
    }
    s
}

/// A bar over the planned runs, with the current run's stage, rows written and elapsed time.
fn progress_bar(runs: usize) -> (ProgressBar, ProgressFn) {
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {pos}/{len} runs done, now {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let current = Arc::new(std::sync::Mutex::new(String::new()));
    let b = bar.clone();
    let f: ProgressFn = Arc::new(move |event| {
        let mut current = current.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            RunProgress::Stage { job, run_date, stage } => {
                *current = format!("{job} {run_date} {stage}");
                b.set_message(current.clone());
            }
            RunProgress::Rows(rows) => b.set_message(format!("{current}: {rows} rows written")),
        }
    });
    (bar, f)
}

pub async fn run(
    session: &Session,
    args: RunArgs,
    engine: Arc<dyn nightshift_jobs::Engine>,
) -> Result<(), Failure> {
    let mut runner = runner(session)?.with_engine(engine);
    if args.jobs.is_empty() && !args.all && !args.due {
        return Err(Failure::Usage(anyhow!(
            "name the jobs to run, or use --all or --due; jobs: {}",
            runner
                .jobs()
                .jobs
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if args.all && !args.jobs.is_empty() {
        return Err(Failure::Usage(anyhow!("give job names or --all, not both")));
    }
    let selection = match (args.due, args.date, args.from, args.to) {
        (true, ..) => Selection::Due,
        (_, Some(d), _, _) => Selection::Dates(d, d),
        (_, None, Some(f), Some(t)) if f <= t => Selection::Dates(f, t),
        (_, None, Some(f), Some(t)) => {
            return Err(Failure::Usage(anyhow!("--from {f} is after --to {t}")));
        }
        _ => Selection::Now,
    };
    let plan = runner
        .plan(&args.jobs, &selection)
        .await
        .map_err(|e| Failure::Usage(e.into()))?;
    if args.dry_run {
        for p in &plan {
            let params: Vec<String> = nightshift_jobs::interval_params(&p.job, &p.interval)
                .iter()
                .map(|(k, v)| match k {
                    "interval_start" => format!("${k}={}", p.interval.start.format("%Y-%m-%dT%H:%M:%SZ")),
                    "interval_end" => format!("${k}={}", p.interval.end.format("%Y-%m-%dT%H:%M:%SZ")),
                    _ => format!("${k}={v}"),
                })
                .collect();
            // Inputs as the SQL names them (parsed, not planned: a dry run reads no data).
            let mut inputs: Vec<String> = Vec::new();
            let text = std::fs::read_to_string(&p.job.sql).unwrap_or_default();
            for st in nightshift_core::split_statements(&text).unwrap_or_default() {
                for t in nightshift_core::referenced_tables(&st.text) {
                    if !inputs.contains(&t) {
                        inputs.push(t);
                    }
                }
            }
            println!(
                "{} {}: sql {} reads [{}] → {} ({}), params {}",
                p.job.name,
                p.interval,
                p.job.sql.display(),
                inputs.join(", "),
                p.job.output,
                p.job.schedule,
                params.join(" ")
            );
        }
        if plan.is_empty() {
            println!("nothing to run");
        }
        return Ok(());
    }
    if plan.is_empty() {
        eprintln!("nothing is due");
    }
    let bar = if !args.no_progress && std::io::stderr().is_terminal() && !plan.is_empty() {
        let (bar, f) = progress_bar(plan.len());
        runner = runner.with_progress(f);
        Some(bar)
    } else {
        None
    };
    // The summary lines go to stdout, which may be the bar's terminal: print them with the bar hidden.
    let say = |line: String| match &bar {
        Some(b) => b.suspend(|| println!("{line}")),
        None => println!("{line}"),
    };
    let mut failed: BTreeSet<(String, chrono::NaiveDate)> = BTreeSet::new();
    let mut code = 0u8;
    for p in &plan {
        // A job whose dependency failed for the same interval does not run on stale inputs.
        if let Some(dep) = p
            .job
            .depends_on
            .iter()
            .find(|d| failed.contains(&((*d).clone(), p.interval.run_date)))
        {
            say(format!(
                "{} {} skipped: its dependency '{dep}' failed for this interval",
                p.job.name, p.interval.run_date
            ));
            if let Some(b) = &bar {
                b.inc(1);
            }
            failed.insert((p.job.name.clone(), p.interval.run_date));
            code = 1;
            continue;
        }
        let r = runner.run(&p.job, &p.interval).await;
        if let Some(b) = &bar {
            b.inc(1);
        }
        say(summary(&r));
        match r.state {
            RunState::Succeeded => {}
            RunState::PartiallySucceeded => {
                if code == 0 {
                    code = 3;
                }
            }
            _ => {
                failed.insert((p.job.name.clone(), p.interval.run_date));
                code = 1;
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Exit(code))
    }
}

pub async fn runs(session: &Session, args: RunsArgs) -> Result<(), Failure> {
    let store = session
        .context()
        .runtime_env()
        .object_store(session.catalog().location().store_url())?;
    let ledger = Ledger::new(store, &session.catalog().location().prefix());
    let mut runs = ledger.runs().await?;
    if let Some(j) = &args.job {
        runs.retain(|r| &r.job == j);
    }
    if args.last > 0 && runs.len() > args.last {
        runs.drain(..runs.len() - args.last);
    }
    let batch = nightshift_jobs::runs_batch(&runs)?;
    crate::commands::print_batch(batch, &args.output).await
}

pub async fn schedule(
    session: &Session,
    args: ScheduleArgs,
    engine: Arc<dyn nightshift_jobs::Engine>,
) -> Result<(), Failure> {
    let runner = runner(session)?.with_engine(engine);
    let grace = runner.jobs().scheduler.grace_period;
    let poll = runner.jobs().scheduler.poll_interval;
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, stopping) = (stop.clone(), stopping.clone());
        let signal = shutdown_signal();
        tokio::spawn(async move {
            signal.await;
            tracing::info!("shutdown requested: no new work");
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            stop.notify_one();
        });
    }
    loop {
        let plan = runner.plan(&[], &Selection::Due).await?;
        for p in &plan {
            if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let run = runner.run_due(&p.job, &p.interval);
            tokio::pin!(run);
            let record = tokio::select! {
                r = &mut run => Some(r),
                _ = stop.notified() => {
                    // Let the running job finish within the grace period, else abandon it: nothing
                    // is published without its manifest, so the previous output stays intact.
                    match tokio::time::timeout(grace, &mut run).await {
                        Ok(r) => Some(r),
                        Err(_) => {
                            eprintln!("{} {} abandoned after the {:?} grace period", p.job.name, p.interval.run_date, grace);
                            None
                        }
                    }
                }
            };
            match record {
                Some(Ok(Some(r))) => println!("{}", summary(&r)),
                Some(Ok(None)) => {
                    tracing::info!(job = %p.job.name, run_date = %p.interval.run_date, "already run or running elsewhere")
                }
                Some(Err(e)) => eprintln!("{} {}: {e}", p.job.name, p.interval.run_date),
                None => {}
            }
        }
        if args.once || stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let next = runner
            .jobs()
            .jobs
            .iter()
            .map(|j| j.schedule.next_fire(now))
            .min()
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(poll)
            .min(poll)
            .max(Duration::from_millis(200));
        tracing::info!(sleep_ms = next.as_millis() as u64, "scheduler idle");
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = stop.notified() => return Ok(()),
        }
        if stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM listener is registered here, before the caller goes
/// on, not when the returned future is first polled: a signal sent in between (a test's SIGTERM
/// right after the first "scheduler idle" line, on a loaded machine) was otherwise swallowed, and
/// the scheduler slept on.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
