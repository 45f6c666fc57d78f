//! Join filtered dimension tables first: each filtered table joins the one table it is joined with
//! (when that table is larger), smallest first, and the reduced result keeps joining towards the fact
//! table as long as it has one partner, before the joins of the query's written order.
//!
//! DataFusion 55 joins tables in the order of the FROM clause. TPC-H q7 lists
//! `supplier, lineitem, orders, customer, nation n1, nation n2`, so all of lineitem in the date range
//! (18 M rows at scale 10) is joined with all of orders (15 M rows in a hash table) before the two
//! nation filters keep 2 in 25 of each side. Joining `nation n1` into `supplier` first, that into
//! `lineitem`, and `nation n2` into `customer`, that into `orders`, joins 1.5 M rows with 1.2 M.
//!
//! Only inner equi-joins are reordered (with their non-equality conditions, which go to the first join
//! where all their columns are present); the region's output columns stay as they were. It needs each
//! table's row count ([`nightshift_lake::table_rows`]: the lake's footers, or a provider's statistics),
//! and leaves a region alone when a table it would compare has none, when nothing is filtered, or when
//! the written order already joins the filtered tables first. "Larger" compares the row counts of the two
//! tables an equality joins, so a filtered table joins in the direction of a foreign key, never
//! sideways into a many-to-many join that may multiply rows.
//!
//! In the same pass, a table whose join key equals the key of a smaller filtered table through the
//! region's equalities, without a join between the two, is semi-joined with that table's keys
//! (`Region::filter_by_equal_keys`; switch: `nightshift_optimizer.key_filter`): q9's partsupp. The
//! smaller table may be one reduced by a filtered table it joins on a foreign key (q5's nation, by
//! the region of one name): q5's customers.
//!
//! Serves TPC-H q7 and q8 (nations and regions first, then customers and orders), q5 (region, nation,
//! supplier), q21 (the suppliers of one nation reduce lineitem before it meets the orders).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    Expr, Filter, Join, JoinConstraint, JoinType, LogicalPlan, Projection, TableScan,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::{join_with_inputs, may_reduce_rows, reads_keys_aliased, semi_join_with_keys, single_table};

/// How many rows a table holds, if known.
pub trait RowCounts: Send + Sync {
    /// The rows of the table `scan` reads.
    fn rows(&self, scan: &TableScan) -> Option<u64>;
}

/// The lake's row counts: a provider's statistics, or what the catalog read from the footers.
#[derive(Debug, Default)]
pub struct LakeRowCounts;

impl RowCounts for LakeRowCounts {
    fn rows(&self, scan: &TableScan) -> Option<u64> {
        let provider = source_as_provider(&scan.source).ok()?;
        nightshift_lake::table_rows(provider.as_ref())
    }
}

/// See the module documentation.
pub struct JoinFilteredDimensionsFirst {
    rows: Arc<dyn RowCounts>,
}

impl JoinFilteredDimensionsFirst {
    /// The rule, with table sizes from `rows`.
    pub fn new(rows: Arc<dyn RowCounts>) -> Self {
        Self { rows }
    }
}

impl Default for JoinFilteredDimensionsFirst {
    fn default() -> Self {
        Self::new(Arc::new(LakeRowCounts))
    }
}

impl fmt::Debug for JoinFilteredDimensionsFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinFilteredDimensionsFirst")
    }
}

impl OptimizerRule for JoinFilteredDimensionsFirst {
    fn name(&self) -> &str {
        "nightshift_join_filtered_dimensions_first"
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let options = super::options(config);
        if !options.join_order && !options.key_filter {
            return Ok(Transformed::no(plan));
        }
        plan.transform_down(|node| {
            if !is_region_join(&node) {
                return Ok(Transformed::no(node));
            }
            let mut region = Region::default();
            let shape = region.flatten(&node);
            // The tables below the region's inputs may hold regions of their own.
            let mut changed = false;
            for leaf in &mut region.leaves {
                let done = self.rewrite(leaf.clone(), config)?;
                changed |= done.transformed;
                *leaf = done.data;
            }
            let rows: Vec<Option<u64>> = region
                .leaves
                .iter()
                .map(|l| single_table(l).and_then(|s| self.rows.rows(s)))
                .collect();
            if region.leaves.len() >= 3 && options.key_filter {
                changed |= region.filter_by_equal_keys(&rows, config)?;
            }
            let reordered = if region.leaves.len() >= 3 && options.join_order {
                region.reorder(&rows, &shape)?
            } else {
                None
            };
            let new = match reordered {
                Some(plan) => plan,
                None if changed => region.rebuild_as(&node)?,
                None => return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump)),
            };
            let new = LogicalPlan::Projection(Projection::try_new_with_schema(
                node.schema().columns().into_iter().map(Expr::Column).collect(),
                Arc::new(new),
                Arc::clone(node.schema()),
            )?);
            Ok(Transformed::new(new, true, TreeNodeRecursion::Jump))
        })
    }
}

