//! Meta-commands (`\dt`, `\o FILE`, …): their names, help and parsing.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::args::Format;

/// A parsed meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meta {
    Help,
    Quit,
    Tables,
    Describe(String),
    Functions(Option<String>),
    /// `None` toggles.
    Timing(Option<bool>),
    Format(Format),
    MaxRows(usize),
    /// `None` sends results back to the terminal.
    Output(Option<PathBuf>),
    Include(PathBuf),
    /// `None` lists the parameters.
    Set(Option<(String, String)>),
    Unset(String),
    /// `None` toggles.
    Pager(Option<bool>),
    /// `None` shows the last query's plan with its run-time metrics.
    Explain(Option<String>),
    /// The jobs with their schedule, last run and next fire time.
    Jobs,
    /// The last runs, of one job or all.
    Runs(Option<String>),
    /// The last check results, of one job or all.
    Checks(Option<String>),
    /// A job's runs that did not succeed, with their messages.
    Errors(String),
    /// Runs a job for a date again.
    Rerun(String, chrono::NaiveDate),
}

/// Every meta-command: name, arguments, what it does (the `\?` text and the completion list).
pub(crate) const COMMANDS: &[(&str, &str, &str)] = &[
    ("\\?", "", "this help"),
    ("\\q", "", "quit (also Ctrl-D, exit, quit)"),
    ("\\dt", "", "list the tables"),
    ("\\d", "TABLE", "a table's columns (\\d alone lists the tables)"),
    (
        "\\df",
        "[PATTERN]",
        "functions matching PATTERN (* and ? wildcards) with their documentation",
    ),
    (
        "\\timing",
        "[on|off]",
        "print each statement's rows and elapsed time",
    ),
    (
        "\\format",
        "FORMAT",
        "result format: table, csv, tsv, json, ndjson",
    ),
    ("\\maxrows", "N", "rows shown in table format (0 shows all)"),
    (
        "\\o",
        "[FILE]",
        "send results to FILE (format from its extension); \\o alone: back to the terminal",
    ),
    ("\\i", "FILE", "run the SQL statements in FILE"),
    (
        "\\set",
        "[NAME VALUE]",
        "set a parameter used as $NAME (typed like --param); \\set alone lists them",
    ),
    ("\\unset", "NAME", "remove a parameter"),
    (
        "\\pager",
        "[on|off]",
        "show results through $PAGER (default: less -S)",
    ),
    (
        "\\explain",
        "[SQL]",
        "the plan of SQL; alone: the last query's plan with its run-time metrics",
    ),
    ("\\jobs", "", "the jobs: schedule, last run, next fire time"),
    ("\\runs", "[JOB]", "the last 20 runs (of JOB) from the ledger"),
    ("\\checks", "[JOB]", "the last 30 check results (of JOB)"),
    (
        "\\errors",
        "JOB",
        "JOB's last runs that did not succeed, with why",
    ),
    (
        "\\rerun",
        "JOB DATE",
        "run JOB for the interval of DATE (YYYY-MM-DD) again",
    ),
];

/// Formats `\format` accepts (parquet only goes to a file, through `\o FILE.parquet`).
pub(crate) const FORMATS: &[&str] = &["table", "csv", "tsv", "json", "ndjson"];

/// The `\?` text.
pub(crate) fn help() -> String {
    let mut s = String::from(
        "Statements end with ';' and may span lines. Tab completes; Ctrl-R searches the history;\n\
         Ctrl-C cancels a running query; Ctrl-D quits.\n\n",
    );
    let width = COMMANDS
        .iter()
        .map(|(n, a, _)| n.len() + a.len() + 1)
        .max()
        .unwrap_or(0);
    for (name, args, what) in COMMANDS {
        let head = if args.is_empty() {
            (*name).to_string()
        } else {
            format!("{name} {args}")
        };
        s.push_str(&format!("  {head:<width$}  {what}\n"));
    }
    s
}

fn on_off(arg: &str, cmd: &str) -> Result<Option<bool>, String> {
    match arg.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "on" | "true" | "1" => Ok(Some(true)),
        "off" | "false" | "0" => Ok(Some(false)),
        other => Err(format!("{cmd} takes on or off, not '{other}'")),
    }
}

