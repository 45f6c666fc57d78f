//! Splitting a SQL script into statements with the line and column where each starts.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text, without the closing `;`.
    pub text: String,
    /// 1-based line where it starts.
    pub line: u64,
    /// 1-based column where it starts.
    pub column: u64,
}

impl Statement {
    /// The first line of the statement, for messages.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("").trim_end()
    }
}

/// A script that cannot be tokenized (an unterminated string or comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// Splits `sql` at top-level semicolons, skipping empty statements and comments between them.
pub fn split_statements(sql: &str) -> Result<Vec<Statement>, SplitError> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SplitError {
            message: e.message.clone(),
            line: e.location.line,
            column: e.location.column,
        })?;
    let index = LineIndex::new(sql);
    let mut out = Vec::new();
    let mut start: Option<(u64, u64)> = None;
    let mut last_end: Option<(u64, u64)> = None;
    let finish = |start: (u64, u64), end: (u64, u64), out: &mut Vec<Statement>| {
        let (a, b) = (index.offset(start.0, start.1), index.offset(end.0, end.1));
        let text = sql[a..b.max(a)].trim_end().to_string();
        if !text.is_empty() {
            out.push(Statement {
                text,
                line: start.0,
                column: start.1,
            });
        }
    };
    for t in &tokens {
        let is_blank = matches!(
            t.token,
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
                | Token::Whitespace(Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_))
        );
        match &t.token {
            Token::SemiColon => {
                if let (Some(s), Some(e)) = (start.take(), last_end.take()) {
                    finish(s, e, &mut out);
                }
            }
            Token::EOF => {}
            _ if is_blank => {
                if start.is_some() {
                    last_end = Some((t.span.end.line, t.span.end.column));
                }
            }
            _ => {
                if start.is_none() {
                    start = Some((t.span.start.line, t.span.start.column));
                }
                last_end = Some((t.span.end.line, t.span.end.column));
            }
        }
    }
    if let (Some(s), Some(e)) = (start, last_end) {
        finish(s, e, &mut out);
    }
    Ok(out)
}

/// Maps sqlparser's (line, column in characters) to byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    fn offset(&self, line: u64, column: u64) -> usize {
        let Some(&ls) = usize::try_from(line)
            .ok()
            .and_then(|l| self.starts.get(l.saturating_sub(1)))
        else {
            return self.text.len();
        };
        let rest = &self.text[ls..];
        let col = usize::try_from(column).unwrap_or(usize::MAX).saturating_sub(1);
        rest.char_indices()
            .nth(col)
            .map_or(self.text.len(), |(i, _)| ls + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_positions() {
        let sql = "-- a comment\nSELECT 1;\n\n  SELECT 'a;b'\n  FROM t ;;\nSELECT 'é' /* x */";
        let s = split_statements(sql).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].text.as_str(), s[0].line, s[0].column), ("SELECT 1", 2, 1));
        assert_eq!(
            (s[1].text.as_str(), s[1].line, s[1].column),
            ("SELECT 'a;b'\n  FROM t", 4, 3)
        );
        assert_eq!(s[2].text, "SELECT 'é' /* x */");
        assert_eq!(s[1].first_line(), "SELECT 'a;b'");
    }

    #[test]
    fn reports_unterminated_strings() {
        let e = split_statements("SELECT 1;\nSELECT 'oops").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
