//! `nightshift repl`: interactive SQL over the lake with the same session as `nightshift sql`,
//! completion, highlighting, persistent history, meta-commands, a progress line and cancellation.

mod completion;
mod diagnostics;
mod functions;
mod helper;
mod highlight;
mod lex;
mod meta;
mod progress;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use arrow::array::RecordBatch;
use clap::Args;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use nightshift_core::{Params, Session, split_statements};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use self::completion::Vocabulary;
use self::diagnostics::{Report, Spot};
use self::helper::ReplHelper;
use self::meta::Meta;
use self::progress::{ClearFirst, Progress};
use crate::Failure;
use crate::output::{Format, Printer};

/// Arguments of `nightshift repl`.
#[derive(Debug, Args, Clone)]
pub struct ReplArgs {
    /// History file (default: $NIGHTSHIFT_HISTORY, else nightshift/history in the user's data folder).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// A parameter bound as $NAME, typed from its value (repeatable; \set adds more).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Result format (\format changes it).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Rows shown in table format, 0 for all (\maxrows changes it).
    #[arg(long, default_value_t = 40, value_name = "N")]
    maxrows: usize,
    /// Print each statement's elapsed time (\timing changes it).
    #[arg(long)]
    timing: bool,
    /// Show results through $PAGER, default `less -S` (\pager changes it).
    #[arg(long)]
    pager: bool,
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

/// True when both stdin and stdout are terminals: bare `nightshift` then opens the REPL.
pub fn on_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// `NO_COLOR` set to anything but the empty string turns colour off (no-color.org).
fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The history file: `--history`, then `NIGHTSHIFT_HISTORY`, then the user's data folder.
fn history_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        std::env::var_os("NIGHTSHIFT_HISTORY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .or_else(|| dirs::data_dir().map(|d| d.join("nightshift").join("history")))
}

/// Where results go after `\o FILE`.
struct OutputFile {
    path: PathBuf,
    format: Format,
    /// Results written so far: the first replaces the file, later ones are appended (Parquet holds
    /// one result, so each replaces it).
    results: usize,
}

/// What the loop does after an input.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

struct Repl<'a> {
    session: &'a Session,
    params: Params,
    format: Format,
    maxrows: usize,
    timing: bool,
    pager: bool,
    output: Option<OutputFile>,
    last_plan: Option<Arc<dyn ExecutionPlan>>,
    vocab: Arc<RwLock<Vocabulary>>,
    /// Colour and the progress line go to stderr only when it is a terminal.
    err_color: bool,
    progress: bool,
}