/// An inner equi-join that a region may contain.
pub(super) fn is_region_join(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(j)
        if j.join_type == JoinType::Inner
            && j.null_equality == NullEquality::NullEqualsNothing
            && !j.null_aware
            && !j.on.is_empty())
}

/// A projection of plain columns over a region join (the column pruning between joins).
pub(super) fn is_region_projection(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => {
            p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
                && (is_region_join(&p.input) || is_region_projection(&p.input))
        }
        _ => false,
    }
}

/// The inputs and conditions of a tree of inner joins.
#[derive(Default)]
pub(super) struct Region {
    pub(super) leaves: Vec<LogicalPlan>,
    pub(super) on: Vec<(Expr, Expr)>,
    pub(super) filters: Vec<Expr>,
}

/// A partial join: its plan, the leaves it holds, and its shape (for comparing orders).
pub(super) struct Part {
    pub(super) plan: LogicalPlan,
    pub(super) leaves: Vec<usize>,
    pub(super) first: usize,
    pub(super) filtered: bool,
    pub(super) shape: String,
}

impl Region {
    /// Collects the leaves and conditions below `plan`; returns its shape, such as `((0 1) 2)`.
    pub(super) fn flatten(&mut self, plan: &LogicalPlan) -> String {
        match plan {
            LogicalPlan::Join(j) if is_region_join(plan) => {
                let l = self.flatten(&j.left);
                let r = self.flatten(&j.right);
                self.on.extend(j.on.iter().cloned());
                if let Some(f) = &j.filter {
                    self.filters.extend(split_conjunction_owned(f.clone()));
                }
                pair_shape(&l, &r)
            }
            LogicalPlan::Projection(p) if is_region_projection(plan) => self.flatten(&p.input),
            _ => {
                self.leaves.push(plan.clone());
                (self.leaves.len() - 1).to_string()
            }
        }
    }

    /// `original` with its leaves replaced by this region's (rewritten) leaves, in the same order.
    fn rebuild_as(&self, original: &LogicalPlan) -> Result<LogicalPlan> {
        let mut next = 0;
        self.rebuild(original, &mut next)
    }

    fn rebuild(&self, plan: &LogicalPlan, next: &mut usize) -> Result<LogicalPlan> {
        match plan {
            LogicalPlan::Join(j) if is_region_join(plan) => {
                let left = self.rebuild(&j.left, next)?;
                let right = self.rebuild(&j.right, next)?;
                join_with_inputs(j, Arc::new(left), Arc::new(right))
            }
            LogicalPlan::Projection(p) if is_region_projection(plan) => {
                let input = self.rebuild(&p.input, next)?;
                Ok(LogicalPlan::Projection(Projection::try_new(
                    p.expr.clone(),
                    Arc::new(input),
                )?))
            }
            _ => {
                let leaf = self.leaves[*next].clone();
                *next += 1;
                Ok(leaf)
            }
        }
    }

    /// The leaf holding column `c`.
    pub(super) fn leaf_of(&self, c: &Column) -> Option<usize> {
        self.leaves.iter().position(|l| l.schema().has_column(c))
    }

    /// The equalities between two leaves' plain columns, as (leaf a, leaf b).
    pub(super) fn column_pairs(&self) -> Vec<(usize, usize)> {
        self.on
            .iter()
            .filter_map(|(l, r)| match (l, r) {
                (Expr::Column(lc), Expr::Column(rc)) => {
                    let (a, b) = (self.leaf_of(lc)?, self.leaf_of(rc)?);
                    (a != b).then_some((a, b))
                }
                _ => None,
            })
            .collect()
    }

    /// The leaves whose columns `e` reads.
    pub(super) fn leaves_of(&self, e: &Expr) -> Option<HashSet<usize>> {
        e.column_refs().into_iter().map(|c| self.leaf_of(c)).collect()
    }

