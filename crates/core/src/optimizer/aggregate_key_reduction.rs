//! Aggregate only the groups a join can use: restrict a grouped aggregate's input to the join keys that a
//! filtered table on the other side of the join can produce.
//!
//! TPC-H q17 compares each line with `0.2 * avg(l_quantity)` of its part. DataFusion decorrelates the
//! subquery into `avg(l_quantity) GROUP BY l_partkey` over the whole of lineitem (two million groups at
//! scale 10), then joins it with the few thousand parts of one brand and container. Each group depends
//! only on the rows with its key, so the aggregate may read only the rows whose key the other side
//! can hold: `Aggregate(lineitem) ⋈ P = Aggregate(lineitem ⋉ keys(P')) ⋈ P`, where `P'` is any input
//! whose keys include every key of `P`. The rule follows the join key down `P` (projections, aliases,
//! filters, and the equalities of inner and semi joins) to a filtered scan of one table, which is cheap
//! to read a second time, and semi-joins the aggregate's input with that scan's keys.
//!
//! Valid where the aggregate's groups without a partner are dropped: the aggregate is an inner join's
//! input, the filtering side of a semi or anti join (not the null-aware anti join of `NOT IN`, whose
//! answer depends on NULL keys anywhere in the subquery), or the optional side of an outer join.
//!
//! Serves TPC-H q17 (`avg` by part for one brand and container), q20 (`sum` by part and supplier for
//! the parts named `forest%`) and q2 (`min` cost by part for one size and type).

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, Join, JoinType, LogicalPlan, Projection, SubqueryAlias,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::{join_with_inputs, reads_keys_aliased, semi_join_with_keys, single_table};

/// The alias of the key inputs this rule adds (how it recognises its own work in a later pass).
const KEYS_ALIAS: &str = "__nightshift_join_keys";

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ReduceAggregateToJoinKeys;

impl OptimizerRule for ReduceAggregateToJoinKeys {
    fn name(&self) -> &str {
        "nightshift_reduce_aggregate_to_join_keys"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !super::options(config).aggregate_key_reduction {
            return Ok(Transformed::no(plan));
        }
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        use JoinType::*;
        let right_may_shrink = match join.join_type {
            Inner | Left | LeftSemi => true,
            LeftAnti => !join.null_aware,
            _ => false,
        };
        let left_may_shrink = matches!(join.join_type, Inner | Right | RightSemi | RightAnti);
        for (l, r) in &join.on {
            let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                continue;
            };
            if right_may_shrink && let Some(new_right) = reduce(&join.right, rc, &join.left, lc, config)? {
                return rebuild(join, Arc::clone(&join.left), Arc::new(new_right));
            }
            if left_may_shrink && let Some(new_left) = reduce(&join.left, lc, &join.right, rc, config)? {
                return rebuild(join, Arc::new(new_left), Arc::clone(&join.right));
            }
        }
        Ok(Transformed::no(plan))
    }
}

fn rebuild(join: &Join, left: Arc<LogicalPlan>, right: Arc<LogicalPlan>) -> Result<Transformed<LogicalPlan>> {
    Ok(Transformed::yes(join_with_inputs(join, left, right)?))
}

/// `side` with the aggregate that groups by `key` (reached through projections, aliases and filters)
/// reading only the rows whose key a filtered scan below `other` (found from `other_key`) holds.
fn reduce(
    side: &LogicalPlan,
    key: &Column,
    other: &LogicalPlan,
    other_key: &Column,
    config: &dyn OptimizerConfig,
) -> Result<Option<LogicalPlan>> {
    match side {
        LogicalPlan::Projection(p) => {
            let Some(i) = p.schema.maybe_index_of_column(key) else {
                return Ok(None);
            };
            let Some(inner) = plain_column(&p.expr[i]) else {
                return Ok(None);
            };
            let Some(below) = reduce(&p.input, &inner, other, other_key, config)? else {
                return Ok(None);
            };
            Ok(Some(LogicalPlan::Projection(Projection::try_new_with_schema(
                p.expr.clone(),
                Arc::new(below),
                Arc::clone(&p.schema),
            )?)))
        }
        LogicalPlan::SubqueryAlias(s) => {
            let Some(i) = s.schema.maybe_index_of_column(key) else {
                return Ok(None);
            };
            let inner = Column::from(s.input.schema().qualified_field(i));
            let Some(below) = reduce(&s.input, &inner, other, other_key, config)? else {
                return Ok(None);
            };
            Ok(Some(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                Arc::new(below),
                s.alias.clone(),
            )?)))
        }
        LogicalPlan::Filter(f) => {
            let Some(below) = reduce(&f.input, key, other, other_key, config)? else {
                return Ok(None);
            };
            Ok(Some(LogicalPlan::Filter(Filter::try_new(
                f.predicate.clone(),
                Arc::new(below),
            )?)))
        }
        LogicalPlan::Aggregate(a) => {
            let Some(i) = a.schema.maybe_index_of_column(key) else {
                return Ok(None);
            };
            // Plain GROUP BY only (no grouping sets), and the key must be one of its columns.
            if i >= a.group_expr.len() || a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
                return Ok(None);
            }
            let Some(grouped) = plain_column(&a.group_expr[i]) else {
                return Ok(None);
            };
            if already_reduced(&a.input) {
                return Ok(None);
            }
            let Some((source, source_key)) = key_source(other, other_key) else {
                return Ok(None);
            };
            let alias = config.alias_generator().next(KEYS_ALIAS);
            let reduced = semi_join_with_keys(Arc::clone(&a.input), grouped, source, &source_key, &alias)?;
            Ok(Some(LogicalPlan::Aggregate(Aggregate::try_new_with_schema(
                Arc::new(reduced),
                a.group_expr.clone(),
                a.aggr_expr.clone(),
                Arc::clone(&a.schema),
            )?)))
        }
        _ => Ok(None),
    }
}

