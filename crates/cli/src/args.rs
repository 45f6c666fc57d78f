//! The command line as clap parses it: every command's raw arguments, kept apart from the
//! settings they resolve to.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Batch SQL analytics for data lakes, on Apache DataFusion.
#[derive(Debug, Parser)]
#[command(name = "nightshift", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Without a command, on a terminal: the REPL.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options that every command takes; they override nightshift.toml and NIGHTSHIFT_* variables.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file (default: ./nightshift.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lake root: a folder or a URL such as s3://bucket/prefix.
    #[arg(long, global = true, value_name = "ROOT")]
    pub lake: Option<String>,
    /// Memory limit for query execution, e.g. 2GiB; larger sorts, aggregations and joins spill to disk.
    #[arg(long, global = true, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Folder for spill files.
    #[arg(long, global = true, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Partitions per query (default: the threads, plus as many again up to 4).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub target_partitions: Option<u32>,
    /// Threads that run queries (default: the cores).
    #[arg(long, global = true, value_name = "N", env = "NIGHTSHIFT_THREADS",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
    /// Rows per record batch.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Refuse writes, DDL and paths outside the lake.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// A DataFusion option, e.g. --set datafusion.optimizer.prefer_hash_join=false (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// Run statements on an Apache DataFusion Ballista cluster: its scheduler's URL
    /// (df://host:50050), `standalone` for a scheduler and an executor inside this process, or
    /// `local` to run here even when nightshift.toml names a cluster ([cluster] url).
    #[arg(long, global = true, env = "NIGHTSHIFT_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive (RUST_LOG wins).
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Human)]
    pub log_format: LogFormatArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explore the lake interactively: SQL with completion, history and meta-commands (\? for help).
    Repl(ReplArgs),
    /// Run SQL from files (-f), strings (-c) or stdin.
    Sql(SqlArgs),
    /// List the lake's tables with rows, files, bytes and partition columns (from metadata only).
    Tables(OutputArgs),
    /// Print a table's schema.
    Describe {
        /// The table.
        table: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Measure end-to-end throughput against raw DataFusion on the same data.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// List the jobs with their schedule, last run and next fire time.
    Jobs(OutputArgs),
    /// Run jobs now, the due ones, or backfill dates.
    Run(RunArgs),
    /// Show the run ledger (the table nightshift.runs).
    Runs(RunsArgs),
    /// Run a past run again exactly: its SQL (refused if the file changed), its models' versions
    /// and its Delta inputs at the versions it read.
    Rerun {
        /// The run's id (`nightshift runs` shows it).
        run_id: String,
    },
    /// Run every job when it is due, until SIGTERM or Ctrl-C.
    Schedule(ScheduleArgs),
    /// Run an Apache DataFusion Ballista scheduler with nightshift's functions, models and lake.
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor with nightshift's functions, models and lake; it registers with the
    /// scheduler and runs tasks until SIGTERM or Ctrl-C.
    Executor(ExecutorArgs),
    /// The Ballista cluster named by --cluster or [cluster] url.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Demo datasets.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Print a shell completion script to stdout (see docs/cli.md for where to put it).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Arguments of `nightshift sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// A SQL file to run (repeatable; several statements per file).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// SQL to run (repeatable).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,
    /// A parameter bound as $NAME, typed from its value: --param run_date=2024-06-01 (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print each statement's elapsed time to stderr.
    #[arg(long)]
    pub timing: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people (NULL shown as NULL, long values cut).
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Parquet (needs -o FILE).
    Parquet,
    /// From the -o file's extension, else table.
    Auto,
}

impl Format {
    /// Resolves `auto` from the output file's extension.
    pub fn resolve(self, out: Option<&Path>) -> anyhow::Result<Format> {
        if self != Format::Auto {
            if self == Format::Parquet && out.is_none() {
                bail!("--format parquet needs an output file: add -o FILE.parquet");
            }
            return Ok(self);
        }
        let ext = out
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        Ok(match ext.as_deref() {
            None => Format::Table,
            Some("csv") => Format::Csv,
            Some("tsv") => Format::Tsv,
            Some("json") => Format::Json,
            Some("ndjson" | "jsonl") => Format::Ndjson,
            Some("parquet") => Format::Parquet,
            Some(_) => Format::Table,
        })
    }
}

/// How results are printed.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Write results to FILE instead of stdout (the last statement's result).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows shown in table format (0 shows all).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub maxrows: usize,
}

/// Arguments of `nightshift run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Jobs to run (with --all or --due, none means every job).
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Run every job.
    #[arg(long)]
    pub all: bool,
    /// Run every interval due since the last one committed in the ledger.
    #[arg(long, conflicts_with_all = ["date", "from"])]
    pub due: bool,
    /// Run the interval of this date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, conflicts_with_all = ["from", "to"])]
    pub date: Option<chrono::NaiveDate>,
    /// Backfill from this date (with --to), oldest first.
    #[arg(long, value_parser = parse_date, requires = "to")]
    pub from: Option<chrono::NaiveDate>,
    /// Backfill up to this date, inclusive.
    #[arg(long, value_parser = parse_date, requires = "from")]
    pub to: Option<chrono::NaiveDate>,
    /// Print the plan (intervals, inputs, outputs) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run even if a job's `ready_when` says its input is not ready (and do not wait for it).
    #[arg(long)]
    pub force: bool,
    /// Only the published intervals whose inputs changed since they were published (late data):
    /// of --date or --from/--to, else the newest `lookback` intervals (7 for a job without one).
    #[arg(long, conflicts_with = "due")]
    pub changed: bool,
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
    pub job: Option<String>,
    /// The last N runs (0 shows all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub last: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Arguments of `nightshift schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Check once for due intervals, run them, and exit.
    #[arg(long)]
    pub once: bool,
}

