//! A failed statement as one readable block: what went wrong, where (the statement's line with a
//! caret under the column when it is known) and a hint.

use datafusion::error::DataFusionError;
use nightshift_core::CoreError;

/// Where in the statement an error points: 1-based line and column, and how many characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spot {
    pub line: usize,
    pub column: usize,
    pub width: usize,
}

/// An error ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub message: String,
    pub spot: Option<Spot>,
    pub hint: Option<String>,
}

fn datafusion_error(err: &anyhow::Error) -> Option<&DataFusionError> {
    err.chain().find_map(|c| {
        c.downcast_ref::<DataFusionError>()
            .or_else(|| match c.downcast_ref::<CoreError>() {
                Some(CoreError::DataFusion(e)) => Some(e),
                _ => None,
            })
    })
}

/// Works out the message, the spot in `stmt` and a hint for an error of `stmt`.
pub(crate) fn report(err: &anyhow::Error, stmt: &str) -> Report {
    let df = datafusion_error(err);
    let message = match df {
        Some(e) => e.strip_backtrace(),
        None => {
            let mut s = err.to_string();
            for cause in err.chain().skip(1) {
                let c = cause.to_string();
                if !s.contains(&c) {
                    s.push_str(&format!(": {c}"));
                }
            }
            s
        }
    };
    let diagnostic = df.and_then(|e| e.diagnostic());
    let spot = diagnostic
        .and_then(|d| d.span)
        .filter(|s| s.start.line > 0 && s.start.column > 0)
        .map(|s| Spot {
            line: s.start.line as usize,
            column: s.start.column as usize,
            width: if s.end.line == s.start.line && s.end.column > s.start.column {
                (s.end.column - s.start.column) as usize
            } else {
                1
            },
        })
        .or_else(|| parser_position(&message))
        .or_else(|| named_thing(&message).and_then(|name| find_word(stmt, &name)));
    let helps: Vec<String> = diagnostic
        .map(|d| d.helps.iter().map(|h| h.message.clone()).collect())
        .unwrap_or_default();
    let hint = if !helps.is_empty() {
        Some(helps.join("; "))
    } else {
        default_hint(err, &message)
    };
    Report { message, spot, hint }
}

/// sqlparser ends its messages with `at Line: 1, Column: 8`.
fn parser_position(message: &str) -> Option<Spot> {
    let at = message.rfind("Line: ")?;
    let rest = &message[at + "Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Spot {
        line: line.trim().parse().ok()?,
        column: column.parse().ok()?,
        width: 1,
    })
}

/// The name an error is about, for the messages that name one.
fn named_thing(message: &str) -> Option<String> {
    let quoted_after = |key: &str| -> Option<String> {
        let i = message.find(key)? + key.len();
        let rest = message[i..].trim_start();
        let q = rest.chars().next()?;
        if q != '\'' && q != '"' {
            return None;
        }
        let inner = &rest[1..];
        Some(inner[..inner.find(q)?].to_string())
    };
    if let Some(i) = message.find("No field named ") {
        let rest = &message[i + "No field named ".len()..];
        let end = rest.find(". ").unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches('.').replace('"', "");
        return Some(name.rsplit('.').next().unwrap_or(&name).to_string());
    }
    for key in ["table", "function", "Invalid function", "parameter"] {
        if let Some(n) = quoted_after(key) {
            if key == "parameter" {
                return Some(format!("${n}"));
            }
            return Some(n.rsplit('.').next().unwrap_or(&n).to_string());
        }
    }
    None
}