    /// The region joined with filtered dimensions first, or `None` when that is the written order or
    /// it cannot tell.
    /// Semi-joins each table with the keys of a smaller filtered table that its join key equals
    /// through the region's equalities, but that it is not joined with directly: TPC-H q9 joins
    /// `part` (filtered by name) and `partsupp` both with lineitem's part key, so only the partsupp rows
    /// of those parts can take part, and `partsupp` (8 M rows at scale 10) is cut to 435 k rows before
    /// its hash table is built. Returns whether a table was filtered.
    fn filter_by_equal_keys(&mut self, rows: &[Option<u64>], config: &dyn OptimizerConfig) -> Result<bool> {
        // Classes of columns equal through the equalities between leaves' plain columns.
        let mut columns: Vec<Column> = Vec::new();
        let mut parent: Vec<usize> = Vec::new();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let mut direct: HashSet<(usize, usize)> = HashSet::new();
        for (l, r) in &self.on {
            let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                continue;
            };
            let (Some(a), Some(b)) = (self.leaf_of(lc), self.leaf_of(rc)) else {
                continue;
            };
            direct.insert((a.min(b), a.max(b)));
            let mut index = |c: &Column| match columns.iter().position(|x| x == c) {
                Some(i) => i,
                None => {
                    columns.push(c.clone());
                    parent.push(parent.len());
                    parent.len() - 1
                }
            };
            let (x, y) = (index(lc), index(rc));
            let (x, y) = (find(&mut parent, x), find(&mut parent, y));
            parent[x] = y;
        }
        let classes: Vec<usize> = (0..columns.len()).map(|i| find(&mut parent, i)).collect();
        let owner: Vec<Option<usize>> = columns.iter().map(|c| self.leaf_of(c)).collect();
        let reduced = self.reduced_leaves(rows, config)?;
        let mut changed = false;
        for t in 0..self.leaves.len() {
            let Some(t_rows) = rows[t] else { continue };
            if reads_keys_aliased(&self.leaves[t], KEY_FILTER_ALIAS) {
                continue;
            }
            // The smallest filtered table whose key equals one of t's, not joined with t directly.
            let mut best: Option<(u64, usize, usize)> = None;
            for (ci, c_owner) in owner.iter().enumerate() {
                if *c_owner != Some(t) {
                    continue;
                }
                for (di, d_owner) in owner.iter().enumerate() {
                    let Some(d) = *d_owner else { continue };
                    if d == t || classes[di] != classes[ci] || direct.contains(&(t.min(d), t.max(d))) {
                        continue;
                    }
                    let Some((_, by)) = &reduced[d] else { continue };
                    let Some(d_rows) = rows[d] else { continue };
                    // A table reduced through t itself would filter t by t.
                    if d_rows >= t_rows || *by == Some(t) {
                        continue;
                    }
                    if best.is_none_or(|(r, ..)| d_rows < r) {
                        best = Some((d_rows, ci, di));
                    }
                }
            }
            let Some((_, ci, di)) = best else { continue };
            let d = owner[di].unwrap_or(t);
            let Some((keys, _)) = &reduced[d] else { continue };
            let alias = config.alias_generator().next(KEY_FILTER_ALIAS);
            self.leaves[t] = semi_join_with_keys(
                Arc::new(self.leaves[t].clone()),
                columns[ci].clone(),
                keys.clone(),
                &columns[di],
                &alias,
            )?;
            changed = true;
        }
        Ok(changed)
    }

    /// For each leaf, the rows of it that can take part in the region's result, when those are known
    /// to be fewer than the table holds, with the leaf that reduced it (`None`: its own filter). A
    /// single table with a filter of its own is itself. An unfiltered single table joined directly
    /// with a smaller filtered one (in the direction of a foreign key: TPC-H q5's nation, with the
    /// region of one name) is semi-joined with that table's keys, as the region's inner join with it
    /// would drop the others. `None` for the rest, and for tables that are key-filtered already.
    fn reduced_leaves(&self, rows: &[Option<u64>], config: &dyn OptimizerConfig) -> Result<Vec<Reduced>> {
        let mut out = Vec::with_capacity(self.leaves.len());
        for (d, leaf) in self.leaves.iter().enumerate() {
            if own_filtered(leaf) {
                out.push(Some((leaf.clone(), None)));
                continue;
            }
            if single_table(leaf).is_none() || reads_keys_aliased(leaf, KEY_FILTER_ALIAS) {
                out.push(None);
                continue;
            }
            let Some(d_rows) = rows[d] else {
                out.push(None);
                continue;
            };
            // The smallest filtered single table that an equality joins to one of d's columns.
            let mut best: Option<(u64, usize, &Column, &Column)> = None;
            for (l, r) in &self.on {
                let (Expr::Column(lc), Expr::Column(rc)) = (l, r) else {
                    continue;
                };
                for (mine, theirs) in [(lc, rc), (rc, lc)] {
                    let (Some(a), Some(f)) = (self.leaf_of(mine), self.leaf_of(theirs)) else {
                        continue;
                    };
                    let Some(f_rows) = rows[f] else { continue };
                    if a != d || f == d || f_rows > d_rows || !own_filtered(&self.leaves[f]) {
                        continue;
                    }
                    if best.is_none_or(|(r, ..)| f_rows < r) {
                        best = Some((f_rows, f, mine, theirs));
                    }
                }
            }
            out.push(match best {
                Some((_, f, mine, theirs)) => Some((
                    semi_join_with_keys(
                        Arc::new(leaf.clone()),
                        mine.clone(),
                        self.leaves[f].clone(),
                        theirs,
                        &config.alias_generator().next(KEY_FILTER_ALIAS),
                    )?,
                    Some(f),
                )),
                None => None,
            });
        }
        Ok(out)
    }

    fn reorder(&self, rows: &[Option<u64>], written: &str) -> Result<Option<LogicalPlan>> {
        let n = self.leaves.len();
        let edges = self.column_pairs();
        let mut pending: Vec<Pending> = Vec::new();
        for (l, r) in &self.on {
            let (Some(ls), Some(rs)) = (self.leaves_of(l), self.leaves_of(r)) else {
                return Ok(None);
            };
            pending.push(Pending::Equal(l.clone(), r.clone(), ls, rs));
        }
        for f in &self.filters {
            let Some(ls) = self.leaves_of(f) else {
                return Ok(None);
            };
            pending.push(Pending::Filter(f.clone(), ls));
        }
        let mut parts: Vec<Part> = (0..n)
            .map(|i| Part {
                plan: self.leaves[i].clone(),
                leaves: vec![i],
                first: i,
                filtered: may_reduce_rows(&self.leaves[i]),
                shape: i.to_string(),
            })
            .collect();
        let mut merged_any = false;
        loop {
            // Of the filtered parts that can join their one partner, the smallest table goes first:
            // the most selective dimension reduces its partner before anything else joins it.
            let mut merge: Option<(u64, usize, usize)> = None;
            for (pi, part) in parts.iter().enumerate() {
                if !part.filtered {
                    continue;
                }
                let partners: Vec<usize> = (0..parts.len())
                    .filter(|&q| q != pi && connected(&edges, &part.leaves, &parts[q].leaves))
                    .collect();
                let [q] = partners[..] else { continue };
                // The filtered side must be the smaller table of some equality between the two.
                let size = edges
                    .iter()
                    .filter_map(|&(a, b)| {
                        let (inside, outside) = if part.leaves.contains(&a) && parts[q].leaves.contains(&b) {
                            (a, b)
                        } else if part.leaves.contains(&b) && parts[q].leaves.contains(&a) {
                            (b, a)
                        } else {
                            return None;
                        };
                        match (rows[inside], rows[outside]) {
                            (Some(x), Some(y)) if x <= y => Some(x),
                            _ => None,
                        }
                    })
                    .min();
                if let Some(size) = size
                    && merge.is_none_or(|(best, ..)| size < best)
                {
                    merge = Some((size, pi, q));
                }
            }
            let Some((_, pi, q)) = merge else { break };
            let (hi, lo) = (pi.max(q), pi.min(q));
            let b = parts.remove(hi);
            let a = parts.remove(lo);
            let (dim, other) = if lo == pi { (a, b) } else { (b, a) };
            parts.push(join(dim, other, &mut pending, true)?);
            merged_any = true;
        }
        if !merged_any {
            return Ok(None);
        }
        // The rest in the written order: each next part that joins what is there already.
        parts.sort_by_key(|p| p.first);
        let mut acc = parts.remove(0);
        while !parts.is_empty() {
            let Some(next) = parts
                .iter()
                .position(|p| connected(&edges, &acc.leaves, &p.leaves))
            else {
                return Ok(None);
            };
            let p = parts.remove(next);
            acc = join(acc, p, &mut pending, false)?;
        }
        if acc.shape == written {
            return Ok(None);
        }
        Ok(Some(filtered_by(acc.plan, pending)?))
    }
}

