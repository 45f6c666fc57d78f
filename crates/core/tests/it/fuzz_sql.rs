//! Random SELECTs over a small demo lake, run in one session: projections, filters, joins, grouping,
//! windows, ordering and limits over typed expressions, with the sentiment and fraud functions. A
//! statement may fail (a type it cannot coerce, a division by zero), but never with a panic.
//!
//! `PROPTEST_CASES=5000 cargo test -p nightshift-core --test it fuzz_sql` is the long run.

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use futures::StreamExt;
use nightshift_core::{Params, Session, Settings};
use nightshift_datasets::GenerateOptions;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use crate::runtime;

/// The demo lake (3 days) and a session over it with a fraud model trained on it.
fn demo_session() -> &'static Session {
    static SESSION: OnceLock<(tempfile::TempDir, Session)> = OnceLock::new();
    let (_, session) = SESSION.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let lake = dir.path().join("lake");
        nightshift_datasets::generate(&GenerateOptions {
            out: lake.clone(),
            reviews: 300,
            transactions: 3000,
            days: 3,
            ..Default::default()
        })
        .expect("demo lake");
        let mut settings = Settings::default();
        settings.lake.root = lake.display().to_string();
        settings.engine.target_partitions = Some(2);
        settings.models.fraud = Some("fraud".into());
        let session = runtime().block_on(async {
            let session = Session::new(settings).await.expect("session");
            // Every generated file reads (the catalog's checks refuse no valid file).
            for table in session.catalog().tables() {
                assert_eq!(table.error, None, "{}", table.name);
            }
            let train = "CREATE MODEL fraud \
                         OPTIONS (type = 'random_forest', target = 'is_fraudulent', trees = 5) \
                         AS SELECT amount, region, merchant_category, is_fraudulent FROM transactions";
            session
                .sql(train, &Params::new())
                .await
                .expect("train")
                .collect()
                .await
                .expect("trained");
            session
        });
        (dir, session)
    });
    session
}

/// Which tables a statement reads: `reviews r`, `transactions t`, or both joined by customer.
#[derive(Debug, Clone, Copy)]
struct Scope {
    reviews: bool,
    transactions: bool,
}

