//! nightshift's own optimizer rules, on top of DataFusion's. [`logical_rules`] is the one list: the local
//! session and every node of a cluster (Ballista's scheduler plans the physical plan) install it through
//! [`with_rules`], so a statement is planned the same way wherever it runs.
//!
//! Each rule lives in its own module, says which TPC-H queries it serves, and is measured in
//! docs/benchmarks.md ("SQL: TPC-H beside DuckDB and DataFusion"). Every rule is a pure rewrite into an
//! equivalent plan: the whole test suite, the TPC-H answer check against DuckDB included, runs with
//! them on.

mod aggregate_key_reduction;
mod conjunct_order;
mod eager_aggregation;
mod join_order;
mod range_partitions;
mod semi_join_pushdown;
mod semi_join_sides;

use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, Result};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{
    Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection, SubqueryAlias, TableScan,
};
use datafusion::optimizer::OptimizerRule;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;

pub use aggregate_key_reduction::ReduceAggregateToJoinKeys;
pub use conjunct_order::CheapConjunctsFirst;
pub use eager_aggregation::AggregateBeforeLabels;
pub use join_order::{JoinFilteredDimensionsFirst, LakeRowCounts, RowCounts};
pub use range_partitions::RangePartitionedScans;
pub use semi_join_pushdown::PushSemiJoinBelowInnerJoin;
pub use semi_join_sides::SmallerSideBuildsSemiJoins;

/// Switches for nightshift's optimizer rules, all on by default: `SET nightshift_optimizer.join_order =
/// false` in SQL or `--set nightshift_optimizer.join_order=false` on the command line. For comparing
/// plans, or as a way out should a rule ever plan a query badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizerOptions {
    /// Move IN / EXISTS subqueries' semi joins below inner joins onto the table that owns their keys.
    pub semi_join_pushdown: bool,
    /// Let a grouped aggregate read only the join keys a filtered table on the other side can hold.
    pub aggregate_key_reduction: bool,
    /// Join filtered dimension tables into their larger partner first.
    pub join_order: bool,
    /// Semi-join a table with the keys of a smaller filtered table its join key equals (through the
    /// query's equalities) but that it is not joined with directly.
    pub key_filter: bool,
    /// Read a table whose files hold disjoint key ranges as range partitions of that key.
    pub range_partitions: bool,
    /// Evaluate a filter's cheap, likely selective conditions first.
    pub conjunct_order: bool,
    /// Aggregate the fact tables before joining the unfiltered tables that only label the groups.
    pub eager_aggregation: bool,
    /// Build a partitioned semi or anti join's hash table on its side estimated at far fewer rows.
    pub semi_join_sides: bool,
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        Self {
            semi_join_pushdown: true,
            aggregate_key_reduction: true,
            join_order: true,
            key_filter: true,
            range_partitions: true,
            conjunct_order: true,
            eager_aggregation: true,
            semi_join_sides: true,
        }
    }
}

impl OptimizerOptions {
    /// Each switch: its key, its value, what it does.
    fn switches(&mut self) -> [(&'static str, &mut bool, &'static str); 8] {
        [
            (
                "semi_join_pushdown",
                &mut self.semi_join_pushdown,
                "Move IN / EXISTS subqueries' semi joins below inner joins onto the table that owns their keys",
            ),
            (
                "aggregate_key_reduction",
                &mut self.aggregate_key_reduction,
                "Let a grouped aggregate read only the join keys a filtered table on the other side can hold",
            ),
            (
                "join_order",
                &mut self.join_order,
                "Join filtered dimension tables into their larger partner first",
            ),
            (
                "key_filter",
                &mut self.key_filter,
                "Semi-join a table with the keys of a smaller filtered table its join key equals but that it \
                 is not joined with directly",
            ),
            (
                "range_partitions",
                &mut self.range_partitions,
                "Read a table whose files hold disjoint key ranges as range partitions of that key, so that \
                 aggregates and joins on the key need no shuffle",
            ),
            (
                "conjunct_order",
                &mut self.conjunct_order,
                "Evaluate a filter's conditions that cannot fail cheapest and likeliest-selective first",
            ),
            (
                "eager_aggregation",
                &mut self.eager_aggregation,
                "Aggregate the fact tables before joining the unfiltered tables that only label the groups",
            ),
            (
                "semi_join_sides",
                &mut self.semi_join_sides,
                "Build a partitioned semi or anti join's hash table on the side estimated at far fewer rows",
            ),
        ]
    }
}

