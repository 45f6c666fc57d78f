//! Training and scoring speed of the random forest, on the synthetic data that
//! `sklearn_reference.py bench` times scikit-learn on: 15 uniform features, feature j of row r is
//! `unit(mix64(r * 16 + j))`, the label a noisy logistic function of six of them.
//!
//! - `forest/train_1m_rows_15_features`: `train` on 1 M rows, 100 trees of depth 10.
//! - `forest/score_200k_rows_100_trees`: `Model::score_batch` on 200 k fresh rows with that forest.
//! - `forest/explain_2k_rows_100_trees`: `Model::explain_batch` (exact TreeSHAP) on 2,000 of them;
//!   the path algorithm's rate on the same rows is printed once beside it (`FOREST_EXPLAIN_ONLY=1`
//!   prints that and stops; `FOREST_EXPLAIN_FAST=1` times only the batch algorithm on the
//!   fraud-shaped forest).
//!
//! The holdout AUC of the trained forest is printed once, to compare with scikit-learn's.
//!
//! For quicker scoring runs, `FOREST_BENCH_MODELS=/some/dir` keeps the trained forest in a model
//! store there and reuses it (`-- score` then skips training entirely), and `FOREST_SCORE_ONCE=1`
//! scores the 200 k rows once and exits, for `valgrind --tool=callgrind`. `FOREST_SCORE_REPEAT=n`
//! scores them n times and prints the rates in wall-clock and in this thread's CPU time; on a
//! loaded machine the CPU-time rate leaves out the time the thread waited for a core.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use nightshift_fraud::{Model, ModelOptions, ModelStore, evaluate, train};
use object_store::local::LocalFileSystem;
use object_store::path::Path;

const ROWS: usize = 1_000_000;
const EVAL_ROWS: usize = 200_000;
const FEATURES: usize = 15;
/// Rows explained by `forest/explain_2k_rows_100_trees`.
const EXPLAIN_ROWS: usize = 2_000;
/// [`data_shifted`]'s shift for the fraud-shaped forest.
const RARE_SHIFT: f64 = 5.8;

fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Feature columns and labels of rows `start..start + rows`.
fn data(start: usize, rows: usize) -> (Vec<ArrayRef>, Vec<bool>) {
    data_shifted(start, rows, 0.0)
}

/// [`data`] with the logit lowered by `shift`: 7.5 gives about 0.8% positives, the share of the
/// fraud benchmarks (and trees whose pure branches stop early).
fn data_shifted(start: usize, rows: usize, shift: f64) -> (Vec<ArrayRef>, Vec<bool>) {
    let mut cols: Vec<Vec<f64>> = (0..FEATURES).map(|_| Vec::with_capacity(rows)).collect();
    let mut labels = Vec::with_capacity(rows);
    for r in start..start + rows {
        let base = r as u64 * 16;
        let x: Vec<f64> = (0..FEATURES as u64).map(|j| unit(mix64(base + j))).collect();
        let z = 6.0 * (x[0] - 0.5) + 4.0 * (x[1] * x[2] - 0.25) + 3.0 * f64::from(u8::from(x[3] > 0.8))
            - 2.0 * x[4]
            + 2.0 * (6.0 * x[5]).sin()
            - 2.0;
        labels.push(unit(mix64(base + 15)) < 1.0 / (1.0 + (shift - z).exp()));
        for (c, v) in cols.iter_mut().zip(x) {
            c.push(v);
        }
    }
    let cols = cols
        .into_iter()
        .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
        .collect();
    (cols, labels)
}

