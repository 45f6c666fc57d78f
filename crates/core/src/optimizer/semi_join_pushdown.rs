//! Push a semi or anti join below the inner joins above the one input that owns its keys.
//!
//! `o_orderkey IN (SELECT … HAVING …)` over `customer, orders, lineitem` is decorrelated by DataFusion
//! into a semi join *above* the three-way join: every row of `orders ⋈ lineitem` is built and probed
//! before the few qualifying orders are kept. The semi join's condition reads only `orders`' columns,
//! so it is a filter on `orders` and commutes with the inner joins:
//! `(customer ⋈ orders ⋈ lineitem) ⋉ S = customer ⋈ (orders ⋉ S) ⋈ lineitem`. The same holds for an
//! anti join (`NOT EXISTS`, `NOT IN`: a per-row condition on the owning input too).
//!
//! Guard: the semi join moves below an inner join only when the join's other input reduces nothing
//! (no filter, limit or filtering join below it). Such a join keeps or multiplies the owning input's
//! rows, so the semi join probes fewer rows below it. Below a join with a filtered input (TPC-H q21's
//! `EXISTS` above `… ⋈ nation WHERE n_name = …`), the join output can be far smaller than the input,
//! and the semi join stays where it is.
//!
//! Serves TPC-H q18 (the semi join lands on `orders`).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::{join_with_inputs, may_reduce_rows};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PushSemiJoinBelowInnerJoin;

