//! `nightshift jobs | run | runs | schedule`: the CLI side of nightshift-jobs.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use indicatif::{ProgressBar, ProgressStyle};
use nightshift_core::{Engine, Session};
use nightshift_jobs::{
    Daemon, DaemonConfig, DaemonEvent, JobSet, Ledger, ProgressFn, RunProgress, RunRecord, RunState, Runner,
    Selection, SystemClock,
};

use crate::args::{OutputArgs, RunArgs, RunsArgs, ScheduleArgs};
use crate::failure::Failure;
use crate::output::{human_bytes, print_batch};

fn job_set(session: &Session) -> Result<JobSet, Failure> {
    JobSet::from_settings(session.settings()).map_err(Failure::usage)
}

fn runner(session: &Session) -> Result<Runner, Failure> {
    let jobs = job_set(session)?;
    if jobs.jobs.is_empty() {
        return Err(Failure::Usage(anyhow!(
            "no jobs are declared: add [jobs.NAME] tables to nightshift.toml (see docs/jobs.md)"
        )));
    }
    Runner::new(session, jobs, Arc::new(SystemClock)).map_err(Failure::usage)
}

/// `nightshift jobs`: each job with its schedule, last run and next fire time.
pub async fn jobs(session: &Session, output: &OutputArgs) -> Result<(), Failure> {
    print_batch(jobs_batch(session).await?, output).await
}

/// Runs `job` for the interval of `date` here (the REPL's `\rerun`): its ready_when asked once, as
/// `nightshift run JOB --date DATE` does. Returns the run's summary line.
pub async fn rerun(session: &Session, job: &str, date: chrono::NaiveDate) -> Result<String, Failure> {
    let runner = runner(session)?.with_wait_for_inputs(false);
    let plan = runner
        .plan(&[job.to_string()], &Selection::Dates(date, date))
        .await
        .map_err(Failure::usage)?;
    let mut lines = Vec::new();
    for p in &plan {
        lines.push(summary(&runner.run(&p.job, &p.interval).await));
    }
    Ok(lines.join("\n"))
}

/// `nightshift rerun RUN_ID`: the past run again, as it was (its input's readiness is not asked:
/// it was there then).
pub async fn rerun_run(session: &Session, run_id: &str, engine: Arc<dyn Engine>) -> Result<(), Failure> {
    let runner = runner(session)?.with_engine(engine).with_force(true);
    let rerun = runner.find_rerun(run_id).await.map_err(Failure::usage)?;
    let pinned: Vec<&str> = rerun
        .pins
        .models
        .iter()
        .chain(&rerun.pins.delta_inputs)
        .map(String::as_str)
        .collect();
    println!(
        "{} {}: repeating run {run_id} with the same SQL{}",
        rerun.job.name,
        rerun.interval.run_date,
        if pinned.is_empty() {
            String::new()
        } else {
            format!(", pinned to {}", pinned.join(", "))
        }
    );
    let runner = runner.with_pins(rerun.pins.clone());
    let r = runner.run(&rerun.job, &rerun.interval).await;
    println!("{}", summary(&r));
    match exit_code(r.state).0 {
        0 => Ok(()),
        code => Err(Failure::Exit(code)),
    }
}

/// The exit code of a run that ended in `state`, and how bad that is (higher is worse): a failure
/// (1), then a report blocked by its checks (5), then input not ready (4), then records skipped
/// (3), then success (0).
fn exit_code(state: RunState) -> (u8, u8) {
    match state {
        RunState::Succeeded => (0, 0),
        RunState::PartiallySucceeded => (3, 1),
        RunState::InputMissing => (4, 2),
        RunState::Blocked => (5, 3),
        _ => (1, 4),
    }
}

