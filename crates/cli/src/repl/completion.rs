//! What Tab offers: SQL keywords, tables, the columns of the tables a statement names, functions,
//! meta-commands and their arguments. File paths are left to rustyline's filename completer.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::catalog::TableProvider;
use nightshift_core::Session;

use super::lex::{Kind, Token, scan};
use super::meta::{COMMANDS, FORMATS};

/// Keywords offered by Tab and coloured by the highlighter. A short list on purpose: sqlparser's
/// own list marks common column names (`name`, `date`, `value`) as keywords.
pub(crate) const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COPY",
    "CREATE",
    "CROSS",
    "CURRENT",
    "DATE",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "ILIKE",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LAST",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "MODEL",
    "MODELS",
    "NATURAL",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRECEDING",
    "QUALIFY",
    "RANGE",
    "RECURSIVE",
    "REPLACE",
    "RIGHT",
    "ROWS",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "THEN",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Keywords after which only a table name makes sense.
const BEFORE_TABLE: &[&str] = &["FROM", "JOIN", "INTO", "TABLE", "UPDATE", "DESCRIBE"];

/// Words that end a table reference rather than name its alias.
const NOT_ALIAS: &[&str] = &[
    "WHERE",
    "JOIN",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "HAVING",
    "LEFT",
    "RIGHT",
    "INNER",
    "FULL",
    "CROSS",
    "NATURAL",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "QUALIFY",
    "SELECT",
    "SET",
    "VALUES",
    "OUTER",
];

/// The names Tab can offer, refreshed from the session after statements that change them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Vocabulary {
    /// Table name (bare in the default schema, else `schema.table`) → its columns.
    pub tables: BTreeMap<String, Vec<String>>,
    /// Scalar, aggregate, window and table functions, with aliases.
    pub functions: BTreeSet<String>,
}

impl Vocabulary {
    /// Reads every table (with its columns) and function the session knows.
    pub async fn load(session: &Session) -> Self {
        let ctx = session.context();
        let state = ctx.state();
        let defaults = &state.config().options().catalog;
        let (default_catalog, default_schema) =
            (defaults.default_catalog.clone(), defaults.default_schema.clone());
        let mut tables = BTreeMap::new();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                if schema_name == "information_schema" {
                    continue;
                }
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table in schema.table_names() {
                    let columns = match schema.table(&table).await {
                        Ok(Some(p)) => column_names(p.as_ref()),
                        _ => Vec::new(),
                    };
                    let name = if catalog_name == default_catalog && schema_name == default_schema {
                        table
                    } else if catalog_name == default_catalog {
                        format!("{schema_name}.{table}")
                    } else {
                        format!("{catalog_name}.{schema_name}.{table}")
                    };
                    tables.insert(name, columns);
                }
            }
        }
        let functions = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .chain(state.table_functions().keys())
            .cloned()
            .collect();
        Self { tables, functions }
    }

    fn table(&self, name: &str) -> Option<(&String, &Vec<String>)> {
        let name = name.trim_matches('"');
        self.tables
            .get_key_value(name)
            .or_else(|| self.tables.iter().find(|(t, _)| t.eq_ignore_ascii_case(name)))
    }
}

fn column_names(p: &dyn TableProvider) -> Vec<String> {
    p.schema().fields().iter().map(|f| f.name().clone()).collect()
}

/// What to complete at the cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Replace `line[start..pos]` with one of these words.
    Words { start: usize, words: Vec<String> },
    /// A file path: hand over to the filename completer.
    Path,
}

