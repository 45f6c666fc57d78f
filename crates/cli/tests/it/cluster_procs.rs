//! A real cluster of our binary: `nightshift scheduler` and two `nightshift executor` processes on
//! loopback, with the lake on an S3-compatible server (moto) so that every process sees the same
//! store with credentials from its own environment. The repository's jobs run on it and locally,
//! and every report is compared row by row; an executor killed mid-job loses nothing; no process
//! logs the secret key, even at debug level.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Run, command, run_in};
use crate::s3::{BUCKET, KEY_ID, SECRET, http, start_moto, upload_dir};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One child process of the cluster, its stderr going to a file.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)], log: PathBuf) -> Self {
        let mut cmd = command(cwd, args, env);
        cmd.stdin(Stdio::null());
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        Node {
            child: cmd.spawn().expect("start nightshift"),
            log,
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scheduler and its executors, killed when dropped.
struct Cluster {
    port: u16,
    scheduler: Node,
    executors: Vec<Node>,
}

impl Cluster {
    fn start(cwd: &Path, config: &str, env: &[(&str, &str)], executors: usize, logs: &Path) -> Self {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let scheduler = Node::start(
            cwd,
            &[
                "--config",
                config,
                "--log-level",
                "debug",
                "scheduler",
                "--bind",
                &bind,
                "--executor-timeout",
                "10",
            ],
            env,
            logs.join("scheduler.log"),
        );
        wait_for(
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "the scheduler to listen",
            &scheduler,
        );
        let mut cluster = Cluster {
            port,
            scheduler,
            executors: Vec::new(),
        };
        for i in 0..executors {
            let work = logs.join(format!("work-{i}"));
            let (flight, grpc) = (free_port().to_string(), free_port().to_string());
            let node = Node::start(
                cwd,
                &[
                    "--config",
                    config,
                    "--log-level",
                    "debug",
                    "executor",
                    "--scheduler",
                    &bind,
                    "--concurrent-tasks",
                    "2",
                    "--work-dir",
                    work.to_str().unwrap(),
                    "--port",
                    &flight,
                    "--grpc-port",
                    &grpc,
                    "--heartbeat-interval",
                    "1",
                ],
                env,
                logs.join(format!("executor-{i}.log")),
            );
            cluster.executors.push(node);
        }
        let n = executors;
        let c = &cluster;
        wait_for(
            || c.executor_count() == n,
            "the executors to register",
            &cluster.scheduler,
        );
        cluster
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> String {
        let r = http(
            self.port,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        );
        r.split_once("\r\n\r\n").map_or(r.clone(), |(_, b)| b.to_string())
    }

    fn executor_count(&self) -> usize {
        serde_json::from_str::<serde_json::Value>(&self.get("/api/executors"))
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0)
    }

    fn logs(&self) -> Vec<(String, String)> {
        let mut out = vec![("scheduler".to_string(), self.scheduler.log())];
        for (i, e) in self.executors.iter().enumerate() {
            out.push((format!("executor {i}"), e.log()));
        }
        out
    }
}

#[track_caller]
fn wait_for(mut ready: impl FnMut() -> bool, what: &str, node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A project: the repository's nightshift.toml and queries, with its lake at `s3://BUCKET/<prefix>`,
/// written as `<prefix>.toml`.
fn write_config(dir: &Path, prefix: &str, moto_port: u16) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(repo.join("nightshift.toml")).unwrap();
    let text = text.replace(
        "root = \"datasets/lake\"",
        &format!(
            "root = \"s3://{BUCKET}/{prefix}\"\n[lake.storage]\nendpoint = \"http://127.0.0.1:{moto_port}\"\n\
             region = \"us-east-1\"\nallow_http = true"
        ),
    );
    assert!(
        text.contains(&format!("s3://{BUCKET}/{prefix}")),
        "the repository's nightshift.toml changed"
    );
    let name = format!("{prefix}.toml");
    std::fs::write(dir.join(&name), text).unwrap();
    name
}

fn project(moto_port: u16, prefixes: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_repo_queries(dir.path());
    run_in(
        dir.path(),
        &[
            "datasets",
            "generate",
            "--out",
            "lake",
            "--reviews",
            "1400",
            "--transactions",
            "3000",
            "--days",
            "7",
        ],
        &[],
        None,
    )
    .ok();
    for p in prefixes {
        upload_dir(moto_port, &dir.path().join("lake"), p);
        write_config(dir.path(), p, moto_port);
    }
    dir
}

const ENV: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];

fn ns(dir: &Path, config: &str, args: &[&str]) -> Run {
    let mut full = vec!["--config", config];
    full.extend_from_slice(args);
    run_in(dir, &full, &ENV, None)
}

/// Runs `sql` on the local lake and on the cluster's; the two outputs must be equal. Returns it.
#[track_caller]
fn same_here_and_there(dir: &Path, url: &str, sql: &str) -> String {
    let l = ns(dir, "local.toml", &["sql", "--format", "csv", "-c", sql]);
    let c = ns(
        dir,
        "cluster.toml",
        &["--cluster", url, "sql", "--format", "csv", "-c", sql],
    );
    l.ok();
    c.ok();
    assert_eq!(l.stdout, c.stdout, "{sql}");
    c.stdout.clone()
}

/// Every row of each report, sorted, as NDJSON (read through the local engine; CSV cannot hold the
/// fraud report's nested list of flagged transactions).
fn reports(dir: &Path, config: &str) -> Vec<(String, String)> {
    [
        ("daily_sentiment", "SELECT * FROM reports.daily_sentiment"),
        ("fraud_scoring", "SELECT * FROM reports.fraud_scoring"),
        // The training summary, without its duration.
        (
            "fraud_model",
            "SELECT * EXCLUDE (duration_secs) FROM reports.fraud_model",
        ),
    ]
    .into_iter()
    .map(|(name, sql)| {
        let r = ns(
            dir,
            config,
            &["sql", "--format", "ndjson", "--maxrows", "0", "-c", sql],
        );
        r.ok();
        // Rows in a stable order.
        let mut lines: Vec<&str> = r.stdout.lines().collect();
        lines.sort_unstable();
        (name.to_string(), lines.join("\n"))
    })
    .collect()
}

#[test]
fn jobs_queries_and_models_on_a_scheduler_and_two_executors_match_local_runs() {
    let moto = start_moto();
    let dir = project(moto.port, &["local", "cluster"]);
    let p = dir.path();
    let logs = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = ENV.to_vec();
    let cluster = Cluster::start(p, "cluster.toml", &env, 2, logs.path());
    let url = cluster.url();

    // The repository's jobs: sentiment, then the quarterly model training and the scoring that
    // depends on it, locally and on the cluster, for the same day.
    let local = ns(p, "local.toml", &["run", "--all", "--date", "2024-06-03"]);
    local.ok();
    let remote = ns(
        p,
        "cluster.toml",
        &[
            "--cluster",
            &url,
            "--log-level",
            "debug",
            "run",
            "--all",
            "--date",
            "2024-06-03",
        ],
    );
    remote.ok();
    for job in [
        "daily_sentiment 2024-06-03 succeeded",
        "fraud_model 2024-04-01 succeeded",
        "fraud_scoring 2024-06-03 succeeded",
    ] {
        assert!(remote.stdout.contains(job), "{job}:\n{}", remote.stdout);
    }
    let (a, b) = (reports(p, "local.toml"), reports(p, "cluster.toml"));
    for ((name, l), (_, c)) in a.iter().zip(&b) {
        assert!(l.lines().count() > 0, "{name} is empty:\n{l}");
        assert_eq!(l, c, "{name}: the cluster's report differs from the local one");
    }

    // A newer model trained by hand: the scoring job still pins the version its dependency made
    // (fraud@v1), and the executors, which load models themselves, score with it, not the newest.
    let retrain = "CREATE OR REPLACE MODEL fraud OPTIONS (type = 'random_forest', target = 'is_fraudulent', \
                   trees = 3, seed = 1) AS SELECT amount, latitude, longitude, region, merchant_category, \
                   time_of_day, card_present, is_fraudulent FROM transactions ORDER BY transaction_id";
    ns(p, "local.toml", &["sql", "-c", retrain]).ok();
    let v2 = ns(
        p,
        "cluster.toml",
        &["--cluster", &url, "sql", "--format", "csv", "-c", retrain],
    );
    v2.ok();
    assert!(v2.stdout.contains("fraud,2,"), "{}", v2.stdout);
    for config in ["local.toml", "cluster.toml"] {
        let cluster_flag: &[&str] = if config == "cluster.toml" {
            &["--cluster", &url]
        } else {
            &[]
        };
        let mut args = cluster_flag.to_vec();
        args.extend(["run", "fraud_scoring", "--date", "2024-06-03"]);
        ns(p, config, &args).ok();
    }
    let after = reports(p, "cluster.toml");
    assert_eq!(
        after[1], b[1],
        "the rerun scored with another model than fraud@v1"
    );
    assert_eq!(after[1], reports(p, "local.toml")[1]);
    // Outside the job, the newest version is what a statement means, on the cluster as here.
    let q = "SELECT round(sum(fraud_score(amount, latitude, longitude, region, merchant_category, \
             time_of_day, card_present)), 6) AS s FROM transactions";
    same_here_and_there(p, &url, q);
    // The model's importance (a view over VALUES, planned by the client) reads the same there.
    let ranked = same_here_and_there(
        p,
        &url,
        "SELECT rank, feature, round(split_gain, 9) AS g FROM feature_importance('fraud') ORDER BY rank",
    );
    assert_eq!(ranked.lines().count(), 8, "{ranked}");
    // Boosted trees, trained here and through the cluster (each into its own lake), score and
    // explain there as here.
    let boosted = "CREATE MODEL gbc OPTIONS (type = 'gradient_boosting', target = 'is_fraudulent', trees = 20, \
                   seed = 1) AS SELECT amount, merchant_category, time_of_day, is_fraudulent FROM transactions \
                   ORDER BY transaction_id";
    ns(p, "local.toml", &["sql", "-c", boosted]).ok();
    ns(p, "cluster.toml", &["--cluster", &url, "sql", "-c", boosted]).ok();
    same_here_and_there(
        p,
        &url,
        "SELECT round(sum(predict('gbc', amount, merchant_category, time_of_day)), 9) AS s, \
         round(sum(explain_predict('gbc', amount, merchant_category, time_of_day)['score']), 6) AS e \
         FROM transactions",
    );

    // The ledger says where each run executed and what the executors spent.
    let ledger = ns(
        p,
        "cluster.toml",
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT job, executed_on, bool_and(executor_cpu_seconds > 0) AS measured FROM nightshift.runs \
             GROUP BY 1, 2 ORDER BY job",
        ],
    );
    ledger.ok();
    assert_eq!(
        ledger.stdout,
        format!(
            "job,executed_on,measured\ndaily_sentiment,{url},true\nfraud_model,{url},true\nfraud_scoring,{url},true\n"
        )
    );

    // A hive-partitioned query: the same rows, and only the asked day's files are read.
    let q = "SELECT tx_date, merchant_category, count(*) AS n, round(sum(amount), 2) AS total \
             FROM transactions WHERE tx_date = DATE '2024-06-05' GROUP BY 1, 2 ORDER BY 1, 2";
    let rows = same_here_and_there(p, &url, q);
    assert!(rows.lines().count() > 2, "{rows}");
    let explain = format!("EXPLAIN {q}");
    let e = ns(
        p,
        "cluster.toml",
        &[
            "--cluster",
            &url,
            "sql",
            "--format",
            "csv",
            "--maxrows",
            "0",
            "-c",
            &explain,
        ],
    );
    e.ok();
    assert!(e.stdout.contains("distributed_plan"), "{}", e.stdout);
    assert!(e.stdout.contains("tx_date=2024-06-05"), "{}", e.stdout);
    assert!(
        !e.stdout.contains("tx_date=2024-06-04"),
        "partition pruning: {}",
        e.stdout
    );

    // Status: both executors with their slots, and the jobs just run.
    let status = ns(p, "cluster.toml", &["--cluster", &url, "cluster", "status"]);
    status.ok();
    assert!(status.stdout.contains("executors  2"), "{}", status.stdout);
    assert_eq!(status.stdout.matches("slots 2").count(), 2, "{}", status.stdout);
    assert!(status.stdout.contains("Completed"), "{}", status.stdout);

    // No process logged the secret, at debug level; nor does the scheduler show it in a job's
    // configuration.
    let mut logs = cluster.logs();
    logs.push(("client".into(), remote.stderr.clone()));
    for (who, log) in &logs {
        assert!(
            log.len() > 2000,
            "{who} logged too little for the check to mean anything:\n{log}"
        );
        assert!(!log.contains(SECRET), "{who} logged the secret key");
    }
    let jobs: serde_json::Value = serde_json::from_str(&cluster.get("/api/jobs")).unwrap();
    let ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    assert!(!ids.is_empty());
    for id in ids {
        let config = cluster.get(&format!("/api/job/{id}/config"));
        assert!(
            !config.contains(SECRET),
            "job {id}'s configuration holds the secret key"
        );
    }
}