/// The first whole-word, case-insensitive occurrence of `word` in `text`, outside strings.
fn find_word(text: &str, word: &str) -> Option<Spot> {
    if word.is_empty() {
        return None;
    }
    let tokens = super::lex::scan(text);
    let t = tokens.iter().find(|t| {
        use super::lex::Kind;
        matches!(t.kind, Kind::Word | Kind::QuotedIdent | Kind::Param)
            && t.text(text).trim_matches('"').eq_ignore_ascii_case(word)
    })?;
    let before = &text[..t.start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some(Spot {
        line,
        column: text[line_start..t.start].chars().count() + 1,
        width: t.text(text).chars().count(),
    })
}

fn default_hint(err: &anyhow::Error, message: &str) -> Option<String> {
    if err
        .chain()
        .any(|c| matches!(c.downcast_ref::<CoreError>(), Some(CoreError::Parameter { .. })))
    {
        return Some("set a parameter with \\set NAME VALUE; \\set alone lists them".into());
    }
    let m = message.to_lowercase();
    let hint = if m.contains("no field named") {
        "\\d TABLE lists a table's columns"
    } else if m.contains("table") && m.contains("not found") {
        "\\dt lists the tables"
    } else if m.contains("invalid function") || (m.contains("function") && m.contains("not found")) {
        "\\df PATTERN searches the functions, e.g. \\df *date*"
    } else if m.contains("sql parser error") {
        "check the SQL at the caret; statements end with ';'"
    } else if m.contains("resources exhausted") {
        "raise --memory-limit, or make the query read less (filters, fewer columns)"
    } else {
        return None;
    };
    Some(hint.into())
}

/// Renders a report against the statement's text.
pub(crate) fn render(r: &Report, stmt: &str, color: bool) -> String {
    let (red, cyan, bold, reset) = if color {
        ("\x1b[1;31m", "\x1b[36m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let mut out = format!("{red}error:{reset} {bold}{}{reset}\n", r.message.trim_end());
    if let Some(spot) = r.spot
        && let Some(src) = stmt.lines().nth(spot.line.saturating_sub(1))
    {
        let number = spot.line.to_string();
        let pad = " ".repeat(number.len());
        let col = spot.column.saturating_sub(1).min(src.chars().count());
        let indent: String = src
            .chars()
            .take(col)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!(
            "{pad} --> line {}, column {}\n{pad} |\n{number} | {src}\n{pad} | {indent}{red}{}{reset}\n",
            spot.line,
            spot.column,
            "^".repeat(spot.width.max(1))
        ));
    }
    if let Some(h) = &r.hint {
        out.push_str(&format!("{cyan}hint:{reset} {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_point_at_their_column() {
        let m = "SQL error: ParserError(\"Expected: end of statement, found: nosuch at Line: 2, Column: 8\")";
        assert_eq!(
            parser_position(m),
            Some(Spot {
                line: 2,
                column: 8,
                width: 1
            })
        );
    }

    #[test]
    fn names_in_messages_are_found_in_the_statement() {
        let stmt = "SELECT 'nosuch', stars\n  FROM reviews WHERE nosuch > 1";
        let name =
            named_thing("Schema error: No field named nosuch. Valid fields are reviews.stars.").unwrap();
        assert_eq!(name, "nosuch");
        assert_eq!(
            find_word(stmt, &name),
            Some(Spot {
                line: 2,
                column: 22,
                width: 6
            })
        );
        assert_eq!(
            named_thing("Error during planning: table 'datafusion.public.nope' not found").as_deref(),
            Some("nope")
        );
        assert_eq!(
            named_thing("parameter 'd': the statement uses $d").as_deref(),
            Some("$d")
        );
    }

    #[test]
    fn renders_one_block_with_a_caret_and_a_hint() {
        let stmt = "SELECT nosuch FROM reviews";
        let err = anyhow::Error::new(DataFusionError::SchemaError(
            Box::new(datafusion::common::SchemaError::FieldNotFound {
                field: Box::new(datafusion::common::Column::from_name("nosuch")),
                valid_fields: vec![],
            }),
            Box::new(None),
        ));
        let r = report(&err, stmt);
        assert!(r.message.contains("nosuch"), "{r:?}");
        let text = render(&r, stmt, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("error: "), "{text}");
        assert_eq!(lines[3], "1 | SELECT nosuch FROM reviews", "{text}");
        assert_eq!(lines[4], "  |        ^^^^^^", "{text}");
        assert!(lines[5].starts_with("hint: \\d TABLE"), "{text}");
        assert!(!render(&r, stmt, true).is_empty());
    }
}
