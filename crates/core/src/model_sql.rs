//! The model statements nightshift adds to SQL: `CREATE MODEL`, `EVALUATE MODEL`, `SHOW MODELS`,
//! `DESCRIBE MODEL` and `DROP MODEL`.
//!
//! They are recognised and parsed ahead of DataFusion with sqlparser's tokenizer and parser; every
//! other statement goes to DataFusion unchanged. The `AS SELECT …` / `ON (SELECT …)` query inside is
//! parsed by sqlparser too, so a syntax error there points at its line and column, and is then handed
//! to DataFusion as SQL text (through the session, so read-only checks and `$parameters` apply).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// A parsed model statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModelStatement {
    /// `CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name OPTIONS (…) AS query`.
    Create {
        name: String,
        or_replace: bool,
        if_not_exists: bool,
        /// Option keys lowercased, values as literal text without quotes.
        options: Vec<(String, String)>,
        query: String,
    },
    /// `SHOW MODELS`.
    Show,
    /// `DESCRIBE MODEL name` (or `'name@v2'`).
    Describe { name: String },
    /// `DROP MODEL [IF EXISTS] name`.
    Drop { name: String, if_exists: bool },
    /// `EVALUATE MODEL name ON (query)`.
    Evaluate { name: String, query: String },
}

/// Which model statement `sql` starts with, if any, by its leading words.
fn leading_words(sql: &str) -> Vec<String> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return Vec::new();
    };
    tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(5)
        .map_while(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// Parses `sql` if it is a model statement; `Ok(None)` means "not ours, give it to DataFusion".
pub(crate) fn parse(sql: &str) -> Result<Option<ModelStatement>, ParserError> {
    parse_statement(sql).map_err(|e| place_end_of_text(e, sql))
}

/// sqlparser gives no position when what it found is the end of the text (`found: EOF`); every other
/// syntax error of a model statement has one, so this one gets the position of that end.
fn place_end_of_text(e: ParserError, sql: &str) -> ParserError {
    match e {
        ParserError::ParserError(m) if m.contains("EOF") && !m.contains("Line: ") => {
            let line = sql.matches('\n').count() + 1;
            let column = sql.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            ParserError::ParserError(format!(
                "{m} at the end of the statement, Line: {line}, Column: {column}"
            ))
        }
        other => other,
    }
}

fn parse_statement(sql: &str) -> Result<Option<ModelStatement>, ParserError> {
    let words = leading_words(sql);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let kind = match w.as_slice() {
        ["CREATE", "MODEL", ..] | ["CREATE", "OR", "REPLACE", "MODEL", ..] => "create",
        ["SHOW", "MODELS", ..] => "show",
        ["DESCRIBE" | "DESC", "MODEL", ..] => "describe",
        ["DROP", "MODEL", ..] => "drop",
        ["EVALUATE", "MODEL", ..] => "evaluate",
        _ => return Ok(None),
    };
    let dialect = GenericDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(sql)?;
    let stmt = match kind {
        "create" => {
            p.next_token(); // CREATE
            let or_replace = word(&mut p, "OR");
            if or_replace {
                expect_word(&mut p, "REPLACE")?;
            }
            expect_word(&mut p, "MODEL")?;
            let if_not_exists = word(&mut p, "IF");
            if if_not_exists {
                expect_word(&mut p, "NOT")?;
                expect_word(&mut p, "EXISTS")?;
            }
            let name = model_name(&mut p)?;
            let mut options = Vec::new();
            if word(&mut p, "OPTIONS") {
                p.expect_token(&Token::LParen)?;
                if !p.consume_token(&Token::RParen) {
                    options = p.parse_comma_separated(option)?;
                    p.expect_token(&Token::RParen)?;
                }
            }
            expect_word(&mut p, "AS")?;
            let query = p.parse_query()?.to_string();
            ModelStatement::Create {
                name,
                or_replace,
                if_not_exists,
                options,
                query,
            }
        }
        "show" => {
            p.next_token();
            p.next_token();
            ModelStatement::Show
        }
        "describe" => {
            p.next_token();
            p.next_token();
            ModelStatement::Describe {
                name: model_name(&mut p)?,
            }
        }
        "drop" => {
            p.next_token();
            p.next_token();
            let if_exists = word(&mut p, "IF");
            if if_exists {
                expect_word(&mut p, "EXISTS")?;
            }
            ModelStatement::Drop {
                name: model_name(&mut p)?,
                if_exists,
            }
        }
        _ => {
            p.next_token();
            p.next_token();
            let name = model_name(&mut p)?;
            expect_word(&mut p, "ON")?;
            let parenthesised = p.consume_token(&Token::LParen);
            let query = p.parse_query()?.to_string();
            if parenthesised {
                p.expect_token(&Token::RParen)?;
            }
            ModelStatement::Evaluate { name, query }
        }
    };
    while p.consume_token(&Token::SemiColon) {}
    let next = p.peek_token();
    if next.token != Token::EOF {
        return Err(ParserError::ParserError(format!(
            "unexpected {} after the end of the statement at Line: {}, Column: {}",
            next.token, next.span.start.line, next.span.start.column
        )));
    }
    Ok(Some(stmt))
}

/// Consumes the word `kw` (case-insensitive) if it comes next.
fn word(p: &mut Parser<'_>, kw: &str) -> bool {
    match &p.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw) => {
            p.next_token();
            true
        }
        _ => false,
    }
}

