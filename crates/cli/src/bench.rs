//! `nightshift bench`: end-to-end throughput of the example jobs, against raw DataFusion on the
//! same data in the same run.

use std::time::Instant;

use anyhow::{Context, Result};
use nightshift_core::{Params, Session, Settings};

use crate::args::{BenchCommand, FraudBenchArgs, GlobalArgs};
use crate::failure::Failure;

/// Runs the benchmark `command` names and prints its table.
pub async fn run(command: BenchCommand, g: &GlobalArgs) -> Result<(), Failure> {
    let results = match command {
        BenchCommand::Tpch {
            scale,
            queries,
            repeat,
            parts,
            data,
        } => {
            let args = crate::tpch::TpchArgs {
                scale,
                queries,
                repeat,
                parts,
                data,
            };
            return crate::tpch::run(args, g).await;
        }
        BenchCommand::Sentiment { rows, days, repeat } => sentiment(rows, days, repeat as usize).await?,
        BenchCommand::Cluster {
            reviews,
            transactions,
            repeat,
        } => cluster(reviews, transactions, repeat as usize).await?,
        BenchCommand::Fraud(args) => fraud(args).await?,
    };
    print(&results);
    Ok(())
}

/// One measured run.
struct Measurement {
    label: String,
    partitions: usize,
    seconds: f64,
    rows: usize,
}

impl Measurement {
    fn per_second(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

/// The daily sentiment report, as `queries/daily_sentiment.sql` runs it, written as Parquet.
const REPORT: &str = "SELECT review_date, sentiment_label(review_text) AS sentiment, count(*) AS reviews \
                      FROM reviews GROUP BY 1, 2";
/// The same scan and grouping without scoring: what DataFusion alone costs.
const BASELINE: &str = "SELECT review_date, length(review_text) % 3 AS bucket, count(*) AS reviews \
                        FROM reviews GROUP BY 1, 2";

/// Generates `rows` reviews and times the report on 1 and on every core, with the baseline.
async fn sentiment(rows: usize, days: u32, repeat: usize) -> Result<Vec<Measurement>> {
    let dir = tempfile::tempdir().context("cannot create a temp folder for the benchmark lake")?;
    let lake = dir.path().join("lake");
    let opts = nightshift_datasets::GenerateOptions {
        out: lake.clone(),
        reviews: rows,
        transactions: 0,
        days,
        ..Default::default()
    };
    nightshift_datasets::generate(&opts)?;
    let cores = nightshift_core::runtime_threads();
    let mut partitions = vec![1];
    if cores > 1 {
        partitions.push(cores);
    }
    let mut out = Vec::new();
    for &p in &partitions {
        let mut settings = Settings::default();
        settings.lake.root = lake.display().to_string();
        settings.engine.target_partitions = Some(p);
        let session = Session::new(settings).await?;
        for (label, sql) in [("datafusion baseline", BASELINE), ("sentiment report", REPORT)] {
            let mut best = f64::INFINITY;
            for i in 0..repeat.max(1) {
                let target = dir.path().join(format!("report-{p}-{i}.parquet"));
                let copy = format!("COPY ({sql}) TO '{}' STORED AS PARQUET", target.display());
                let started = Instant::now();
                session.sql(&copy, &Params::new()).await?.collect().await?;
                best = best.min(started.elapsed().as_secs_f64());
            }
            out.push(Measurement {
                label: label.to_string(),
                partitions: p,
                seconds: best,
                rows,
            });
        }
    }
    Ok(out)
}

/// Prints the measurements as a table. A run of more partitions than threads uses the threads:
/// the rate per core divides by the fewer of the two.
fn print(results: &[Measurement]) {
    let threads = nightshift_core::runtime_threads();
    let width = results.iter().map(|m| m.label.len()).max().unwrap_or(0).max(32);
    println!(
        "{:<width$} {:>10} {:>12} {:>10} {:>16} {:>16}",
        "query", "partitions", "rows", "seconds", "rows/s", "rows/s per core"
    );
    for m in results {
        println!(
            "{:<width$} {:>10} {:>12} {:>10.3} {:>16.0} {:>16.0}",
            m.label,
            m.partitions,
            m.rows,
            m.seconds,
            m.per_second(),
            m.per_second() / m.partitions.min(threads).max(1) as f64
        );
    }
}

/// The 15 features `bench fraud` trains and scores with: the transaction's columns and some derived
/// from them, as a fraud analyst would write them.
const FRAUD_FEATURES: &str = "amount, latitude, longitude, region, time_of_day, merchant_category, \
    card_present, customer_id % 1000 AS customer_bucket, terminal_id % 1000 AS terminal_bucket, \
    ln(amount + 1) AS log_amount, time_of_day / 3600 AS hour, \
    CAST(extract(dow FROM tx_date) AS INT) AS weekday, abs(latitude) AS abs_latitude, \
    abs(longitude) AS abs_longitude, CASE WHEN card_present THEN amount ELSE 0 END AS present_amount";
const FRAUD_COLUMNS: &str = "amount, latitude, longitude, region, time_of_day, merchant_category, \
    card_present, customer_bucket, terminal_bucket, log_amount, hour, weekday, abs_latitude, abs_longitude, \
    present_amount";

/// Times the Python peers on the features file: each is fitted on the first `train_rows` rows
/// (two threads), then the best of `repeat` predict_proba runs over every row (two threads).
/// A forest is scikit-learn's RandomForestClassifier; boosted trees are LightGBM's, XGBoost's and
/// scikit-learn's HistGradientBoostingClassifier with nightshift's boosting settings (0.1 × trees,
/// the depth, 2^depth leaves, L2 1, one row a leaf, no early stopping). A peer that is not
/// installed is reported as missing. Prints `[{"peer": name, "fit": s, "predict": s}, ...]`.
const PEER_TIMING: &str = r#"
import importlib.util, json, sys, time
import pandas as pd
import pyarrow.parquet as pq
path, trees, depth, repeat, train_rows, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
df = pq.read_table(path).to_pandas()
y = df.pop("is_fraudulent").to_numpy()
for c in df.columns:
    if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])):
        df[c] = df[c].astype("category").cat.codes
