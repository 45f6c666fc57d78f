//! Aggregate the fact tables before joining the tables that only label the groups (eager
//! aggregation).
//!
//! TPC-H q10 sums lineitem's revenue per customer, grouped by the customer's key, name, address,
//! phone, balance, comment and nation name. Written as it is, lineitem ⋈ orders (1.15 M rows at
//! scale 10) first meets customer, so every one of those rows carries the customer's text columns
//! through a hash table of 350 MB, and the aggregate then groups 1.15 M rows by seven columns. Summed
//! per `o_custkey` first, 381 k partial sums meet customer and nation, and the last aggregate groups
//! those.
//!
//! For an aggregate over a tree of inner equi-joins, the tables are split in two: the *fact* side,
//! the tables the aggregate's arguments read and those joined to them that give no grouping column,
//! and the *labels*, the rest. Then
//! `Agg_G(F ⋈_{f = l} L) = Agg'_G(Agg_{f, G∩F}(F) ⋈_{f = l} L)`, where `Agg'` sums partial sums and
//! counts and takes the min of minimums and the max of maximums. That holds for any `L`, duplicates
//! and NULL keys included (a partial group meets each label row its rows would have met).
//!
//! It pays when the partial aggregate has far fewer rows than its input and the labels filter
//! nothing, so the rule applies only where:
//! - every aggregate is a `sum`, `count`, `min` or `max` without `DISTINCT`, `FILTER` or `ORDER BY`,
//!   and the aggregate groups by plain columns;
//! - the label tables have no filter of their own (joining them drops no fact rows, so nothing is
//!   aggregated in vain), and every condition between the two sides is an equality of columns;
//! - the label table each such equality reaches is known to hold at most a sixteenth of the rows of
//!   the fact side's largest table (so a partial group holds 16 fact rows or more on average, before
//!   filters; lineitem by order key, 4 rows an order, is left alone).
//!
//! Switch: `nightshift_optimizer.eager_aggregation`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::join_order::{
    LakeRowCounts, Part, Pending, Region, RowCounts, connected, filtered_by, is_region_join,
    is_region_projection, join,
};
use super::{may_reduce_rows, single_table};

/// The names of the partial aggregates this rule adds (how it recognises its own work).
const PARTIAL: &str = "__nightshift_partial_";

/// See the module documentation.
pub struct AggregateBeforeLabels {
    rows: Arc<dyn RowCounts>,
}

impl AggregateBeforeLabels {
    /// The rule, with table sizes from `rows`.
    pub fn new(rows: Arc<dyn RowCounts>) -> Self {
        Self { rows }
    }
}

impl Default for AggregateBeforeLabels {
    fn default() -> Self {
        Self::new(Arc::new(LakeRowCounts))
    }
}

impl fmt::Debug for AggregateBeforeLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AggregateBeforeLabels")
    }
}

/// How a partial aggregate's results combine.
#[derive(Clone, Copy)]
enum Combine {
    Sum,
    Min,
    Max,
}

