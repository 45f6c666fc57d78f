//! Training a random forest from a stream of record batches.
//!
//! 1. The stream is read batch by batch into one `f64` vector per feature (categories as codes),
//!    the labels and the holdout mask: no row structs.
//! 2. On blocking threads: categories are coded in sorted order (those seen in training rows),
//!    every feature is quantised into at most `max_bins` quantile bins (u8 codes, 255 =
//!    missing), and the trees are grown in parallel from per-node histograms.
//! 3. The holdout rows are scored through the finished forest, exactly as `predict` would.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::features::encode_number;
use crate::forest::{Forest, LEAF, MISSING_LEFT, Node};
use crate::model::ModelMeta;
use crate::rng::{Rng, mix64, unit};
use crate::{
    ClassWeight, Feature, FeatureKind, FraudError, Holdout, Model, ModelOptions, TrainOptions, evaluate,
};

/// Where training is, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainStage {
    /// Reading the query's record batches.
    Reading,
    /// Quantising features into bins.
    Binning,
    /// Growing trees.
    Trees,
    /// Scoring the holdout rows.
    Evaluating,
    /// Done.
    Done,
}

/// A progress report of [`train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainProgress {
    /// The current stage.
    pub stage: TrainStage,
    /// Rows read so far.
    pub rows_read: u64,
    /// Trees grown so far.
    pub trees_done: usize,
    /// Trees to grow.
    pub trees_total: usize,
}

/// Code of a missing value in a binned column.
const MISSING_BIN: u8 = u8::MAX;