fn options() -> ModelOptions {
    // `FOREST_MAX_DEPTH=none` grows the trees of `nightshift bench fraud` (unlimited depth).
    let depth = std::env::var("FOREST_MAX_DEPTH").unwrap_or_else(|_| "10".to_string());
    let pairs: Vec<(String, String)> = [
        ("type", "random_forest"),
        ("target", "label"),
        ("trees", "100"),
        ("max_depth", depth.as_str()),
        ("min_samples_leaf", "1"),
        ("max_features", "sqrt"),
        ("seed", "42"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ModelOptions::from_pairs(&pairs).expect("valid options")
}

fn batches(cols: &[ArrayRef], labels: &[bool]) -> (Arc<Schema>, Vec<RecordBatch>) {
    let mut fields: Vec<Field> = (0..FEATURES)
        .map(|j| Field::new(format!("f{j}"), DataType::Float64, false))
        .collect();
    fields.push(Field::new("label", DataType::Boolean, false));
    let schema = Arc::new(Schema::new(fields));
    let mut all = cols.to_vec();
    all.push(Arc::new(BooleanArray::from(labels.to_vec())));
    let batch = RecordBatch::try_new(schema.clone(), all).expect("batch");
    let out = (0..batch.num_rows())
        .step_by(8192)
        .map(|s| batch.slice(s, 8192.min(batch.num_rows() - s)))
        .collect();
    (schema, out)
}

fn fit(rt: &tokio::runtime::Runtime, schema: &Arc<Schema>, batches: &[RecordBatch]) -> Model {
    let owned: Vec<RecordBatch> = batches.to_vec();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema.clone(),
        futures::stream::iter(owned.into_iter().map(Ok)),
    ));
    rt.block_on(train(stream, &options(), Arc::new(|_| {})))
        .expect("trains")
}

/// Training rows as record batches.
fn training_batches() -> (Arc<Schema>, Vec<RecordBatch>) {
    let (cols, labels) = data(0, ROWS);
    batches(&cols, &labels)
}

/// The benchmark forest, from `FOREST_BENCH_MODELS` when a previous run saved it there.
fn model(rt: &tokio::runtime::Runtime) -> Arc<Model> {
    let Some(dir) = std::env::var_os("FOREST_BENCH_MODELS") else {
        let (schema, batches) = training_batches();
        return Arc::new(fit(rt, &schema, &batches));
    };
    std::fs::create_dir_all(&dir).expect("model dir");
    let fs = LocalFileSystem::new_with_prefix(&dir).expect("model dir");
    let store = ModelStore::new(Arc::new(fs), Path::from("models"));
    if let Ok(m) = rt.block_on(store.load("bench_forest", None)) {
        return m;
    }
    let (schema, batches) = training_batches();
    let trained = fit(rt, &schema, &batches);
    rt.block_on(store.save("bench_forest", trained)).expect("saves")
}

/// This thread's user + system CPU time in seconds, from /proc (clock ticks of 10 ms).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn score_repeatedly(model: &Model, cols: &[ArrayRef], n: usize) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (t, c) = (std::time::Instant::now(), thread_cpu_seconds());
        black_box(model.score_batch(black_box(cols)).expect("scores"));
        wall.push(EVAL_ROWS as f64 / t.elapsed().as_secs_f64());
        cpu.push(EVAL_ROWS as f64 / (thread_cpu_seconds() - c).max(0.01));
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let k = |v: &[f64]| {
        format!(
            "best {:.0}, median {:.0}, worst {:.0}",
            v[v.len() - 1],
            v[v.len() / 2],
            v[0]
        )
    };
    println!(
        "score rows/s over {n} runs: wall-clock {}; CPU time {}",
        k(&wall),
        k(&cpu)
    );
}

/// The fraud-shaped forest (100 trees on 67 k rows with about 0.8% positives), the number of its
/// positives, and `EXPLAIN_ROWS * 10` fresh rows to explain.
fn fraud_shaped(rt: &tokio::runtime::Runtime) -> (Model, usize, Vec<ArrayRef>) {
    let (rare_cols, rare_labels) = data_shifted(0, 67_000, RARE_SHIFT);
    let (schema, rare_batches) = batches(&rare_cols, &rare_labels);
    let rare = fit(rt, &schema, &rare_batches);
    let (rare_eval, _) = data_shifted(ROWS, EXPLAIN_ROWS * 10, RARE_SHIFT);
    (rare, rare_labels.iter().filter(|&&l| l).count(), rare_eval)
}