/// Works out the candidates for `line` (the whole, maybe multi-line, buffer) with the cursor at `pos`.
pub(crate) fn complete(line: &str, pos: usize, vocab: &Vocabulary) -> Request {
    let before = &line[..pos];
    // The statement being typed starts after the last `;` outside strings and comments.
    let tokens = scan(before);
    let stmt_start = tokens
        .iter()
        .rev()
        .find(|t| t.kind == Kind::Punct && t.text(before) == ";")
        .map_or(0, |t| t.end);
    let stmt = &before[stmt_start..];
    let tokens: Vec<Token> = tokens.into_iter().filter(|t| t.start >= stmt_start).collect();
    if stmt.trim_start().starts_with('\\') {
        return complete_meta(before, stmt_start, vocab);
    }
    if let Some(last) = tokens.last()
        && last.end == pos
        && last.open
        && matches!(last.kind, Kind::Str)
    {
        return Request::Path;
    }
    // The word under the cursor, qualifier included (`r.sta`).
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.' || *c == '"')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[word_start..];
    // A statement read to the end of the buffer, so the tables named after the cursor count too.
    let whole_stmt_end = scan(&line[stmt_start..])
        .iter()
        .find(|t| t.kind == Kind::Punct && t.text(&line[stmt_start..]) == ";")
        .map_or(line.len(), |t| stmt_start + t.start);
    let whole = &line[stmt_start..whole_stmt_end];
    let refs = table_refs(whole, vocab);
    if let Some(dot) = word.rfind('.') {
        let qualifier = &word[..dot];
        let prefix = &word[dot + 1..];
        let start = word_start + dot + 1;
        // `alias.col` or `table.col`.
        let table = refs
            .iter()
            .find(|(_, alias)| {
                alias
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(qualifier))
            })
            .map(|(t, _)| t.as_str())
            .or_else(|| vocab.table(qualifier).map(|(t, _)| t.as_str()));
        let mut words: Vec<String> = match table.and_then(|t| vocab.table(t)) {
            Some((_, cols)) => matching(cols.iter().map(String::as_str), prefix),
            // `schema.tab`: qualified table names.
            None => vocab
                .tables
                .keys()
                .filter_map(|t| t.strip_prefix(&format!("{qualifier}.")))
                .filter(|t| starts_with_ci(t, prefix))
                .map(String::from)
                .collect(),
        };
        words.dedup();
        return Request::Words { start, words };
    }
    let prev_word = tokens
        .iter()
        .rev()
        .filter(|t| t.end <= word_start && !matches!(t.kind, Kind::Space | Kind::Comment))
        .map(|t| t.text(before))
        .next()
        .unwrap_or("");
    let tables = vocab.tables.keys().map(String::as_str);
    let mut words = Vec::new();
    if BEFORE_TABLE.iter().any(|k| k.eq_ignore_ascii_case(prev_word)) {
        words.extend(matching(tables, word));
    } else {
        // Columns of the tables the statement names; before it names any (`SELECT ` typed first),
        // the columns of every table.
        let mut columns = BTreeSet::new();
        let named: Vec<&Vec<String>> = if refs.is_empty() {
            vocab.tables.values().collect()
        } else {
            refs.iter()
                .filter_map(|(t, _)| vocab.table(t).map(|(_, c)| c))
                .collect()
        };
        for cols in named {
            columns.extend(matching(cols.iter().map(String::as_str), word));
        }
        words.extend(columns);
        words.extend(matching(tables, word));
        words.extend(matching(vocab.functions.iter().map(String::as_str), word));
        let lower = !word.is_empty() && !word.chars().any(|c| c.is_uppercase());
        words.extend(
            matching(KEYWORDS.iter().copied(), word)
                .into_iter()
                .map(|k| if lower { k.to_lowercase() } else { k }),
        );
    }
    let mut seen = BTreeSet::new();
    words.retain(|w| seen.insert(w.clone()));
    Request::Words {
        start: word_start,
        words,
    }
}

