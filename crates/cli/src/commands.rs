//! The commands behind the CLI.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use nightshift_core::{Overrides, Params, Session, Settings, split_statements};
use nightshift_jobs::Engine;

use crate::output::Printer;
use crate::{Cli, Command, DatasetsCommand, Failure, OutputArgs, SqlArgs};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    // Bare `nightshift` (main checked that it runs on a terminal) opens the REPL.
    let command = cli.command.unwrap_or_else(|| Command::Repl(Default::default()));
    match command {
        Command::Repl(args) => {
            let session = session(&cli.global).await?;
            crate::repl::run(&session, args).await
        }
        Command::Datasets { command } => datasets(command),
        Command::Bench {
            command: crate::BenchCommand::Sentiment { rows, days, repeat },
        } => {
            let results = crate::bench::sentiment(rows, days, repeat as usize).await?;
            crate::bench::print(&results);
            Ok(())
        }
        Command::Bench {
            command:
                crate::BenchCommand::Cluster {
                    reviews,
                    transactions,
                    repeat,
                },
        } => {
            let results = crate::bench::cluster(reviews, transactions, repeat as usize).await?;
            crate::bench::print(&results);
            Ok(())
        }
        Command::Bench {
            command: crate::BenchCommand::Fraud { rows, trees, repeat },
        } => {
            let results = crate::bench::fraud(rows, trees as usize, repeat as usize).await?;
            crate::bench::print(&results);
            Ok(())
        }
        Command::Sql(args) => {
            let session = session(&cli.global).await?;
            sql(&session, args).await
        }
        Command::Tables(output) => {
            let session = session(&cli.global).await?;
            tables(&session, &output).await
        }
        Command::Describe { table, output } => {
            let session = session(&cli.global).await?;
            describe(&session, &table, &output).await
        }
        Command::Jobs(output) => crate::jobs_cmd::jobs(&session(&cli.global).await?, &output).await,
        Command::Run(mut args) => {
            // JSON logs are for machines: no bar drawn between them.
            args.no_progress |= matches!(cli.global.log_format, crate::LogFormatArg::Json);
            let (session, engine) = session_and_engine(&cli.global).await?;
            crate::jobs_cmd::run(&session, args, engine).await
        }
        Command::Runs(args) => crate::jobs_cmd::runs(&session(&cli.global).await?, args).await,
        Command::Schedule(args) => {
            let (session, engine) = session_and_engine(&cli.global).await?;
            crate::jobs_cmd::schedule(&session, args, engine).await
        }
        Command::Scheduler(args) => scheduler(&cli.global, args).await,
        Command::Executor(args) => executor(&cli.global, args).await,
        Command::Cluster {
            command: crate::ClusterCommand::Status,
        } => cluster_status(&cli.global).await,
    }
}

fn load_settings(g: &crate::GlobalArgs) -> Result<Settings, Failure> {
    let overrides = Overrides {
        lake_root: g.lake.clone(),
        memory_limit: g.memory_limit.clone(),
        spill_dir: g.spill_dir.clone(),
        target_partitions: g.target_partitions.map(|n| n as usize),
        batch_size: g.batch_size.map(|n| n as usize),
        read_only: g.read_only.then_some(true),
        datafusion: g.set.clone(),
    };
    Settings::load(g.config.as_deref(), &|k| std::env::var(k).ok(), &overrides)
        .map_err(|e| Failure::Usage(e.into()))
}

fn core_failure(e: nightshift_core::CoreError) -> Failure {
    match e {
        nightshift_core::CoreError::Config(c) => Failure::Usage(c.into()),
        e @ (nightshift_core::CoreError::EngineOption { .. }
        | nightshift_core::CoreError::SpillDir { .. }
        | nightshift_core::CoreError::Runtime(_)) => Failure::Usage(e.into()),
        e @ nightshift_core::CoreError::Lexicon(_) => Failure::Usage(e.into()),
        other => Failure::Query(anyhow::Error::new(other).context("failed to load the lake")),
    }
}