x = df.to_numpy(dtype="float64")
def forest():
    from sklearn.ensemble import RandomForestClassifier
    return RandomForestClassifier(trees, max_depth=None if depth == "none" else int(depth), max_features="sqrt",
                                  n_jobs=2, random_state=42)
d = 6 if depth == "none" else int(depth)
def lightgbm():
    import lightgbm as lgb
    return lgb.LGBMClassifier(n_estimators=trees, learning_rate=0.1, max_depth=d, num_leaves=min(2 ** d, 131072),
                              reg_lambda=1.0, min_child_samples=1, n_jobs=2, random_state=42, verbose=-1)
def xgboost():
    import xgboost as xgb
    return xgb.XGBClassifier(n_estimators=trees, learning_rate=0.1, max_depth=d, reg_lambda=1.0,
                             tree_method="hist", n_jobs=2, random_state=42)
def hist_gradient_boosting():
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(max_iter=trees, learning_rate=0.1, max_depth=d, max_leaf_nodes=None,
                                          l2_regularization=1.0, min_samples_leaf=1, early_stopping=False,
                                          random_state=42)
peers = [("scikit-learn", "sklearn", forest)] if kind == "random_forest" else [
    ("LightGBM", "lightgbm", lightgbm), ("XGBoost", "xgboost", xgboost),
    ("scikit-learn hist gradient boosting", "sklearn", hist_gradient_boosting)]
out = []
for name, module, make in peers:
    if importlib.util.find_spec(module) is None:
        out.append({"peer": name, "missing": module})
        continue
    t = time.perf_counter()
    m = make().fit(x[:train_rows], y[:train_rows])
    fit = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        m.predict_proba(x)
        best = min(best, time.perf_counter() - t)
    out.append({"peer": name, "fit": fit, "predict": best})
print(json.dumps(out))
"#;