/// `plan` filtered by the conditions `pending` that no join took, if any.
pub(super) fn filtered_by(plan: LogicalPlan, pending: Vec<Pending>) -> Result<LogicalPlan> {
    let rest: Vec<Expr> = pending.into_iter().map(Pending::into_expr).collect();
    Ok(match conjunction(rest) {
        Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?),
        None => plan,
    })
}

/// A condition not yet placed, with the leaves each side reads.
pub(super) enum Pending {
    Equal(Expr, Expr, HashSet<usize>, HashSet<usize>),
    Filter(Expr, HashSet<usize>),
}

impl Pending {
    pub(super) fn into_expr(self) -> Expr {
        match self {
            Pending::Equal(l, r, ..) => l.eq(r),
            Pending::Filter(f, _) => f,
        }
    }
}

pub(super) fn connected(edges: &[(usize, usize)], a: &[usize], b: &[usize]) -> bool {
    edges
        .iter()
        .any(|&(x, y)| (a.contains(&x) && b.contains(&y)) || (a.contains(&y) && b.contains(&x)))
}

/// `left ⋈ right` on every pending equality between them, with every pending condition their columns
/// now cover.
pub(super) fn join(left: Part, right: Part, pending: &mut Vec<Pending>, dimension: bool) -> Result<Part> {
    let in_left = |s: &HashSet<usize>| s.iter().all(|i| left.leaves.contains(i));
    let in_right = |s: &HashSet<usize>| s.iter().all(|i| right.leaves.contains(i));
    let mut on = Vec::new();
    let mut filters = Vec::new();
    let mut rest = Vec::new();
    for p in pending.drain(..) {
        match p {
            Pending::Equal(l, r, ls, rs) if in_left(&ls) && in_right(&rs) => on.push((l, r)),
            Pending::Equal(l, r, ls, rs) if in_right(&ls) && in_left(&rs) => on.push((r, l)),
            Pending::Equal(l, r, ls, rs)
                if ls
                    .iter()
                    .chain(&rs)
                    .all(|i| left.leaves.contains(i) || right.leaves.contains(i)) =>
            {
                filters.push(l.eq(r))
            }
            Pending::Filter(f, s)
                if s.iter()
                    .all(|i| left.leaves.contains(i) || right.leaves.contains(i)) =>
            {
                filters.push(f)
            }
            other => rest.push(other),
        }
    }
    *pending = rest;
    let plan = LogicalPlan::Join(Join::try_new(
        Arc::new(left.plan),
        Arc::new(right.plan),
        on,
        conjunction(filters),
        JoinType::Inner,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?);
    let mut leaves = left.leaves;
    leaves.extend(right.leaves);
    Ok(Part {
        plan,
        first: leaves.iter().copied().min().unwrap_or(0),
        leaves,
        filtered: dimension || left.filtered || right.filtered,
        shape: pair_shape(&left.shape, &right.shape),
    })
}

/// The shape of a join of two shapes, the same whichever side each is on.
fn pair_shape(a: &str, b: &str) -> String {
    if a <= b {
        format!("({a} {b})")
    } else {
        format!("({b} {a})")
    }
}

/// Whether `leaf` is one table with a filter of its own, not one this rule key-filtered.
fn own_filtered(leaf: &LogicalPlan) -> bool {
    single_table(leaf).is_some() && may_reduce_rows(leaf) && !reads_keys_aliased(leaf, KEY_FILTER_ALIAS)
}

/// A leaf's rows that can take part in its region's result ([`Region::reduced_leaves`]), and the leaf
/// that reduced it (`None`: its own filter); `None` when they are not known to be fewer.
type Reduced = Option<(LogicalPlan, Option<usize>)>;

/// The alias of the key inputs [`Region::filter_by_equal_keys`] adds.
const KEY_FILTER_ALIAS: &str = "__nightshift_equal_keys";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::logical_expr::TableScan;

    use super::super::test_util::{Tpch, answer, context, logical_plan, replanned, subtree};
    use super::{JoinFilteredDimensionsFirst, RowCounts};

    fn rule() -> JoinFilteredDimensionsFirst {
        JoinFilteredDimensionsFirst::new(Arc::new(Tpch))
    }

    const Q7: &str = "select n1.n_name, n2.n_name, sum(l_extendedprice)
        from supplier, lineitem, orders, customer, nation n1, nation n2
        where s_suppkey = l_suppkey and o_orderkey = l_orderkey and c_custkey = o_custkey
          and s_nationkey = n1.n_nationkey and c_nationkey = n2.n_nationkey
          and ((n1.n_name = 'FRANCE' and n2.n_name = 'GERMANY') or (n1.n_name = 'GERMANY' and n2.n_name = 'FRANCE'))
          and l_shipdate between date '1995-01-01' and date '1996-12-31'
        group by n1.n_name, n2.n_name";

    /// The plan lines naming a join or a table, with their indentation.
    fn joins(plan: &str) -> String {
        plan.lines()
            .filter(|l| l.contains("Join") || l.contains("TableScan"))
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                let t = l.trim_start();
                let t = t.split(" projection=").next().unwrap_or(t);
                let t = t.split(" Filter:").next().unwrap_or(t);
                format!("{}{t}", " ".repeat(indent))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn q7_joins_each_nation_into_its_side_before_lineitem_meets_orders() {
        let without = logical_plan(&context(false), Q7).await;
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        let with = logical_plan(&ctx, Q7).await;
        // Written order: lineitem meets orders before any nation.
        let before = joins(&without);
        let top_before = before.lines().next().unwrap().to_string();
        assert!(
            top_before.contains("n2.n_nationkey") || top_before.contains("n1.n_nationkey"),
            "{before}"
        );
        // Reordered: the top join is lineitem's side with orders' side, each already filtered by its nation.
        let after = joins(&with);
        let top = after.lines().next().unwrap();
        assert!(top.contains("Inner Join"), "{after}");
        assert!(
            top.contains("l_orderkey") && top.contains("o_orderkey"),
            "{after}"
        );
        let lines: Vec<&str> = after.lines().collect();
        let n1 = lines.iter().position(|l| l.contains("n1.n_nationkey")).unwrap();
        let n2 = lines.iter().position(|l| l.contains("n2.n_nationkey")).unwrap();
        let top_indent = |i: usize| lines[i].len() - lines[i].trim_start().len();
        assert!(top_indent(n1) > 0 && top_indent(n2) > 0, "{after}");
        // The nations' OR condition is kept where both nations are present: the top join.
        assert!(
            with.lines()
                .find(|l| l.contains("Inner Join"))
                .unwrap()
                .contains("OR"),
            "{with}"
        );
        // Optimized again (a scheduler re-plans the client's plan), the order stays.
        assert_eq!(joins(&replanned(&ctx, Q7).await), after);
    }

    #[tokio::test]
    async fn leaves_written_orders_and_unknown_sizes_alone() {
        // q3: the filtered customers already join orders first.
        let q3 = "select l_orderkey, sum(l_extendedprice) from customer, orders, lineitem
            where c_name = 'x' and c_custkey = o_custkey and l_orderkey = o_orderkey
              and o_orderdate < date '1995-03-15' and l_shipdate > date '1995-03-15'
            group by l_orderkey";
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        assert_eq!(
            logical_plan(&ctx, q3).await,
            logical_plan(&context(false), q3).await
        );
        // Without row counts nothing moves.
        struct Unknown;
        impl RowCounts for Unknown {
            fn rows(&self, _: &TableScan) -> Option<u64> {
                None
            }
        }
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(JoinFilteredDimensionsFirst::new(Arc::new(Unknown))));
        assert_eq!(
            logical_plan(&ctx, Q7).await,
            logical_plan(&context(false), Q7).await
        );
    }

    const Q5: &str =
        "select n_name, sum(l_extendedprice) from customer, orders, lineitem, supplier, nation, region
        where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
          and c_nationkey = s_nationkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey
          and r_name = 'ASIA' and o_orderdate >= date '1994-01-01'
        group by n_name";

    #[tokio::test]
    async fn never_joins_sideways_into_a_larger_many_to_many_join() {
        // Customers and suppliers share a nation key: the filtered region reaches nation, then
        // supplier, but never customer through the nation key (a many-to-many join).
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        let after = joins(&logical_plan(&ctx, Q5).await);
        // Region joins nation, that joins supplier, and the three are one input of a join...
        let region = subtree(&after, "Inner Join: region.r_regionkey = nation.n_regionkey");
        assert!(!region.is_empty(), "{after}");
        let supplier = subtree(&after, "Inner Join: nation.n_nationkey = supplier.s_nationkey");
        assert!(
            supplier.iter().any(|l| l.contains("TableScan: region")),
            "{after}"
        );
        // ...that holds no customers: those join through their nation key only once lineitem is there.
        assert!(
            !supplier.iter().any(|l| l.contains("TableScan: customer")),
            "{after}"
        );
        assert_ne!(after, joins(&logical_plan(&context(false), Q5).await));
    }

    /// q5's customers are those of the region's nations: their nation key equals the nation's through
    /// the supplier, and the nation is reduced by the region it joins. So customer is semi-joined with
    /// the keys of the nations of that region before it meets orders; then lineitem meets a fifth of the
    /// orders.
    #[tokio::test]
    async fn q5_reads_only_the_customers_of_the_regions_nations() {
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        let after = logical_plan(&ctx, Q5).await;
        let customers = subtree(
            &after,
            "LeftSemi Join: customer.c_nationkey = __nightshift_equal_keys",
        );
        assert!(
            customers.iter().any(|l| l.contains("TableScan: customer")),
            "{after}"
        );
        let keys: Vec<&str> = customers
            .iter()
            .copied()
            .filter(|l| l.contains("LeftSemi Join: nation.n_regionkey") || l.contains("r_name = "))
            .collect();
        assert_eq!(keys.len(), 2, "{after}");
        // The customers so reduced meet the orders before lineitem does.
        let orders = subtree(&after, "Inner Join: customer.c_custkey = orders.o_custkey");
        assert!(
            orders.iter().any(|l| l.contains("__nightshift_equal_keys")),
            "{after}"
        );
        assert!(
            !orders.iter().any(|l| l.contains("TableScan: lineitem")),
            "{after}"
        );
        // Planned again, nothing is stacked.
        assert_eq!(replanned(&ctx, Q5).await, after);
        let setup = [
            "insert into region values (0, 'ASIA'), (1, 'EUROPE')",
            "insert into nation values (1, 'JAPAN', 0), (2, 'CHINA', 0), (3, 'FRANCE', 1), (4, 'NOWHERE', null)",
            "insert into supplier values (1, 's1', 1), (2, 's2', 2), (3, 's3', 3), (4, 's4', null), (5, 's5', 4)",
            "insert into customer values (1, 'c1', 1), (2, 'c2', 2), (3, 'c3', 3), (4, 'c4', null), (5, 'c5', 1), (6, 'c6', 4)",
            "insert into orders values (1, 1, 1.00, '1995-02-01', 'F'), (2, 2, 1.00, '1995-02-01', 'F'),
                (3, 3, 1.00, '1995-02-01', 'F'), (4, 4, 1.00, '1996-02-01', 'O'), (5, 5, 1.00, '1993-02-01', 'F'),
                (6, 6, 1.00, '1995-02-01', 'F'), (7, null, 1.00, '1995-02-01', 'F')",
            "insert into lineitem values (1, 1, 1, 1.00, 10.00, null), (1, 1, 2, 1.00, 20.00, null),
                (2, 1, 2, 1.00, 30.00, null), (3, 1, 3, 1.00, 40.00, null), (3, 1, 1, 1.00, 50.00, null),
                (4, 1, 4, 1.00, 60.00, null), (5, 1, 1, 1.00, 70.00, null), (6, 1, 5, 1.00, 80.00, null),
                (7, 1, 1, 1.00, 90.00, null)",
        ];
        let before = answer(&context(false), &setup, Q5).await;
        assert!(before.contains("JAPAN") && before.contains("CHINA"), "{before}");
        assert_eq!(before, answer(&ctx, &setup, Q5).await);
    }

    #[tokio::test]
    async fn the_smallest_filtered_table_goes_first() {
        // q21's joins: the suppliers of one nation reduce lineitem before the orders of one status
        // (a filtered table too, but a larger one) meet it.
        let sql = "select s_name, count(*) from supplier, lineitem l1, orders, nation
            where s_suppkey = l1.l_suppkey and o_orderkey = l1.l_orderkey and o_orderstatus = 'F'
              and s_nationkey = n_nationkey and n_name = 'SAUDI ARABIA'
            group by s_name";
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        let after = joins(&logical_plan(&ctx, sql).await);
        let top = after.lines().next().unwrap();
        assert!(top.contains("o_orderkey"), "{after}");
        let needle = after
            .lines()
            .find(|l| l.contains("Inner Join") && l.contains("l1.l_suppkey"))
            .unwrap_or_else(|| panic!("{after}"));
        let suppliers = subtree(&after, needle.trim_start());
        assert!(
            suppliers.iter().any(|l| l.contains("TableScan: nation")),
            "{after}"
        );
        assert!(
            suppliers.iter().any(|l| l.contains("TableScan: lineitem")),
            "{after}"
        );
        assert!(
            !suppliers.iter().any(|l| l.contains("TableScan: orders")),
            "{after}"
        );
    }

    const Q9: &str = "select n_name, sum(l_extendedprice) from part, supplier, lineitem, partsupp, orders, nation
        where s_suppkey = l_suppkey and ps_suppkey = l_suppkey and ps_partkey = l_partkey and p_partkey = l_partkey
          and o_orderkey = l_orderkey and s_nationkey = n_nationkey and p_name like '%green%'
        group by n_name";

    #[tokio::test]
    async fn q9_reads_only_the_partsupp_rows_of_the_chosen_parts() {
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        let after = logical_plan(&ctx, Q9).await;
        let filtered = subtree(
            &after,
            "LeftSemi Join: partsupp.ps_partkey = __nightshift_equal_keys",
        );
        assert!(
            filtered.iter().any(|l| l.contains("TableScan: partsupp")),
            "{after}"
        );
        assert!(filtered.iter().any(|l| l.contains("p_name LIKE")), "{after}");
        // lineitem joins part directly: the join itself filters it.
        assert!(!after.contains("LeftSemi Join: lineitem"), "{after}");
        // Planned again, the filter is not stacked.
        assert_eq!(
            after.matches("SubqueryAlias: __nightshift_equal_keys").count(),
            1,
            "{after}"
        );
        // Switched off, nothing is filtered.
        let off = context(false);
        off.add_optimizer_rule(Arc::new(rule()));
        off.sql("SET nightshift_optimizer.key_filter = false")
            .await
            .unwrap();
        assert!(!logical_plan(&off, Q9).await.contains("__nightshift_equal_keys"));
        let setup = [
            "insert into part values (1, 'b', 'c', 'green box'), (2, 'b', 'c', 'red box'), (3, 'b', 'c', 'dark green')",
            "insert into supplier values (1, 's1', 1), (2, 's2', 2)",
            "insert into nation values (1, 'FRANCE', 0), (2, 'PERU', 1)",
            "insert into partsupp values (1, 1, 5), (1, 2, 5), (2, 1, 5), (3, 2, 5), (null, 1, 5)",
            "insert into orders values (1, 1, 1.00, '1995-02-01', 'F'), (2, 1, 1.00, '1995-02-01', 'F')",
            "insert into lineitem values (1, 1, 1, 1.00, 10.00, null), (1, 2, 1, 1.00, 20.00, null),
                (2, 3, 2, 1.00, 30.00, null), (2, 1, 2, 1.00, 40.00, null), (2, 3, 1, 1.00, 50.00, null)",
        ];
        let before = answer(&context(false), &setup, Q9).await;
        assert!(before.contains("FRANCE") && before.contains("PERU"), "{before}");
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        assert_eq!(before, answer(&ctx, &setup, Q9).await);
    }

    #[tokio::test]
    async fn answers_stay_the_same() {
        let setup = [
            "insert into nation values (1, 'FRANCE', 0), (2, 'GERMANY', 0), (3, 'PERU', 1)",
            "insert into supplier values (1, 's1', 1), (2, 's2', 2), (3, 's3', 3), (4, 's4', null)",
            "insert into customer values (1, 'c1', 2), (2, 'c2', 1), (3, 'c3', 3), (4, 'c4', 1)",
            "insert into orders values (1, 1, 1.00, '1995-02-01', 'F'), (2, 2, 1.00, '1995-02-01', 'F'),
                (3, 3, 1.00, '1995-02-01', 'F'), (4, 4, 1.00, '1996-02-01', 'O'), (5, null, 1.00, null, null)",
            "insert into lineitem values (1, 1, 1, 1.00, 10.00, '1995-06-01'), (1, 1, 2, 1.00, 20.00, '1995-06-01'),
                (2, 1, 2, 1.00, 30.00, '1996-06-01'), (2, 1, 1, 1.00, 40.00, '1996-06-01'),
                (3, 1, 3, 1.00, 50.00, '1995-06-01'), (4, 1, 1, 1.00, 60.00, '1996-01-01'),
                (4, 1, 4, 1.00, 70.00, '1996-01-01'), (5, 1, 1, 1.00, 80.00, '1996-01-01')",
        ];
        // `context(true)` has the lake's row counts (none here): run the rule with TPC-H's.
        let before = answer(&context(false), &setup, Q7).await;
        let ctx = context(false);
        ctx.add_optimizer_rule(Arc::new(rule()));
        assert_eq!(before, answer(&ctx, &setup, Q7).await);
        assert!(
            before.contains("FRANCE") && before.contains("GERMANY"),
            "{before}"
        );
    }
}