pub(crate) async fn session(g: &crate::GlobalArgs) -> Result<Session, Failure> {
    Ok(session_and_engine(g).await?.0)
}

/// The session of a command, and where its job runs execute: in this process, or on the cluster
/// named by `--cluster` / `NIGHTSHIFT_CLUSTER` / `[cluster] url`.
pub(crate) async fn session_and_engine(g: &crate::GlobalArgs) -> Result<(Session, Arc<dyn Engine>), Failure> {
    let settings = load_settings(g)?;
    // `--cluster local` runs here even when nightshift.toml names a cluster.
    let cluster = g
        .cluster
        .clone()
        .or_else(|| settings.cluster.url.clone())
        .filter(|u| u != "local");
    let (session, engine) = match cluster {
        None => (
            Session::new(settings).await.map_err(core_failure)?,
            Arc::new(nightshift_jobs::LocalEngine) as Arc<dyn Engine>,
        ),
        Some(url) => cluster_session(settings, &url).await?,
    };
    crate::jobs_cmd::register_runs(&session).await;
    Ok((session, engine))
}

/// A session whose statements run on Ballista: a scheduler at `url`, checked to answer within the
/// connect timeout (`[cluster] connect_timeout_seconds`, default 10 s), or `standalone` (a
/// scheduler and one executor in this process, with a slot per core).
async fn cluster_session(settings: Settings, url: &str) -> Result<(Session, Arc<dyn Engine>), Failure> {
    let cluster = |e: nightshift_cluster::ClusterError| match e {
        nightshift_cluster::ClusterError::Core(c) => core_failure(c),
        other => Failure::Query(anyhow::Error::new(other).context("cannot start the cluster")),
    };
    let timeout = std::time::Duration::from_secs(settings.cluster.connect_timeout_seconds.unwrap_or(10));
    let (url, label) = if url == "standalone" {
        let kit = nightshift_cluster::NodeKit::new(&settings).map_err(cluster)?;
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
        let addr = nightshift_cluster::start_standalone(&kit, 1, slots)
            .await
            .map_err(cluster)?;
        (
            format!("df://localhost:{}", addr.port()),
            "standalone".to_string(),
        )
    } else {
        nightshift_cluster::check_reachable(url, timeout)
            .await
            .map_err(|e| Failure::Query(anyhow::Error::new(e)))?;
        (url.to_string(), url.to_string())
    };
    let session = nightshift_cluster::connect(settings, &url)
        .await
        .map_err(cluster)?;
    Ok((
        session,
        Arc::new(nightshift_cluster::ClusterEngine::new(url, label)),
    ))
}