impl OptimizerRule for PushSemiJoinBelowInnerJoin {
    fn name(&self) -> &str {
        "nightshift_push_semi_join_below_inner_join"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !super::options(config).semi_join_pushdown {
            return Ok(Transformed::no(plan));
        }
        let LogicalPlan::Join(semi) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !matches!(semi.join_type, JoinType::LeftSemi | JoinType::LeftAnti) {
            return Ok(Transformed::no(plan));
        }
        // The preserved input's columns the condition reads.
        let left = semi.left.schema();
        let mut needed = HashSet::new();
        for (l, _) in &semi.on {
            needed.extend(l.column_refs().into_iter().cloned());
        }
        if let Some(filter) = &semi.filter {
            needed.extend(
                filter
                    .column_refs()
                    .into_iter()
                    .filter(|c| left.has_column(c))
                    .cloned(),
            );
        }
        if needed.is_empty() {
            return Ok(Transformed::no(plan));
        }
        match push(&semi.left, &needed, semi)? {
            Some(pushed) => Ok(Transformed::yes(pushed)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// `input ⋉ semi.right` with the semi join moved below at least one inner join of `input`, or `None`
/// when it cannot move.
fn push(input: &LogicalPlan, needed: &HashSet<Column>, semi: &Join) -> Result<Option<LogicalPlan>> {
    match input {
        // Through projections that pass the needed columns on unchanged.
        LogicalPlan::Projection(p) => {
            let passes = needed
                .iter()
                .all(|c| p.expr.iter().any(|e| matches!(e, Expr::Column(x) if x == c)));
            if !passes {
                return Ok(None);
            }
            let Some(below) = push(&p.input, needed, semi)? else {
                return Ok(None);
            };
            Ok(Some(LogicalPlan::Projection(Projection::try_new_with_schema(
                p.expr.clone(),
                Arc::new(below),
                Arc::clone(&p.schema),
            )?)))
        }
        LogicalPlan::Join(join) if join.join_type == JoinType::Inner => {
            let owns = |side: &LogicalPlan| needed.iter().all(|c| side.schema().has_column(c));
            let (left, right) = if owns(&join.left) && !may_reduce_rows(&join.right) {
                (
                    Arc::new(semi_over(&join.left, needed, semi)?),
                    Arc::clone(&join.right),
                )
            } else if owns(&join.right) && !may_reduce_rows(&join.left) {
                (
                    Arc::clone(&join.left),
                    Arc::new(semi_over(&join.right, needed, semi)?),
                )
            } else {
                return Ok(None);
            };
            Ok(Some(join_with_inputs(join, left, right)?))
        }
        _ => Ok(None),
    }
}

/// The semi join over `input`, pushed further down when it can go.
fn semi_over(input: &Arc<LogicalPlan>, needed: &HashSet<Column>, semi: &Join) -> Result<LogicalPlan> {
    if let Some(deeper) = push(input, needed, semi)? {
        return Ok(deeper);
    }
    join_with_inputs(semi, Arc::clone(input), Arc::clone(&semi.right))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{before_after, same_answer, subtree};

    const Q18: &str = "select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity)
        from customer, orders, lineitem
        where o_orderkey in (select l_orderkey from lineitem group by l_orderkey having sum(l_quantity) > 300)
          and c_custkey = o_custkey and o_orderkey = l_orderkey
        group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
        order by o_totalprice desc, o_orderdate limit 100";

    #[tokio::test]
    async fn q18_semi_join_moves_onto_orders() {
        let (before, after) = before_after(Q18).await;
        // Before: the semi join is above the join with lineitem.
        let semi = subtree(&before, "LeftSemi Join");
        assert!(
            semi.iter()
                .any(|l| l.contains("Inner Join: orders.o_orderkey = lineitem.l_orderkey")),
            "{before}"
        );
        // After: it filters orders alone, below both inner joins.
        let semi = subtree(&after, "LeftSemi Join");
        assert!(!semi.iter().any(|l| l.contains("Inner Join")), "{after}");
        assert!(semi.iter().any(|l| l.contains("TableScan: orders")), "{after}");
        assert!(!semi.iter().any(|l| l.contains("TableScan: customer")), "{after}");
    }

    #[tokio::test]
    async fn set_turns_the_rule_off_for_the_session() {
        let (before, _) = before_after(Q18).await;
        let ctx = super::super::test_util::context(true);
        ctx.sql("SET nightshift_optimizer.semi_join_pushdown = false")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(super::super::test_util::logical_plan(&ctx, Q18).await, before);
        let err = ctx
            .sql("SET nightshift_optimizer.no_such_rule = false")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no_such_rule"), "{err}");
    }

    #[tokio::test]
    async fn stays_above_a_join_with_a_filtered_input() {
        // q21's shape: the semi join reads lineitem's columns, but the join with a filtered nation may
        // drop most rows first.
        let sql = "select s_name from supplier, lineitem l1, nation
            where s_suppkey = l1.l_suppkey and s_nationkey = n_nationkey and n_name = 'SAUDI ARABIA'
              and exists (select * from lineitem l2 where l2.l_orderkey = l1.l_orderkey
                          and l2.l_suppkey <> l1.l_suppkey)";
        let (before, after) = before_after(sql).await;
        assert_eq!(before, after);
    }

    #[tokio::test]
    async fn anti_joins_move_and_answers_stay_the_same() {
        let setup = [
            "insert into customer values (1, 'a', 1), (2, 'b', 1), (3, 'c', 2), (4, null, null)",
            "insert into orders values (10, 1, 5.00, '2024-01-01', 'F'), (11, 1, 6.00, '2024-01-02', 'O'),
                (12, 2, 7.00, '2024-01-03', 'F'), (13, 3, 8.00, '2024-01-04', 'F'),
                (14, null, 9.00, null, null), (15, 4, 1.00, '2024-01-05', 'O')",
            "insert into lineitem values (10, 1, 1, 1.00, 1.00, null), (10, 2, 1, 2.00, 1.00, null),
                (11, 1, 2, 3.00, 1.00, null), (12, 1, 1, 4.00, 1.00, null), (13, 5, 5, 5.00, 1.00, null),
                (null, 1, 1, 6.00, 1.00, null)",
        ];
        for sql in [
            Q18.replace("> 300", "> 2"),
            "select c_name, o_orderkey, l_quantity from customer, orders, lineitem
             where c_custkey = o_custkey and o_orderkey = l_orderkey
               and not exists (select 1 from lineitem l2 where l2.l_orderkey = o_orderkey and l2.l_partkey = 2)"
                .into(),
            "select c_name, o_orderkey, l_quantity from customer, orders, lineitem
             where c_custkey = o_custkey and o_orderkey = l_orderkey
               and o_orderkey not in (select l_orderkey from lineitem where l_partkey = 5)"
                .into(),
            "select c_name, o_orderkey, l_quantity from customer, orders, lineitem
             where c_custkey = o_custkey and o_orderkey = l_orderkey
               and o_orderkey not in (select l_orderkey from lineitem where l_partkey = 1)"
                .into(),
            "select c_name, o_orderkey from customer, orders
             where c_custkey = o_custkey
               and exists (select 1 from lineitem where l_orderkey = o_orderkey and l_quantity > o_totalprice / 3)"
                .into(),
        ] {
            let (before, after) = same_answer(&setup, &sql).await;
            assert_eq!(before, after, "{sql}");
        }
        let (before, after) = before_after(
            "select c_name, o_orderkey, l_quantity from customer, orders, lineitem
             where c_custkey = o_custkey and o_orderkey = l_orderkey
               and not exists (select 1 from lineitem l2 where l2.l_orderkey = o_orderkey and l2.l_partkey = 2)",
        )
        .await;
        assert_ne!(before, after, "the anti join moves:\n{after}");
        let anti = subtree(&after, "LeftAnti Join");
        assert!(!anti.iter().any(|l| l.contains("Inner Join")), "{after}");
    }
}