/// Arguments of `nightshift repl`.
#[derive(Debug, Args, Clone)]
pub struct ReplArgs {
    /// History file (default: $NIGHTSHIFT_HISTORY, else nightshift/history in the user's data folder).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// A parameter bound as $NAME, typed from its value (repeatable; \set adds more).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Result format (\format changes it).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Rows shown in table format, 0 for all (\maxrows changes it).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub maxrows: usize,
    /// Print each statement's elapsed time (\timing changes it).
    #[arg(long)]
    pub timing: bool,
    /// Show results through $PAGER, default `less -S` (\pager changes it).
    #[arg(long)]
    pub pager: bool,
}

impl Default for ReplArgs {
    fn default() -> Self {
        Self {
            history: None,
            params: Vec::new(),
            format: Format::Table,
            maxrows: 40,
            timing: false,
            pager: false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The 22 TPC-H queries (queries/tpch/, built in) on tables generated once by tpchgen into
    /// `--data`, in this process, with this command's settings (nightshift.toml, flags).
    Tpch {
        /// The scale factor (1 is 6 million lineitem rows, about 0.35 GB of Parquet).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// The queries: numbers and ranges, such as `1-22` or `1,3,5-7`.
        #[arg(long, default_value = "1-22")]
        queries: String,
        /// Runs per query after one warm-up run; the best is kept.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
        repeat: u64,
        /// Files per table.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
        parts: u64,
        /// The folder of the generated tables (kept and reused); default `tpch-sf<scale>` here.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// The daily sentiment report and fraud scoring locally, on Ballista standalone, and on 1 and
    /// 2 in-process executors of one slot each: the cluster's overhead and per-executor throughput.
    Cluster {
        /// Reviews to generate.
        #[arg(long, default_value_t = 1_000_000)]
        reviews: usize,
        /// Transactions to generate.
        #[arg(long, default_value_t = 1_000_000)]
        transactions: usize,
        /// Runs per measurement; the best is kept.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        repeat: u64,
    },
    /// The daily sentiment report over N generated reviews, on one core and on all, written as Parquet.
    Sentiment {
        /// Reviews to generate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Days (files) to spread them over.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: u32,
        /// Runs per measurement; the best is kept.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        repeat: u64,
    },
    /// Fraud model training and scoring over N generated transactions with 15 features, beside a
    /// DataFusion baseline that reads the same columns.
    Fraud(FraudBenchArgs),
}

/// Arguments of `nightshift bench fraud`.
#[derive(Debug, Args)]
pub struct FraudBenchArgs {
    /// Transactions to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Trees in the forest.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub trees: u64,
    /// Scoring runs; the best is kept.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,
    /// Rows the model is trained on (the first ones; default: all), before every row is scored.
    #[arg(long)]
    pub train_rows: Option<usize>,
    /// Maximum tree depth (default: unlimited for the forest).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub max_depth: Option<u64>,
    /// The model type: random_forest or gradient_boosting.
    #[arg(long = "type", default_value = "random_forest", value_parser = ["random_forest", "gradient_boosting"])]
    pub kind: String,
    /// Rows explained with explain_top (exact TreeSHAP) on one partition; 0 skips it.
    #[arg(long, default_value_t = 20_000)]
    pub explain_rows: usize,
    /// A Python with pandas, pyarrow and the peers: also trains scikit-learn's RandomForestClassifier
    /// (for --type gradient_boosting: LightGBM, XGBoost and scikit-learn's HistGradientBoosting with
    /// the same settings) on the same features and times its predict_proba (2 threads).
    #[arg(long, visible_alias = "python", value_name = "PYTHON")]
    pub sklearn: Option<PathBuf>,
}

/// Arguments of `nightshift scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC, REST API and health checks share it). Loopback by default:
    /// binding elsewhere exposes an unauthenticated service (see docs/cluster.md).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub bind: std::net::SocketAddr,
    /// Host name executors and clients are told to reach this scheduler by.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat before an executor is declared dead and its tasks rescheduled.
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    pub executor_timeout: u64,
}

/// Arguments of `nightshift executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT (or df://HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Task slots; default one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrent_tasks: Option<u32>,
    /// Folder for shuffle files (default: a fresh temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Address the executor's services listen on. Loopback by default.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind_host: String,
    /// Host name the scheduler and other executors are told to reach this executor by.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle and result fetches).
    #[arg(long, default_value_t = 50051, value_name = "PORT")]
    pub port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    pub grpc_port: u16,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub heartbeat_interval: u64,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler, its executors (slots, last heartbeat) and its jobs.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// Write the deterministic demo lake (reviews, transactions).
    Generate {
        /// Output folder (the lake root).
        #[arg(long, value_name = "DIR", default_value = "datasets/lake")]
        out: PathBuf,
        /// Number of reviews.
        #[arg(long, default_value_t = 20_000)]
        reviews: usize,
        /// Number of transactions.
        #[arg(long, default_value_t = 100_000)]
        transactions: usize,
        /// Days of data, one partition each.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
        days: u32,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2024-06-01", value_parser = parse_date)]
        start_date: chrono::NaiveDate,
    },
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("'{s}' is not a date YYYY-MM-DD: {e}"))
}
