//! `nightshift repl`: interactive SQL over the lake with the same session as `nightshift sql`,
//! completion, highlighting, persistent history, meta-commands, a progress line and cancellation.
//! This file owns the line editor and the input loop.

mod actions;
mod completion;
mod diagnostics;
mod functions;
mod helper;
mod highlight;
mod lex;
mod meta;
mod progress;
mod results;
mod statements;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, anyhow};
use nightshift_core::{Params, Session};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use self::completion::Vocabulary;
use self::helper::ReplHelper;
use self::statements::{Flow, Repl};
use crate::args::{Format, ReplArgs};
use crate::failure::Failure;

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

/// Runs the REPL until `\q` or Ctrl-D.
pub async fn run(session: &Session, args: ReplArgs) -> Result<(), Failure> {
    let params = Params::parse(&args.params).map_err(Failure::usage)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_file_precedence() {
        let flag = PathBuf::from("/tmp/h1");
        assert_eq!(history_path(Some(flag.clone())), Some(flag));
    }
}