/// Generates `rows` transactions, trains a model on them through `CREATE MODEL`, then scores every
/// row with `predict` beside a DataFusion baseline that reads the same 15 columns, explains a share
/// of them on one partition, and (with `--sklearn`) times scikit-learn on the same features.
async fn fraud(args: FraudBenchArgs) -> Result<Vec<Measurement>> {
    let FraudBenchArgs {
        rows,
        trees,
        repeat,
        train_rows,
        max_depth,
        kind,
        explain_rows,
        sklearn,
    } = args;
    let (trees, repeat) = (trees as usize, repeat as usize);
    let train_rows = train_rows.unwrap_or(rows).min(rows);
    let dir = tempfile::tempdir().context("cannot create a temp folder for the benchmark lake")?;
    let lake = dir.path().join("lake");
    let opts = nightshift_datasets::GenerateOptions {
        out: lake.clone(),
        reviews: 0,
        transactions: rows,
        days: 30,
        ..Default::default()
    };
    nightshift_datasets::generate(&opts)?;
    let mut settings = Settings::default();
    settings.lake.root = lake.display().to_string();
    let session = Session::new(settings).await?;
    let partitions = session.context().state().config().target_partitions();
    let none = Params::new();
    // Features are computed once into memory, so that training and scoring are what is timed.
    session
        .sql(
            &format!("CREATE TABLE features AS SELECT {FRAUD_FEATURES}, is_fraudulent FROM transactions"),
            &none,
        )
        .await?
        .collect()
        .await?;
    let mut out = Vec::new();
    let depth = max_depth.map_or(String::new(), |d| format!(", max_depth = {d}"));
    let shape = if kind == "random_forest" {
        format!("trees = {trees}, max_features = 'sqrt'")
    } else {
        format!("trees = {trees}, early_stopping_rounds = 0")
    };
    let started = Instant::now();
    session
        .sql(
            &format!(
                "CREATE MODEL bench OPTIONS (type = '{kind}', target = 'is_fraudulent', {shape}{depth}, \
                 seed = 42) AS SELECT * FROM features LIMIT {train_rows}"
            ),
            &none,
        )
        .await?
        .collect()
        .await?;
    out.push(Measurement {
        label: format!("train {trees} trees ({kind})"),
        partitions,
        seconds: started.elapsed().as_secs_f64(),
        rows: train_rows,
    });
    let baseline = "SELECT sum(amount + latitude + longitude + length(region) + time_of_day \
         + length(merchant_category) + CAST(card_present AS INT) + customer_bucket + terminal_bucket \
         + log_amount + hour + weekday + abs_latitude + abs_longitude + present_amount) FROM features"
        .to_string();
    let scoring = format!("SELECT sum(predict('bench', {FRAUD_COLUMNS})) FROM features");
    for (label, sql) in [("datafusion baseline", baseline), ("score (predict)", scoring)] {
        let seconds = best_of(&session, &sql, repeat).await?;
        out.push(Measurement {
            label: label.to_string(),
            partitions,
            seconds,
            rows,
        });
    }
    if explain_rows > 0 {
        // One partition: the rate is one core's.
        let n = explain_rows.min(rows);
        session
            .sql(
                &format!("CREATE TABLE explained AS SELECT * FROM features LIMIT {n}"),
                &none,
            )
            .await?
            .collect()
            .await?;
        let sql =
            format!("SELECT sum(array_length(explain_top('bench', 3, {FRAUD_COLUMNS}))) FROM explained");
        session
            .sql("SET datafusion.execution.target_partitions = 1", &none)
            .await?
            .collect()
            .await?;
        let seconds = best_of(&session, &sql, repeat.min(2)).await?;
        out.push(Measurement {
            label: "explain (explain_top)".to_string(),
            partitions: 1,
            seconds,
            rows: n,
        });
    }
    if let Some(python) = sklearn {
        let file = dir.path().join("features.parquet");
        session
            .sql(
                &format!("COPY features TO '{}' STORED AS PARQUET", file.display()),
                &none,
            )
            .await?
            .collect()
            .await?;
        let depth = max_depth.map_or("none".to_string(), |d| d.to_string());
        let run = std::process::Command::new(&python)
            .args(["-c", PEER_TIMING])
            .arg(&file)
            .args([
                trees.to_string(),
                depth,
                repeat.to_string(),
                train_rows.to_string(),
                kind.clone(),
            ])
            .output()
            .with_context(|| format!("cannot run {}", python.display()))?;
        anyhow::ensure!(
            run.status.success(),
            "the Python peers failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let peers: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).with_context(|| {
            format!(
                "unreadable timing from the Python peers: {}",
                String::from_utf8_lossy(&run.stdout)
            )
        })?;
        for peer in &peers {
            let name = peer["peer"].as_str().unwrap_or("?");
            if let Some(module) = peer["missing"].as_str() {
                eprintln!("{name} not timed: {} has no module '{module}'", python.display());
                continue;
            }
            for (what, key, n) in [("fit", "fit", train_rows), ("predict_proba", "predict", rows)] {
                out.push(Measurement {
                    label: format!("{name} {what}"),
                    partitions: 2,
                    seconds: peer[key].as_f64().unwrap_or(f64::NAN),
                    rows: n,
                });
            }
        }
    }
    Ok(out)
}