/// Trains a model on `stream`: every column except the target (and the holdout column) is a
/// feature. The CPU work runs on blocking threads using every core; `progress` is called as it goes.
pub async fn train(
    mut stream: SendableRecordBatchStream,
    options: &ModelOptions,
    progress: Arc<dyn Fn(TrainProgress) + Send + Sync>,
) -> Result<Model, FraudError> {
    let started = Instant::now();
    let schema = stream.schema();
    let trees_total = options.train.trees;
    let report = |stage, rows_read, trees_done| {
        progress(TrainProgress {
            stage,
            rows_read,
            trees_done,
            trees_total,
        })
    };

    let find = |name: &str| {
        schema.fields().iter().position(|f| f.name() == name).or_else(|| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
    };
    let target = find(&options.target).ok_or_else(|| {
        FraudError::Training(format!(
            "the target column '{}' is not in the query's result (columns: {})",
            options.target,
            column_list(&schema)
        ))
    })?;
    let target_type = schema.field(target).data_type().clone();
    if !(target_type == DataType::Boolean || target_type.is_integer()) {
        return Err(FraudError::UnsupportedColumn {
            column: options.target.clone(),
            data_type: target_type.to_string(),
            message: "cannot be a target: use a BOOLEAN column or an integer column of 0 and 1".into(),
        });
    }
    let holdout_col = match &options.holdout {
        Holdout::Column(name) => {
            let i = find(name).ok_or_else(|| {
                FraudError::Training(format!(
                    "the holdout column '{name}' is not in the query's result"
                ))
            })?;
            if schema.field(i).data_type() != &DataType::Boolean {
                return Err(FraudError::UnsupportedColumn {
                    column: name.clone(),
                    data_type: schema.field(i).data_type().to_string(),
                    message: "cannot mark holdout rows: it must be BOOLEAN".into(),
                });
            }
            Some(i)
        }
        _ => None,
    };

    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        if i == target || Some(i) == holdout_col {
            continue;
        }
        let kind = FeatureKind::of(field.data_type()).ok_or_else(|| FraudError::UnsupportedColumn {
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
            message: "cannot be a feature: use numbers, booleans, dates, timestamps, times or strings \
(cast it, or leave it out of the SELECT)"
                .into(),
        })?;
        columns.push(Column {
            index: i,
            name: field.name().clone(),
            kind,
            data_type: field.data_type().clone(),
            values: Vec::new(),
            dict: HashMap::new(),
            names: Vec::new(),
        });
    }
    if columns.is_empty() {
        return Err(FraudError::Training(format!(
            "the query has no feature columns besides the target '{}'",
            options.target
        )));
    }
    if columns.len() >= LEAF as usize {
        return Err(FraudError::Training(format!(
            "too many feature columns ({})",
            columns.len()
        )));
    }

    let mut labels: Vec<bool> = Vec::new();
    let mut held: Vec<bool> = Vec::new();
    report(TrainStage::Reading, 0, 0);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let first_row = labels.len();
        read_labels(&options.target, batch.column(target), first_row, &mut labels)
            .map_err(FraudError::Training)?;
        match (&options.holdout, holdout_col) {
            (_, Some(h)) => {
                let h = batch.column(h).as_boolean();
                held.extend((0..h.len()).map(|i| h.is_valid(i) && h.value(i)));
            }
            (Holdout::Fraction(f), None) => {
                let salt = mix64(options.train.seed ^ 0x0068_6f6c_646f_7574);
                held.extend((first_row..labels.len()).map(|r| unit(mix64(salt ^ r as u64)) < *f));
            }
            _ => held.extend(std::iter::repeat_n(false, batch.num_rows())),
        }
        for c in &mut columns {
            c.read(batch.column(c.index))?;
        }
        report(TrainStage::Reading, labels.len() as u64, 0);
    }

    if labels.is_empty() {
        return Err(FraudError::Training("the training query returned no rows".into()));
    }
    let train_rows: Vec<u32> = (0..labels.len() as u32).filter(|&r| !held[r as usize]).collect();
    let holdout_rows: Vec<u32> = (0..labels.len() as u32).filter(|&r| held[r as usize]).collect();
    if train_rows.is_empty() {
        return Err(FraudError::Training(format!(
            "all {} rows are held out; hold out fewer rows",
            labels.len()
        )));
    }
    let positives = train_rows.iter().filter(|&&r| labels[r as usize]).count();
    if positives == 0 || positives == train_rows.len() {
        return Err(FraudError::Training(format!(
            "the target '{}' has only one class in the {} training rows (all {}); a model needs both",
            options.target,
            train_rows.len(),
            positives > 0
        )));
    }
    if !holdout_rows.is_empty() {
        let hp = holdout_rows.iter().filter(|&&r| labels[r as usize]).count();
        if hp == 0 || hp == holdout_rows.len() {
            return Err(FraudError::Training(format!(
                "the {} holdout rows hold only one class of '{}', so they cannot be evaluated; hold out more rows",
                holdout_rows.len(),
                options.target
            )));
        }
    }

    let options = options.clone();
    let rows_read = labels.len() as u64;
    let progress2 = progress.clone();
    let fit = tokio::task::spawn_blocking(move || {
        fit(
            columns,
            labels,
            train_rows,
            holdout_rows,
            options,
            started,
            rows_read,
            progress2,
        )
    });
    let model = fit
        .await
        .map_err(|e| FraudError::Training(format!("training thread failed: {e}")))??;
    report(TrainStage::Done, rows_read, trees_total);
    Ok(model)
}

