//! The rustyline helper: completion, highlighting and the multi-line rule (a statement runs once it
//! ends with `;`).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper, Hinter};

use super::completion::{Request, Vocabulary, complete};
use super::{highlight, lex};

/// Shared with the REPL loop, which refreshes the vocabulary after DDL.
#[derive(Helper, Hinter)]
pub(crate) struct ReplHelper {
    pub vocab: Arc<RwLock<Vocabulary>>,
    pub color: bool,
    files: FilenameCompleter,
}

impl ReplHelper {
    pub fn new(vocab: Arc<RwLock<Vocabulary>>, color: bool) -> Self {
        Self {
            vocab,
            color,
            files: FilenameCompleter::new(),
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let request = {
            let vocab = self.vocab.read().unwrap_or_else(|e| e.into_inner());
            complete(line, pos, &vocab)
        };
        match request {
            Request::Path => self.files.complete_path(line, pos),
            Request::Words { start, words } => Ok((
                start,
                words
                    .into_iter()
                    .map(|w| Pair {
                        display: w.clone(),
                        replacement: w,
                    })
                    .collect(),
            )),
        }
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(highlight::highlight(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(&'s self, prompt: &'p str, _default: bool) -> Cow<'b, str> {
        if self.color {
            Cow::Owned(format!("\x1b[1;32m{prompt}\x1b[0m"))
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        self.color && kind != CmdKind::MoveCursor
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if lex::is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}