impl OptimizerRule for AggregateBeforeLabels {
    fn name(&self) -> &str {
        "nightshift_aggregate_before_labels"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !super::options(config).eager_aggregation {
            return Ok(Transformed::no(plan));
        }
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        match self.eager(agg)? {
            Some(new) => Ok(Transformed::yes(new)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

impl AggregateBeforeLabels {
    /// `agg` with its fact side aggregated first, or `None` where the rule does not apply.
    fn eager(&self, agg: &Aggregate) -> Result<Option<LogicalPlan>> {
        let input = agg.input.as_ref();
        if agg.group_expr.is_empty()
            || !agg.group_expr.iter().all(|e| matches!(e, Expr::Column(_)))
            || !(is_region_join(input) || is_region_projection(input))
        {
            return Ok(None);
        }
        // Each aggregate: its function call and how its partial results combine.
        let mut calls = Vec::new();
        for e in &agg.aggr_expr {
            let call = match e {
                Expr::Alias(a) => a.expr.as_ref(),
                other => other,
            };
            let Expr::AggregateFunction(f) = call else {
                return Ok(None);
            };
            let p = &f.params;
            if p.distinct || p.filter.is_some() || !p.order_by.is_empty() || p.null_treatment.is_some() {
                return Ok(None);
            }
            let combine = match f.func.name() {
                "sum" | "count" => Combine::Sum,
                "min" => Combine::Min,
                "max" => Combine::Max,
                _ => return Ok(None),
            };
            if call.column_refs().iter().any(|c| c.name.starts_with(PARTIAL)) {
                return Ok(None);
            }
            calls.push((call.clone(), combine));
        }
        let mut region = Region::default();
        region.flatten(input);
        let n = region.leaves.len();
        let mut group_leaves = HashSet::new();
        for g in &agg.group_expr {
            let Expr::Column(c) = g else { return Ok(None) };
            let Some(l) = region.leaf_of(c) else {
                return Ok(None);
            };
            group_leaves.insert(l);
        }
        let mut fact: HashSet<usize> = HashSet::new();
        for (call, _) in &calls {
            let Some(ls) = region.leaves_of(call) else {
                return Ok(None);
            };
            fact.extend(ls);
        }
        if fact.is_empty() {
            return Ok(None);
        }
        let pairs = region.column_pairs();
        // The fact side: the aggregated tables and what joins them without giving a grouping column.
        let mut open: VecDeque<usize> = fact.iter().copied().collect();
        while let Some(x) = open.pop_front() {
            for &(a, b) in &pairs {
                let other = if a == x {
                    b
                } else if b == x {
                    a
                } else {
                    continue;
                };
                if !fact.contains(&other) && !group_leaves.contains(&other) {
                    fact.insert(other);
                    open.push_back(other);
                }
            }
        }
        let labels: Vec<usize> = (0..n).filter(|i| !fact.contains(i)).collect();
        let facts: Vec<usize> = (0..n).filter(|i| fact.contains(i)).collect();
        if labels.is_empty() || labels.iter().any(|&l| may_reduce_rows(&region.leaves[l])) {
            return Ok(None);
        }
        if !is_connected(&facts, &pairs) || !is_connected(&labels, &pairs) {
            return Ok(None);
        }
        // Conditions: within one side, or an equality of columns across.
        let mut fact_pending = Vec::new();
        let mut label_pending = Vec::new();
        let mut across: Vec<(Column, Column)> = Vec::new();
        let side = |s: &HashSet<usize>| {
            if s.iter().all(|i| fact.contains(i)) {
                Some(true)
            } else if s.iter().all(|i| !fact.contains(i)) {
                Some(false)
            } else {
                None
            }
        };
        for (l, r) in &region.on {
            let (Some(ls), Some(rs)) = (region.leaves_of(l), region.leaves_of(r)) else {
                return Ok(None);
            };
            let both: HashSet<usize> = ls.union(&rs).copied().collect();
            match side(&both) {
                Some(true) => fact_pending.push(Pending::Equal(l.clone(), r.clone(), ls, rs)),
                Some(false) => label_pending.push(Pending::Equal(l.clone(), r.clone(), ls, rs)),
                None => {
                    let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                        return Ok(None);
                    };
                    let (Some(side_l), Some(_)) = (side(&ls), side(&rs)) else {
                        return Ok(None);
                    };
                    across.push(if side_l {
                        (lc.clone(), rc.clone())
                    } else {
                        (rc.clone(), lc.clone())
                    });
                }
            }
        }
        for f in &region.filters {
            let Some(s) = region.leaves_of(f) else {
                return Ok(None);
            };
            match side(&s) {
                Some(true) => fact_pending.push(Pending::Filter(f.clone(), s)),
                Some(false) => label_pending.push(Pending::Filter(f.clone(), s)),
                None => return Ok(None),
            }
        }
        if across.is_empty() {
            return Ok(None);
        }
        // Sizes: each label table an equality reaches is at most a sixteenth of the largest fact table.
        let rows = |i: usize| single_table(&region.leaves[i]).and_then(|s| self.rows.rows(s));
        let Some(largest) = facts.iter().map(|&i| rows(i)).collect::<Option<Vec<u64>>>() else {
            return Ok(None);
        };
        let largest = largest.into_iter().max().unwrap_or(0);
        for (_, label_col) in &across {
            let Some(l) = region.leaf_of(label_col) else {
                return Ok(None);
            };
            match rows(l) {
                Some(r) if r.saturating_mul(16) <= largest => {}
                _ => return Ok(None),
            }
        }
        // The fact side, aggregated by its join keys and its grouping columns.
        let fact_plan = join_all(&region, &pairs, &facts, fact_pending)?;
        let mut keys: Vec<Column> = Vec::new();
        for (f, _) in &across {
            if !keys.contains(f) {
                keys.push(f.clone());
            }
        }
        for g in &agg.group_expr {
            if let Expr::Column(c) = g
                && region.leaf_of(c).is_some_and(|l| fact.contains(&l))
                && !keys.contains(c)
            {
                keys.push(c.clone());
            }
        }
        let partial_exprs: Vec<Expr> = calls
            .iter()
            .enumerate()
            .map(|(i, (call, _))| call.clone().alias(format!("{PARTIAL}{i}")))
            .collect();
        let partial = LogicalPlan::Aggregate(Aggregate::try_new(
            Arc::new(fact_plan),
            keys.into_iter().map(Expr::Column).collect(),
            partial_exprs,
        )?);
        let label_plan = join_all(&region, &pairs, &labels, label_pending)?;
        let joined = LogicalPlan::Join(datafusion::logical_expr::Join::try_new(
            Arc::new(label_plan),
            Arc::new(partial),
            across
                .iter()
                .map(|(f, l)| (Expr::Column(l.clone()), Expr::Column(f.clone())))
                .collect(),
            None,
            datafusion::logical_expr::JoinType::Inner,
            datafusion::logical_expr::JoinConstraint::On,
            datafusion::common::NullEquality::NullEqualsNothing,
            false,
        )?);
        let finals: Vec<Expr> = calls
            .iter()
            .enumerate()
            .map(|(i, (_, combine))| {
                let c = Expr::Column(Column::new_unqualified(format!("{PARTIAL}{i}")));
                match combine {
                    Combine::Sum => sum(c),
                    Combine::Min => min(c),
                    Combine::Max => max(c),
                }
            })
            .collect();
        let last = LogicalPlan::Aggregate(Aggregate::try_new(
            Arc::new(joined),
            agg.group_expr.clone(),
            finals,
        )?);
        // The aggregate's own output: same names, same types.
        let groups = agg.group_expr.len();
        let mut exprs = Vec::with_capacity(agg.schema.fields().len());
        for (i, (qualifier, field)) in agg.schema.iter().enumerate() {
            let (q, f) = last.schema().qualified_field(i);
            let mut e = Expr::Column(Column::from((q, f)));
            if i >= groups {
                if f.data_type() != field.data_type() {
                    e = e.cast_to(field.data_type(), last.schema())?;
                }
                e = e.alias_qualified(qualifier.cloned(), field.name());
            }
            exprs.push(e);
        }
        Ok(Some(LogicalPlan::Projection(Projection::try_new_with_schema(
            exprs,
            Arc::new(last),
            Arc::clone(&agg.schema),
        )?)))
    }
}

/// Whether the leaves `set` are joined into one by equalities among themselves.
fn is_connected(set: &[usize], pairs: &[(usize, usize)]) -> bool {
    let Some(&first) = set.first() else {
        return true;
    };
    let mut seen = vec![first];
    loop {
        let next = set
            .iter()
            .copied()
            .find(|i| !seen.contains(i) && connected(pairs, &seen, &[*i]));
        match next {
            Some(i) => seen.push(i),
            None => return seen.len() == set.len(),
        }
    }
}

/// The leaves `set` of `region` joined in their written order, each next one that joins what is
/// there already (through `pairs`, [`Region::column_pairs`]), with the conditions `pending`.
fn join_all(
    region: &Region,
    pairs: &[(usize, usize)],
    set: &[usize],
    mut pending: Vec<Pending>,
) -> Result<LogicalPlan> {
    let part = |i: usize| Part {
        plan: region.leaves[i].clone(),
        leaves: vec![i],
        first: i,
        filtered: false,
        shape: i.to_string(),
    };
    let mut rest: Vec<usize> = set.to_vec();
    let mut acc = part(rest.remove(0));
    while !rest.is_empty() {
        let Some(at) = rest.iter().position(|&i| connected(pairs, &acc.leaves, &[i])) else {
            return datafusion::common::plan_err!("eager aggregation: the tables are not joined");
        };
        let next = part(rest.remove(at));
        acc = join(acc, next, &mut pending, false)?;
    }
    filtered_by(acc.plan, pending)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::logical_expr::TableScan;

    use super::super::test_util::{Tpch, answer, context, logical_plan, replanned, subtree};
    use super::{AggregateBeforeLabels, RowCounts};

    fn with_rule() -> datafusion::prelude::SessionContext {
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(AggregateBeforeLabels::new(Arc::new(Tpch))));
        ctx
    }

    /// q10's shape, with every kind of aggregate the rule combines.
    const Q10: &str = "select c_custkey, c_name, n_name, sum(l_extendedprice) as revenue, count(*) as n,
            count(l_quantity) as q, min(l_quantity) as lo, max(l_extendedprice) as hi
        from customer, orders, lineitem, nation
        where c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate >= date '1993-10-01'
          and c_nationkey = n_nationkey
        group by c_custkey, c_name, n_name";

    const SETUP: [&str; 4] = [
        "insert into nation values (1, 'FRANCE', 0), (2, 'PERU', 1), (null, 'NOWHERE', 1)",
        // Customer 2 twice (no key is assumed unique), customer 4 without a nation, 5 without orders.
        "insert into customer values (1, 'c1', 1), (2, 'c2', 2), (2, 'c2b', 1), (3, 'c3', 2), (4, 'c4', null), (5, 'c5', 1)",
        "insert into orders values (1, 1, 1.00, '1995-02-01', 'F'), (2, 2, 1.00, '1995-02-01', 'F'),
            (3, 3, 1.00, '1992-02-01', 'F'), (4, 4, 1.00, '1996-02-01', 'O'), (5, 2, 1.00, '1994-02-01', 'F'),
            (6, null, 1.00, '1995-02-01', 'F'), (7, 1, 1.00, '1995-02-01', 'F')",
        "insert into lineitem values (1, 1, 1, 1.00, 10.00, null), (1, 1, 2, null, 20.00, null),
            (2, 1, 2, 3.00, 30.00, null), (3, 1, 3, 1.00, 40.00, null), (4, 1, 1, 2.00, 50.00, null),
            (5, 1, 1, 5.00, null, null), (6, 1, 1, 1.00, 70.00, null), (7, 1, 2, 4.00, 80.00, null)",
    ];

    #[tokio::test]
    async fn q10_sums_per_customer_key_before_customers_and_nations_join() {
        let ctx = with_rule();
        let after = logical_plan(&ctx, Q10).await;
        // The partial aggregate groups the orders' customer key over orders ⋈ lineitem...
        let partial = subtree(&after, "Aggregate: groupBy=[[orders.o_custkey]]");
        assert!(!partial.is_empty(), "{after}");
        assert!(
            partial.iter().any(|l| l.contains("TableScan: lineitem")),
            "{after}"
        );
        assert!(partial.iter().any(|l| l.contains("TableScan: orders")), "{after}");
        assert!(
            !partial.iter().any(|l| l.contains("TableScan: customer")),
            "{after}"
        );
        // ...and customers and nations join the partial sums, below the last aggregate.
        let last = subtree(
            &after,
            "Aggregate: groupBy=[[customer.c_custkey, customer.c_name, nation.n_name]]",
        );
        assert!(last.iter().any(|l| l.contains("TableScan: nation")), "{after}");
        assert!(
            last.iter().any(|l| l.contains("__nightshift_partial_0")),
            "{after}"
        );
        // Planned again, nothing more happens.
        assert_eq!(replanned(&ctx, Q10).await, after);
        // The same answer, duplicates and NULLs included.
        let before = answer(&context(false), &SETUP, Q10).await;
        assert!(before.contains("c2b") && before.contains("FRANCE"), "{before}");
        assert_eq!(before, answer(&with_rule(), &SETUP, Q10).await);
    }

    #[tokio::test]
    async fn leaves_filtered_labels_other_aggregates_and_unknown_sizes_alone() {
        let unchanged = |sql: &'static str| async move {
            assert_eq!(
                logical_plan(&with_rule(), sql).await,
                logical_plan(&context(false), sql).await,
                "{sql}"
            );
        };
        // q3: the customers are filtered, so joining them first may drop most rows.
        unchanged(
            "select l_orderkey, o_orderdate, sum(l_extendedprice) from customer, orders, lineitem
            where c_name = 'x' and c_custkey = o_custkey and l_orderkey = o_orderkey
            group by l_orderkey, o_orderdate",
        )
        .await;
        // An average and a distinct count do not combine from partial results here.
        unchanged(
            "select c_name, avg(l_extendedprice) from customer, orders, lineitem
            where c_custkey = o_custkey and l_orderkey = o_orderkey group by c_name",
        )
        .await;
        unchanged(
            "select c_name, count(distinct l_partkey) from customer, orders, lineitem
            where c_custkey = o_custkey and l_orderkey = o_orderkey group by c_name",
        )
        .await;
        // A label table a quarter of the facts (4 lines an order): the partial aggregate would be
        // hardly smaller than its input.
        unchanged(
            "select o_orderdate, sum(l_extendedprice) from orders, lineitem
            where l_orderkey = o_orderkey group by o_orderdate",
        )
        .await;
        // Without row counts, and switched off.
        struct Unknown;
        impl RowCounts for Unknown {
            fn rows(&self, _: &TableScan) -> Option<u64> {
                None
            }
        }
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(AggregateBeforeLabels::new(Arc::new(Unknown))));
        assert_eq!(
            logical_plan(&ctx, Q10).await,
            logical_plan(&context(false), Q10).await
        );
        let off = with_rule();
        off.sql("SET nightshift_optimizer.eager_aggregation = false")
            .await
            .unwrap();
        assert_eq!(
            logical_plan(&off, Q10).await,
            logical_plan(&context(false), Q10).await
        );
    }
}
