//! Running what the user typed: the REPL's state, and each entry split into statements, planned
//! and executed, Ctrl-C cancelling the one that runs, errors shown with a caret and a hint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::{FutureExt, StreamExt};
use nightshift_core::{Params, Session, split_statements};

use super::completion::Vocabulary;
use super::diagnostics::{self, Report, Spot};
use super::progress::Progress;
use super::{lex, meta};
use crate::args::Format;
use crate::output::thousands;

/// Where results go after `\o FILE`.
pub(super) struct OutputFile {
    pub(super) path: PathBuf,
    pub(super) format: Format,
    /// Results written so far: the first replaces the file, later ones are appended (Parquet holds
    /// one result, so each replaces it).
    pub(super) results: usize,
}

/// What the loop does after an input.
#[derive(PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Quit,
}

/// The REPL's state between entries: session, parameters, display settings, the last plan.
pub(super) struct Repl<'a> {
    pub(super) session: &'a Session,
    pub(super) params: Params,
    pub(super) format: Format,
    pub(super) maxrows: usize,
    pub(super) timing: bool,
    pub(super) pager: bool,
    pub(super) output: Option<OutputFile>,
    pub(super) last_plan: Option<Arc<dyn ExecutionPlan>>,
    pub(super) vocab: Arc<RwLock<Vocabulary>>,
    /// Colour and the progress line go to stderr only when it is a terminal.
    pub(super) err_color: bool,
    pub(super) progress: bool,
}

impl Repl<'_> {
    pub(super) async fn handle(&mut self, entry: &str) -> Flow {
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
    pub(super) async fn run_script(&mut self, text: &str, origin: Option<&Path>) -> bool {
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
    pub(super) async fn run_statement(&mut self, sql: &str) -> bool {
        let started = Instant::now();
        // A panic inside the engine (a bug) fails this statement; the session goes on.
        let run = std::panic::AssertUnwindSafe(self.execute(sql, started)).catch_unwind();
        let outcome = tokio::select! {
            r = run => Some(r.unwrap_or_else(|panic| Err(anyhow::anyhow!(
                "nightshift panicked: {}; this is a bug: please report it with the statement",
                nightshift_core::panic_message(panic.as_ref())
            )))),
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
                        thousands(rows),
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
                let mut report = diagnostics::report(&e, sql);
                if report.hint.is_none() {
                    report.hint =
                        nightshift_core::resource_hint(&report.message, &self.session.settings().engine);
                }
                self.print_error(&report, sql);
                false
            }
        }
    }

    pub(super) async fn execute(&mut self, sql: &str, started: Instant) -> anyhow::Result<usize> {
        let df = self.session.sql(sql, &self.params).await?;
        let (progress, mut stream) = self.start(df.clone(), started).await?;
        // As `Session::execute_stream`: a hash join whose build side does not fit in the memory limit
        // fails before the first row, and the statement runs again with sort-merge joins, which spill.
        let first = stream.next().await;
        let stream = match first {
            Some(Err(e))
                if self.session.settings().engine.memory_limit.is_some()
                    && nightshift_core::hash_join_out_of_memory(&e.to_string()) =>
            {
                drop(stream);
                progress.finish();
                eprintln!(
                    "a hash join did not fit in the memory limit: running the statement again with \
                     sort-merge joins, which spill to disk"
                );
                let (progress, stream) = self
                    .start(nightshift_core::with_sort_merge_joins_df(df), started)
                    .await?;
                return self.emit(stream, &progress, true).await;
            }
            None => stream,
            Some(first) => {
                let schema = stream.schema();
                Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::once(async { first }).chain(stream),
                )) as SendableRecordBatchStream
            }
        };
        self.emit(stream, &progress, true).await
    }

    /// Plans `df` (kept for `\\explain`), starts its progress bar and its stream.
    async fn start(
        &mut self,
        df: DataFrame,
        started: Instant,
    ) -> anyhow::Result<(Progress, SendableRecordBatchStream)> {
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        self.last_plan = Some(Arc::clone(&plan));
        let progress = Progress::start(Arc::clone(&plan), started, self.progress);
        let stream = datafusion::physical_plan::execute_stream(plan, task_ctx)?;
        Ok((progress, stream))
    }

    pub(super) fn print_error(&self, report: &Report, stmt: &str) {
        let text = diagnostics::render(report, stmt, self.err_color);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    pub(super) fn fail(&self, message: impl Into<String>, hint: Option<&str>) {
        self.print_error(
            &Report {
                message: message.into(),
                spot: None,
                hint: hint.map(String::from),
            },
            "",
        );
    }

    pub(super) async fn refresh_vocabulary(&self) {
        let fresh = Vocabulary::load(self.session).await;
        if let Ok(mut v) = self.vocab.write() {
            *v = fresh;
        }
    }
}

/// Statements after which the tables or functions Tab offers may have changed.
fn changes_names(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("");
    ["CREATE", "DROP", "ALTER"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_refreshes_the_vocabulary() {
        assert!(changes_names("create table t AS SELECT 1"));
        assert!(changes_names("DROP VIEW v"));
        assert!(!changes_names("SELECT * FROM created"));
    }
}
