//! Problems in the configuration (settings file, job files, environment, flags): where each one is and
//! what is wrong, collected so that all of them are reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a configuration problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueOrigin {
    /// A line (1-based) of a file; shown as `file:line`.
    Line {
        /// The file.
        file: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// A whole file (unreadable, not UTF-8); shown as its path.
    File(PathBuf),
    /// An environment variable (`NIGHTSHIFT_MEMORY_LIMIT`); shown as `env NAME`.
    Env(String),
    /// A command-line flag (`--memory-limit`); shown as `flag --name`.
    Flag(String),
}

impl IssueOrigin {
    /// The file the problem is in, if it is in one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            IssueOrigin::Line { file, .. } | IssueOrigin::File(file) => Some(file),
            IssueOrigin::Env(_) | IssueOrigin::Flag(_) => None,
        }
    }

    /// The line the problem is on, if it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            IssueOrigin::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl fmt::Display for IssueOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueOrigin::Line { file, line } => write!(f, "{}:{line}", file.display()),
            IssueOrigin::File(file) => write!(f, "{}", file.display()),
            IssueOrigin::Env(var) => write!(f, "env {var}"),
            IssueOrigin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// `file:line`, a whole file, `env NIGHTSHIFT_X` or `flag --x`.
    pub origin: IssueOrigin,
    /// The key, dotted (`engine.memory_limit`); empty when the problem is not about one key.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigIssue {
    /// Writes `heading (N problems):` and then each issue on its own indented line.
    pub fn write_list(f: &mut fmt::Formatter<'_>, heading: &str, issues: &[ConfigIssue]) -> fmt::Result {
        let n = issues.len();
        write!(f, "{heading} ({n} problem{}):", if n == 1 { "" } else { "s" })?;
        for i in issues {
            write!(f, "\n  {i}")?;
        }
        Ok(())
    }

    /// Sorts issues by file and then line, keeping the order of issues on the same line (TOML tables
    /// iterate by key, not in the order they were written).
    pub fn sort_in_file_order(issues: &mut [ConfigIssue]) {
        fn place(i: &ConfigIssue) -> (&std::ffi::OsStr, usize) {
            let file = i.origin.file().map(Path::as_os_str).unwrap_or_default();
            (file, i.origin.line().unwrap_or(0))
        }
        issues.sort_by(|a, b| place(a).cmp(&place(b)));
    }
}

impl fmt::Display for ConfigIssue {
    /// `origin: key: message`, or `origin: message` without a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.message)
        }
    }
}

/// Every problem found in the settings, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ConfigIssue::write_list(f, "invalid settings", &self.issues)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(origin: IssueOrigin, key: &str, message: &str) -> ConfigIssue {
        ConfigIssue {
            origin,
            key: key.into(),
            message: message.into(),
        }
    }

    #[test]
    fn renders_one_issue_per_line() {
        let line = |file: &str, line| IssueOrigin::Line {
            file: file.into(),
            line,
        };
        let err = ConfigError {
            issues: vec![
                issue(line("/p/n.toml", 3), "lake.rot", "unknown key"),
                issue(IssueOrigin::File("/p/x.toml".into()), "", "cannot read"),
                issue(IssueOrigin::Env("NIGHTSHIFT_X".into()), "", "'y' is bad"),
                issue(IssueOrigin::Flag("--set".into()), "datafusion.x", "no"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "invalid settings (4 problems):\n  /p/n.toml:3: lake.rot: unknown key\n  /p/x.toml: cannot read\n  \
             env NIGHTSHIFT_X: 'y' is bad\n  flag --set: datafusion.x: no"
        );
        let one = ConfigError {
            issues: err.issues[..1].to_vec(),
        };
        assert!(one.to_string().starts_with("invalid settings (1 problem):"));
    }

    #[test]
    fn sorts_by_file_then_line_stably() {
        let at = |file: &str, line| IssueOrigin::Line {
            file: file.into(),
            line,
        };
        let mut issues = vec![
            issue(at("b.toml", 1), "k", "1"),
            issue(at("a.toml", 9), "k", "2"),
            issue(at("a.toml", 2), "k", "3"),
            issue(at("a.toml", 2), "k", "4"),
        ];
        ConfigIssue::sort_in_file_order(&mut issues);
        let order: Vec<_> = issues.iter().map(|i| i.message.as_str()).collect();
        assert_eq!(order, ["3", "4", "2", "1"]);
    }
}
