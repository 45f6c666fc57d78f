//! `nightshift`: batch SQL analytics over a data lake.

mod bench;
mod commands;
mod jobs_cmd;
mod output;
mod repl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Batch SQL analytics for data lakes, on Apache DataFusion.
#[derive(Debug, Parser)]
#[command(name = "nightshift", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    /// Without a command, on a terminal: the REPL.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Options that every command takes; they override nightshift.toml and NIGHTSHIFT_* variables.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file (default: ./nightshift.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Lake root: a folder or a URL such as s3://bucket/prefix.
    #[arg(long, global = true, value_name = "ROOT")]
    lake: Option<String>,
    /// Memory limit for query execution, e.g. 2GiB; larger sorts, aggregations and joins spill to disk.
    #[arg(long, global = true, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Folder for spill files.
    #[arg(long, global = true, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
    /// Partitions (threads) per query.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    target_partitions: Option<u32>,
    /// Rows per record batch.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Option<u32>,
    /// Refuse writes, DDL and paths outside the lake.
    #[arg(long, global = true)]
    read_only: bool,
    /// A DataFusion option, e.g. --set datafusion.optimizer.prefer_hash_join=false (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// Run statements on an Apache DataFusion Ballista cluster: its scheduler's URL
    /// (df://host:50050), `standalone` for a scheduler and an executor inside this process, or
    /// `local` to run here even when nightshift.toml names a cluster ([cluster] url).
    #[arg(long, global = true, env = "NIGHTSHIFT_CLUSTER", value_name = "URL")]
    cluster: Option<String>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive (RUST_LOG wins).
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    log_level: String,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Human)]
    log_format: LogFormatArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explore the lake interactively: SQL with completion, history and meta-commands (\? for help).
    Repl(repl::ReplArgs),
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
    Run(jobs_cmd::RunArgs),
    /// Show the run ledger (the table nightshift.runs).
    Runs(jobs_cmd::RunsArgs),
    /// Run every job when it is due, until SIGTERM or Ctrl-C.
    Schedule(jobs_cmd::ScheduleArgs),
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
}

/// Arguments of `nightshift sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// A SQL file to run (repeatable; several statements per file).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// SQL to run (repeatable).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,
    /// A parameter bound as $NAME, typed from its value: --param run_date=2024-06-01 (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
    /// Print each statement's elapsed time to stderr.
    #[arg(long)]
    timing: bool,
}

/// How results are printed.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Write results to FILE instead of stdout (the last statement's result).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Rows shown in table format (0 shows all).
    #[arg(long, default_value_t = 40, value_name = "N")]
    maxrows: usize,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
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
    Fraud {
        /// Transactions to generate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Trees in the forest.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        trees: u64,
        /// Scoring runs; the best is kept.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        repeat: u64,
    },
}

/// Arguments of `nightshift scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC, REST API and health checks share it). Loopback by default:
    /// binding elsewhere exposes an unauthenticated service (see docs/cluster.md).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    bind: std::net::SocketAddr,
    /// Host name executors and clients are told to reach this scheduler by.
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Seconds without a heartbeat before an executor is declared dead and its tasks rescheduled.
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    executor_timeout: u64,
}

/// Arguments of `nightshift executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, HOST:PORT (or df://HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Task slots; default one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    concurrent_tasks: Option<u32>,
    /// Folder for shuffle files (default: a fresh temporary folder).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Address the executor's services listen on. Loopback by default.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    bind_host: String,
    /// Host name the scheduler and other executors are told to reach this executor by.
    #[arg(long, value_name = "HOST")]
    external_host: Option<String>,
    /// Arrow Flight port (shuffle and result fetches).
    #[arg(long, default_value_t = 50051, value_name = "PORT")]
    port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052, value_name = "PORT")]
    grpc_port: u16,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    heartbeat_interval: u64,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// The scheduler, its executors (slots, last heartbeat) and its jobs.
    Status,
}

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
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

/// Exit codes: 0 success, 1 a failed query or job, 2 a usage or config error, 3 a partially succeeded job.
pub enum Failure {
    /// A query, file or job failed.
    Query(anyhow::Error),
    /// Bad settings or arguments.
    Usage(anyhow::Error),
    /// Jobs ran and their summaries were printed; exit with this code (1 failed, 3 partially succeeded).
    Exit(u8),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Query(e.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.is_none() && !repl::on_terminal() {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    }
    let format = match cli.global.log_format {
        LogFormatArg::Human => nightshift_core::LogFormat::Human,
        LogFormatArg::Json => nightshift_core::LogFormat::Json,
    };
    nightshift_core::init_logging(&cli.global.log_level, format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Some(Command::Scheduler(_) | Command::Executor(_))) {
        // As Ballista's own binaries: deep plans are decoded recursively.
        builder.thread_stack_size(32 << 20);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Query(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(Failure::Query(e)) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(2)
        }
        Err(Failure::Exit(code)) => ExitCode::from(code),
    }
}

fn render(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(&format!("\n  caused by: {c}"));
        }
    }
    s
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}