fn complete_meta(before: &str, stmt_start: usize, vocab: &Vocabulary) -> Request {
    let text = &before[stmt_start..];
    let lead = text.len() - text.trim_start().len();
    let cmd_start = stmt_start + lead;
    let cmd_text = &before[cmd_start..];
    let Some(space) = cmd_text.find(char::is_whitespace) else {
        let words = COMMANDS
            .iter()
            .map(|(n, _, _)| *n)
            .filter(|n| n.starts_with(cmd_text))
            .map(String::from)
            .collect();
        return Request::Words {
            start: cmd_start,
            words,
        };
    };
    let cmd = &cmd_text[..space];
    let arg_start = before
        .char_indices()
        .rev()
        .take_while(|(i, c)| *i > cmd_start + space && !c.is_whitespace())
        .last()
        .map_or(before.len(), |(i, _)| i);
    let arg = &before[arg_start..];
    let words = match cmd {
        "\\i" | "\\include" | "\\o" | "\\output" => return Request::Path,
        "\\d" => matching(vocab.tables.keys().map(String::as_str), arg),
        "\\df" => matching(vocab.functions.iter().map(String::as_str), arg),
        "\\format" => matching(FORMATS.iter().copied(), arg),
        "\\timing" | "\\pager" => matching(["on", "off"].into_iter(), arg),
        _ => Vec::new(),
    };
    Request::Words {
        start: arg_start,
        words,
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn matching<'a>(items: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let prefix = prefix.trim_start_matches('"');
    items
        .filter(|i| starts_with_ci(i, prefix))
        .map(String::from)
        .collect()
}

/// The known tables a statement names, each with its alias if it has one.
pub(crate) fn table_refs(stmt: &str, vocab: &Vocabulary) -> Vec<(String, Option<String>)> {
    let words: Vec<&str> = scan(stmt)
        .into_iter()
        .filter(|t| !matches!(t.kind, Kind::Space | Kind::Comment))
        .map(|t| t.text(stmt))
        .collect();
    let mut refs = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // `schema.table` arrives as three tokens.
        let (name, next) = if i + 2 < words.len() && words[i + 1] == "." {
            (format!("{}.{}", words[i], words[i + 2]), i + 3)
        } else {
            (words[i].to_string(), i + 1)
        };
        let Some((table, _)) = vocab.table(&name) else {
            i += 1;
            continue;
        };
        let mut alias = None;
        let mut j = next;
        if words.get(j).is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
            j += 1;
        }
        if let Some(w) = words.get(j)
            && w.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && !NOT_ALIAS.iter().any(|k| k.eq_ignore_ascii_case(w))
        {
            alias = Some(w.to_string());
        }
        refs.push((table.clone(), alias));
        i = next;
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let mut v = Vocabulary::default();
        v.tables.insert(
            "reviews".into(),
            vec!["review_id".into(), "review_text".into(), "stars".into()],
        );
        v.tables.insert(
            "transactions".into(),
            vec!["tx_id".into(), "amount".into(), "tx_date".into()],
        );
        v.functions
            .extend(["sentiment_score".into(), "sum".into(), "stddev".into()]);
        v
    }

    fn words(line: &str) -> (usize, Vec<String>) {
        match complete(line, line.len(), &vocab()) {
            Request::Words { start, words } => (start, words),
            Request::Path => panic!("path requested for {line:?}"),
        }
    }

    #[test]
    fn tables_after_from_and_join() {
        assert_eq!(words("SELECT * FROM rev"), (14, vec!["reviews".to_string()]));
        assert_eq!(
            words("SELECT * FROM reviews r JOIN t").1,
            vec!["transactions".to_string()]
        );
    }

    #[test]
    fn columns_of_the_tables_named_in_the_statement() {
        // No table named yet: the columns of every table.
        let (start, w) = words("SELECT tx_");
        assert_eq!(start, 7);
        assert_eq!(w, vec!["tx_date".to_string(), "tx_id".to_string()]);
        let line = "SELECT sta FROM reviews;";
        match complete(line, 10, &vocab()) {
            Request::Words { start, words } => {
                assert_eq!(start, 7);
                assert_eq!(words, vec!["stars".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        // Functions, keywords and columns of every named table.
        let (_, w) = words("SELECT * FROM reviews, transactions WHERE s");
        assert!(w.contains(&"stars".to_string()) && w.contains(&"sum".to_string()));
        assert!(
            w.contains(&"select".to_string()),
            "lower-case prefix, lower-case keyword: {w:?}"
        );
        assert!(!w.contains(&"tx_id".to_string()));
    }

    #[test]
    fn qualified_columns_through_aliases() {
        let line = "SELECT r.re FROM reviews AS r";
        match complete(line, 11, &vocab()) {
            Request::Words { start, words } => {
                assert_eq!(start, 9);
                assert_eq!(words, vec!["review_id".to_string(), "review_text".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let (start, w) = words("SELECT transactions.a");
        assert_eq!((start, w), (20, vec!["amount".to_string()]));
    }

    #[test]
    fn meta_commands_and_their_arguments() {
        assert_eq!(words("\\d").1, vec!["\\dt", "\\d", "\\df"]);
        assert_eq!(words("\\d tr"), (3, vec!["transactions".to_string()]));
        assert_eq!(words("\\format j").1, vec!["json"]);
        assert_eq!(words("\\timing o").1, vec!["on", "off"]);
        assert_eq!(complete("\\o out", 6, &vocab()), Request::Path);
        assert_eq!(complete("SELECT * FROM 'data/x", 21, &vocab()), Request::Path);
    }

    #[test]
    fn only_the_current_statement_counts() {
        // The cursor is after `am`; the statement it is in names only `reviews`.
        let line = "SELECT * FROM transactions; SELECT am FROM reviews; SELECT 1 FROM transactions;";
        match complete(line, 37, &vocab()) {
            Request::Words { start, words } => {
                assert_eq!(&line[start..37], "am");
                assert!(!words.contains(&"amount".to_string()), "{words:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
