//! `nightshift`: batch SQL analytics over a data lake. This file parses the command line and
//! dispatches to one module per command family; no module imports it.

mod args;
mod bench;
mod catalog;
mod cluster;
mod completions;
mod datasets;
mod failure;
mod jobs;
mod output;
mod repl;
mod session;
mod sql;
mod tpch;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use futures::FutureExt;

use crate::args::{Cli, ClusterCommand, Command, LogFormatArg};
use crate::failure::Failure;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Completions { shell }) = cli.command {
        // No settings, logging or runtime: the script depends on the definitions alone.
        return failure::exit_code(completions::print(shell));
    }
    if cli.command.is_none() && !repl::on_terminal() {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    }
    let format = match cli.global.log_format {
        LogFormatArg::Human => nightshift_core::LogFormat::Human,
        LogFormatArg::Json => nightshift_core::LogFormat::Json,
    };
    nightshift_core::init_logging(&cli.global.log_level, format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.global.threads {
        builder.worker_threads(n as usize);
    }
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
    // A panic (a bug) ends the command with exit 1 and a message, not with an abort trace alone.
    let outcome = runtime.block_on(std::panic::AssertUnwindSafe(dispatch(cli)).catch_unwind());
    failure::exit_code(outcome.unwrap_or_else(|panic| Err(failure::panicked(panic.as_ref()))))
}

/// Runs the command; bare `nightshift` (main checked that it runs on a terminal) opens the REPL.
async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let g = &cli.global;
    match cli.command.unwrap_or_else(|| Command::Repl(Default::default())) {
        Command::Repl(args) => repl::run(&session::session(g).await?, args).await,
        Command::Sql(args) => sql::run(&session::session(g).await?, args).await,
        Command::Tables(output) => catalog::tables(&session::session(g).await?, &output).await,
        Command::Describe { table, output } => {
            catalog::describe(&session::session(g).await?, &table, &output).await
        }
        Command::Bench { command } => bench::run(command, &cli.global).await,
        Command::Jobs(output) => jobs::jobs(&session::session(g).await?, &output).await,
        Command::Run(mut args) => {
            // JSON logs are for machines: no bar drawn between them.
            args.no_progress |= matches!(g.log_format, LogFormatArg::Json);
            let (session, engine) = session::session_and_engine(g).await?;
            jobs::run(&session, args, engine).await
        }
        Command::Runs(args) => jobs::runs(&session::session(g).await?, args).await,
        Command::Rerun { run_id } => {
            let (session, engine) = session::session_and_engine(g).await?;
            jobs::rerun_run(&session, &run_id, engine).await
        }
        Command::Schedule(args) => {
            let (session, engine) = session::session_and_engine(g).await?;
            jobs::schedule(&session, args, engine).await
        }
        Command::Scheduler(args) => cluster::scheduler(g, args).await,
        Command::Executor(args) => cluster::executor(g, args).await,
        Command::Cluster {
            command: ClusterCommand::Status,
        } => cluster::status(g).await,
        Command::Datasets { command } => datasets::run(command),
        Command::Completions { shell } => completions::print(shell),
    }
}
