//! `\df [PATTERN]`: the session's functions with their documentation.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::Documentation;
use nightshift_core::Session;

/// One function as `\df` shows it.
#[derive(Debug, Clone)]
pub(crate) struct FunctionDoc {
    pub name: String,
    pub kind: &'static str,
    pub doc: Option<Documentation>,
}

/// Every function (aliases included) whose name matches `pattern`, sorted by name.
pub(crate) fn find(session: &Session, pattern: Option<&str>) -> Vec<FunctionDoc> {
    let state = session.context().state();
    let mut out: Vec<FunctionDoc> = Vec::new();
    let mut push = |name: &String, kind: &'static str, doc: Option<&Documentation>| {
        if pattern.is_none_or(|p| matches(p, name)) {
            out.push(FunctionDoc {
                name: name.clone(),
                kind,
                doc: doc.cloned(),
            });
        }
    };
    for (n, f) in state.scalar_functions() {
        push(n, "scalar", f.documentation());
    }
    for (n, f) in state.aggregate_functions() {
        push(n, "aggregate", f.documentation());
    }
    for (n, f) in state.window_functions() {
        push(n, "window", f.documentation());
    }
    for n in state.table_functions().keys() {
        push(n, "table", None);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.cmp(b.kind)));
    out
}

/// A glob (`*`, `?`) when the pattern has wildcards, else a substring; never case-sensitive.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    if !p.contains(&'*') && !p.contains(&'?') {
        return name.to_lowercase().contains(&pattern.to_lowercase());
    }
    // Iterative glob matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn first_sentence(s: &str) -> String {
    let line = s.trim().lines().next().unwrap_or("").trim();
    match line.find(". ") {
        Some(i) => line[..=i].to_string(),
        None => line.to_string(),
    }
}

/// The list as a batch: name, kind, description, syntax.
pub(crate) fn list_batch(found: &[FunctionDoc]) -> anyhow::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("function", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("syntax", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            found.iter().map(|f| f.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(found.iter().map(|f| f.kind))),
        Arc::new(StringArray::from(
            found
                .iter()
                .map(|f| f.doc.as_ref().map(|d| first_sentence(&d.description)))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            found
                .iter()
                .map(|f| f.doc.as_ref().map(|d| d.syntax_example.clone()))
                .collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The whole documentation of one function, as text.
pub(crate) fn full_text(f: &FunctionDoc) -> String {
    let mut s = format!("{} ({} function)\n", f.name, f.kind);
    let Some(d) = &f.doc else {
        s.push_str("  no documentation\n");
        return s;
    };
    s.push_str(&format!(
        "\n  {}\n\n  syntax: {}\n",
        d.description.trim(),
        d.syntax_example
    ));
    if let Some(args) = &d.arguments {
        s.push_str("\n  arguments:\n");
        for (name, what) in args {
            s.push_str(&format!("    {name}: {}\n", what.trim()));
        }
    }
    if let Some(alt) = &d.alternative_syntax {
        for a in alt {
            s.push_str(&format!("\n  also: {a}\n"));
        }
    }
    if let Some(example) = &d.sql_example {
        s.push_str("\n  example:\n");
        for line in example.trim().lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    if let Some(related) = &d.related_udfs {
        s.push_str(&format!("\n  related: {}\n", related.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_substrings() {
        assert!(matches("sent*", "sentiment_score"));
        assert!(matches("*score", "sentiment_score"));
        assert!(matches("s?m", "SUM"));
        assert!(matches("date", "to_date"));
        assert!(!matches("sent*", "represent"));
        assert!(!matches("s?m", "sums"));
        assert!(matches("*a*b*", "xaxxb"));
    }

    #[test]
    fn first_sentences() {
        assert_eq!(first_sentence("Adds. Then more."), "Adds.");
        assert_eq!(first_sentence("\n  One line\nTwo"), "One line");
    }
}