fn expect_word(p: &mut Parser<'_>, kw: &str) -> Result<(), ParserError> {
    if word(p, kw) {
        return Ok(());
    }
    let t = p.peek_token();
    Err(ParserError::ParserError(format!(
        "expected {kw}, found {} at Line: {}, Column: {}",
        t.token, t.span.start.line, t.span.start.column
    )))
}

/// A model name: an identifier, or a quoted string that may pin a version (`'fraud@v2'`).
fn model_name(p: &mut Parser<'_>) -> Result<String, ParserError> {
    let t = p.peek_token();
    if let Token::SingleQuotedString(s) = &t.token {
        p.next_token();
        return Ok(s.clone());
    }
    let ident = p.parse_identifier()?;
    let mut name = if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_ascii_lowercase()
    };
    // `fraud@v2`, unquoted: the tokenizer gives `@` then the word `v2`.
    if p.consume_token(&Token::AtSign) {
        let v = p.parse_identifier()?;
        name.push('@');
        name.push_str(&v.value.to_ascii_lowercase());
    }
    Ok(name)
}

/// `key = value` inside OPTIONS (…).
fn option(p: &mut Parser<'_>) -> Result<(String, String), ParserError> {
    let key = p.parse_identifier()?.value.to_ascii_lowercase();
    p.expect_token(&Token::Eq)?;
    let negative = p.consume_token(&Token::Minus);
    let t = p.next_token();
    let value = match t.token {
        Token::Number(n, _) => n,
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
        Token::Word(w) => w.value,
        other => {
            return Err(ParserError::ParserError(format!(
                "option '{key}': expected a number, a string or a word, found {other} at Line: {}, Column: {}",
                t.span.start.line, t.span.start.column
            )));
        }
    };
    Ok((key, if negative { format!("-{value}") } else { value }))
}

/// Adds `(<holdout_where>) AS <column>` to the training query, so that the expression can use any
/// column in the query's `FROM` scope, not only the features it returns. A plain `SELECT` gets one
/// more projection item; anything else (a `UNION`, …) is wrapped and then sees only its output.
pub(crate) fn with_holdout_column(query: &str, expr: &str, column: &str) -> Result<String, ParserError> {
    use datafusion::sql::sqlparser::ast::{Ident, SelectItem, SetExpr};
    let dialect = GenericDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(expr)?;
    let parsed = p.parse_expr().map_err(|e| {
        ParserError::ParserError(format!("option 'holdout_where' is not a SQL expression: {e}"))
    })?;
    if p.peek_token().token != Token::EOF {
        return Err(ParserError::ParserError(format!(
            "option 'holdout_where': unexpected {} after the expression",
            p.peek_token().token
        )));
    }
    let mut q = Parser::new(&dialect).try_with_sql(query)?.parse_query()?;
    if let SetExpr::Select(select) = q.body.as_mut() {
        select.projection.push(SelectItem::ExprWithAlias {
            expr: parsed,
            alias: Ident::new(column),
        });
        return Ok(q.to_string());
    }
    Ok(format!(
        "SELECT *, ({parsed}) AS {column} FROM ({q}) AS training_rows"
    ))
}