fn column_list(schema: &datafusion::arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends a label column (BOOLEAN, or integers 0 and 1) to `out`, for training and for
/// `EVALUATE MODEL`. `first_row` numbers the rows in messages; a NULL or another integer is an error
/// naming the row and what to do.
pub fn read_labels(
    target: &str,
    array: &ArrayRef,
    first_row: usize,
    out: &mut Vec<bool>,
) -> Result<(), String> {
    if array.null_count() > 0 {
        let i = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
        return Err(format!(
            "the target '{target}' is NULL in row {}; filter those rows out (WHERE {target} IS NOT NULL)",
            first_row + i + 1
        ));
    }
    if array.data_type() == &DataType::Boolean {
        out.extend(array.as_boolean().values().iter());
        return Ok(());
    }
    if !array.data_type().is_integer() {
        return Err(format!(
            "the target '{target}' has type {}; use a BOOLEAN column or an integer column of 0 and 1",
            array.data_type()
        ));
    }
    let ints = cast(array, &DataType::Int64).map_err(|e| e.to_string())?;
    for (i, v) in ints.as_primitive::<Int64Type>().values().iter().enumerate() {
        match v {
            0 => out.push(false),
            1 => out.push(true),
            other => {
                return Err(format!(
                    "the target '{target}' is {other} in row {}; an integer target must be 0 or 1",
                    first_row + i + 1
                ));
            }
        }
    }
    Ok(())
}

/// A feature column being read: numbers as f64 (NaN = missing), categories as codes in `values`
/// (NaN = missing) with their strings in `names`.
struct Column {
    index: usize,
    name: String,
    kind: FeatureKind,
    data_type: DataType,
    values: Vec<f64>,
    dict: HashMap<String, u32>,
    names: Vec<String>,
}

impl Column {
    fn read(&mut self, array: &ArrayRef) -> Result<(), FraudError> {
        if self.kind != FeatureKind::Categorical {
            return encode_number(self.kind, array.as_ref(), &mut self.values)
                .map_err(|e| FraudError::Training(format!("column '{}': {e}", self.name)));
        }
        let strings = match array.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => array.clone(),
            _ => cast(array, &DataType::Utf8).map_err(|e| FraudError::Training(e.to_string()))?,
        };
        let mut push = |v: Option<&str>| {
            let code = match v {
                None => f64::NAN,
                Some(s) => match self.dict.get(s) {
                    Some(&c) => c as f64,
                    None => {
                        let c = self.names.len() as u32;
                        self.dict.insert(s.to_owned(), c);
                        self.names.push(s.to_owned());
                        c as f64
                    }
                },
            };
            self.values.push(code);
        };
        match strings.data_type() {
            DataType::Utf8 => strings.as_string::<i32>().iter().for_each(&mut push),
            DataType::LargeUtf8 => strings.as_string::<i64>().iter().for_each(&mut push),
            _ => strings.as_string_view().iter().for_each(&mut push),
        }
        Ok(())
    }

    /// Replaces category codes by their rank in sorted (byte-wise) order and returns the
    /// categories in that order. Categories with no training row become missing.
    ///
    /// Ordering by each category's share of positives (Breiman's trick) was tried first: on the demo
    /// lake it lost about 0.02 AUC on later days to this plain order, the target-derived order
    /// over-fitting the training days.
    fn rank_categories(&mut self, train_rows: &[u32]) -> Vec<String> {
        let k = self.names.len();
        let mut cnt = vec![0u64; k];
        for &r in train_rows {
            let v = self.values[r as usize];
            if !v.is_nan() {
                cnt[v as usize] += 1;
            }
        }
        let mut seen: Vec<usize> = (0..k).filter(|&c| cnt[c] > 0).collect();
        seen.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        let mut rank = vec![f64::NAN; k];
        for (r, &c) in seen.iter().enumerate() {
            rank[c] = r as f64;
        }
        for v in &mut self.values {
            if !v.is_nan() {
                *v = rank[*v as usize];
            }
        }
        seen.iter().map(|&c| self.names[c].clone()).collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn fit(
    mut columns: Vec<Column>,
    labels: Vec<bool>,
    train_rows: Vec<u32>,
    holdout_rows: Vec<u32>,
    options: ModelOptions,
    started: Instant,
    rows_read: u64,
    progress: Arc<dyn Fn(TrainProgress) + Send + Sync>,
) -> Result<Model, FraudError> {
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

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
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
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let mut trees: Vec<Option<Vec<Node>>> = vec![None; opts.trees];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(opts.trees))
            .map(|_| {
                s.spawn(|| {
                    let mut grown = Vec::new();
                    let mut grower = Grower::new(&data, opts);
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
        let tree = tree.ok_or_else(|| FraudError::Training(format!("tree {t} was not grown")))?;
        forest.push_tree(&tree);
    }

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
    };
    forest.prepare();
    if !holdout_rows.is_empty() {
        report(TrainStage::Evaluating, meta.trees);
        let cols: Vec<Vec<f64>> = columns
            .iter()
            .map(|c| holdout_rows.iter().map(|&r| c.values[r as usize]).collect())
            .collect();
        let scores = forest.predict(&cols, holdout_rows.len());
        let hl: Vec<bool> = holdout_rows.iter().map(|&r| labels[r as usize]).collect();
        meta.metrics = Some(evaluate(&hl, &scores)?);
    }
    meta.duration_secs = started.elapsed().as_secs_f64();
    meta.created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(Model::new(meta, forest))
}

/// One feature quantised: the code of each training row and the upper edge of each bin.
struct Binned {
    codes: Vec<u8>,
    uppers: Vec<f64>,
}

fn bin_features(columns: &[Column], train_rows: &[u32], max_bins: usize, threads: usize) -> Vec<Binned> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<Option<Binned>> = (0..columns.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(columns.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let f = next.fetch_add(1, Ordering::Relaxed);
                        if f >= columns.len() {
                            break;
                        }
                        mine.push((f, bin_one(&columns[f].values, train_rows, max_bins)));
                    }
                    mine
                })
            })
            .collect();
        for h in handles {
            for (f, b) in h.join().unwrap_or_default() {
                out[f] = Some(b);
            }
        }
    });
    out.into_iter()
        .map(|b| {
            b.unwrap_or(Binned {
                codes: Vec::new(),
                uppers: vec![f64::INFINITY],
            })
        })
        .collect()
}