impl datafusion::common::config::ConfigExtension for OptimizerOptions {
    const PREFIX: &'static str = "nightshift_optimizer";
}

impl datafusion::common::config::ExtensionOptions for OptimizerOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn datafusion::common::config::ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        use datafusion::common::config::ConfigExtension;
        let p = Self::PREFIX;
        let mut switches = self.switches();
        let names: Vec<String> = switches.iter().map(|(k, ..)| format!("{p}.{k}")).collect();
        let Some((_, switch, _)) = switches.iter_mut().find(|(k, ..)| *k == key) else {
            return datafusion::common::config_err!(
                "unknown option {p}.{key}: the options are {}",
                names.join(", ")
            );
        };
        **switch = match value.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return datafusion::common::config_err!("{p}.{key} = '{value}': expected true or false");
            }
        };
        Ok(())
    }

    fn entries(&self) -> Vec<datafusion::common::config::ConfigEntry> {
        use datafusion::common::config::ConfigExtension;
        self.clone()
            .switches()
            .into_iter()
            .map(
                |(key, value, description)| datafusion::common::config::ConfigEntry {
                    key: format!("{}.{key}", Self::PREFIX),
                    value: Some(value.to_string()),
                    description,
                },
            )
            .collect()
    }
}

/// The session's switches (the defaults when the session has none registered).
pub(crate) fn options(config: &dyn datafusion::optimizer::OptimizerConfig) -> OptimizerOptions {
    config
        .options()
        .extensions
        .get::<OptimizerOptions>()
        .cloned()
        .unwrap_or_default()
}

/// A physical rule's switch in `config` (on where the session has none registered).
pub(crate) fn physical_switch(
    config: &datafusion::common::config::ConfigOptions,
    switch: impl Fn(&OptimizerOptions) -> bool,
) -> bool {
    config.extensions.get::<OptimizerOptions>().is_none_or(switch)
}

/// nightshift's logical rules, in the order they run after DataFusion's own in each optimizer pass.
pub fn logical_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![
        Arc::new(PushSemiJoinBelowInnerJoin),
        Arc::new(ReduceAggregateToJoinKeys),
        Arc::new(AggregateBeforeLabels::default()),
        Arc::new(JoinFilteredDimensionsFirst::default()),
    ]
}

/// DataFusion's physical optimizer rules with nightshift's: [`SmallerSideBuildsSemiJoins`] right
/// after `join_selection`, whose choice of sides it corrects, before any repartition or dynamic
/// filter depends on them; [`RangePartitionedScans`] just before `EnsureRequirements`, which adds
/// the repartitions a plan needs and so must see the partitioning the scans declare;
/// [`CheapConjunctsFirst`] last, on the filters as they will run.
pub fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let after = rules
        .iter()
        .position(|r| r.name() == "join_selection")
        .map_or(0, |at| at + 1);
    rules.insert(after, Arc::new(SmallerSideBuildsSemiJoins));
    let at = rules
        .iter()
        .position(|r| r.name() == "EnsureRequirements")
        .unwrap_or(0);
    rules.insert(at, Arc::new(RangePartitionedScans));
    rules.push(Arc::new(CheapConjunctsFirst));
    rules
}

/// `builder` with nightshift's rules appended to whatever logical optimizer rules it has (DataFusion's
/// defaults, or Ballista's), and DataFusion's physical rules with nightshift's ([`physical_rules`]).
pub fn with_rules(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    for rule in logical_rules() {
        builder = builder.with_optimizer_rule(rule);
    }
    builder.with_physical_optimizer_rules(physical_rules())
}