/// The column `e` reads unchanged (through an alias), if it is one.
fn plain_column(e: &Expr) -> Option<Column> {
    match e {
        Expr::Column(c) => Some(c.clone()),
        Expr::Alias(a) => plain_column(&a.expr),
        _ => None,
    }
}

/// Whether `input` already reads only the keys of an input this rule added (in an earlier pass).
fn already_reduced(input: &LogicalPlan) -> bool {
    match input {
        LogicalPlan::Projection(p) => already_reduced(&p.input),
        LogicalPlan::Filter(f) => already_reduced(&f.input),
        LogicalPlan::Join(j) if j.join_type == JoinType::LeftSemi => {
            reads_keys_aliased(input, KEYS_ALIAS) || already_reduced(&j.left)
        }
        _ => false,
    }
}

/// A filtered scan of one table below `plan` whose `key` values include every value of `key` in
/// `plan`'s rows, found through projections, aliases, filters and the key equalities of inner and
/// semi joins; with the key's name there.
fn key_source(plan: &LogicalPlan, key: &Column) -> Option<(LogicalPlan, Column)> {
    if single_table(plan).is_some() {
        return selective(plan).then(|| (plan.clone(), key.clone()));
    }
    match plan {
        LogicalPlan::Projection(p) => {
            let i = p.schema.maybe_index_of_column(key)?;
            key_source(&p.input, &plain_column(&p.expr[i])?)
        }
        LogicalPlan::SubqueryAlias(s) => {
            let i = s.schema.maybe_index_of_column(key)?;
            key_source(&s.input, &Column::from(s.input.schema().qualified_field(i)))
        }
        LogicalPlan::Filter(f) => key_source(&f.input, key),
        LogicalPlan::Join(j) => {
            // Which inputs bound the key: the one it comes from if that input's rows are all kept
            // or filtered (inner, semi), and the partner of each key equality it takes part in.
            let mut candidates: Vec<(&LogicalPlan, Column)> = Vec::new();
            let on_left = j.left.schema().has_column(key);
            let keeps_own = match j.join_type {
                JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi => true,
                JoinType::Left | JoinType::LeftAnti => on_left,
                JoinType::Right | JoinType::RightAnti => !on_left,
                _ => false,
            };
            if !keeps_own {
                return None;
            }
            candidates.push((if on_left { &j.left } else { &j.right }, key.clone()));
            if matches!(
                j.join_type,
                JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi
            ) {
                for (l, r) in &j.on {
                    match (l, r) {
                        (Expr::Column(lc), Expr::Column(rc)) if on_left && lc == key => {
                            candidates.push((&j.right, rc.clone()))
                        }
                        (Expr::Column(lc), Expr::Column(rc)) if !on_left && rc == key => {
                            candidates.push((&j.left, lc.clone()))
                        }
                        _ => {}
                    }
                }
            }
            candidates.into_iter().find_map(|(p, c)| key_source(p, &c))
        }
        _ => None,
    }
}