/// Quantile bins over the training values: each distinct value its own bin when there are at most
/// `max_bins`, else cuts at (adaptive) equal-count quantiles. An edge lies halfway between the
/// largest value of its bin and the smallest of the next; the last edge is +inf.
fn bin_one(values: &[f64], rows: &[u32], max_bins: usize) -> Binned {
    let mut sorted: Vec<f64> = rows
        .iter()
        .map(|&r| values[r as usize])
        .filter(|v| !v.is_nan())
        .collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in &sorted {
        match distinct.last_mut() {
            Some((d, c)) if *d == v => *c += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let mut uppers = Vec::new();
    if distinct.len() <= max_bins {
        for w in distinct.windows(2) {
            uppers.push(midpoint(w[0].0, w[1].0));
        }
    } else {
        let total = sorted.len();
        let mut acc = 0usize;
        let mut target = total as f64 / max_bins as f64;
        for i in 0..distinct.len() - 1 {
            acc += distinct[i].1;
            if acc as f64 >= target {
                uppers.push(midpoint(distinct[i].0, distinct[i + 1].0));
                if uppers.len() == max_bins - 1 {
                    break;
                }
                let left = (max_bins - uppers.len()) as f64;
                target = acc as f64 + (total - acc) as f64 / left;
            }
        }
    }
    uppers.push(f64::INFINITY);
    let codes = rows
        .iter()
        .map(|&r| {
            let v = values[r as usize];
            if v.is_nan() {
                MISSING_BIN
            } else {
                uppers.partition_point(|&u| u < v) as u8
            }
        })
        .collect();
    Binned { codes, uppers }
}

fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= b || !m.is_finite() { a } else { m }
}

struct TrainData<'a> {
    /// Per feature, the bin code of each training row.
    bins: Vec<&'a [u8]>,
    /// Per feature, the upper edge of each bin.
    uppers: Vec<&'a [f64]>,
    labels: &'a [bool],
    class_weight: [f64; 2],
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    neg: f64,
    pos: f64,
    n: u32,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.neg += o.neg;
        self.pos += o.pos;
        self.n += o.n;
    }
    fn sub(&self, o: &Stats) -> Stats {
        Stats {
            neg: self.neg - o.neg,
            pos: self.pos - o.pos,
            n: self.n - o.n,
        }
    }
    fn weight(&self) -> f64 {
        self.neg + self.pos
    }
    /// Sum of squared class weights over the total: larger is purer (scikit-learn's Gini proxy).
    fn purity(&self) -> f64 {
        let w = self.weight();
        if w <= 0.0 {
            0.0
        } else {
            (self.neg * self.neg + self.pos * self.pos) / w
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: usize,
    missing_left: bool,
    score: f64,
    left: Stats,
    right: Stats,
}

struct Task {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    stats: Stats,
}

/// Grows trees; owns the per-thread scratch buffers.
struct Grower<'a> {
    data: &'a TrainData<'a>,
    opts: &'a TrainOptions,
    /// Weight of each training row in the current tree (bootstrap count × class weight).
    weight: Vec<f64>,
    rows: Vec<u32>,
    scratch: Vec<u32>,
    hist: Vec<Stats>,
    features: Vec<usize>,
    k: usize,
}