/// Runs the REPL until `\q` or Ctrl-D.
pub async fn run(session: &Session, args: ReplArgs) -> Result<(), Failure> {
    let params = Params::parse(&args.params).map_err(|e| Failure::Usage(e.into()))?;
    if args.format == Format::Parquet {
        return Err(Failure::Usage(anyhow!(
            "--format parquet needs a file: use \\o FILE.parquet inside the REPL"
        )));
    }
    // Ctrl-C during a query must reach us, not end the process: install the handler once, now.
    #[cfg(unix)]
    let _sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot watch Ctrl-C")?;
    // Spans let planning errors point at the column they are about.
    session
        .context()
        .state_ref()
        .write()
        .config_mut()
        .options_mut()
        .sql_parser
        .collect_spans = true;
    let vocab = Arc::new(RwLock::new(Vocabulary::load(session).await));
    let color = color_allowed();
    let interactive = std::io::stdin().is_terminal();
    let config = Config::builder()
        .history_ignore_space(true)
        .history_ignore_dups(true)
        .map_err(|e| Failure::Query(e.into()))?
        .max_history_size(10_000)
        .map_err(|e| Failure::Query(e.into()))?
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .color_mode(if color {
            rustyline::ColorMode::Enabled
        } else {
            rustyline::ColorMode::Disabled
        })
        .build();
    let mut rl: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| Failure::Query(e.into()))?;
    rl.set_helper(Some(ReplHelper::new(
        Arc::clone(&vocab),
        color && std::io::stdout().is_terminal(),
    )));
    let history = history_path(args.history);
    if let Some(path) = &history {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        if path.exists()
            && let Err(e) = rl.load_history(path)
        {
            eprintln!("warning: cannot read the history file '{}': {e}", path.display());
        }
    }
    let mut repl = Repl {
        session,
        params,
        format: if args.format == Format::Auto {
            Format::Table
        } else {
            args.format
        },
        maxrows: args.maxrows,
        timing: args.timing,
        pager: args.pager,
        output: None,
        last_plan: None,
        vocab,
        err_color: color && std::io::stderr().is_terminal(),
        progress: std::io::stderr().is_terminal(),
    };
    if interactive {
        let tables = repl.vocab.read().map(|v| v.tables.len()).unwrap_or(0);
        eprintln!(
            "nightshift {} on {} ({tables} tables). \\? for help, \\q or Ctrl-D to quit.",
            env!("CARGO_PKG_VERSION"),
            session.catalog().location().url()
        );
    }
    let mut history_warned = false;
    let mut pending = String::new();
    let mut piped = (!interactive).then(|| std::io::stdin().lines());
    loop {
        let prompt = if pending.is_empty() {
            "nightshift> "
        } else {
            "        ..> "
        };
        // Without a terminal, lines come straight from stdin: rustyline would drop a last statement
        // that lacks its `;`.
        let read = match &mut piped {
            Some(lines) => match lines.next() {
                Some(Ok(line)) => Ok(line),
                Some(Err(e)) => Err(ReadlineError::Io(e)),
                None => Err(ReadlineError::Eof),
            },
            None => rl.readline(prompt),
        };
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => {
                // Input may end without a `;`: run what is left rather than drop it.
                if !pending.trim().is_empty() {
                    let rest = std::mem::take(&mut pending);
                    repl.handle(rest.trim()).await;
                }
                break;
            }
            Err(e) => return Err(Failure::Query(anyhow::Error::new(e).context("cannot read input"))),
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        // Piped lines arrive one at a time; gather a whole statement.
        if !lex::is_complete(&pending) {
            continue;
        }
        let raw = std::mem::take(&mut pending);
        let entry = raw.trim();
        if entry.is_empty() {
            continue;
        }
        if interactive {
            // Untrimmed, so that a leading space keeps an entry out of the history.
            let _ = rl.add_history_entry(raw.trim_end());
            if let Some(path) = &history
                && let Err(e) = rl.append_history(path)
                && !history_warned
            {
                history_warned = true;
                eprintln!("warning: cannot write the history file '{}': {e}", path.display());
            }
        }
        if repl.handle(entry).await == Flow::Quit {
            break;
        }
    }
    Ok(())
}

