//! `nightshift scheduler | executor | cluster status`: the Ballista processes with nightshift's
//! functions, models and lake, and a cluster's state.

use std::io::Write;

use anyhow::anyhow;

use crate::args::{ExecutorArgs, GlobalArgs, SchedulerArgs};
use crate::failure::Failure;
use crate::session::load_settings;

/// `nightshift scheduler`.
pub async fn scheduler(g: &GlobalArgs, args: SchedulerArgs) -> Result<(), Failure> {
    let settings = load_settings(g)?;
    let kit = nightshift_cluster::NodeKit::new(&settings).map_err(Failure::usage)?;
    let options = nightshift_cluster::SchedulerOptions {
        bind: args.bind,
        external_host: args.external_host,
        executor_timeout_seconds: args.executor_timeout,
    };
    eprintln!(
        "nightshift scheduler on {} (lake {}); executors: nightshift executor --scheduler {}",
        args.bind, settings.lake.root, args.bind
    );
    nightshift_cluster::run_scheduler(&kit, &options)
        .await
        .map_err(|e| Failure::Query(e.into()))
}

/// `nightshift executor`.
pub async fn executor(g: &GlobalArgs, args: ExecutorArgs) -> Result<(), Failure> {
    let settings = load_settings(g)?;
    let address = nightshift_cluster::http_url(&args.scheduler);
    let (host, port) = address
        .trim_start_matches("http://")
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| Failure::Usage(anyhow!("--scheduler '{}' is not HOST:PORT", args.scheduler)))?;
    let kit = nightshift_cluster::NodeKit::new(&settings).map_err(Failure::usage)?;
    let options = nightshift_cluster::ExecutorOptions {
        scheduler_host: host,
        scheduler_port: port,
        bind_host: args.bind_host,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        slots: args.concurrent_tasks.map_or(0, |n| n as usize),
        work_dir: args.work_dir,
        heartbeat_seconds: args.heartbeat_interval,
        memory_pool_bytes: settings.engine.memory_limit,
    };
    nightshift_cluster::run_executor(&kit, &options)
        .await
        .map_err(|e| Failure::Query(e.into()))
}

/// `nightshift cluster status`.
pub async fn status(g: &GlobalArgs) -> Result<(), Failure> {
    let settings = load_settings(g)?;
    let Some(url) = g.cluster.clone().or(settings.cluster.url) else {
        return Err(Failure::Usage(anyhow!(
            "no cluster is set: pass --cluster df://host:50050, set NIGHTSHIFT_CLUSTER, or add \
             [cluster] url to nightshift.toml"
        )));
    };
    if url == "standalone" {
        return Err(Failure::Usage(anyhow!(
            "a standalone cluster lives inside one command; status needs a scheduler started with \
             `nightshift scheduler`"
        )));
    }
    let status = nightshift_cluster::status(&url)
        .await
        .map_err(|e| Failure::Query(e.into()))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scheduler  {}  (Ballista {})",
        status.scheduler, status.version
    )?;
    writeln!(out, "executors  {}", status.executors.len())?;
    for e in &status.executors {
        let age = e
            .heartbeat_age_seconds
            .map_or_else(|| "never".to_string(), |s| format!("{s:.0} s ago"));
        writeln!(
            out,
            "  {:<24} slots {:<3} heartbeat {:<10} {}",
            e.address, e.slots, age, e.id
        )?;
    }
    let active: Vec<_> = status
        .jobs
        .iter()
        .filter(|j| matches!(j.status.as_str(), "Queued" | "Running"))
        .collect();
    writeln!(
        out,
        "jobs       {} running or queued, {} known",
        active.len(),
        status.jobs.len()
    )?;
    for j in status.jobs.iter().take(20) {
        writeln!(
            out,
            "  {:<10} {:<10} {:>3}%  {}",
            j.id, j.status, j.percent_complete, j.name
        )?;
    }
    Ok(())
}
