//! Global feature importance, computed once at training and stored with the model:
//!
//! - **mean |contribution|**: the mean absolute TreeSHAP contribution of each feature over a sample
//!   of the training rows (up to [`SAMPLE_ROWS`], evenly spread; fewer for very large forests), in
//!   the space of the score;
//! - **split gain**: scikit-learn's `feature_importances_` (mean decrease in impurity): each split's
//!   weighted Gini decrease, summed by feature, normalised per tree, averaged over the trees and
//!   normalised to sum to 1.
//!
//! SQL reads them with `feature_importance('model')` (the table function below) and `DESCRIBE MODEL`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit};
use serde::{Deserialize, Serialize};

use crate::ModelRegistry;
use crate::forest::{Forest, LEAF};

/// Training rows whose contributions are averaged, at most …
pub(crate) const SAMPLE_ROWS: usize = 2_000;
/// … and at least, whatever the forest's size.
const MIN_SAMPLE_ROWS: usize = 100;
/// Rows × leaves explained at most (above [`MIN_SAMPLE_ROWS`]): about a second or two.
const LEAF_VISITS: usize = 100_000_000;

/// One feature's importance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature's name.
    pub feature: String,
    /// Mean absolute contribution to the score over a sample of the training rows.
    pub mean_abs_contribution: f64,
    /// Share of the forest's impurity decrease from splits on the feature (all features sum to 1).
    pub split_gain: f64,
}