/// Each job with its schedule, last run and next fire time.
pub async fn jobs_batch(session: &Session) -> Result<RecordBatch, Failure> {
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
    Ok(batch)
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

/// `nightshift run`: the selected intervals in order, a dependency's failure skipping its
/// dependents for that interval.
pub async fn run(session: &Session, args: RunArgs, engine: Arc<dyn Engine>) -> Result<(), Failure> {
    // A run of given dates asks a job's ready_when once; `--due` (what cron or the scheduler runs)
    // waits up to its wait_timeout.
    let mut runner = runner(session)?
        .with_engine(engine)
        .with_force(args.force)
        .with_wait_for_inputs(args.due);
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
        (false, None, None, None) if args.changed => Selection::Recent(7),
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
        .map_err(Failure::usage)?;
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
    // The worst outcome so far, as `exit_code` gives it.
    let mut worst = (0u8, 0u8);
    let mut lake_session = None;
    let ledger_runs = if args.changed {
        runner.ledger().runs().await?
    } else {
        Vec::new()
    };
    for p in &plan {
        if args.changed {
            use nightshift_jobs::InputsChange;
            let skipped = match runner
                .inputs_changed(&p.job, &p.interval, &ledger_runs, &mut lake_session)
                .await
            {
                InputsChange::Changed(what) => {
                    say(format!(
                        "{} {}: its inputs changed since it was published ({what}); running it again",
                        p.job.name, p.interval.run_date
                    ));
                    None
                }
                InputsChange::Unchanged => {
                    Some("its inputs have not changed since it was published".to_string())
                }
                InputsChange::Unknown(why) => Some(format!("cannot tell whether its inputs changed: {why}")),
            };
            if let Some(why) = skipped {
                say(format!("{} {} skipped: {why}", p.job.name, p.interval.run_date));
                if let Some(b) = &bar {
                    b.inc(1);
                }
                continue;
            }
        }
        // A job whose dependency failed for the same interval does not run on stale inputs.
        if let Some(dep) = p
            .job
            .depends_on
            .iter()
            .find(|d| failed.contains(&((*d).clone(), p.interval.run_date)))
        {
            say(format!(
                "{} {} skipped: its dependency '{dep}' did not publish this interval",
                p.job.name, p.interval.run_date
            ));
            if let Some(b) = &bar {
                b.inc(1);
            }
            failed.insert((p.job.name.clone(), p.interval.run_date));
            worst = exit_code(RunState::Failed);
            continue;
        }
        if let Some(what) = &p.changed {
            say(format!(
                "{} {}: its inputs changed since it was published ({what}); running it again",
                p.job.name, p.interval.run_date
            ));
        }
        let r = runner.run(&p.job, &p.interval).await;
        if let Some(b) = &bar {
            b.inc(1);
        }
        say(summary(&r));
        let outcome = exit_code(r.state);
        // Anything but a publish (input missing, blocked, failed) skips the dependents.
        if outcome.1 >= exit_code(RunState::InputMissing).1 {
            failed.insert((p.job.name.clone(), p.interval.run_date));
        }
        if outcome.1 > worst.1 {
            worst = outcome;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let code = worst.0;
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::Exit(code))
    }
}

/// `nightshift runs`: the ledger's last runs.
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
    print_batch(batch, &args.output).await
}

/// `nightshift schedule`: the scheduler daemon of nightshift-jobs on the system clock, stopped by
/// SIGTERM or Ctrl-C; each run's summary goes to stdout.
pub async fn schedule(session: &Session, args: ScheduleArgs, engine: Arc<dyn Engine>) -> Result<(), Failure> {
    let runner = runner(session)?.with_engine(engine);
    let config = DaemonConfig {
        once: args.once,
        ..DaemonConfig::from_settings(&runner.jobs().scheduler)
    };
    let daemon = Daemon::new(runner, Arc::new(SystemClock), config);
    daemon
        .run(shutdown_signal(), |event| match event {
            DaemonEvent::Ran(r) => println!("{}", summary(&r)),
            DaemonEvent::Skipped { .. } => {}
            DaemonEvent::Failed { job, run_date, error } => eprintln!("{job} {run_date}: {error}"),
            DaemonEvent::Abandoned { job, run_date, grace } => {
                eprintln!("{job} {run_date} abandoned after the {grace:?} grace period")
            }
        })
        .await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. Both listeners are registered here, before the caller goes on,
/// not when the returned future is first polled: a signal sent in between (a test's SIGTERM right
/// after the first "scheduler idle" line, on a loaded machine) was otherwise swallowed, and the
/// scheduler slept on.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let listeners = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        if let (Some(mut term), Some(mut interrupt)) = listeners {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