/// Whether a single-table `plan` filters its rows.
fn selective(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => !scan.filters.is_empty(),
        LogicalPlan::Projection(p) => selective(&p.input),
        LogicalPlan::SubqueryAlias(s) => selective(&s.input),
        LogicalPlan::Filter(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{before_after, same_answer};

    const Q17: &str = "select sum(l_extendedprice) / 7.0 as avg_yearly from lineitem, part
        where p_partkey = l_partkey and p_brand = 'Brand#23' and p_container = 'MED BOX'
          and l_quantity < (select 0.2 * avg(l_quantity) from lineitem where l_partkey = p_partkey)";

    const Q20: &str = "select s_name from supplier, nation
            where s_suppkey in (
                select ps_suppkey from partsupp
                where ps_partkey in (select p_partkey from part where p_name like 'forest%')
                  and ps_availqty > (select 0.5 * sum(l_quantity) from lineitem
                      where l_partkey = ps_partkey and l_suppkey = ps_suppkey
                        and l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'))
              and s_nationkey = n_nationkey and n_name = 'CANADA'";

    #[tokio::test]
    async fn q17_aggregates_only_the_chosen_parts() {
        let (before, after) = before_after(Q17).await;
        assert!(!before.contains(super::KEYS_ALIAS), "{before}");
        // The aggregate's input is semi-joined with the filtered part scan's keys.
        let lines: Vec<&str> = after.lines().collect();
        let agg = lines
            .iter()
            .position(|l| l.contains("Aggregate: groupBy=[[lineitem.l_partkey]]"))
            .unwrap_or_else(|| panic!("{after}"));
        assert!(
            lines[agg + 1].contains("LeftSemi Join: lineitem.l_partkey = __nightshift_join_keys"),
            "{after}"
        );
        let keys = &lines[agg + 2..];
        assert!(
            keys.iter()
                .any(|l| l.contains("SubqueryAlias: __nightshift_join_keys")),
            "{after}"
        );
        assert!(keys.iter().any(|l| l.contains("p_brand")), "{after}");
        // Planned again (the optimizer's later passes), the rule does not stack a second reduction.
        assert_eq!(
            after.matches("SubqueryAlias: __nightshift_join_keys").count(),
            1,
            "{after}"
        );
    }

    #[tokio::test]
    async fn q20_reaches_the_part_filter_through_a_semi_join() {
        let (before, after) = before_after(Q20).await;
        assert!(!before.contains(super::KEYS_ALIAS), "{before}");
        assert_eq!(
            after.matches("SubqueryAlias: __nightshift_join_keys").count(),
            1,
            "{after}"
        );
        assert!(after.contains("p_name LIKE"), "{after}");
    }

    #[tokio::test]
    async fn unfiltered_or_unsafe_joins_are_left_alone() {
        // No filtered table bounds the keys: nothing to gain.
        let (before, after) = before_after(
            "select o_orderkey from orders join (select l_orderkey, sum(l_quantity) q from lineitem
             group by l_orderkey) s on o_orderkey = s.l_orderkey",
        )
        .await;
        assert_eq!(before, after);
        // The aggregate is the preserved side of an outer join: its groups without a partner stay.
        let (_, after) = before_after(
            "select s.l_orderkey, o_orderkey from orders right join (select l_orderkey, sum(l_quantity) q
             from lineitem group by l_orderkey) s on o_orderkey = s.l_orderkey where o_orderstatus = 'F'
             or o_orderstatus is null",
        )
        .await;
        assert!(!after.contains(super::KEYS_ALIAS), "{after}");
        // NOT IN: a NULL key anywhere in the subquery empties the answer, so nothing may be dropped.
        let (before, after) = before_after(
            "select p_partkey from part where p_brand = 'x' and p_partkey not in
             (select l_partkey from lineitem group by l_partkey having sum(l_quantity) > 1)",
        )
        .await;
        assert_eq!(before, after);
    }

    #[tokio::test]
    async fn answers_stay_the_same() {
        let setup = [
            "insert into part values (1, 'Brand#23', 'MED BOX', 'forest green'), (2, 'Brand#23', 'MED BOX', 'x'),
                (3, 'Brand#1', 'MED BOX', 'forest'), (null, 'Brand#23', 'MED BOX', 'forest')",
            "insert into lineitem values (1, 1, 1, 1.00, 10.00, '1994-02-01'), (1, 1, 2, 9.00, 20.00, '1994-02-01'),
                (2, 2, 1, 2.00, 30.00, '1994-03-01'), (2, 2, 1, 20.00, 40.00, '1996-01-01'),
                (3, 3, 1, 1.00, 50.00, '1994-02-01'), (4, null, 1, 1.00, 60.00, '1994-02-01'),
                (5, 1, 1, 1.00, 70.00, '1994-02-01')",
            "insert into partsupp values (1, 1, 100), (1, 2, 1), (2, 1, 5), (3, 1, 100), (null, 1, 1)",
            "insert into supplier values (1, 's1', 1), (2, 's2', 1)",
            "insert into nation values (1, 'CANADA', 0)",
        ];
        for sql in [
            Q17.to_string(),
            Q20.into(),
            "select p_partkey, s.q from part left join (select l_partkey, sum(l_quantity) q from lineitem
             group by l_partkey) s on p_partkey = s.l_partkey where p_brand = 'Brand#23'"
                .into(),
            "select p_partkey from part where p_brand = 'Brand#23' and not exists
             (select 1 from (select l_partkey, sum(l_quantity) q from lineitem group by l_partkey) s
              where s.l_partkey = p_partkey and s.q > 5)"
                .into(),
        ] {
            let (before, after) = same_answer(&setup, &sql).await;
            assert_eq!(before, after, "{sql}");
        }
    }
}
