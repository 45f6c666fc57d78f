//! `nightshift cluster status`, and the executors' CPU time of a finished query: read from the
//! scheduler's REST API and its job-metrics RPC. Never from `/api/job/{id}/config`, which holds
//! every option the client set.

use std::time::Duration;

use ballista_core::serde::protobuf::operator_metric::Metric;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobMetricsParams, GetJobMetricsResult};
use serde_json::Value;

use crate::ClusterError;

/// One executor as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorStatus {
    /// Ballista's executor id.
    pub id: String,
    /// `host:port` of its Flight service.
    pub address: String,
    /// Task slots (vcores).
    pub slots: u64,
    /// Seconds since its last heartbeat, if it sent one.
    pub heartbeat_age_seconds: Option<f64>,
}

/// One job the scheduler knows.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// Ballista's job id.
    pub id: String,
    /// The job's name (`nightshift:<job>:<run>` for job runs).
    pub name: String,
    /// Queued, Running, Completed or Failed.
    pub status: String,
    /// Percent of stages complete.
    pub percent_complete: u64,
}

/// What `nightshift cluster status` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatus {
    /// The scheduler's URL.
    pub scheduler: String,
    /// Ballista's version, as the scheduler reports it.
    pub version: String,
    /// The registered executors.
    pub executors: Vec<ExecutorStatus>,
    /// The jobs the scheduler still holds, newest first.
    pub jobs: Vec<JobStatus>,
}

/// `http://host:port` of a `df://host:port` URL (default port 50050).
pub fn http_url(url: &str) -> String {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .trim_end_matches('/');
    if rest.contains(':') {
        format!("http://{rest}")
    } else {
        format!("http://{rest}:50050")
    }
}

async fn get_json(client: &reqwest::Client, base: &str, path: &str) -> Result<Value, ClusterError> {
    let url = format!("{base}{path}");
    let fail = |e: String| ClusterError::Start(format!("cannot read {url}: {e}"));
    let response = client.get(&url).send().await.map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))
}

/// The scheduler at `url`, its executors and its jobs.
pub async fn status(url: &str) -> Result<ClusterStatus, ClusterError> {
    crate::check_reachable(url, Duration::from_secs(10)).await?;
    let base = http_url(url);
    let client = client()?;
    let state = get_json(&client, &base, "/api/state").await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64);
    let executors = executors(&client, &base, now_ms).await?;
    let jobs = jobs(&client, &base).await?;
    Ok(ClusterStatus {
        scheduler: url.to_string(),
        version: state["version"].as_str().unwrap_or("?").to_string(),
        executors,
        jobs,
    })
}

/// The ids of the live executors of the scheduler at `url` (one REST call).
pub async fn executor_ids(url: &str) -> Result<Vec<String>, ClusterError> {
    let executors = executors(&client()?, &http_url(url), 0.0).await?;
    Ok(executors.into_iter().map(|e| e.id).collect())
}

/// The executors the scheduler at `base` lists, by address; heartbeat ages are against `now_ms`.
async fn executors(
    client: &reqwest::Client,
    base: &str,
    now_ms: f64,
) -> Result<Vec<ExecutorStatus>, ClusterError> {
    let executors = get_json(client, base, "/api/executors").await?;
    let mut executors: Vec<ExecutorStatus> = executors
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| ExecutorStatus {
            id: e["id"].as_str().unwrap_or_default().to_string(),
            address: format!("{}:{}", e["host"].as_str().unwrap_or("?"), e["port"]),
            slots: e["specification"]["vcores"].as_u64().unwrap_or(0),
            heartbeat_age_seconds: e["last_seen"]
                .as_f64()
                .map(|ms| ((now_ms - ms) / 1000.0).max(0.0)),
        })
        .collect();
    executors.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(executors)
}

fn client() -> Result<reqwest::Client, ClusterError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ClusterError::Start(e.to_string()))
}

/// The jobs the scheduler at `base` (`http://host:port`) holds, newest first.
async fn jobs(client: &reqwest::Client, base: &str) -> Result<Vec<JobStatus>, ClusterError> {
    let jobs = get_json(client, base, "/api/jobs").await?;
    let mut jobs: Vec<(u64, JobStatus)> = jobs
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|j| {
            (
                j["start_time"].as_u64().unwrap_or(0),
                JobStatus {
                    id: j["job_id"].as_str().unwrap_or_default().to_string(),
                    name: j["job_name"].as_str().unwrap_or_default().to_string(),
                    status: j["job_status"].as_str().unwrap_or_default().to_string(),
                    percent_complete: j["percent_complete"].as_u64().unwrap_or(0),
                },
            )
        })
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.0));
    Ok(jobs.into_iter().map(|(_, j)| j).collect())
}

/// Seconds of compute the executors spent on job `job_id`: the sum of every operator's
/// `elapsed_compute` over every task of every stage, as the scheduler aggregated it from the
/// executors' task reports. It counts time on a core, so it is the cluster's CPU time for the job
/// (without the executors' idle waits and shuffle I/O).
pub async fn executor_cpu_seconds(url: &str, job_id: &str) -> Result<f64, ClusterError> {
    let mut client = SchedulerGrpcClient::connect(http_url(url))
        .await
        .map_err(|e| ClusterError::Start(format!("cannot reach the scheduler at {url}: {e}")))?;
    let metrics: GetJobMetricsResult = client
        .get_job_metrics(GetJobMetricsParams {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|e| ClusterError::Start(format!("cannot read job {job_id}'s metrics: {e}")))?
        .into_inner();
    let nanos: u64 = metrics
        .stages
        .iter()
        .flat_map(|s| &s.operators)
        .flat_map(|o| &o.metrics)
        .filter_map(|m| match &m.metric {
            Some(Metric::ElapseTime(ns)) => Some(*ns),
            _ => None,
        })
        .sum();
    Ok(nanos as f64 / 1e9)
}

/// [`executor_cpu_seconds`] summed over every job named `name` that the scheduler still holds.
pub async fn named_jobs_cpu_seconds(url: &str, name: &str) -> Result<f64, ClusterError> {
    let mut total = 0.0;
    for job in jobs(&client()?, &http_url(url))
        .await?
        .iter()
        .filter(|j| j.name == name)
    {
        total += executor_cpu_seconds(url, &job.id).await?;
    }
    Ok(total)
}
