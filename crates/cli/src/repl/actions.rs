//! What each meta-command (`\dt`, `\format`, `\o FILE`, `\set`, …) does to the REPL.

use std::io::Write;

use datafusion::physical_plan::display::DisplayableExecutionPlan;
use nightshift_core::Params;

use super::functions;
use super::meta::{self, Meta};
use super::statements::{Flow, OutputFile, Repl};
use crate::args::Format;
use crate::catalog::{describe_batch, tables_batch};

impl Repl<'_> {
    /// Runs one meta-command.
    pub(super) async fn meta(&mut self, m: Meta) -> Flow {
        match m {
            Meta::Help => print!("{}", meta::help()),
            Meta::Quit => return Flow::Quit,
            Meta::Tables => match tables_batch(self.session) {
                Ok(b) => self.emit_batch(b).await,
                Err(e) => self.fail(e.to_string(), None),
            },
            Meta::Describe(table) => match describe_batch(self.session, &table).await {
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
            Meta::Jobs => match crate::jobs::jobs_batch(self.session).await {
                Ok(b) => self.emit_batch(b).await,
                Err(e) => self.fail(e.message(), None),
            },
            Meta::Runs(job) => {
                let filter = job
                    .map(|j| format!("WHERE job = {}", quoted(&j)))
                    .unwrap_or_default();
                self.ledger_query(&format!(
                    "SELECT job, run_date, state, attempts, round(duration_seconds, 2) AS seconds, rows_written, \
                     started_at, message FROM nightshift.runs {filter} ORDER BY started_at DESC LIMIT 20"
                ))
                .await;
            }
            Meta::Checks(job) => {
                let filter = job
                    .map(|j| format!("WHERE job = {}", quoted(&j)))
                    .unwrap_or_default();
                self.ledger_query(&format!(
                    "SELECT job, run_date, \"check\", severity, value, low, high, verdict, message \
                     FROM nightshift.checks {filter} ORDER BY checked_at DESC, \"check\" LIMIT 30"
                ))
                .await;
            }
            Meta::Errors(job) => {
                self.ledger_query(&format!(
                    "SELECT run_date, state, started_at, message FROM nightshift.runs \
                     WHERE job = {} AND state NOT IN ('succeeded', 'running') ORDER BY started_at DESC LIMIT 10",
                    quoted(&job)
                ))
                .await;
            }
            Meta::Rerun(job, date) => match crate::jobs::rerun(self.session, &job, date).await {
                Ok(summary) => println!("{summary}"),
                Err(e) => self.fail(e.message(), Some("\\jobs lists the jobs")),
            },
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

impl Repl<'_> {
    /// Runs `sql` over `nightshift.runs` and `nightshift.checks`, refreshed from the ledger first
    /// (a run may have ended since the session started).
    async fn ledger_query(&mut self, sql: &str) {
        crate::session::register_runs(self.session).await;
        self.run_statement(sql).await;
    }
}

/// `text` as an SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn format_name(f: Format) -> String {
    use clap::ValueEnum;
    f.to_possible_value()
        .map_or_else(|| format!("{f:?}"), |v| v.get_name().to_string())
}
