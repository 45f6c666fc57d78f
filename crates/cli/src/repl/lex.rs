//! A lenient SQL scanner for the editor: it never fails on half-typed input (an open string or
//! comment is one token to the end), which sqlparser's tokenizer cannot promise.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An unquoted word: keyword, identifier or function name.
    Word,
    /// `"quoted identifier"`.
    QuotedIdent,
    /// `'string'`.
    Str,
    /// `42`, `1.5e3`.
    Number,
    /// `-- …` or `/* … */`.
    Comment,
    /// `$name`.
    Param,
    /// Spaces, tabs, newlines.
    Space,
    /// Anything else, one character at a time (`;`, `,`, `(`, `.`, operators).
    Punct,
}

/// One token: its kind and byte range; `open` when a string, identifier or comment is not closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub open: bool,
}

impl Token {
    pub fn text<'a>(&self, s: &'a str) -> &'a str {
        &s[self.start..self.end]
    }
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `s` into tokens that cover it exactly.
pub(crate) fn scan(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((start, c)) = it.next() {
        let mut open = false;
        let kind = if c.is_whitespace() {
            while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
            Kind::Space
        } else if c == '\'' || c == '"' {
            // '' (or "") inside is an escaped quote.
            open = true;
            while let Some((_, d)) = it.next() {
                if d == c {
                    if it.next_if(|(_, e)| *e == c).is_some() {
                        continue;
                    }
                    open = false;
                    break;
                }
            }
            if c == '\'' { Kind::Str } else { Kind::QuotedIdent }
        } else if c == '-' && it.peek().is_some_and(|(_, d)| *d == '-') {
            while it.next_if(|(_, d)| *d != '\n').is_some() {}
            Kind::Comment
        } else if c == '/' && it.peek().is_some_and(|(_, d)| *d == '*') {
            it.next();
            open = true;
            let mut prev = ' ';
            for (_, d) in it.by_ref() {
                if prev == '*' && d == '/' {
                    open = false;
                    break;
                }
                prev = d;
            }
            Kind::Comment
        } else if c.is_ascii_digit() {
            while it
                .next_if(|(_, d)| d.is_ascii_alphanumeric() || *d == '.' || *d == '_')
                .is_some()
            {}
            Kind::Number
        } else if c == '$' && it.peek().is_some_and(|(_, d)| is_word_char(*d)) {
            while it.next_if(|(_, d)| is_word_char(*d)).is_some() {}
            Kind::Param
        } else if is_word_start(c) {
            while it.next_if(|(_, d)| is_word_char(*d)).is_some() {}
            Kind::Word
        } else {
            Kind::Punct
        };
        let end = it.peek().map_or(s.len(), |(i, _)| *i);
        out.push(Token {
            kind,
            start,
            end,
            open,
        });
    }
    out
}

/// True when the input is ready to run: blank, a meta-command, `exit`/`quit`, or SQL whose last
/// significant token is a `;` outside any string or comment.
pub(crate) fn is_complete(s: &str) -> bool {
    let t = s.trim();
    if t.is_empty() || t.starts_with('\\') || is_exit_word(t) {
        return true;
    }
    let tokens = scan(s);
    if tokens.iter().any(|t| t.open) {
        return false;
    }
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.kind, Kind::Space | Kind::Comment))
        .is_some_and(|t| t.kind == Kind::Punct && t.text(s) == ";")
}

/// `exit` and `quit` (with an optional `;`) leave the REPL like `\q`, as in psql.
pub(crate) fn is_exit_word(t: &str) -> bool {
    let w = t.trim().trim_end_matches(';').trim();
    w.eq_ignore_ascii_case("exit") || w.eq_ignore_ascii_case("quit")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, &str)> {
        scan(s).iter().map(|t| (t.kind, t.text(s))).collect()
    }

    #[test]
    fn covers_the_input_and_names_each_token() {
        let s = "SELECT 'a''b', \"Col\" -- c\n FROM t/*x*/WHERE n=1.5 AND d=$run_date;";
        let toks = scan(s);
        assert_eq!(toks.first().unwrap().start, 0);
        assert_eq!(toks.last().unwrap().end, s.len());
        for w in toks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        let k = kinds(s);
        assert!(k.contains(&(Kind::Str, "'a''b'")));
        assert!(k.contains(&(Kind::QuotedIdent, "\"Col\"")));
        assert!(k.contains(&(Kind::Comment, "-- c")));
        assert!(k.contains(&(Kind::Comment, "/*x*/")));
        assert!(k.contains(&(Kind::Number, "1.5")));
        assert!(k.contains(&(Kind::Param, "$run_date")));
        assert!(k.contains(&(Kind::Word, "WHERE")));
    }

    #[test]
    fn open_strings_and_comments_are_one_token() {
        let s = "SELECT 'abc; def";
        let last = *scan(s).last().unwrap();
        assert_eq!(
            (last.kind, last.open, last.text(s)),
            (Kind::Str, true, "'abc; def")
        );
        assert!(scan("/* never closed; ").last().unwrap().open);
    }

    #[test]
    fn completeness() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done\n"));
        assert!(is_complete("\\dt"));
        assert!(is_complete("   "));
        assert!(is_complete("quit"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 1; SELECT 2"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT 1 -- ;"));
        assert!(is_complete("SELECT 'é;';"));
    }
}