/// `nightshift scheduler`.
async fn scheduler(g: &crate::GlobalArgs, args: crate::SchedulerArgs) -> Result<(), Failure> {
    let settings = load_settings(g)?;
    let kit = nightshift_cluster::NodeKit::new(&settings).map_err(|e| Failure::Usage(e.into()))?;
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
async fn executor(g: &crate::GlobalArgs, args: crate::ExecutorArgs) -> Result<(), Failure> {
    let settings = load_settings(g)?;
    let address = nightshift_cluster::http_url(&args.scheduler);
    let (host, port) = address
        .trim_start_matches("http://")
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| Failure::Usage(anyhow!("--scheduler '{}' is not HOST:PORT", args.scheduler)))?;
    let kit = nightshift_cluster::NodeKit::new(&settings).map_err(|e| Failure::Usage(e.into()))?;
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
async fn cluster_status(g: &crate::GlobalArgs) -> Result<(), Failure> {
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

/// One script: where it came from and its text.
struct Script {
    origin: String,
    text: String,
}

async fn sql(session: &Session, args: SqlArgs) -> Result<(), Failure> {
    let params = Params::parse(&args.params).map_err(|e| Failure::Usage(e.into()))?;
    let format = args
        .output
        .format
        .resolve(args.output.output.as_deref())
        .map_err(Failure::Usage)?;
    let mut scripts = Vec::new();
    for f in &args.files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read SQL file '{}'", f.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "SQL file '{}' is not UTF-8 (byte {})",
                f.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        scripts.push(Script {
            origin: f.display().to_string(),
            text,
        });
    }
    for (i, c) in args.commands.iter().enumerate() {
        scripts.push(Script {
            origin: format!("-c #{}", i + 1),
            text: c.clone(),
        });
    }
    if scripts.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(Failure::Usage(anyhow!(
                "no SQL given: use -f FILE, -c \"SQL\" or pipe SQL on stdin"
            )));
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read SQL from stdin")?;
        scripts.push(Script {
            origin: "<stdin>".into(),
            text,
        });
    }
    let printer = Printer {
        format,
        maxrows: args.output.maxrows,
    };
    let out_file = args.output.output.as_deref();
    let mut statements = Vec::new();
    for s in &scripts {
        let split = split_statements(&s.text).map_err(|e| {
            anyhow!(
                "{}:{}:{}: cannot split the SQL into statements: {}",
                s.origin,
                e.line,
                e.column,
                e.message
            )
        })?;
        statements.extend(split.into_iter().map(|st| (s.origin.as_str(), st)));
    }
    let last = statements.len().saturating_sub(1);
    for (i, (origin, st)) in statements.iter().enumerate() {
        let started = Instant::now();
        let location = format!("{origin}:{}:{}", st.line, st.column);
        let fail = |e: anyhow::Error| {
            Failure::Query(anyhow!(
                "statement at {location} failed: {}\n  {}",
                st.first_line(),
                render_cause(&e)
            ))
        };
        let df = session.sql(&st.text, &params).await.map_err(|e| fail(e.into()))?;
        let stream = df.execute_stream().await.map_err(|e| fail(e.into()))?;
        let rows = if stream.schema().fields().is_empty() {
            drain(stream).await.map_err(fail)?
        } else if let Some(path) = out_file {
            if i == last {
                write_to_file(&printer, stream, path).await.map_err(fail)?
            } else {
                drain(stream).await.map_err(fail)?
            }
        } else {
            write_to_stdout(&printer, stream).await.map_err(fail)?
        };
        if args.timing {
            eprintln!(
                "{location}: {rows} rows in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn render_cause(e: &anyhow::Error) -> String {
    let s = e.to_string();
    // DataFusion errors carry their own context; keep one line per cause.
    s.lines().collect::<Vec<_>>().join("\n  ")
}

async fn drain(mut stream: datafusion::physical_plan::SendableRecordBatchStream) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}

async fn write_to_stdout(
    printer: &Printer,
    stream: datafusion::physical_plan::SendableRecordBatchStream,
) -> anyhow::Result<usize> {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let rows = printer.write_stream(stream, &mut out).await?;
    out.flush()?;
    Ok(rows)
}

/// Writes beside the target, then renames: a failed query never leaves half a file.
async fn write_to_file(
    printer: &Printer,
    stream: datafusion::physical_plan::SendableRecordBatchStream,
    path: &Path,
) -> anyhow::Result<usize> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let result = printer.write_stream(stream, &mut w).await;
    let result = result.and_then(|rows| {
        w.flush()?;
        Ok(rows)
    });
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write '{}'", path.display()))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

pub(crate) async fn print_batch(batch: RecordBatch, output: &OutputArgs) -> Result<(), Failure> {
    let format = output
        .format
        .resolve(output.output.as_deref())
        .map_err(Failure::Usage)?;
    let printer = Printer {
        format,
        maxrows: output.maxrows,
    };
    let schema = batch.schema();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::once(async move { Ok(batch) }),
    ));
    match &output.output {
        Some(path) => {
            write_to_file(&printer, stream, path).await?;
        }
        None => {
            write_to_stdout(&printer, stream).await?;
        }
    }
    Ok(())
}

