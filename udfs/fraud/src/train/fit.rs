//! The forest driver: from the ingested rows to a model, through binning, growing the trees in
//! parallel and scoring the holdout rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::binning::bin_features;
use super::grow::{Grower, TrainData};
use super::ingest::TrainingSet;
use super::{TrainProgress, TrainStage};
use crate::forest::{Forest, Node};
use crate::model::ModelMeta;
use crate::rng::mix64;
use crate::{ClassWeight, Feature, FeatureKind, FraudError, Model, ModelKind, ModelOptions, evaluate};

/// Fits the forest to `set` with `options`: `started` times the whole training, `progress` hears of
/// each stage and each tree.
pub(crate) fn fit(
    set: TrainingSet,
    options: ModelOptions,
    threads: usize,
    started: Instant,
    progress: Arc<dyn Fn(TrainProgress) + Send + Sync>,
) -> Result<Model, FraudError> {
    let TrainingSet {
        mut columns,
        labels,
        train_rows,
        holdout_rows,
    } = set;
    let rows_read = labels.len() as u64;
    let opts = &options.train;
    let report = |stage, trees_done| {
        progress(TrainProgress {
            stage,
            rows_read,
            trees_done,
            trees_total: opts.trees,
        })
    };
    report(TrainStage::Binning, 0);
    let train_labels: Vec<bool> = train_rows.iter().map(|&r| labels[r as usize]).collect();
    let positives = train_labels.iter().filter(|&&l| l).count();

    let mut features = Vec::with_capacity(columns.len());
    for c in &mut columns {
        let categories = if c.kind == FeatureKind::Categorical {
            c.rank_categories(&train_rows)
        } else {
            Vec::new()
        };
        features.push(Feature::new(c.name.clone(), c.kind, &c.data_type, categories));
    }

    let binned = bin_features(&columns, &train_rows, opts.max_bins, threads);

    let class_weight = match opts.class_weight {
        ClassWeight::None => [1.0, 1.0],
        ClassWeight::Balanced => {
            let n = train_rows.len() as f64;
            [n / (2.0 * (n - positives as f64)), n / (2.0 * positives as f64)]
        }
    };
    let data = TrainData {
        bins: binned.iter().map(|b| b.codes.as_slice()).collect(),
        uppers: binned.iter().map(|b| b.uppers.as_slice()).collect(),
        labels: &train_labels,
        class_weight,
    };

    report(TrainStage::Trees, 0);
    let (forest, boost_gains) = match options.kind {
        ModelKind::RandomForest => (grow_forest(&data, opts, threads, &report)?, None),
        ModelKind::GradientBoosting => {
            let boosted = super::boost::boost(&data, opts, threads, |done| report(TrainStage::Trees, done));
            let mut forest = Forest::default();
            forest.logit_base = Some(boosted.base);
            for (tree, covers) in boosted.trees {
                forest.push_tree(&tree);
                forest.covers.extend(covers);
            }
            (forest, Some(boosted.gains))
        }
    };
    finish(
        forest,
        boost_gains,
        Finish {
            features,
            columns,
            labels,
            train_rows,
            holdout_rows,
            positives,
            threads,
        },
        &options,
        started,
        &report,
    )
}

/// The rest of [`fit`]'s inputs, once the trees are grown.
struct Finish {
    features: Vec<Feature>,
    columns: Vec<super::ingest::Column>,
    labels: Vec<bool>,
    train_rows: Vec<u32>,
    holdout_rows: Vec<u32>,
    positives: usize,
    threads: usize,
}

/// Grows the random forest's trees in parallel.
fn grow_forest(
    data: &TrainData<'_>,
    opts: &crate::TrainOptions,
    threads: usize,
    report: &(dyn Fn(TrainStage, usize) + Sync),
) -> Result<Forest, FraudError> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let mut trees: Vec<Option<(Vec<Node>, Vec<f64>)>> = vec![None; opts.trees];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(opts.trees))
            .map(|_| {
                s.spawn(|| {
                    let mut grown = Vec::new();
                    let mut grower = Grower::new(data, opts);
                    loop {
                        let t = next.fetch_add(1, Ordering::Relaxed);
                        if t >= opts.trees {
                            break;
                        }
                        let seed = mix64(opts.seed.wrapping_add(mix64(t as u64 + 1)));
                        grown.push((t, grower.grow(seed)));
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        report(TrainStage::Trees, d);
                    }
                    grown
                })
            })
            .collect();
        for h in handles {
            // A panic in a worker is a bug; surface it as such rather than a partial model.
            for (t, tree) in h.join().unwrap_or_default() {
                trees[t] = Some(tree);
            }
        }
    });
    let mut forest = Forest::default();
    for (t, tree) in trees.into_iter().enumerate() {
        let (tree, covers) = tree.ok_or_else(|| FraudError::Training(format!("tree {t} was not grown")))?;
        forest.push_tree(&tree);
        forest.covers.extend(covers);
    }
    Ok(forest)
}

/// The model around `forest`: metadata, importance and the holdout metrics.
fn finish(
    mut forest: Forest,
    boost_gains: Option<Vec<f64>>,
    f: Finish,
    options: &ModelOptions,
    started: Instant,
    report: &(dyn Fn(TrainStage, usize) + Sync),
) -> Result<Model, FraudError> {
    let Finish {
        features,
        mut columns,
        labels,
        train_rows,
        holdout_rows,
        positives,
        threads,
    } = f;
    let mut meta = ModelMeta {
        name: String::new(),
        version: 0,
        features,
        target: options.target.clone(),
        training_rows: train_rows.len() as u64,
        training_positives: positives as u64,
        holdout_rows: holdout_rows.len() as u64,
        metrics: None,
        duration_secs: 0.0,
        created_at: String::new(),
        sql: None,
        trees: forest.roots.len(),
        nodes: forest.nodes.len(),
        options: options.clone(),
        importance: None,
        logit_base: forest.logit_base,
    };
    forest.prepare();
    let names: Vec<String> = meta.features.iter().map(|f| f.name.clone()).collect();
    let encoded: Vec<Vec<f64>> = columns
        .iter_mut()
        .map(|c| std::mem::take(&mut c.values))
        .collect();
    meta.importance = crate::importance::importance(&forest, &names, &encoded, &train_rows, threads);
    // Boosted trees' split gain is their loss reduction, recorded while growing.
    if let (Some(importance), Some(gains)) = (&mut meta.importance, boost_gains) {
        let total: f64 = gains.iter().sum();
        for (i, g) in importance.iter_mut().zip(gains) {
            i.split_gain = if total > 0.0 { g / total } else { 0.0 };
        }
    }
    if !holdout_rows.is_empty() {
        report(TrainStage::Evaluating, meta.trees);
        let cols: Vec<Vec<f64>> = encoded
            .iter()
            .map(|c| holdout_rows.iter().map(|&r| c[r as usize]).collect())
            .collect();
        let scores = forest.predict(&cols, holdout_rows.len());
        let hl: Vec<bool> = holdout_rows.iter().map(|&r| labels[r as usize]).collect();
        meta.metrics = Some(evaluate(&hl, &scores)?);
    }
    meta.duration_secs = started.elapsed().as_secs_f64();
    meta.created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(Model::new(meta, forest))
}