/// A job heavy enough to be killed in the middle: every pair of one day's reviews, scored.
const PAIRS_SQL: &str = "SELECT a.review_date, count(*) AS pairs, \
    count(*) FILTER (WHERE sentiment_label(a.review_text || ' ' || b.review_text) = 'positive') AS positive, \
    round(sum(sentiment_score(b.review_text || ' ' || a.review_text)), 4) AS score \
    FROM reviews a JOIN reviews b ON a.review_date = b.review_date \
    GROUP BY 1";

const PAIRS_JOB: &str = "\n[jobs.pairs]\nsql = \"queries/pairs.sql\"\nschedule = \"daily @ 02:00 UTC\"\n\
                         output = \"reports/pairs\"\ntimeout = \"90s\"\n";

#[test]
fn an_executor_killed_mid_job_loses_nothing() {
    let moto = start_moto();
    let dir = project(moto.port, &["local", "cluster"]);
    let p = dir.path();
    std::fs::write(p.join("queries/pairs.sql"), PAIRS_SQL).unwrap();
    for config in ["local.toml", "cluster.toml"] {
        let mut text = std::fs::read_to_string(p.join(config)).unwrap();
        text.push_str(PAIRS_JOB);
        std::fs::write(p.join(config), text).unwrap();
    }
    let logs = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(p, "cluster.toml", &ENV, 2, logs.path());
    let url = cluster.url();
    ns(p, "local.toml", &["run", "pairs", "--date", "2024-06-03"]).ok();
    let expected = ns(
        p,
        "local.toml",
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT * FROM reports.pairs ORDER BY 1",
        ],
    );
    expected.ok();
    assert!(expected.stdout.lines().count() == 8, "{}", expected.stdout);

    // The run on the cluster, and executor 0 killed with SIGKILL once the job is running.
    let mut cmd = command(
        p,
        &[
            "--config",
            "cluster.toml",
            "--cluster",
            &url,
            "run",
            "pairs",
            "--date",
            "2024-06-03",
        ],
        &ENV,
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let run = cmd.spawn().unwrap();
    let c = &cluster;
    wait_for(
        || c.get("/api/jobs").contains("\"Running\""),
        "the job to run",
        &cluster.scheduler,
    );
    std::thread::sleep(Duration::from_millis(300));
    cluster.executors[0].child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    let out = run.wait_with_output().unwrap();
    eprintln!(
        "the run ended {:.1} s after the kill: {}",
        killed.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let report = || {
        ns(
            p,
            "cluster.toml",
            &[
                "sql",
                "--format",
                "csv",
                "-c",
                "SELECT * FROM reports.pairs ORDER BY 1",
            ],
        )
    };
    if out.status.success() {
        // Ballista rescheduled the lost tasks on the other executor.
        assert!(
            stdout.contains("pairs 2024-06-03 succeeded"),
            "{stdout}\n{stderr}"
        );
        assert_eq!(report().stdout, expected.stdout);
    } else {
        // Or the run failed, clearly, and published nothing; the next run succeeds.
        assert!(stdout.contains("pairs 2024-06-03 failed"), "{stdout}\n{stderr}");
        let missing = report();
        assert_ne!(
            missing.code, 0,
            "a report exists after a failed first run:\n{}",
            missing.stdout
        );
        let again = ns(
            p,
            "cluster.toml",
            &["--cluster", &url, "run", "pairs", "--date", "2024-06-03"],
        );
        again.ok();
        assert_eq!(report().stdout, expected.stdout);
    }
    // Either way the scheduler saw the executor go.
    let c = &cluster;
    wait_for(
        || c.executor_count() == 1,
        "the dead executor to be dropped",
        &cluster.scheduler,
    );
    // … and it was killed while the job ran: the scheduler took its tasks back.
    assert!(
        cluster.scheduler.log().contains("on lost Executor"),
        "the executor died after the job's tasks were done; the test tested nothing"
    );
}