/// Removes one pair of matching quotes, so `\o 'my file.csv'` works.
fn unquote(s: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Parses one meta-command line (it starts with `\`; a trailing `;` is ignored).
pub(crate) fn parse(line: &str) -> Result<Meta, String> {
    let line = line.trim().trim_end_matches(';').trim_end();
    let (cmd, arg) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let need = |what: &str| -> Result<String, String> {
        if arg.is_empty() {
            Err(format!("{cmd} needs {what}"))
        } else {
            Ok(unquote(arg).to_string())
        }
    };
    Ok(match cmd {
        "\\?" | "\\h" | "\\help" => Meta::Help,
        "\\q" | "\\quit" => Meta::Quit,
        "\\dt" => Meta::Tables,
        "\\d" if arg.is_empty() => Meta::Tables,
        "\\d" => Meta::Describe(unquote(arg).to_string()),
        "\\df" => Meta::Functions((!arg.is_empty()).then(|| arg.to_string())),
        "\\timing" => Meta::Timing(on_off(arg, cmd)?),
        "\\pager" => Meta::Pager(on_off(arg, cmd)?),
        "\\format" => {
            let name = need("a format: table, csv, tsv, json or ndjson")?;
            let format = Format::from_str(&name, true)
                .map_err(|_| format!("unknown format '{name}': use one of {}", FORMATS.join(", ")))?;
            if format == Format::Parquet {
                return Err("parquet results go to a file: use \\o FILE.parquet".into());
            }
            Meta::Format(format)
        }
        "\\maxrows" => {
            let n = need("a number of rows (0 shows all)")?;
            Meta::MaxRows(
                n.parse()
                    .map_err(|_| format!("\\maxrows takes a number of rows, not '{n}'"))?,
            )
        }
        "\\o" | "\\output" => Meta::Output((!arg.is_empty()).then(|| PathBuf::from(unquote(arg)))),
        "\\i" | "\\include" => Meta::Include(PathBuf::from(need("a SQL file")?)),
        "\\set" if arg.is_empty() => Meta::Set(None),
        "\\set" => {
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) if !n.trim().contains(char::is_whitespace) => (n.trim(), v.trim()),
                _ => match arg.find(char::is_whitespace) {
                    Some(i) => (&arg[..i], arg[i..].trim()),
                    None => return Err(format!("\\set needs a value: \\set {arg} VALUE")),
                },
            };
            Meta::Set(Some((
                name.trim_start_matches('$').to_string(),
                unquote(value).to_string(),
            )))
        }
        "\\unset" => Meta::Unset(need("a parameter name")?.trim_start_matches('$').to_string()),
        "\\explain" => Meta::Explain((!arg.is_empty()).then(|| arg.to_string())),
        "\\jobs" => Meta::Jobs,
        "\\runs" => Meta::Runs((!arg.is_empty()).then(|| arg.to_string())),
        "\\checks" => Meta::Checks((!arg.is_empty()).then(|| arg.to_string())),
        "\\errors" => Meta::Errors(need("a job name")?.to_string()),
        "\\rerun" => {
            let mut words = arg.split_whitespace();
            match (
                words.next(),
                words.next().map(|d| d.parse::<chrono::NaiveDate>()),
                words.next(),
            ) {
                (Some(job), Some(Ok(date)), None) => Meta::Rerun(job.to_string(), date),
                _ => return Err("\\rerun takes a job and a date: \\rerun daily_sentiment 2024-06-30".into()),
            }
        }
        other => return Err(format!("unknown command '{other}': \\? lists the commands")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_command() {
        assert_eq!(parse("\\q"), Ok(Meta::Quit));
        assert_eq!(parse("\\d"), Ok(Meta::Tables));
        assert_eq!(parse("\\d reviews;"), Ok(Meta::Describe("reviews".into())));
        assert_eq!(parse("\\df sent*"), Ok(Meta::Functions(Some("sent*".into()))));
        assert_eq!(parse("\\timing on"), Ok(Meta::Timing(Some(true))));
        assert_eq!(parse("\\timing"), Ok(Meta::Timing(None)));
        assert_eq!(parse("\\format CSV"), Ok(Meta::Format(Format::Csv)));
        assert_eq!(parse("\\maxrows 0"), Ok(Meta::MaxRows(0)));
        assert_eq!(
            parse("\\o 'my out.csv'"),
            Ok(Meta::Output(Some(PathBuf::from("my out.csv"))))
        );
        assert_eq!(parse("\\o"), Ok(Meta::Output(None)));
        assert_eq!(
            parse("\\set d 2024-06-01"),
            Ok(Meta::Set(Some(("d".into(), "2024-06-01".into()))))
        );
        assert_eq!(
            parse("\\set $s = hello world"),
            Ok(Meta::Set(Some(("s".into(), "hello world".into()))))
        );
        assert_eq!(
            parse("\\explain SELECT 1"),
            Ok(Meta::Explain(Some("SELECT 1".into())))
        );
    }

    #[test]
    fn bad_arguments_say_what_to_type() {
        assert!(parse("\\timing maybe").unwrap_err().contains("on or off"));
        assert!(
            parse("\\format parquet")
                .unwrap_err()
                .contains("\\o FILE.parquet")
        );
        assert!(parse("\\format xml").unwrap_err().contains("table, csv"));
        assert!(parse("\\maxrows lots").unwrap_err().contains("'lots'"));
        assert!(parse("\\i").unwrap_err().contains("needs a SQL file"));
        assert!(parse("\\set x").unwrap_err().contains("\\set x VALUE"));
        assert!(parse("\\nope").unwrap_err().contains("\\?"));
    }

    #[test]
    fn help_lists_every_command() {
        let h = help();
        for (name, _, _) in COMMANDS {
            assert!(h.contains(name), "{name}");
        }
    }
}