/// The best wall time of `repeat` runs of `sql`.
async fn best_of(session: &Session, sql: &str, repeat: usize) -> Result<f64> {
    let none = Params::new();
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        session.sql(sql, &none).await?.collect().await?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The daily sentiment report as `bench cluster` runs it: the grouped counts come back to the client
/// (no file written), in every mode alike.
const CLUSTER_REPORT: &str = "SELECT review_date, sentiment_label(review_text) AS sentiment, count(*) AS reviews \
                              FROM reviews GROUP BY 1, 2";
/// Fraud scoring as the fraud-scoring job does it: every transaction scored with the model.
const CLUSTER_SCORING: &str = "SELECT tx_date, count(*) AS transactions, \
    count(*) FILTER (WHERE predict('bench', amount, latitude, longitude, region, merchant_category, \
    time_of_day, card_present) > 0.5) AS flagged FROM transactions GROUP BY 1";

/// Where `bench cluster` runs a query.
struct Mode {
    label: &'static str,
    executors: usize,
    slots: usize,
}

/// Runs the daily sentiment report over `reviews` generated reviews and fraud scoring over
/// `transactions` generated transactions (with a 50-tree model trained first): locally, on Ballista
/// standalone (one executor, a slot per core), and on 1 and 2 executors of one slot each, all in this
/// process and over loopback gRPC. Rows per second per core is the sizing figure.
async fn cluster(reviews: usize, transactions: usize, repeat: usize) -> Result<Vec<Measurement>> {
    let dir = tempfile::tempdir().context("cannot create a temp folder for the benchmark lake")?;
    let lake = dir.path().join("lake");
    nightshift_datasets::generate(&nightshift_datasets::GenerateOptions {
        out: lake.clone(),
        reviews,
        transactions,
        days: 30,
        ..Default::default()
    })?;
    let cores = nightshift_core::runtime_threads();
    let mut settings = Settings::default();
    settings.lake.root = lake.display().to_string();
    let none = Params::new();
    let local = Session::new(settings.clone()).await?;
    local
        .sql(
            "CREATE MODEL bench OPTIONS (type = 'random_forest', target = 'is_fraudulent', trees = 50, seed = 42) \
             AS SELECT amount, latitude, longitude, region, merchant_category, time_of_day, card_present, \
             is_fraudulent FROM transactions",
            &none,
        )
        .await?
        .collect()
        .await?;
    let modes = [
        Mode {
            label: "local",
            executors: 0,
            slots: cores,
        },
        Mode {
            label: "standalone",
            executors: 1,
            slots: cores,
        },
        Mode {
            label: "1 executor",
            executors: 1,
            slots: 1,
        },
        Mode {
            label: "2 executors",
            executors: 2,
            slots: 1,
        },
    ];
    let mut out = Vec::new();
    for mode in &modes {
        let session = if mode.executors == 0 {
            Session::new(settings.clone()).await?
        } else {
            let kit = nightshift_cluster::NodeKit::new(&settings)?;
            let addr = nightshift_cluster::start_standalone(&kit, mode.executors, mode.slots).await?;
            nightshift_cluster::connect(settings.clone(), &format!("df://localhost:{}", addr.port())).await?
        };
        for (query, sql, rows) in [
            ("sentiment report", CLUSTER_REPORT, reviews),
            ("fraud scoring", CLUSTER_SCORING, transactions),
        ] {
            let mut best = f64::INFINITY;
            for _ in 0..repeat.max(1) {
                let started = Instant::now();
                session.sql(sql, &none).await?.collect().await?;
                best = best.min(started.elapsed().as_secs_f64());
            }
            out.push(Measurement {
                label: format!("{query} · {}", mode.label),
                partitions: if mode.executors == 0 {
                    session.context().state().config().target_partitions()
                } else {
                    mode.executors * mode.slots
                },
                seconds: best,
                rows,
            });
        }
    }
    Ok(out)
}
