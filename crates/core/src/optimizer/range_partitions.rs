//! Range-partitioned scans: a table whose files hold disjoint ranges of a key is read one contiguous
//! run of whole files per partition, and the scan says so (DataFusion's `Partitioning::Range`), so that
//! an aggregate grouped by that key, or a join on it with a table split at the same points, needs no
//! hash repartition of its input.
//!
//! Serves q18 (its `GROUP BY l_orderkey` over all of lineitem aggregates each partition on its own:
//! no shuffle of the partial groups, no second hash table) and the joins of lineitem with orders on
//! the order key (q3, q4, q5, q7, q8, q9, q10, q12, q18, q21): both tables are generated, and written
//! by most lakes, in key order, so their files split at the same order keys and the join runs
//! partition by partition without shuffling either side.
//!
//! Sound by construction: a run of files becomes a partition only where the exact minimum and maximum
//! in the Parquet footers prove that every key of the run is below every key of the runs after it
//! (NULL-free, exact statistics, types whose statistics are never truncated). It is a physical rule
//! that runs just before DataFusion's `EnsureRequirements`, which then sees the declared partitioning
//! and keeps the repartitions it still needs. It declares a range only on a column that an aggregate
//! groups by or a join joins on somewhere in the plan, and only where whole files spread evenly over
//! the partitions, because a declared partitioning also turns off byte-range splitting and work
//! stealing between partitions.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, SplitPoint};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, Partitioning, PhysicalExpr, RangePartitioning};
use datafusion::physical_expr_common::sort_expr::PhysicalSortExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{HashJoinExec, SortMergeJoinExec};

use super::physical_switch;

/// The largest partition may hold this much more than an even share of the bytes; beyond it, the
/// byte-range split DataFusion makes otherwise keeps both cores busier than a shuffle saved.
const MAX_IMBALANCE: f64 = 1.25;

/// The physical optimizer rule. Install it before `EnsureRequirements` ([`super::physical_rules`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct RangePartitionedScans;