/// The importance of each feature of `forest` (trained on `columns`, encoded, of which
/// `train_rows` are the training rows), in feature order; `None` when the forest has no covers.
pub(crate) fn importance(
    forest: &Forest,
    names: &[String],
    columns: &[Vec<f64>],
    train_rows: &[u32],
    threads: usize,
) -> Option<Vec<FeatureImportance>> {
    if !forest.explainable() {
        return None;
    }
    let gain = split_gain(forest, names.len());
    // Explaining costs every leaf per row: huge forests (unlimited depth on millions of rows) get
    // fewer rows, so that importance never costs more than a fraction of their training.
    let leaves = forest.nodes.len().div_ceil(2).max(1);
    let wanted = (LEAF_VISITS / leaves).clamp(MIN_SAMPLE_ROWS, SAMPLE_ROWS);
    let step = train_rows.len().div_ceil(wanted).max(1);
    let sample: Vec<u32> = train_rows.iter().step_by(step).copied().collect();
    let features = names.len();
    // The sample explained in one chunk per thread.
    let chunks: Vec<&[u32]> = sample
        .chunks(sample.len().div_ceil(threads.max(1)).max(1))
        .collect();
    let sums: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|rows| {
                s.spawn(move || {
                    let cols: Vec<Vec<f64>> = columns
                        .iter()
                        .map(|c| rows.iter().map(|&r| c[r as usize]).collect())
                        .collect();
                    let n = rows.len();
                    let phi = forest.contributions(&cols, n, true);
                    let sums: Vec<f64> = (0..features)
                        .map(|f| phi[f * n..(f + 1) * n].iter().map(|v| v.abs()).sum())
                        .collect();
                    sums
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let n = sample.len().max(1) as f64;
    Some(
        names
            .iter()
            .enumerate()
            .map(|(f, name)| FeatureImportance {
                feature: name.clone(),
                mean_abs_contribution: sums.iter().filter_map(|s| s.get(f)).sum::<f64>() / n,
                split_gain: gain[f],
            })
            .collect(),
    )
}

/// scikit-learn's mean decrease in impurity (see the module docs); a forest without covers has none.
pub(crate) fn split_gain(forest: &Forest, features: usize) -> Vec<f64> {
    let mut total = vec![0.0; features];
    for (t, &root) in forest.roots.iter().enumerate() {
        let end = forest
            .roots
            .get(t + 1)
            .map_or(forest.nodes.len(), |&r| r as usize);
        let (nodes, covers) = (
            &forest.nodes[root as usize..end],
            &forest.covers[root as usize..end],
        );
        // Each node's positive share, children before parents (children come after their parent).
        let mut share = vec![0.0; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let n = nodes[i];
            share[i] = if n.feature == LEAF {
                n.threshold
            } else {
                let (l, r) = (n.left as usize, n.left as usize + 1);
                (covers[l] * share[l] + covers[r] * share[r]) / covers[i].max(f64::MIN_POSITIVE)
            };
        }
        let gini = |i: usize| covers[i] * 2.0 * share[i] * (1.0 - share[i]);
        let mut tree = vec![0.0; features];
        for (i, n) in nodes.iter().enumerate() {
            if n.feature != LEAF && usize::from(n.feature) < features {
                let (l, r) = (n.left as usize, n.left as usize + 1);
                tree[usize::from(n.feature)] += (gini(i) - gini(l) - gini(r)).max(0.0);
            }
        }
        let sum: f64 = tree.iter().sum();
        if sum > 0.0 {
            for (t, v) in total.iter_mut().zip(&tree) {
                *t += v / sum;
            }
        }
    }
    let sum: f64 = total.iter().sum();
    if sum > 0.0 {
        for t in &mut total {
            *t /= sum;
        }
    }
    total
}

/// `feature_importance('model')`: one row per feature, most important first.
#[derive(Debug)]
pub struct FeatureImportanceFunc {
    registry: Arc<ModelRegistry>,
}

impl FeatureImportanceFunc {
    /// The table function, reading models from `registry` (the session loads the models a
    /// statement names before planning it).
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self { registry }
    }
}

impl TableFunctionImpl for FeatureImportanceFunc {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let name = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(n)) | ScalarValue::Utf8View(Some(n)), _)] => n.clone(),
            _ => {
                return plan_err!(
                    "feature_importance takes one argument, the model's name as a string literal: \
                     SELECT * FROM feature_importance('fraud')"
                );
            }
        };
        let Some(model) = self.registry.get(&name) else {
            return plan_err!(
                "feature_importance: no model '{name}': SHOW MODELS lists them; train one with CREATE MODEL"
            );
        };
        let Some(importance) = &model.meta().importance else {
            return plan_err!(
                "feature_importance: model '{}' was trained before nightshift recorded importance: train it \
                 again (CREATE OR REPLACE MODEL … with the same query)",
                model.reference()
            );
        };
        let mut rows: Vec<&FeatureImportance> = importance.iter().collect();
        rows.sort_by(|a, b| {
            b.mean_abs_contribution
                .total_cmp(&a.mean_abs_contribution)
                .then(b.split_gain.total_cmp(&a.split_gain))
        });
        let values: Vec<Vec<Expr>> = rows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                vec![
                    lit(i as i64 + 1),
                    lit(f.feature.clone()),
                    lit(f.mean_abs_contribution),
                    lit(f.split_gain),
                ]
            })
            .collect();
        let schema = Schema::new(vec![
            Field::new("column1", DataType::Int64, false),
            Field::new("column2", DataType::Utf8, false),
            Field::new("column3", DataType::Float64, false),
            Field::new("column4", DataType::Float64, false),
        ]);
        // A view over VALUES rather than an in-memory table, so that the plan also travels to a
        // cluster's scheduler.
        let schema = datafusion::common::DFSchema::try_from(schema)?;
        let names = ["rank", "feature", "mean_abs_contribution", "split_gain"];
        let plan = LogicalPlanBuilder::values_with_schema(values, &Arc::new(schema))?
            .project(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| col(format!("column{}", i + 1)).alias(*n)),
            )?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{MISSING_LEFT, Node};

    #[test]
    fn split_gain_is_the_weighted_gini_decrease_normalised() {
        // Root on feature 0 separates a pure half from a mixed one; the mixed half splits on
        // feature 1 into pure leaves. Gini: root 100·2·0.25·0.75 = 37.5, left 0, right
        // 50·2·0.5·0.5 = 25: gains 12.5 (feature 0) and 25 (feature 1).
        let mut f = Forest::default();
        f.push_tree(&[
            Node {
                threshold: 1.0,
                feature: 0,
                flags: MISSING_LEFT,
                left: 1,
            },
            Node::leaf(0.0),
            Node {
                threshold: 2.0,
                feature: 1,
                flags: 0,
                left: 3,
            },
            Node::leaf(0.0),
            Node::leaf(1.0),
        ]);
        f.covers = vec![100.0, 50.0, 50.0, 25.0, 25.0];
        let g = split_gain(&f, 3);
        assert!((g[0] - 1.0 / 3.0).abs() < 1e-12, "{g:?}");
        assert!((g[1] - 2.0 / 3.0).abs() < 1e-12, "{g:?}");
        assert_eq!(g[2], 0.0);
    }
}