/// The tables and files a statement reads (`FROM`/`JOIN` relations, CTE names excluded), as written,
/// in order of appearance, without duplicates; for a model statement those of its query. Empty when
/// the statement does not parse. For plans and dry runs: nothing is resolved or read.
pub fn referenced_tables(sql: &str) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::{Statement, visit_relations};
    use std::ops::ControlFlow;
    let dialect = GenericDialect {};
    let statements: Vec<Statement> = match parse(sql) {
        Ok(Some(ModelStatement::Create { query, .. } | ModelStatement::Evaluate { query, .. })) => {
            Parser::parse_sql(&dialect, &query).unwrap_or_default()
        }
        Ok(Some(_)) => Vec::new(),
        _ => Parser::parse_sql(&dialect, sql).unwrap_or_default(),
    };
    let mut ctes = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for st in &statements {
        if let Statement::Query(q) = st
            && let Some(with) = &q.with
        {
            ctes.extend(
                with.cte_tables
                    .iter()
                    .map(|c| c.alias.name.value.to_ascii_lowercase()),
            );
        }
        let _ = visit_relations(st, |name| {
            let n = name.to_string();
            if !ctes.contains(&n.to_ascii_lowercase()) && !out.contains(&n) {
                out.push(n);
            }
            ControlFlow::<()>::Continue(())
        });
    }
    out
}