/// `join` over new inputs, with the same condition, type and NULL handling.
pub(crate) fn join_with_inputs(
    join: &Join,
    left: Arc<LogicalPlan>,
    right: Arc<LogicalPlan>,
) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Join(Join::try_new(
        left,
        right,
        join.on.clone(),
        join.filter.clone(),
        join.join_type,
        join.join_constraint,
        join.null_equality,
        join.null_aware,
    )?))
}

/// `input ⋉ keys`: the rows of `input` whose `input_key` is among the `source_key` values of `source`, a
/// plan read a second time for its keys, under the fresh alias `alias` (how a rule recognises its own
/// key inputs in a later pass, with [`reads_keys_aliased`]).
pub(crate) fn semi_join_with_keys(
    input: Arc<LogicalPlan>,
    input_key: Column,
    source: LogicalPlan,
    source_key: &Column,
    alias: &str,
) -> Result<LogicalPlan> {
    let keys = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
        Arc::new(LogicalPlan::Projection(Projection::try_new(
            vec![Expr::Column(source_key.clone())],
            Arc::new(source),
        )?)),
        alias,
    )?);
    Ok(LogicalPlan::Join(Join::try_new(
        input,
        Arc::new(keys),
        vec![(
            Expr::Column(input_key),
            Expr::Column(Column::new(Some(alias), source_key.name.clone())),
        )],
        None,
        JoinType::LeftSemi,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?))
}