impl Repl<'_> {
    async fn handle(&mut self, entry: &str) -> Flow {
        if entry.starts_with('\\') {
            return match meta::parse(entry) {
                Ok(m) => self.meta(m).await,
                Err(message) => {
                    self.print_error(
                        &Report {
                            message,
                            spot: None,
                            hint: None,
                        },
                        "",
                    );
                    Flow::Continue
                }
            };
        }
        if lex::is_exit_word(entry) {
            return Flow::Quit;
        }
        self.run_script(entry, None).await;
        Flow::Continue
    }

    /// Runs every statement of `text`, stopping at the first that fails. Returns false on failure.
    async fn run_script(&mut self, text: &str, origin: Option<&Path>) -> bool {
        let statements = match split_statements(text) {
            Ok(s) => s,
            Err(e) => {
                let report = Report {
                    message: format!("cannot split the SQL into statements: {}", e.message),
                    spot: Some(Spot {
                        line: e.line as usize,
                        column: e.column as usize,
                        width: 1,
                    }),
                    hint: Some("close the string or comment that starts at the caret".into()),
                };
                self.print_error(&report, text);
                return false;
            }
        };
        for st in statements {
            if let Some(path) = origin {
                eprintln!(
                    "{}:{}:{}: {}",
                    path.display(),
                    st.line,
                    st.column,
                    st.first_line()
                );
            }
            if !self.run_statement(&st.text).await {
                return false;
            }
        }
        true
    }

    /// Plans and runs one statement; Ctrl-C cancels it. Returns false when it failed or was cancelled.
    async fn run_statement(&mut self, sql: &str) -> bool {
        let started = Instant::now();
        let outcome = tokio::select! {
            r = self.execute(sql, started) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        let _ = std::io::stdout().flush();
        match outcome {
            None => {
                eprintln!("cancelled after {:.1} s", started.elapsed().as_secs_f64());
                false
            }
            Some(Ok(rows)) => {
                if self.timing {
                    eprintln!(
                        "{} row{} in {:.3} s",
                        progress::thousands(rows),
                        if rows == 1 { "" } else { "s" },
                        started.elapsed().as_secs_f64()
                    );
                }
                if changes_names(sql) {
                    self.refresh_vocabulary().await;
                }
                true
            }
            Some(Err(e)) => {
                let report = diagnostics::report(&e, sql);
                self.print_error(&report, sql);
                false
            }
        }
    }

    async fn execute(&mut self, sql: &str, started: Instant) -> anyhow::Result<usize> {
        let df = self.session.sql(sql, &self.params).await?;
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        self.last_plan = Some(Arc::clone(&plan));
        let progress = Progress::start(Arc::clone(&plan), started, self.progress);
        let stream = datafusion::physical_plan::execute_stream(plan, task_ctx)?;
        self.emit(stream, &progress, true).await
    }

    /// Sends a result to the `\o` file, the pager or stdout. Meta-command output (`to_file` false)
    /// always goes to the terminal.
    async fn emit(
        &mut self,
        stream: SendableRecordBatchStream,
        progress: &Progress,
        to_file: bool,
    ) -> anyhow::Result<usize> {
        if stream.schema().fields().is_empty() {
            let mut stream = stream;
            let mut rows = 0;
            while let Some(b) = stream.next().await {
                rows += b?.num_rows();
            }
            return Ok(rows);
        }
        if to_file && let Some(out) = &mut self.output {
            let printer = Printer {
                format: out.format,
                maxrows: 0,
            };
            let rows = write_file_result(&printer, stream, out).await?;
            progress.finish();
            eprintln!(
                "{} row{} written to '{}'",
                progress::thousands(rows),
                if rows == 1 { "" } else { "s" },
                out.path.display()
            );
            return Ok(rows);
        }
        if self.format == Format::Table && is_plan(&stream.schema()) {
            // Plans are indented text: a table would cut them into one line per cell.
            let mut buf = Vec::new();
            let rows = write_plans(stream, &mut buf).await?;
            progress.finish();
            if self.pager && std::io::stdout().is_terminal() {
                page(&buf);
            } else {
                let mut out = std::io::stdout();
                let _ = out.write_all(&buf);
            }
            return Ok(rows);
        }
        let printer = Printer {
            format: self.format,
            maxrows: self.maxrows,
        };
        if self.pager && std::io::stdout().is_terminal() {
            let mut buf = Vec::new();
            let rows = printer.write_stream(stream, &mut buf).await?;
            progress.finish();
            page(&buf);
            return Ok(rows);
        }
        let mut out = ClearFirst {
            progress,
            inner: std::io::BufWriter::new(std::io::stdout()),
        };
        let rows = printer.write_stream(stream, &mut out).await;
        let flushed = out.flush();
        match (rows, flushed) {
            (Ok(rows), _) => Ok(rows),
            (Err(e), _) if is_broken_pipe(&e) => Ok(0),
            (Err(e), _) => Err(e),
        }
    }

    /// Prints a batch made by a meta-command (all rows, current format, through the pager if on).
    async fn emit_batch(&mut self, batch: RecordBatch) {
        let schema = batch.schema();
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(async move { Ok(batch) }),
        ));
        let saved = std::mem::replace(&mut self.maxrows, 0);
        let progress = Progress::none();
        let r = self.emit(stream, &progress, false).await;
        self.maxrows = saved;
        if let Err(e) = r {
            self.print_error(&diagnostics::report(&e, ""), "");
        }
    }

    fn print_error(&self, report: &Report, stmt: &str) {
        let text = diagnostics::render(report, stmt, self.err_color);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    fn fail(&self, message: impl Into<String>, hint: Option<&str>) {
        self.print_error(
            &Report {
                message: message.into(),
                spot: None,
                hint: hint.map(String::from),
            },
            "",
        );
    }

    async fn refresh_vocabulary(&self) {
        let fresh = Vocabulary::load(self.session).await;
        if let Ok(mut v) = self.vocab.write() {
            *v = fresh;
        }
    }

    async fn meta(&mut self, m: Meta) -> Flow {
        match m {
            Meta::Help => print!("{}", meta::help()),
            Meta::Quit => return Flow::Quit,
            Meta::Tables => match crate::commands::tables_batch(self.session) {
                Ok(b) => self.emit_batch(b).await,
                Err(e) => self.fail(e.to_string(), None),
            },
            Meta::Describe(table) => match crate::commands::describe_batch(self.session, &table).await {
                Ok(b) => self.emit_batch(b).await,
                Err(e) => self.fail(e.to_string(), Some("\\dt lists the tables")),
            },
            Meta::Functions(pattern) => {
                let found = functions::find(self.session, pattern.as_deref());
                let exact: Vec<_> = found
                    .iter()
                    .filter(|f| pattern.as_deref().is_some_and(|p| f.name.eq_ignore_ascii_case(p)))
                    .collect();
                if found.is_empty() {
                    self.fail(
                        format!("no function matches '{}'", pattern.unwrap_or_default()),
                        Some("patterns take * and ?, e.g. \\df *date*; a plain word matches anywhere"),
                    );
                } else if found.len() == 1 || exact.len() == 1 {
                    let f = exact.first().copied().unwrap_or(&found[0]);
                    print!("{}", functions::full_text(f));
                } else {
                    match functions::list_batch(&found) {
                        Ok(b) => self.emit_batch(b).await,
                        Err(e) => self.fail(e.to_string(), None),
                    }
                }
            }
            Meta::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                println!("timing is {}", on_off(self.timing));
            }
            Meta::Pager(on) => {
                self.pager = on.unwrap_or(!self.pager);
                println!("pager is {}", on_off(self.pager));
            }
            Meta::Format(f) => {
                self.format = if f == Format::Auto { Format::Table } else { f };
                println!("format is {}", format_name(self.format));
            }
            Meta::MaxRows(n) => {
                self.maxrows = n;
                println!("maxrows is {n}");
            }
            Meta::Output(None) => {
                if let Some(out) = self.output.take() {
                    println!(
                        "results go to the terminal again ({} result{} written to '{}')",
                        out.results,
                        if out.results == 1 { "" } else { "s" },
                        out.path.display()
                    );
                } else {
                    println!("results go to the terminal");
                }
            }
            Meta::Output(Some(path)) => {
                let mut format = Format::Auto.resolve(Some(&path)).unwrap_or(Format::Table);
                let has_known_ext = format != Format::Table
                    || path
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("table"));
                if !has_known_ext {
                    format = self.format;
                }
                match std::fs::File::create(&path) {
                    Ok(_) => {
                        println!("results go to '{}' as {}", path.display(), format_name(format));
                        self.output = Some(OutputFile {
                            path,
                            format,
                            results: 0,
                        });
                    }
                    Err(e) => self.fail(format!("cannot create '{}': {e}", path.display()), None),
                }
            }
            Meta::Include(path) => match std::fs::read_to_string(&path) {
                Ok(text) => {
                    self.run_script(&text, Some(&path)).await;
                }
                Err(e) => self.fail(format!("cannot read SQL file '{}': {e}", path.display()), None),
            },
            Meta::Set(None) => {
                let mut any = false;
                for (name, value) in self.params.iter() {
                    any = true;
                    println!("${name} = {value} ({})", value.data_type());
                }
                if !any {
                    println!("no parameters: \\set NAME VALUE defines $NAME");
                }
            }
            Meta::Set(Some((name, value))) => match Params::parse(&[format!("{name}={value}")]) {
                Ok(p) => {
                    for (n, v) in p.iter() {
                        println!("${n} = {v} ({})", v.data_type());
                        self.params.set(n, v.clone());
                    }
                }
                Err(e) => self.fail(e.to_string(), None),
            },
            Meta::Unset(name) => {
                let mut kept = Params::new();
                let mut found = false;
                for (n, v) in self.params.iter() {
                    if n == name {
                        found = true;
                    } else {
                        kept.set(n, v.clone());
                    }
                }
                self.params = kept;
                if !found {
                    self.fail(format!("no parameter ${name}"), Some("\\set alone lists them"));
                }
            }
            Meta::Explain(Some(sql)) => {
                let sql = format!("EXPLAIN {}", sql.trim().trim_end_matches(';'));
                let saved = self.output.take();
                self.run_statement(&sql).await;
                self.output = saved;
            }
            Meta::Explain(None) => match &self.last_plan {
                Some(plan) => println!(
                    "{}",
                    DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true)
                ),
                None => self.fail(
                    "no query has run yet",
                    Some("\\explain SQL shows the plan of SQL without running it"),
                ),
            },
        }
        let _ = std::io::stdout().flush();
        Flow::Continue
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn format_name(f: Format) -> String {
    use clap::ValueEnum;
    f.to_possible_value()
        .map_or_else(|| format!("{f:?}"), |v| v.get_name().to_string())
}