/// The names of the models a statement scores with: the literal first argument of every
/// `predict(…)`, `predict_label(…)`, `explain_predict(…)`, `explain_top(…)` and
/// `feature_importance(…)` call, and `None` for
/// each `fraud_score(…)` or `fraud_reasons(…)` (the default model).
/// A cheap token scan, so that the models can be loaded before DataFusion plans the statement.
pub(crate) fn referenced_models(sql: &str) -> Vec<Option<String>> {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return Vec::new();
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Token::Word(w) = t else { continue };
        if tokens.get(i + 1) != Some(&Token::LParen) {
            continue;
        }
        let f = w.value.to_ascii_lowercase();
        if [
            "predict",
            "predict_label",
            "explain_predict",
            "explain_top",
            "feature_importance",
        ]
        .contains(&f.as_str())
        {
            if let Some(Token::SingleQuotedString(name)) = tokens.get(i + 2) {
                out.push(Some(name.clone()));
            }
        } else if f == "fraud_score" || f == "fraud_reasons" {
            out.push(None);
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_tables_lists_relations_of_queries_and_model_statements() {
        assert_eq!(
            referenced_tables("WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON true, 'f.parquet'"),
            ["a", "b", "'f.parquet'"]
        );
        assert_eq!(
            referenced_tables("CREATE MODEL m OPTIONS (target = 'y') AS SELECT y FROM lake.t WHERE y > 0"),
            ["lake.t"]
        );
        assert!(referenced_tables("SELEC nonsense").is_empty());
    }

    #[test]
    fn other_statements_are_not_ours() {
        for sql in [
            "SELECT 1",
            "CREATE TABLE t AS SELECT 1",
            "SHOW TABLES",
            "DESCRIBE reviews",
            "DROP TABLE model",
            "select model from models",
        ] {
            assert_eq!(parse(sql).unwrap(), None, "{sql}");
        }
    }

    #[test]
    fn create_model_with_options() {
        let sql = "create or replace model IF NOT EXISTS Fraud OPTIONS (type = 'random_forest', \
                   target = 'is_fraudulent', trees = 100, max_features = sqrt, seed = -3, holdout_where = 'x > 2') \
                   AS SELECT amount, is_fraudulent FROM transactions WHERE tx_date < $d;";
        let Some(ModelStatement::Create {
            name,
            or_replace,
            if_not_exists,
            options,
            query,
        }) = parse(sql).unwrap()
        else {
            panic!("not a create")
        };
        assert_eq!(name, "fraud");
        assert!(or_replace && if_not_exists);
        assert_eq!(
            options,
            [
                ("type", "random_forest"),
                ("target", "is_fraudulent"),
                ("trees", "100"),
                ("max_features", "sqrt"),
                ("seed", "-3"),
                ("holdout_where", "x > 2")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            query,
            "SELECT amount, is_fraudulent FROM transactions WHERE tx_date < $d"
        );
    }

    #[test]
    fn show_describe_drop_evaluate() {
        assert_eq!(parse("SHOW MODELS").unwrap(), Some(ModelStatement::Show));
        assert_eq!(
            parse("describe model 'fraud@v2'").unwrap(),
            Some(ModelStatement::Describe {
                name: "fraud@v2".into()
            })
        );
        assert_eq!(
            parse("DESCRIBE MODEL fraud@v2").unwrap(),
            Some(ModelStatement::Describe {
                name: "fraud@v2".into()
            })
        );
        assert_eq!(
            parse("DROP MODEL IF EXISTS fraud").unwrap(),
            Some(ModelStatement::Drop {
                name: "fraud".into(),
                if_exists: true
            })
        );
        assert_eq!(
            parse("EVALUATE MODEL fraud ON (SELECT * FROM t WHERE d >= '2024-01-01')").unwrap(),
            Some(ModelStatement::Evaluate {
                name: "fraud".into(),
                query: "SELECT * FROM t WHERE d >= '2024-01-01'".into()
            })
        );
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = parse("CREATE MODEL m OPTIONS (trees = 10) SELECT 1").unwrap_err();
        assert!(e.to_string().contains("expected AS"), "{e}");
        assert!(e.to_string().contains("Line: 1, Column: 37"), "{e}");
        let e = parse("CREATE MODEL m AS SELEC 1").unwrap_err();
        assert!(e.to_string().contains("SELEC"), "{e}");
        let e = parse("EVALUATE MODEL m ON (SELECT 1) garbage").unwrap_err();
        assert!(e.to_string().contains("garbage"), "{e}");
        let e = parse("CREATE MODEL m OPTIONS (trees = ) AS SELECT 1").unwrap_err();
        assert!(e.to_string().contains("option 'trees'"), "{e}");
        let e = parse("EVALUATE MODEL m ON (SELECT a\n  FROM t").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("found: EOF at the end of the statement, Line: 2, Column: 9"),
            "{e}"
        );
    }

    #[test]
    fn holdout_column_sees_the_from_scope() {
        let q = with_holdout_column(
            "SELECT amount, is_fraudulent FROM t WHERE x > 1",
            "tx_date >= DATE '2024-06-20'",
            "__holdout",
        )
        .unwrap();
        assert_eq!(
            q,
            "SELECT amount, is_fraudulent, tx_date >= DATE '2024-06-20' AS __holdout FROM t WHERE x > 1"
        );
        let q = with_holdout_column("SELECT a FROM t UNION ALL SELECT a FROM u", "a > 1", "h").unwrap();
        assert_eq!(
            q,
            "SELECT *, (a > 1) AS h FROM (SELECT a FROM t UNION ALL SELECT a FROM u) AS training_rows"
        );
        let e = with_holdout_column("SELECT a FROM t", "a >", "h").unwrap_err();
        assert!(e.to_string().contains("holdout_where"), "{e}");
    }

    #[test]
    fn finds_referenced_models() {
        let sql = "SELECT predict('fraud@v2', a), PREDICT_LABEL('other', b), fraud_score(a, b, c, d), \
                   predict(x), explain_predict('why', a), explain_top('top', 3, a), fraud_reasons(3, a) FROM t";
        assert_eq!(
            referenced_models(sql),
            vec![
                Some("fraud@v2".to_string()),
                Some("other".to_string()),
                None,
                Some("why".to_string()),
                Some("top".to_string()),
                None
            ]
        );
    }
}