impl PhysicalOptimizerRule for RangePartitionedScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let on = physical_switch(config, |o| o.range_partitions);
        let partitions = config.execution.target_partitions;
        if !on || partitions < 2 {
            return Ok(plan);
        }
        let keys = key_columns(&plan)?;
        if keys.is_empty() {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(scan) = nightshift_lake::file_scan(node.as_ref()) else {
                return Ok(Transformed::no(node));
            };
            let output: Vec<String> = node.schema().fields().iter().map(|f| f.name().clone()).collect();
            Ok(match range_partitioned(scan, partitions, &output, &keys)? {
                Some(config) => {
                    Transformed::yes(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>)
                }
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "nightshift_range_partitioned_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The names of the columns the plan groups by or joins on: the only ones worth partitioning a scan by.
fn key_columns(plan: &Arc<dyn ExecutionPlan>) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    let mut add = |e: &Arc<dyn PhysicalExpr>| {
        if let Some(c) = e.downcast_ref::<Column>() {
            keys.insert(c.name().to_string());
        }
    };
    plan.apply(|node| {
        if let Some(agg) = node.downcast_ref::<AggregateExec>() {
            agg.group_expr().expr().iter().for_each(|(e, _)| add(e));
        }
        let on = (node.downcast_ref::<HashJoinExec>().map(|j| j.on()))
            .or_else(|| node.downcast_ref::<SortMergeJoinExec>().map(|j| j.on()));
        for (l, r) in on.into_iter().flatten() {
            add(l);
            add(r);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(keys)
}

/// `scan` regrouped into `partitions` runs of whole files with disjoint ranges of one of its output
/// columns that the plan uses as a key, with that range partitioning declared; `None` where no column
/// qualifies.
fn range_partitioned(
    scan: &FileScanConfig,
    partitions: usize,
    output: &[String],
    keys: &HashSet<String>,
) -> Result<Option<FileScanConfig>> {
    // Files are read in the declared order wherever there is one (which the runs keep, below); any
    // other reason to preserve the order of the files (an order-sensitive limit) is left alone.
    let other_order = scan.preserve_order && (scan.output_ordering.is_empty() || scan.limit.is_some());
    if scan.output_partitioning.is_some() || other_order || !scan.file_source.is::<ParquetSource>() {
        return Ok(None);
    }
    let files: Vec<&PartitionedFile> = scan.file_groups.iter().flat_map(|g| g.iter()).collect();
    // A byte range means someone already split a file: its rows are not one run any more.
    if files.len() < partitions || files.iter().any(|f| f.range.is_some() || f.statistics.is_none()) {
        return Ok(None);
    }
    let table_schema = scan.file_source.table_schema().table_schema();
    for name in output.iter().filter(|n| keys.contains(*n)) {
        let Ok(index) = table_schema.index_of(name) else {
            continue;
        };
        // Runs of files in ascending key order keep an ordering that starts with the key ascending (the
        // key ranges are disjoint), and break any other.
        let keeps_ordering = scan.output_ordering.iter().all(|ordering| {
            let first = ordering.first();
            !first.options.descending
                && first
                    .expr
                    .downcast_ref::<Column>()
                    .is_some_and(|c| c.index() == index)
        });
        if !exact_bounds_type(table_schema.field(index).data_type()) || !keeps_ordering {
            continue;
        }
        let Some(bounds) = files
            .iter()
            .map(|f| file_bounds(f, index))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let Some((groups, splits)) = split_runs(&files, bounds, partitions) else {
            continue;
        };
        let ordering = LexOrdering::new([PhysicalSortExpr::new(
            Arc::new(Column::new(name, index)),
            SortOptions::new(false, false),
        )])
        .expect("one sort expression");
        let range = RangePartitioning::try_new(
            ordering,
            splits.into_iter().map(|v| SplitPoint::new(vec![v])).collect(),
        )?;
        let config = FileScanConfigBuilder::from(scan.clone())
            .with_file_groups(groups)
            .with_output_partitioning(Some(Partitioning::Range(range)))
            .build();
        return Ok(Some(config));
    }
    Ok(None)
}

/// Types whose Parquet minimum and maximum are exact values, never truncated or NaN-ordered:
/// integers, dates, timestamps and decimals.
fn exact_bounds_type(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
                | DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        )
}

/// The exact, NULL-free `[min, max]` of column `index` in `file`.
fn file_bounds(file: &PartitionedFile, index: usize) -> Option<(ScalarValue, ScalarValue)> {
    let column = file.statistics.as_ref()?.column_statistics.get(index)?;
    let (Precision::Exact(min), Precision::Exact(max), Precision::Exact(0)) =
        (&column.min_value, &column.max_value, &column.null_count)
    else {
        return None;
    };
    (!min.is_null() && !max.is_null()).then(|| (min.clone(), max.clone()))
}

/// `files` (with their `bounds`) in key order, cut into `partitions` runs where every key before a cut
/// is below every key after it, each run near an even share of the bytes; with the split points (the
/// first key of every run but the first). `None` where the cuts cannot be made evenly enough.
fn split_runs(
    files: &[&PartitionedFile],
    bounds: Vec<(ScalarValue, ScalarValue)>,
    partitions: usize,
) -> Option<(Vec<FileGroup>, Vec<ScalarValue>)> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    let mut incomparable = false;
    order.sort_by(|&a, &b| {
        bounds[a].0.partial_cmp(&bounds[b].0).unwrap_or_else(|| {
            incomparable = true;
            Ordering::Equal
        })
    });
    if incomparable {
        return None;
    }
    // cuttable[i]: a cut may go after the i-th file in key order.
    let mut cuttable = vec![false; order.len()];
    let mut running_max = bounds[order[0]].1.clone();
    for i in 0..order.len() - 1 {
        if bounds[order[i]].1.partial_cmp(&running_max)? == Ordering::Greater {
            running_max = bounds[order[i]].1.clone();
        }
        cuttable[i] = running_max.partial_cmp(&bounds[order[i + 1]].0)? == Ordering::Less;
    }
    let sizes: Vec<u64> = order.iter().map(|&i| files[i].object_meta.size).collect();
    let total: u64 = sizes.iter().sum();
    let share = total as f64 / partitions as f64;
    // The cut nearest each even boundary, after the previous cut.
    let mut cuts = Vec::with_capacity(partitions - 1);
    let mut prefix = 0u64;
    let prefixes: Vec<u64> = sizes
        .iter()
        .map(|s| {
            prefix += s;
            prefix
        })
        .collect();
    for k in 1..partitions {
        let target = share * k as f64;
        let after = cuts.last().map_or(0, |&c: &usize| c + 1);
        let best = (after..order.len() - 1)
            .filter(|&i| cuttable[i])
            .min_by(|&a, &b| {
                let da = (prefixes[a] as f64 - target).abs();
                let db = (prefixes[b] as f64 - target).abs();
                da.total_cmp(&db)
            })?;
        cuts.push(best);
    }
    let mut groups = Vec::with_capacity(partitions);
    let mut splits = Vec::with_capacity(partitions - 1);
    let mut start = 0;
    for end in cuts.iter().map(|c| c + 1).chain([order.len()]) {
        let bytes: u64 = sizes[start..end].iter().sum();
        if start == end || bytes as f64 > share * MAX_IMBALANCE {
            return None;
        }
        if start > 0 {
            splits.push(bounds[order[start]].0.clone());
        }
        groups.push(FileGroup::new(
            order[start..end].iter().map(|&i| files[i].clone()).collect(),
        ));
        start = end;
    }
    Some((groups, splits))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::super::test_util::subtree;

    /// (table, the key ranges of its files (one file each), whether its files are written sorted by the key,
    /// which declares that ordering in their footers).
    type Layout<'a> = &'a [(&'a str, &'a [(i64, i64)], bool)];

    /// A session with 2 partitions, with or without nightshift's rules, and the tables of `layout`.
    async fn lake(dir: &Path, with_rules: bool, layout: Layout<'_>) -> SessionContext {
        let builder = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .with_config(
                SessionConfig::new()
                    .with_target_partitions(2)
                    .with_option_extension(super::super::OptimizerOptions::default()),
            );
        let builder = if with_rules {
            super::super::with_rules(builder)
        } else {
            builder
        };
        let ctx = SessionContext::new_with_state(builder.build());
        for (table, files, sorted) in layout {
            let folder = dir.join(table);
            if !folder.exists() {
                std::fs::create_dir_all(&folder).unwrap();
                for (i, (from, to)) in files.iter().enumerate() {
                    // Every key once, one value in three NULL, plus a second row for even keys.
                    let sql = format!(
                        "COPY (SELECT k, CASE WHEN k % 3 = 0 THEN NULL ELSE k * 10 END AS v FROM \
                         (SELECT unnest(range({from}, {to} + 1)) AS k UNION ALL \
                          SELECT unnest(range({from}, {to} + 1, 2)) AS k) {}) \
                         TO '{}/part-{i}.parquet'",
                        if *sorted { "ORDER BY k" } else { "" },
                        folder.display()
                    );
                    ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                }
            }
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{}/'",
                folder.display()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        }
        ctx
    }

    async fn physical(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        displayable(plan.as_ref()).indent(false).to_string()
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    const DISJOINT: &[(i64, i64)] = &[(1, 1000), (1001, 2000), (2001, 3000), (3001, 4000)];

    /// Group by the key of a table whose four files hold disjoint ranges: each partition aggregates its
    /// own keys in one step, with no repartition between a partial and a final aggregate.
    #[tokio::test]
    async fn aggregate_by_the_range_key_needs_no_repartition() {
        let dir = tempfile::tempdir().unwrap();
        let sql = "SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k HAVING count(*) > 1 ORDER BY k";
        let before = physical(&lake(dir.path(), false, &[("t", DISJOINT, true)]).await, sql).await;
        let ctx = lake(dir.path(), true, &[("t", DISJOINT, true)]).await;
        let after = physical(&ctx, sql).await;
        assert!(
            before.contains("RepartitionExec: partitioning=Hash([k@0], 2)"),
            "{before}"
        );
        assert!(!after.contains("RepartitionExec"), "{after}");
        assert!(
            after.contains("output_partitioning=Range([k@0 ASC NULLS LAST], [(2001)], 2)"),
            "{after}"
        );
        // The files' declared order by the key survives: each run is in key order.
        assert!(after.contains("output_ordering=[k@0 ASC NULLS LAST]"), "{after}");
        let agg = subtree(&after, "AggregateExec");
        assert!(agg[0].contains("mode=SinglePartitioned"), "{after}");
        let answer = rows(&ctx, sql).await;
        assert_eq!(
            answer,
            rows(&lake(dir.path(), false, &[("t", DISJOINT, true)]).await, sql).await
        );
        assert_eq!(answer.lines().count(), 2000 + 4, "{answer}");
    }

    /// Two tables split at the same keys join partition by partition; split elsewhere, the join
    /// shuffles as before. Answers match the plan without the rule, NULLs included.
    #[tokio::test]
    async fn tables_split_at_the_same_keys_join_without_repartition() {
        let dir = tempfile::tempdir().unwrap();
        // a's cut falls at 2001 like t's; b's two files cut at 1801.
        let layout: Layout<'_> = &[
            ("t", DISJOINT, true),
            ("a", &[(1, 900), (950, 2000), (2001, 3100), (3200, 4000)], false),
            ("b", &[(1, 1800), (1801, 4000)], false),
        ];
        let same =
            "SELECT t.k, sum(t.v) AS tv, sum(a.v) AS av FROM t JOIN a ON t.k = a.k GROUP BY t.k ORDER BY t.k";
        let other = "SELECT t.k, sum(b.v) AS bv FROM t JOIN b ON t.k = b.k GROUP BY t.k ORDER BY t.k";
        let without = lake(dir.path(), false, layout).await;
        let with = lake(dir.path(), true, layout).await;
        for s in ["threshold", "threshold_rows"] {
            let set = format!("SET datafusion.optimizer.hash_join_single_partition_{s} = 0");
            with.sql(&set).await.unwrap().collect().await.unwrap();
        }
        let plan = physical(&with, same).await;
        let join = subtree(&plan, "HashJoinExec");
        assert!(join[0].contains("mode=Partitioned"), "{plan}");
        assert!(!join.iter().any(|l| l.contains("RepartitionExec")), "{plan}");
        assert_eq!(rows(&with, same).await, rows(&without, same).await);
        let plan = physical(&with, other).await;
        assert!(
            subtree(&plan, "HashJoinExec")
                .iter()
                .any(|l| l.contains("RepartitionExec: partitioning=Hash")),
            "{plan}"
        );
        assert_eq!(rows(&with, other).await, rows(&without, other).await);
    }

    /// Files whose ranges overlap, a key column with NULLs, and files that cannot spread evenly keep
    /// DataFusion's plan.
    #[tokio::test]
    async fn overlapping_null_or_uneven_files_keep_the_shuffle() {
        let dir = tempfile::tempdir().unwrap();
        let layout: Layout<'_> = &[
            (
                "overlap",
                &[(1, 1000), (900, 2000), (1500, 3000), (2900, 4000)],
                false,
            ),
            (
                "uneven",
                &[(1, 3000), (3001, 3100), (3101, 3200), (3201, 4000)],
                false,
            ),
        ];
        let ctx = lake(dir.path(), true, layout).await;
        for t in ["overlap", "uneven"] {
            let sql = format!("SELECT k, count(*) FROM {t} GROUP BY k");
            let plan = physical(&ctx, &sql).await;
            assert!(
                plan.contains("RepartitionExec: partitioning=Hash([k@0], 2)"),
                "{t}: {plan}"
            );
            assert!(!plan.contains("output_partitioning"), "{t}: {plan}");
        }
        // v has NULLs: grouping by it keeps the shuffle even though its file ranges are disjoint.
        let sql = "SELECT v, count(*) FROM t2 GROUP BY v";
        let ctx = lake(dir.path(), true, &[("t2", DISJOINT, false)]).await;
        let plan = physical(&ctx, sql).await;
        assert!(!plan.contains("output_partitioning"), "{plan}");
    }

    /// The switch turns it off.
    #[tokio::test]
    async fn switch_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = lake(dir.path(), true, &[("t", DISJOINT, true)]).await;
        let off = "SET nightshift_optimizer.range_partitions = false";
        ctx.sql(off).await.unwrap().collect().await.unwrap();
        let plan = physical(&ctx, "SELECT k, count(*) FROM t GROUP BY k").await;
        assert!(
            plan.contains("RepartitionExec: partitioning=Hash([k@0], 2)"),
            "{plan}"
        );
    }
}