async fn tables(session: &Session, output: &OutputArgs) -> Result<(), Failure> {
    print_batch(tables_batch(session)?, output).await
}

/// The lake's tables as one batch (`nightshift tables`, the REPL's `\dt`).
pub(crate) fn tables_batch(session: &Session) -> anyhow::Result<RecordBatch> {
    let infos: Vec<_> = session.catalog().tables().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("partitions", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
    ]));
    let partitions = infos.iter().map(|t| {
        t.partitions
            .iter()
            .map(|p| format!("{} {:?}", p.name, p.data_type).to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            infos.iter().map(|t| t.name.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(infos.iter().map(|t| t.rows))),
        Arc::new(UInt64Array::from_iter_values(
            infos.iter().map(|t| t.files as u64),
        )),
        Arc::new(UInt64Array::from_iter_values(infos.iter().map(|t| t.bytes))),
        Arc::new(StringArray::from_iter_values(partitions)),
        Arc::new(StringArray::from_iter_values(
            infos.iter().map(|t| t.location.as_str()),
        )),
        Arc::new(StringArray::from(
            infos.iter().map(|t| t.error.clone()).collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

async fn describe(session: &Session, table: &str, output: &OutputArgs) -> Result<(), Failure> {
    print_batch(describe_batch(session, table).await?, output).await
}

/// A table's columns as one batch (`nightshift describe`, the REPL's `\d TABLE`).
pub(crate) async fn describe_batch(session: &Session, table: &str) -> anyhow::Result<RecordBatch> {
    let provider = session
        .context()
        .table_provider(datafusion::common::TableReference::bare(table))
        .await
        .map_err(|_| {
            let known: Vec<_> = session.catalog().tables().map(|t| t.name.clone()).collect();
            anyhow!(
                "no table '{table}' in the lake; known tables: {}",
                known.join(", ")
            )
        })?;
    let info = session.catalog().table(table);
    if let Some(err) = info.and_then(|i| i.error.as_ref()) {
        eprintln!("warning: {err}");
    }
    let schema = provider.schema();
    let is_partition = |name: &str| info.is_some_and(|i| i.partitions.iter().any(|p| p.name == name));
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
        Field::new("partition", DataType::Boolean, false),
    ]));
    let fields = schema.fields();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| f.name().as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| f.data_type().to_string()),
        )),
        Arc::new(BooleanArray::from(
            fields.iter().map(|f| f.is_nullable()).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            fields.iter().map(|f| is_partition(f.name())).collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(out_schema, columns)?)
}

fn datasets(command: DatasetsCommand) -> Result<(), Failure> {
    match command {
        DatasetsCommand::Generate {
            out,
            reviews,
            transactions,
            days,
            seed,
            start_date,
        } => {
            let opts = nightshift_datasets::GenerateOptions {
                out,
                reviews,
                transactions,
                days,
                seed,
                start_date,
            };
            let started = Instant::now();
            let summary = nightshift_datasets::generate(&opts).map_err(|e| match e {
                nightshift_datasets::DatasetError::InvalidOptions { .. } => Failure::Usage(e.into()),
                other => Failure::Query(other.into()),
            })?;
            let secs = started.elapsed().as_secs_f64();
            let rows: usize = summary.tables.iter().map(|t| t.rows).sum();
            for t in &summary.tables {
                eprintln!(
                    "{}: {} rows, {} files, {} bytes",
                    t.name, t.rows, t.files, t.bytes
                );
            }
            eprintln!(
                "wrote {rows} rows to '{}' in {secs:.2} s ({:.0} rows/s)",
                opts.out.display(),
                rows as f64 / secs.max(1e-9)
            );
            Ok(())
        }
    }
}