impl<'a> Grower<'a> {
    fn new(data: &'a TrainData<'a>, opts: &'a TrainOptions) -> Self {
        let n = data.labels.len();
        let nf = data.bins.len();
        Self {
            data,
            opts,
            weight: vec![0.0; n],
            rows: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            hist: vec![Stats::default(); 256],
            features: (0..nf).collect(),
            k: opts.max_features.resolve(nf),
        }
    }

    fn grow(&mut self, seed: u64) -> Vec<Node> {
        let mut rng = Rng::new(seed);
        // Every tree starts from the same feature order, whichever thread grew what before.
        self.features.iter_mut().enumerate().for_each(|(i, f)| *f = i);
        let n = self.data.labels.len();
        let labels = self.data.labels;
        let cw = self.data.class_weight;
        self.weight.iter_mut().for_each(|w| *w = 0.0);
        if self.opts.bootstrap {
            for _ in 0..n {
                self.weight[rng.below(n)] += 1.0;
            }
        } else {
            self.weight.iter_mut().for_each(|w| *w = 1.0);
        }
        self.rows.clear();
        let mut root = Stats::default();
        for r in 0..n {
            let w = self.weight[r];
            if w > 0.0 {
                let w = w * cw[labels[r] as usize];
                self.weight[r] = w;
                self.rows.push(r as u32);
                if labels[r] {
                    root.pos += w;
                } else {
                    root.neg += w;
                }
                root.n += 1;
            }
        }
        let mut nodes = vec![Node::leaf(leaf_value(&root))];
        let mut stack = vec![Task {
            node: 0,
            start: 0,
            end: self.rows.len(),
            depth: 0,
            stats: root,
        }];
        let msl = self.opts.min_samples_leaf as u32;
        while let Some(t) = stack.pop() {
            nodes[t.node] = Node::leaf(leaf_value(&t.stats));
            let depth_ok = self.opts.max_depth.is_none_or(|d| t.depth < d);
            if !depth_ok || t.stats.n < 2 * msl || t.stats.n < 2 || t.stats.pos <= 0.0 || t.stats.neg <= 0.0 {
                continue;
            }
            let Some(split) = self.best_split(&mut rng, &t) else {
                continue;
            };
            let mid = self.partition(t.start, t.end, &split);
            let left = nodes.len();
            let threshold = self.data.uppers[split.feature][split.bin];
            nodes[t.node] = Node {
                threshold,
                feature: split.feature as u16,
                flags: if split.missing_left { MISSING_LEFT } else { 0 },
                left: left as u32,
            };
            nodes.push(Node::leaf(leaf_value(&split.left)));
            nodes.push(Node::leaf(leaf_value(&split.right)));
            stack.push(Task {
                node: left + 1,
                start: mid,
                end: t.end,
                depth: t.depth + 1,
                stats: split.right,
            });
            stack.push(Task {
                node: left,
                start: t.start,
                end: mid,
                depth: t.depth + 1,
                stats: split.left,
            });
        }
        nodes
    }