/// Statements after which the tables or functions Tab offers may have changed.
fn changes_names(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("");
    ["CREATE", "DROP", "ALTER"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(first))
}

/// The result of `EXPLAIN`: `plan_type` and `plan` text columns.
fn is_plan(schema: &arrow::datatypes::Schema) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

/// Writes each plan under its type, keeping its indentation.
async fn write_plans(mut stream: SendableRecordBatchStream, out: &mut Vec<u8>) -> anyhow::Result<usize> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut rows = 0;
    let options = FormatOptions::default();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let kinds = ArrayFormatter::try_new(batch.column(0).as_ref(), &options)?;
        let plans = ArrayFormatter::try_new(batch.column(1).as_ref(), &options)?;
        for row in 0..batch.num_rows() {
            writeln!(out, "{}:", kinds.value(row))?;
            for line in plans.value(row).to_string().lines() {
                writeln!(out, "  {line}")?;
            }
            rows += 1;
        }
    }
    Ok(rows)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes one result for `\o`: into a temporary file beside the target (removed if the query
/// fails or is cancelled), which then replaces the target or is appended to it.
async fn write_file_result(
    printer: &Printer,
    stream: SendableRecordBatchStream,
    out: &mut OutputFile,
) -> anyhow::Result<usize> {
    let dir = match out.path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot create a file in '{}'", dir.display()))?;
    let rows = {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        let rows = printer.write_stream(stream, &mut w).await?;
        w.flush()?;
        rows
    };
    if out.results == 0 || out.format == Format::Parquet {
        tmp.persist(&out.path)
            .with_context(|| format!("cannot write '{}'", out.path.display()))?;
    } else {
        let mut target = std::fs::OpenOptions::new()
            .append(true)
            .open(&out.path)
            .with_context(|| format!("cannot append to '{}'", out.path.display()))?;
        let mut src = tmp.reopen()?;
        std::io::copy(&mut src, &mut target)
            .with_context(|| format!("cannot append to '{}'", out.path.display()))?;
    }
    out.results += 1;
    Ok(rows)
}

/// Shows text through `$PAGER` (default `less -S`; `LESS=FRX` unless set, so short results print
/// as usual). Falls back to stdout when the pager cannot start.
fn page(text: &[u8]) {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -S".into());
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(&pager).stdin(std::process::Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    match cmd.spawn() {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                // The user may quit the pager before reading everything.
                let _ = stdin.write_all(text);
            }
            let _ = child.wait();
        }
        Err(e) => {
            eprintln!("warning: cannot start the pager '{pager}': {e}");
            let _ = std::io::stdout().write_all(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_file_precedence() {
        let flag = PathBuf::from("/tmp/h1");
        assert_eq!(history_path(Some(flag.clone())), Some(flag));
    }

    #[test]
    fn ddl_refreshes_the_vocabulary() {
        assert!(changes_names("create table t AS SELECT 1"));
        assert!(changes_names("DROP VIEW v"));
        assert!(!changes_names("SELECT * FROM created"));
    }
}