/// Whether `plan` is a semi join made by [`semi_join_with_keys`] with an alias starting with `prefix`.
pub(crate) fn reads_keys_aliased(plan: &LogicalPlan, prefix: &str) -> bool {
    let LogicalPlan::Join(j) = plan else {
        return false;
    };
    if j.join_type != JoinType::LeftSemi {
        return false;
    }
    let mut ours = false;
    let _ = j.right.apply(|node| {
        ours = matches!(node, LogicalPlan::SubqueryAlias(s) if s.alias.table().starts_with(prefix));
        Ok(if ours {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    ours
}

/// The one table `plan` reads through projections, aliases and filters only.
pub(crate) fn single_table(plan: &LogicalPlan) -> Option<&TableScan> {
    match plan {
        LogicalPlan::TableScan(scan) => Some(scan),
        LogicalPlan::Projection(p) => single_table(&p.input),
        LogicalPlan::SubqueryAlias(s) => single_table(&s.input),
        LogicalPlan::Filter(f) => single_table(&f.input),
        _ => None,
    }
}

/// Whether `plan` can return fewer rows than its tables hold: a filter, a limit, a filtering join or a
/// join with a non-equality condition anywhere below. Joining with such an input may drop most rows,
/// so a rule that moves work below that join can make it slower; joining with an input that has none
/// of them is (for the key joins of a warehouse) a lookup that keeps or multiplies rows.
pub(crate) fn may_reduce_rows(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        found = match node {
            LogicalPlan::Filter(_) | LogicalPlan::Limit(_) => true,
            LogicalPlan::TableScan(scan) => !scan.filters.is_empty() || scan.fetch.is_some(),
            LogicalPlan::Join(join) => {
                join.filter.is_some()
                    || matches!(
                        join.join_type,
                        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::RightSemi | JoinType::RightAnti
                    )
            }
            _ => false,
        };
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Plans SQL over empty TPC-H-shaped tables with and without nightshift's rules.

    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn table(ctx: &SessionContext, name: &str, columns: &[(&str, DataType)]) {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap()))
            .unwrap();
    }

    /// TPC-H's row counts at scale 1, for the rules that compare table sizes.
    pub struct Tpch;

    impl super::RowCounts for Tpch {
        fn rows(&self, scan: &datafusion::logical_expr::TableScan) -> Option<u64> {
            let rows = [
                ("lineitem", 6_000_000),
                ("orders", 1_500_000),
                ("partsupp", 800_000),
                ("part", 200_000),
                ("customer", 150_000),
                ("supplier", 10_000),
                ("nation", 25),
                ("region", 5),
            ];
            rows.iter()
                .find(|(name, _)| *name == scan.table_name.table())
                .map(|(_, n)| *n)
        }
    }

    /// A context with the TPC-H tables (the columns the plan tests use), empty.
    pub fn context(with_rules: bool) -> SessionContext {
        let builder = SessionStateBuilder::new().with_default_features().with_config(
            SessionConfig::new()
                .with_target_partitions(2)
                .with_option_extension(super::OptimizerOptions::default()),
        );
        let builder = if with_rules {
            super::with_rules(builder)
        } else {
            builder
        };
        let ctx = SessionContext::new_with_state(builder.build());
        use DataType::*;
        let money = Decimal128(15, 2);
        table(
            &ctx,
            "customer",
            &[("c_custkey", Int64), ("c_name", Utf8), ("c_nationkey", Int64)],
        );
        table(
            &ctx,
            "orders",
            &[
                ("o_orderkey", Int64),
                ("o_custkey", Int64),
                ("o_totalprice", money.clone()),
                ("o_orderdate", Date32),
                ("o_orderstatus", Utf8),
            ],
        );
        table(
            &ctx,
            "lineitem",
            &[
                ("l_orderkey", Int64),
                ("l_partkey", Int64),
                ("l_suppkey", Int64),
                ("l_quantity", money.clone()),
                ("l_extendedprice", money.clone()),
                ("l_shipdate", Date32),
            ],
        );
        table(
            &ctx,
            "part",
            &[
                ("p_partkey", Int64),
                ("p_brand", Utf8),
                ("p_container", Utf8),
                ("p_name", Utf8),
            ],
        );
        table(
            &ctx,
            "partsupp",
            &[
                ("ps_partkey", Int64),
                ("ps_suppkey", Int64),
                ("ps_availqty", Int64),
            ],
        );
        table(
            &ctx,
            "supplier",
            &[("s_suppkey", Int64), ("s_name", Utf8), ("s_nationkey", Int64)],
        );
        table(
            &ctx,
            "nation",
            &[("n_nationkey", Int64), ("n_name", Utf8), ("n_regionkey", Int64)],
        );
        table(&ctx, "region", &[("r_regionkey", Int64), ("r_name", Utf8)]);
        ctx
    }

    /// The line of `plan` that holds `needle`, and the lines below it that are indented deeper.
    pub fn subtree<'a>(plan: &'a str, needle: &str) -> Vec<&'a str> {
        let lines: Vec<&str> = plan.lines().collect();
        let Some(at) = lines.iter().position(|l| l.contains(needle)) else {
            return vec![];
        };
        let depth = lines[at].len() - lines[at].trim_start().len();
        let mut out = vec![lines[at]];
        for l in &lines[at + 1..] {
            if l.len() - l.trim_start().len() <= depth {
                break;
            }
            out.push(l);
        }
        out
    }

    /// The optimized logical plan of `sql`, indented, one node a line.
    pub async fn logical_plan(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        plan.display_indent().to_string()
    }

    /// The optimized plan of `sql` optimized once more, as a scheduler re-plans a client's plan.
    pub async fn replanned(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        ctx.state().optimize(&plan).unwrap().display_indent().to_string()
    }

    /// The logical plans of `sql` without and with nightshift's rules.
    pub async fn before_after(sql: &str) -> (String, String) {
        (
            logical_plan(&context(false), sql).await,
            logical_plan(&context(true), sql).await,
        )
    }

    /// `sql`'s rows on `ctx` (sorted, pretty-printed) after the `setup` statements.
    pub async fn answer(ctx: &SessionContext, setup: &[&str], sql: &str) -> String {
        for s in setup {
            ctx.sql(s).await.unwrap().collect().await.unwrap();
        }
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        sorted_rows(&batches)
    }

    /// `batches` pretty-printed, their lines sorted: the same rows in any order print the same.
    pub fn sorted_rows(batches: &[datafusion::arrow::array::RecordBatch]) -> String {
        let mut lines: Vec<String> = datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .unwrap()
            .to_string()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// `sql`'s rows (see [`answer`]) without and with the rules.
    pub async fn same_answer(setup: &[&str], sql: &str) -> (String, String) {
        (
            answer(&context(false), setup, sql).await,
            answer(&context(true), setup, sql).await,
        )
    }
}