    /// The best split over at least `k` randomly drawn features that are not constant in the node
    /// (scikit-learn's rule), or None when no feature can split it.
    fn best_split(&mut self, rng: &mut Rng, t: &Task) -> Option<Split> {
        let nf = self.features.len();
        let mut best: Option<Split> = None;
        let mut useful = 0;
        let msl = self.opts.min_samples_leaf as u32;
        let labels = self.data.labels;
        for i in 0..nf {
            if useful >= self.k {
                break;
            }
            let j = i + rng.below(nf - i);
            self.features.swap(i, j);
            let f = self.features[i];
            let bins = self.data.bins[f];
            self.hist.iter_mut().for_each(|h| *h = Stats::default());
            for &r in &self.rows[t.start..t.end] {
                let h = &mut self.hist[bins[r as usize] as usize];
                let w = self.weight[r as usize];
                if labels[r as usize] {
                    h.pos += w;
                } else {
                    h.neg += w;
                }
                h.n += 1;
            }
            let nonempty = self.hist.iter().filter(|h| h.n > 0).count();
            if nonempty < 2 {
                continue;
            }
            useful += 1;
            let missing = self.hist[MISSING_BIN as usize];
            let nbins = self.data.uppers[f].len();
            let mut cum = Stats::default();
            for b in 0..nbins.min(MISSING_BIN as usize) {
                let h = self.hist[b];
                if h.n == 0 {
                    continue;
                }
                cum.add(&h);
                for missing_left in [false, true] {
                    if missing_left && missing.n == 0 {
                        continue;
                    }
                    let mut left = cum;
                    if missing_left {
                        left.add(&missing);
                    }
                    let right = t.stats.sub(&left);
                    if left.n < msl || right.n < msl || left.n == 0 || right.n == 0 {
                        continue;
                    }
                    if left.weight() <= 0.0 || right.weight() <= 0.0 {
                        continue;
                    }
                    let score = left.purity() + right.purity();
                    if best.is_none_or(|s| score > s.score) {
                        // With no missing rows here, missing values follow the larger child.
                        let missing_left = if missing.n == 0 {
                            left.n >= right.n
                        } else {
                            missing_left
                        };
                        best = Some(Split {
                            feature: f,
                            bin: b,
                            missing_left,
                            score,
                            left,
                            right,
                        });
                    }
                }
            }
        }
        best
    }

    /// Stable partition of `rows[start..end]` by the split; returns the start of the right part.
    fn partition(&mut self, start: usize, end: usize, split: &Split) -> usize {
        let bins = self.data.bins[split.feature];
        self.scratch.clear();
        let mut w = start;
        for i in start..end {
            let r = self.rows[i];
            let b = bins[r as usize];
            let left = if b == MISSING_BIN {
                split.missing_left
            } else {
                b as usize <= split.bin
            };
            if left {
                self.rows[w] = r;
                w += 1;
            } else {
                self.scratch.push(r);
            }
        }
        self.rows[w..end].copy_from_slice(&self.scratch);
        w
    }
}

fn leaf_value(s: &Stats) -> f64 {
    let w = s.weight();
    if w <= 0.0 {
        0.0
    } else {
        (s.pos / w).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_distinct_values_and_quantiles() {
        let values = vec![3.0, 1.0, f64::NAN, 2.0, 1.0];
        let rows: Vec<u32> = (0..5).collect();
        let b = bin_one(&values, &rows, 255);
        assert_eq!(b.uppers, vec![1.5, 2.5, f64::INFINITY]);
        assert_eq!(b.codes, vec![2, 0, MISSING_BIN, 1, 0]);

        let values: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let rows: Vec<u32> = (0..10_000).collect();
        let b = bin_one(&values, &rows, 16);
        assert_eq!(b.uppers.len(), 16);
        let mut counts = [0usize; 16];
        for &c in &b.codes {
            counts[c as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (600..=650).contains(&c)), "{counts:?}");
    }
}