impl Scope {
    fn columns(self, kind: Kind) -> Vec<&'static str> {
        let (r, t): (&[&str], &[&str]) = match kind {
            Kind::Num => (
                &["r.review_id", "r.product_id", "r.customer_id", "r.rating"],
                &[
                    "t.transaction_id",
                    "t.customer_id",
                    "t.terminal_id",
                    "t.amount",
                    "t.latitude",
                    "t.longitude",
                    "t.time_of_day",
                ],
            ),
            Kind::Text => (&["r.review_text"], &["t.region", "t.merchant_category"]),
            Kind::Bool => (&[], &["t.card_present", "t.is_fraudulent"]),
            Kind::Date => (&["r.review_date"], &["t.tx_date"]),
        };
        let mut out = Vec::new();
        if self.reviews {
            out.extend_from_slice(r);
        }
        if self.transactions {
            out.extend_from_slice(t);
        }
        out
    }

    fn from(self) -> BoxedStrategy<String> {
        match (self.reviews, self.transactions) {
            (true, false) => Just("reviews r".to_string()).boxed(),
            (false, true) => Just("transactions t".to_string()).boxed(),
            _ => prop::sample::select(
                &[
                    "reviews r JOIN transactions t ON r.customer_id = t.customer_id",
                    "reviews r LEFT JOIN transactions t \
                     ON r.customer_id = t.customer_id AND r.review_date = t.tx_date",
                    "transactions t RIGHT JOIN reviews r ON r.customer_id = t.customer_id",
                ][..],
            )
            .prop_map(str::to_string)
            .boxed(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Num,
    Text,
    Bool,
    Date,
}

fn pick(options: Vec<String>) -> BoxedStrategy<String> {
    prop::sample::select(options).boxed()
}

fn leaves(scope: Scope, kind: Kind) -> BoxedStrategy<String> {
    let literals: &[&str] = match kind {
        Kind::Num => &["0", "1", "-1", "2.5", "1e10", "9223372036854775807", "NULL"],
        Kind::Text => &["'x'", "''", "'é😀'", "'online'", "NULL"],
        Kind::Bool => &["true", "false", "NULL"],
        Kind::Date => &["DATE '2024-06-02'", "CAST(NULL AS DATE)"],
    };
    let columns: Vec<String> = scope.columns(kind).into_iter().map(str::to_string).collect();
    let literals: Vec<String> = literals.iter().map(|s| s.to_string()).collect();
    if columns.is_empty() {
        return pick(literals);
    }
    prop_oneof![3 => pick(columns), 1 => pick(literals)].boxed()
}

/// An expression of `kind` over `scope`, nested at most `depth` deep.
fn expr(scope: Scope, kind: Kind, depth: u32) -> BoxedStrategy<String> {
    let leaf = leaves(scope, kind);
    if depth == 0 {
        return leaf;
    }
    let num = || expr(scope, Kind::Num, depth - 1);
    let text = || expr(scope, Kind::Text, depth - 1);
    let boolean = || expr(scope, Kind::Bool, depth - 1);
    let date = || expr(scope, Kind::Date, depth - 1);
    let node = match kind {
        Kind::Num => {
            let mut nodes = vec![
                (num(), num(), prop::sample::select(&["+", "-", "*", "/", "%"][..]))
                    .prop_map(|(a, b, op)| format!("({a} {op} {b})"))
                    .boxed(),
                (
                    num(),
                    prop::sample::select(&["abs", "round", "sqrt", "ln", "ceil", "signum"][..]),
                )
                    .prop_map(|(a, f)| format!("{f}({a})"))
                    .boxed(),
                num().prop_map(|a| format!("CAST({a} AS BIGINT)")).boxed(),
                text().prop_map(|s| format!("length({s})")).boxed(),
                (num(), num())
                    .prop_map(|(a, b)| format!("coalesce({a}, {b})"))
                    .boxed(),
                (boolean(), num(), num())
                    .prop_map(|(c, a, b)| format!("CASE WHEN {c} THEN {a} ELSE {b} END"))
                    .boxed(),
                date().prop_map(|d| format!("extract(day FROM {d})")).boxed(),
            ];
            if scope.reviews {
                nodes.push(Just("sentiment_score(r.review_text)".to_string()).boxed());
                nodes.push(text().prop_map(|s| format!("sentiment_score({s})")).boxed());
            }
            if scope.transactions {
                nodes.push(Just("fraud_score(t.amount, t.region, t.merchant_category)".to_string()).boxed());
                nodes.push(
                    (num(), text())
                        .prop_map(|(a, s)| format!("predict('fraud', {a}, {s}, t.merchant_category)"))
                        .boxed(),
                );
            }
            prop::strategy::Union::new(nodes).boxed()
        }
        Kind::Text => {
            let mut nodes = vec![
                (
                    text(),
                    prop::sample::select(&["upper", "lower", "trim", "reverse", "md5"][..]),
                )
                    .prop_map(|(s, f)| format!("{f}({s})"))
                    .boxed(),
                (text(), text())
                    .prop_map(|(a, b)| format!("({a} || {b})"))
                    .boxed(),
                (text(), num(), num())
                    .prop_map(|(s, a, b)| format!("substr({s}, CAST({a} AS BIGINT), CAST({b} AS BIGINT))"))
                    .boxed(),
                num().prop_map(|a| format!("CAST({a} AS VARCHAR)")).boxed(),
                (text(), text())
                    .prop_map(|(s, a)| format!("replace({s}, {a}, 'z')"))
                    .boxed(),
            ];
            if scope.reviews {
                nodes.push(text().prop_map(|s| format!("sentiment_label({s})")).boxed());
            }
            prop::strategy::Union::new(nodes).boxed()
        }
        Kind::Bool => {
            let mut nodes = vec![
                (
                    num(),
                    num(),
                    prop::sample::select(&["<", "<=", "=", "<>", ">"][..]),
                )
                    .prop_map(|(a, b, op)| format!("({a} {op} {b})"))
                    .boxed(),
                (text(), text()).prop_map(|(a, b)| format!("({a} = {b})")).boxed(),
                text().prop_map(|s| format!("({s} LIKE '%a%')")).boxed(),
                boolean().prop_map(|b| format!("(NOT {b})")).boxed(),
                (boolean(), boolean(), prop::sample::select(&["AND", "OR"][..]))
                    .prop_map(|(a, b, op)| format!("({a} {op} {b})"))
                    .boxed(),
                num().prop_map(|a| format!("({a} IS NULL)")).boxed(),
                num().prop_map(|a| format!("({a} BETWEEN 1 AND 5)")).boxed(),
                num().prop_map(|a| format!("({a} IN (1, 2, 3))")).boxed(),
                (date(), date()).prop_map(|(a, b)| format!("({a} < {b})")).boxed(),
            ];
            if scope.transactions {
                nodes.push(
                    Just("predict_label('fraud', t.amount, t.region, t.merchant_category)".to_string())
                        .boxed(),
                );
            }
            prop::strategy::Union::new(nodes).boxed()
        }
        Kind::Date => prop_oneof![
            date().prop_map(|d| format!("({d} + INTERVAL '1 day')")),
            date().prop_map(|d| format!("CAST(date_trunc('month', {d}) AS DATE)")),
        ]
        .boxed(),
    };
    prop_oneof![2 => leaf, 1 => node].boxed()
}

fn any_expr(scope: Scope) -> BoxedStrategy<String> {
    prop_oneof![
        3 => expr(scope, Kind::Num, 2),
        2 => expr(scope, Kind::Text, 2),
        1 => expr(scope, Kind::Bool, 2),
        1 => expr(scope, Kind::Date, 1),
    ]
    .boxed()
}

fn aggregate(scope: Scope) -> BoxedStrategy<String> {
    prop_oneof![
        Just("count(*)".to_string()),
        (
            expr(scope, Kind::Num, 1),
            prop::sample::select(&["sum", "avg", "min", "max", "stddev", "median"][..])
        )
            .prop_map(|(a, f)| format!("{f}({a})")),
        any_expr(scope).prop_map(|a| format!("count(DISTINCT {a})")),
        expr(scope, Kind::Text, 1).prop_map(|s| format!("max({s})")),
    ]
    .boxed()
}

fn tail() -> impl Strategy<Value = String> {
    (
        prop::option::of(prop::sample::select(
            &["1", "1 DESC", "2", "1, 2 DESC NULLS FIRST"][..],
        )),
        prop::option::of(prop_oneof![Just(0u32), 1u32..50]),
    )
        .prop_map(|(order, limit)| {
            let mut s = String::new();
            if let Some(o) = order {
                // Ordinals past the select list are an error, which is fine.
                s.push_str(&format!(" ORDER BY {o}"));
            }
            if let Some(n) = limit {
                s.push_str(&format!(" LIMIT {n}"));
            }
            s
        })
}

/// A SELECT over `scope`: plain, grouped, windowed or an aggregate over a subquery.
fn query(scope: Scope) -> BoxedStrategy<String> {
    let filter = prop::option::of(expr(scope, Kind::Bool, 2))
        .prop_map(|w| w.map(|w| format!(" WHERE {w}")).unwrap_or_default());
    let items = prop::collection::vec(any_expr(scope), 1..4);
    let plain = (any::<bool>(), items.clone(), scope.from(), filter.clone(), tail()).prop_map(
        |(distinct, items, from, filter, tail)| {
            let list: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{e} AS c{i}"))
                .collect();
            let distinct = if distinct { "DISTINCT " } else { "" };
            format!("SELECT {distinct}{} FROM {from}{filter}{tail}", list.join(", "))
        },
    );
    let grouped = (
        prop::collection::vec(any_expr(scope), 1..3),
        prop::collection::vec(aggregate(scope), 1..3),
        scope.from(),
        filter.clone(),
        prop::option::of(0u32..20),
        tail(),
    )
        .prop_map(|(keys, aggs, from, filter, having, tail)| {
            let mut list: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{e} AS g{i}"))
                .collect();
            list.extend(aggs.iter().enumerate().map(|(i, a)| format!("{a} AS a{i}")));
            let by: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            let having = having
                .map(|n| format!(" HAVING count(*) > {n}"))
                .unwrap_or_default();
            format!(
                "SELECT {} FROM {from}{filter} GROUP BY {}{having}{tail}",
                list.join(", "),
                by.join(", ")
            )
        });
    let windowed = (
        any_expr(scope),
        any_expr(scope),
        expr(scope, Kind::Num, 1),
        scope.from(),
        tail(),
    )
        .prop_map(|(e, key, order, from, tail)| {
            format!(
                "SELECT {e} AS c0, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS rn, \
                 sum({order}) OVER (ORDER BY {order} ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s \
                 FROM {from}{tail}"
            )
        });
    let nested = (items, scope.from(), filter).prop_map(|(items, from, filter)| {
        let list: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS c{i}"))
            .collect();
        format!(
            "WITH q AS (SELECT {} FROM {from}{filter}) SELECT count(*), count(DISTINCT c0), max(c0) FROM q",
            list.join(", ")
        )
    });
    prop_oneof![3 => plain, 3 => grouped, 1 => windowed, 1 => nested].boxed()
}

fn random_query() -> BoxedStrategy<String> {
    let r = Scope {
        reviews: true,
        transactions: false,
    };
    let t = Scope {
        reviews: false,
        transactions: true,
    };
    let both = Scope {
        reviews: true,
        transactions: true,
    };
    prop_oneof![2 => query(r), 2 => query(t), 1 => query(both)].boxed()
}

proptest! {
    #![proptest_config(crate::fuzz_config())]

    #[test]
    fn random_sql_over_the_demo_lake_never_panics(sql in random_query()) {
        let session = demo_session();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime().block_on(async {
                let df = session.sql(&sql, &Params::new()).await.map_err(|e| e.to_string())?;
                let mut stream = session.execute_stream(df).await.map_err(|e| e.to_string())?;
                while let Some(batch) = stream.next().await {
                    batch.map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            })
        }));
        match outcome {
            Ok(Err(e)) => prop_assert!(!e.contains("panicked"), "{sql}\na panic became this error: {e}"),
            Ok(Ok(())) => {}
            Err(_) => prop_assert!(false, "{sql}\npanicked"),
        }
    }
}