/// `FOREST_EXPLAIN_FAST=1`: the batch algorithm alone on the fraud-shaped forest, best of 3, for
/// quick comparisons and profiles of `fast_shap`.
fn explain_fraud_shaped(rt: &tokio::runtime::Runtime) {
    let (rare, _, rare_eval) = fraud_shaped(rt);
    // Wall-clock and this thread's CPU time: on a shared machine whose cores are taken away for
    // a while (steal time), the CPU time leaves out the waits.
    let (best, best_cpu) = (0..3)
        .map(|_| {
            let (t, c) = (std::time::Instant::now(), thread_cpu_seconds());
            black_box(rare.explain_batch(&rare_eval).expect("explains"));
            (t.elapsed().as_secs_f64(), thread_cpu_seconds() - c)
        })
        .fold((f64::INFINITY, f64::INFINITY), |(w, c), (a, b)| {
            (w.min(a), c.min(b))
        });
    eprintln!(
        "fraud-shaped forest: {} nodes; explain {} rows, 1 core, best of 3: {:.0} rows/s wall-clock, {:.0} rows/s CPU time",
        rare.meta().nodes,
        EXPLAIN_ROWS * 10,
        (EXPLAIN_ROWS * 10) as f64 / best,
        (EXPLAIN_ROWS * 10) as f64 / best_cpu.max(0.01)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os("FOREST_EXPLAIN_FAST").is_some() {
        explain_fraud_shaped(&rt);
        return;
    }
    let (eval_cols, eval_labels) = data(ROWS, EVAL_ROWS);
    let model = model(&rt);
    let scores = model.score_batch(&eval_cols).expect("scores");
    if std::env::var_os("FOREST_SCORE_ONCE").is_some() {
        black_box(scores);
        return;
    }
    if let Some(n) = std::env::var("FOREST_SCORE_REPEAT")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        score_repeatedly(&model, &eval_cols, n);
        return;
    }
    let m = evaluate(&eval_labels, scores.values()).expect("metrics");
    eprintln!(
        "forest: {} trees, {} nodes; holdout AUC {:.4}, AP {:.4}",
        model.meta().trees,
        model.meta().nodes,
        m.auc_roc,
        m.average_precision
    );

    // Explaining: the batch algorithm (`explain_batch`) against the path algorithm it replaced,
    // on one core, printed once; criterion times the batch algorithm below.
    let explain_cols: Vec<ArrayRef> = eval_cols.iter().map(|c| c.slice(0, EXPLAIN_ROWS)).collect();
    let t = std::time::Instant::now();
    let fast = model.explain_batch(&explain_cols).expect("explains");
    let fast_secs = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let slow = model.explain_batch_reference(&explain_cols).expect("explains");
    let slow_secs = t.elapsed().as_secs_f64();
    let worst = fast
        .contributions
        .iter()
        .flatten()
        .zip(slow.contributions.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "explain {EXPLAIN_ROWS} rows, 1 core: batch algorithm {:.0} rows/s, path algorithm {:.0} rows/s \
         ({:.1}x), largest difference {worst:.1e}",
        EXPLAIN_ROWS as f64 / fast_secs,
        EXPLAIN_ROWS as f64 / slow_secs,
        slow_secs / fast_secs
    );
    let (rare, positives, rare_eval) = fraud_shaped(&rt);
    let t = std::time::Instant::now();
    black_box(rare.explain_batch(&rare_eval).expect("explains"));
    let fast_secs = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    black_box(rare.explain_batch_reference(&rare_eval).expect("explains"));
    let slow_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "fraud-shaped forest ({} positives in 67000 rows): {} nodes; explain {} rows, 1 core: batch \
         algorithm {:.0} rows/s, path algorithm {:.0} rows/s",
        positives,
        rare.meta().nodes,
        EXPLAIN_ROWS * 10,
        (EXPLAIN_ROWS * 10) as f64 / fast_secs,
        (EXPLAIN_ROWS * 10) as f64 / slow_secs,
    );
    if std::env::var_os("FOREST_EXPLAIN_ONLY").is_some() {
        return;
    }

    let mut g = c.benchmark_group("forest");
    g.throughput(Throughput::Elements(EXPLAIN_ROWS as u64));
    g.sample_size(10);
    g.bench_function("explain_2k_rows_100_trees", |b| {
        b.iter(|| black_box(model.explain_batch(black_box(&explain_cols)).expect("explains")))
    });
    g.throughput(Throughput::Elements(EVAL_ROWS as u64));
    g.sample_size(10);
    g.bench_function("score_200k_rows_100_trees", |b| {
        b.iter(|| black_box(model.score_batch(black_box(&eval_cols)).expect("scores")))
    });
    g.throughput(Throughput::Elements(ROWS as u64));
    g.measurement_time(Duration::from_secs(30));
    g.bench_function("train_1m_rows_15_features", |b| {
        let (schema, train_batches) = training_batches();
        b.iter(|| black_box(fit(&rt, &schema, &train_batches)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
