//! A strict reader of spanned TOML, shared by the settings file and the job files: it parses a file,
//! reads typed values with the line of every key, and records each unknown key, wrong type or bad value
//! as a [`ConfigIssue`] with file and line instead of stopping at the first one.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::config_error::{ConfigIssue, IssueOrigin};

/// Reads one TOML file, collecting its problems.
#[derive(Debug)]
pub struct TomlReader<'t> {
    text: &'t str,
    file: &'t Path,
    issues: Vec<ConfigIssue>,
}

impl<'t> TomlReader<'t> {
    /// A reader of `text`, the contents of `file` (named in every issue).
    pub fn new(text: &'t str, file: &'t Path) -> Self {
        Self {
            text,
            file,
            issues: Vec::new(),
        }
    }

    /// Parses the whole text, recovering from syntax errors; each one becomes an issue at its line with
    /// the key `key` and the message `{prefix}: {error}`.
    pub fn parse(&mut self, key: &str, prefix: &str) -> Spanned<DeTable<'t>> {
        let (doc, errors) = DeTable::parse_recoverable(self.text);
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            self.issue(&span, key, format!("{prefix}: {}", e.message()));
        }
        doc
    }

    /// The file being read.
    pub fn file(&self) -> &'t Path {
        self.file
    }

    /// The position of `span` in the file.
    pub fn at(&self, span: &Range<usize>) -> IssueOrigin {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        IssueOrigin::Line {
            file: self.file.to_path_buf(),
            line,
        }
    }

    /// Records a problem with `key` at `span`.
    pub fn issue(&mut self, span: &Range<usize>, key: &str, message: impl fmt::Display) {
        let origin = self.at(span);
        self.issues.push(ConfigIssue {
            origin,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    /// How many problems have been recorded so far.
    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// The problems, in the order they were found.
    pub fn into_issues(self) -> Vec<ConfigIssue> {
        self.issues
    }

    /// Records `key` as unknown, listing the keys that are (`unknown key; expected one of: a, b`).
    pub fn unknown(&mut self, k: &Spanned<std::borrow::Cow<'_, str>>, key: &str, known: &[&str]) {
        self.issue(
            &k.span(),
            key,
            format!("unknown key; expected one of: {}", known.join(", ")),
        );
    }

    /// Records that `v` is not the `expected` type.
    fn wrong_type(&mut self, v: &Spanned<DeValue<'_>>, key: &str, expected: &str) {
        let found = v.get_ref().type_str();
        self.issue(&v.span(), key, format!("expected {expected}, found {found}"));
    }

    /// A string.
    pub fn string(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(v, key, "a string");
                None
            }
        }
    }

    /// An array of strings; each element that is not a string is a problem of its own.
    pub fn strings(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<Vec<String>> {
        match v.get_ref() {
            DeValue::Array(a) => a.iter().map(|i| self.string(i, key)).collect(),
            _ => {
                self.wrong_type(v, key, "an array of strings");
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(v, key, "true or false");
                None
            }
        }
    }

    /// An integer that fits in an `i64`.
    pub fn int(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(_) => {
                let n = integer(v.get_ref());
                if n.is_none() {
                    self.issue(&v.span(), key, "the integer is too large");
                }
                n
            }
            _ => {
                self.wrong_type(v, key, "an integer");
                None
            }
        }
    }

    /// An integer above zero.
    pub fn positive(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<usize> {
        if !matches!(v.get_ref(), DeValue::Integer(_)) {
            self.wrong_type(v, key, "a positive integer");
            return None;
        }
        match integer(v.get_ref())
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
        {
            Some(n) => Some(n),
            None => {
                self.issue(&v.span(), key, "expected a positive integer");
                None
            }
        }
    }

    /// A number: a float, or an integer taken as one.
    pub fn float(&mut self, v: &Spanned<DeValue<'_>>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
            DeValue::Integer(_) => self.int(v, key).map(|i| i as f64),
            _ => {
                self.wrong_type(v, key, "a number");
                None
            }
        }
    }

    /// A table.
    pub fn table<'v, 'i>(&mut self, v: &'v Spanned<DeValue<'i>>, key: &str) -> Option<&'v DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(v, key, "a table");
                None
            }
        }
    }

    /// An array.
    pub fn array<'v, 'i>(&mut self, v: &'v Spanned<DeValue<'i>>, key: &str) -> Option<&'v DeArray<'i>> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a),
            _ => {
                self.wrong_type(v, key, "an array");
                None
            }
        }
    }
}

/// The value of a TOML integer (any radix, with `_` separators), if it fits in an `i64`.
pub(crate) fn integer(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_error::ConfigError;
    use crate::settings::Settings;

    fn lines(issues: &[ConfigIssue]) -> Vec<(String, &str)> {
        issues
            .iter()
            .map(|i| (i.origin.to_string(), i.key.as_str()))
            .collect()
    }

    #[test]
    fn reads_typed_values_and_records_problems_with_lines() {
        let text = "name = \"x\"\ncount = \"three\"\nflag = true\nlist = [\"a\", 2]\nsize = 0\n";
        let file = Path::new("/p/f.toml");
        let mut r = TomlReader::new(text, file);
        let doc = r.parse("", "TOML syntax error");
        let get = |key: &str| {
            let found = doc.get_ref().iter().find(|(k, _)| k.get_ref().as_ref() == key);
            found.map(|(_, v)| v).unwrap()
        };
        assert_eq!(r.string(get("name"), "name").as_deref(), Some("x"));
        assert_eq!(r.int(get("count"), "count"), None);
        assert_eq!(r.boolean(get("flag"), "flag"), Some(true));
        assert_eq!(r.strings(get("list"), "list"), None);
        assert_eq!(r.positive(get("size"), "size"), None);
        assert_eq!(r.issue_count(), 3);
        let issues = r.into_issues();
        assert_eq!(
            lines(&issues),
            [
                ("/p/f.toml:2".to_string(), "count"),
                ("/p/f.toml:4".to_string(), "list"),
                ("/p/f.toml:5".to_string(), "size"),
            ]
        );
        assert_eq!(issues[0].message, "expected an integer, found string");
        assert_eq!(issues[1].message, "expected a string, found integer");
    }

    #[test]
    fn syntax_errors_are_issues_with_their_line() {
        let file = Path::new("j.toml");
        let mut r = TomlReader::new("a = 1\n[b\n", file);
        r.parse("toml", "syntax error");
        let issues = r.into_issues();
        assert_eq!(issues[0].origin.line(), Some(2));
        assert!(
            issues[0]
                .to_string()
                .starts_with("j.toml:2: toml: syntax error: "),
            "{}",
            issues[0]
        );
    }

    #[test]
    fn a_settings_file_reports_unknown_keys_and_wrong_types_at_once() {
        let err: ConfigError = Settings::from_toml(
            "[engine]\nbatch_size = \"many\"\nbatch_sise = 1\n[lake]\nroots = \"x\"\n",
            Path::new("/p/nightshift.toml"),
        )
        .unwrap_err();
        assert_eq!(
            lines(&err.issues),
            [
                ("/p/nightshift.toml:2".to_string(), "engine.batch_size"),
                ("/p/nightshift.toml:3".to_string(), "engine.batch_sise"),
                ("/p/nightshift.toml:5".to_string(), "lake.roots"),
            ]
        );
        assert_eq!(err.issues[0].message, "expected a positive integer, found string");
        assert!(
            err.issues[1]
                .message
                .starts_with("unknown key; expected one of: ")
        );
        assert!(
            err.to_string()
                .starts_with("invalid settings (3 problems):\n  /p/nightshift.toml:2: ")
        );
    }
}
