//! Semi and anti joins build on their smaller side: a partitioned hash join of a semi or anti type
//! whose build (left) side is estimated at more than [`RATIO`] times the rows of its probe side
//! swaps its inputs (`RightAnti` becomes `LeftAnti`, and so on), which gives the same rows.
//!
//! DataFusion's `JoinSelection` swaps join inputs by comparing the sizes of the two sides, bytes
//! first. For TPC-H q21's `NOT EXISTS` it swaps the wrong way: it builds a hash table of the 37.9 M
//! late lines of lineitem (about 950 MB at scale 10) and probes it with the 708 k rows of the outer
//! query, although its own row estimates, once the plan is settled, are 59 M against 3 M. This rule
//! runs right after `JoinSelection` and compares those row estimates; it leaves a join alone when
//! either side has none, when they are within [`RATIO`] of each other (estimates of filtered rows
//! are rough), in `CollectLeft` mode (the build side is then meant to be small and whole), and when
//! `datafusion.optimizer.join_reordering` is off.
//!
//! Serves q21.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::logical_expr::JoinType;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

use super::physical_switch;

/// How many times the rows of the probe side the build side must be estimated at before the
/// inputs swap (Presto's `SIZE_DIFFERENCE_THRESHOLD`, which DataFusion's join selection mentions
/// as a to-do, is the same 8).
pub const RATIO: usize = 8;

/// The physical optimizer rule; it runs right after DataFusion's `JoinSelection`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SmallerSideBuildsSemiJoins;

impl PhysicalOptimizerRule for SmallerSideBuildsSemiJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.join_reordering || !physical_switch(config, |o| o.semi_join_sides) {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            let semi_or_anti = matches!(
                join.join_type(),
                JoinType::LeftSemi | JoinType::RightSemi | JoinType::LeftAnti | JoinType::RightAnti
            );
            if !semi_or_anti || *join.partition_mode() != PartitionMode::Partitioned {
                return Ok(Transformed::no(node));
            }
            // As `JoinSelection` computes them when no statistics registry is configured.
            let rows = |side: &Arc<dyn ExecutionPlan>| -> Result<Option<usize>> {
                let stats = StatisticsContext::new().compute(side.as_ref(), &StatisticsArgs::new())?;
                Ok(stats.num_rows.get_value().copied())
            };
            let (Some(build), Some(probe)) = (rows(join.left())?, rows(join.right())?) else {
                return Ok(Transformed::no(node));
            };
            if build <= probe.saturating_mul(RATIO) {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(join.swap_inputs(PartitionMode::Partitioned)?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "nightshift_smaller_side_builds_semi_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::NullEquality;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::optimizer::OptimizerOptions;
    use crate::optimizer::test_util::sorted_rows;

    /// A one-partition table of `rows` rows: `k` = row mod `keys`, `v` = row.
    fn table(name: &str, rows: i64, keys: i64) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![
            Field::new(format!("{name}_k"), DataType::Int64, false),
            Field::new(format!("{name}_v"), DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values((0..rows).map(|r| r % keys))),
                Arc::new(Int64Array::from_iter_values(0..rows)),
            ],
        )
        .unwrap();
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, None).unwrap()
    }

    /// `left ⋈ right` on their keys.
    fn join(
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
        join_type: JoinType,
        mode: PartitionMode,
    ) -> Arc<dyn ExecutionPlan> {
        let on = vec![(
            Arc::new(Column::new_with_schema(left.schema().field(0).name(), &left.schema()).unwrap()) as _,
            Arc::new(Column::new_with_schema(right.schema().field(0).name(), &right.schema()).unwrap()) as _,
        )];
        Arc::new(
            HashJoinExec::try_new(
                left,
                right,
                on,
                None,
                &join_type,
                None,
                mode,
                NullEquality::NullEqualsNothing,
                false,
            )
            .unwrap(),
        )
    }

    fn optimize(
        plan: Arc<dyn ExecutionPlan>,
        configure: impl FnOnce(&mut ConfigOptions),
    ) -> Arc<dyn ExecutionPlan> {
        let mut config = ConfigOptions::new();
        config.extensions.insert(OptimizerOptions::default());
        configure(&mut config);
        SmallerSideBuildsSemiJoins.optimize(plan, &config).unwrap()
    }

    /// The join's type and the name of its build side's first column.
    fn shape(plan: &Arc<dyn ExecutionPlan>) -> (JoinType, String) {
        let join = plan.downcast_ref::<HashJoinExec>().expect("a hash join");
        (*join.join_type(), join.left().schema().field(0).name().clone())
    }

    async fn rows(plan: Arc<dyn ExecutionPlan>) -> String {
        sorted_rows(&collect(plan, SessionContext::new().task_ctx()).await.unwrap())
    }

    #[tokio::test]
    async fn a_semi_or_anti_join_built_on_the_far_larger_side_swaps_and_keeps_its_rows() {
        // The outer side (`small`) has keys 0..100, half of which (0..50) the large side holds.
        for (join_type, swapped) in [
            (JoinType::RightAnti, JoinType::LeftAnti),
            (JoinType::RightSemi, JoinType::LeftSemi),
        ] {
            let plan = join(
                table("large", 1000, 50),
                table("small", 100, 100),
                join_type,
                PartitionMode::Partitioned,
            );
            let new = optimize(Arc::clone(&plan), |_| {});
            assert_eq!(shape(&new), (swapped, "small_k".to_string()));
            let (before, after) = (rows(plan).await, rows(new).await);
            assert_eq!(before, after);
            assert_eq!(
                before.lines().count(),
                50 + 4,
                "{join_type}: 50 rows, a header and three rules"
            );
        }
    }

    #[tokio::test]
    async fn close_sizes_collect_left_other_joins_and_the_switches_leave_the_join_alone() {
        let anti = |build: i64, mode| {
            join(
                table("large", build, 50),
                table("small", 100, 100),
                JoinType::RightAnti,
                mode,
            )
        };
        // Within the ratio.
        let plan = optimize(anti(800, PartitionMode::Partitioned), |_| {});
        assert_eq!(shape(&plan), (JoinType::RightAnti, "large_k".to_string()));
        // CollectLeft.
        let plan = optimize(anti(1000, PartitionMode::CollectLeft), |_| {});
        assert_eq!(shape(&plan), (JoinType::RightAnti, "large_k".to_string()));
        // An inner join (DataFusion's join selection owns its sides).
        let inner = join(
            table("large", 1000, 50),
            table("small", 100, 100),
            JoinType::Inner,
            PartitionMode::Partitioned,
        );
        assert_eq!(
            shape(&optimize(inner, |_| {})),
            (JoinType::Inner, "large_k".to_string())
        );
        // Join reordering off, and the rule's own switch.
        let plan = optimize(anti(1000, PartitionMode::Partitioned), |c| {
            c.optimizer.join_reordering = false
        });
        assert_eq!(shape(&plan), (JoinType::RightAnti, "large_k".to_string()));
        let plan = optimize(anti(1000, PartitionMode::Partitioned), |c| {
            c.set("nightshift_optimizer.semi_join_sides", "false").unwrap()
        });
        assert_eq!(shape(&plan), (JoinType::RightAnti, "large_k".to_string()));
    }
}
