//! The `OPTIONS (...)` of `CREATE MODEL`: parsing and validation.

use serde::{Deserialize, Serialize};

use crate::FraudError;
use crate::error::invalid_option;

/// The name of the boolean column the session appends to the training query for
/// `holdout_where = '<expr>'` (as `(<expr>) AS __holdout`); [`ModelOptions::from_pairs`] maps
/// `holdout_where` to `Holdout::Column(HOLDOUT_COLUMN)`.
pub const HOLDOUT_COLUMN: &str = "__holdout";

/// The most bins a feature is quantised into (codes 0..=254; 255 marks a missing value).
pub const MAX_BINS: usize = 255;

/// How many features each split considers (scikit-learn's `max_features`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// `max(1, int(sqrt(n)))`, as scikit-learn.
    Sqrt,
    /// `max(1, int(log2(n)))`.
    Log2,
    /// Every feature at every split.
    All,
    /// A fixed number of features (at most n).
    Count(usize),
    /// A fraction of the features, `max(1, int(fraction * n))`.
    Fraction(f64),
}

impl MaxFeatures {
    /// The number of features to draw at each split out of `n`.
    pub fn resolve(&self, n: usize) -> usize {
        let k = match *self {
            MaxFeatures::Sqrt => (n as f64).sqrt() as usize,
            MaxFeatures::Log2 => (n as f64).log2() as usize,
            MaxFeatures::All => n,
            MaxFeatures::Count(k) => k,
            MaxFeatures::Fraction(f) => (f * n as f64) as usize,
        };
        k.clamp(1, n.max(1))
    }

    fn parse(value: &str) -> Result<Self, FraudError> {
        let v = value.trim().to_ascii_lowercase();
        match v.as_str() {
            "sqrt" | "auto" => return Ok(MaxFeatures::Sqrt),
            "log2" => return Ok(MaxFeatures::Log2),
            "all" | "none" => return Ok(MaxFeatures::All),
            _ => {}
        }
        if let Ok(k) = v.parse::<usize>() {
            if k == 0 {
                return Err(invalid_option("max_features", "must be at least 1"));
            }
            return Ok(MaxFeatures::Count(k));
        }
        match v.parse::<f64>() {
            Ok(f) if f > 0.0 && f <= 1.0 => Ok(MaxFeatures::Fraction(f)),
            _ => Err(invalid_option(
                "max_features",
                format!(
                    "'{value}' is not one of 'sqrt', 'log2', 'all', a count >= 1 or a fraction in (0, 1]"
                ),
            )),
        }
    }
}

/// Weights of the two classes while training (scikit-learn's `class_weight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row weighs 1.
    None,
    /// Each class weighs `rows / (2 * rows_of_class)`, as scikit-learn's `'balanced'`.
    Balanced,
}

/// Where the holdout rows that `CREATE MODEL` evaluates the model on come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holdout {
    /// No holdout: every row trains, the model has no metrics.
    None,
    /// This fraction of the rows, chosen by a hash of the row's position and the seed.
    Fraction(f64),
    /// Rows where this boolean column of the input is true are held out (NULL counts as false);
    /// the column is not a feature.
    Column(String),
}

/// What `CREATE MODEL` trains (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// `'random_forest'`: bagged trees; the score is the mean of their leaf probabilities.
    #[default]
    RandomForest,
    /// `'gradient_boosting'`: boosted trees on the logistic loss; the score is the sigmoid of the
    /// base log-odds plus the trees' sum.
    GradientBoosting,
}

impl ModelKind {
    /// The SQL name, as `type = '…'` takes it.
    pub fn sql_name(self) -> &'static str {
        match self {
            ModelKind::RandomForest => "random_forest",
            ModelKind::GradientBoosting => "gradient_boosting",
        }
    }

    fn parse(value: &str) -> Result<Self, FraudError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "random_forest" => Ok(ModelKind::RandomForest),
            "gradient_boosting" | "boosted_trees" => Ok(ModelKind::GradientBoosting),
            other => Err(invalid_option(
                "type",
                format!("'{other}' is not supported; use type = 'random_forest' or 'gradient_boosting'"),
            )),
        }
    }
}

/// The hyper-parameters of the random forest or the boosted trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Number of trees (`trees`, default 100).
    pub trees: usize,
    /// Maximum depth of a tree (`max_depth`, default unlimited; boosting: 6).
    pub max_depth: Option<usize>,
    /// Minimum number of distinct training rows in a leaf (`min_samples_leaf`, default 1).
    pub min_samples_leaf: usize,
    /// Features considered per split (`max_features`, default `'sqrt'`).
    pub max_features: MaxFeatures,
    /// Class weights (`class_weight`, `'none'` or `'balanced'`, default `'none'`).
    pub class_weight: ClassWeight,
    /// Seed of every random choice (`seed`, default 42): same data and options, same model.
    pub seed: u64,
    /// Most bins per feature (`max_bins`, 2..=255, default 255).
    pub max_bins: usize,
    /// Draw a bootstrap sample per tree (`bootstrap`, default true; forests only).
    pub bootstrap: bool,
    /// Boosting: each tree's step (`learning_rate`, default 0.1).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Boosting: L2 penalty on leaf values (`l2_regularization`, default 1).
    #[serde(default)]
    pub l2_regularization: f64,
    /// Boosting: most leaves per tree (`max_leaves`, default `2^max_depth`, or 31 without a depth).
    #[serde(default = "default_max_leaves")]
    pub max_leaves: usize,
    /// Boosting: stop once the validation loss has not improved for this many rounds
    /// (`early_stopping_rounds`, default 0: every round is boosted).
    #[serde(default = "default_early_stopping_rounds")]
    pub early_stopping_rounds: usize,
}

fn default_learning_rate() -> f64 {
    0.1
}

/// Boosting: the depth of a tree unless `max_depth` is given (XGBoost's default).
pub const BOOSTING_MAX_DEPTH: usize = 6;
/// Boosting: the leaves of a tree of unlimited depth unless `max_leaves` is given (LightGBM's).
const LEAVES_WITHOUT_DEPTH: usize = 31;

/// What a stored model without the field was trained with (models stored before the defaults
/// changed), not today's default, which [`TrainOptions::for_kind`] sets.
fn default_max_leaves() -> usize {
    LEAVES_WITHOUT_DEPTH
}

/// As [`default_max_leaves`]: what older stored models were trained with.
fn default_early_stopping_rounds() -> usize {
    10
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            class_weight: ClassWeight::None,
            seed: 42,
            max_bins: MAX_BINS,
            bootstrap: true,
            learning_rate: default_learning_rate(),
            l2_regularization: 0.0,
            max_leaves: default_max_leaves(),
            early_stopping_rounds: default_early_stopping_rounds(),
        }
    }
}

/// Options that only the forest takes, and only the boosted trees.
const FOREST_ONLY: [&str; 1] = ["bootstrap"];
const BOOSTING_ONLY: [&str; 4] = [
    "learning_rate",
    "l2_regularization",
    "max_leaves",
    "early_stopping_rounds",
];

/// Keys read by [`ModelOptions`] rather than [`TrainOptions`].
const MODEL_KEYS: [&str; 4] = ["type", "target", "holdout_fraction", "holdout_where"];

impl TrainOptions {
    /// From the OPTIONS list, keys lowercased, values as SQL literal text without quotes.
    ///
    /// Unknown keys, bad values and `trees = 0` are errors naming the option. The keys `type`,
    /// `target`, `holdout_fraction` and `holdout_where` are left to [`ModelOptions`].
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, FraudError> {
        let kind = match pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case("type")) {
            Some((_, v)) => ModelKind::parse(v)?,
            None => ModelKind::RandomForest,
        };
        Self::for_kind(kind, pairs)
    }

    /// [`TrainOptions::from_pairs`] for `kind`: its defaults (boosting: XGBoost's depth 6, L2
    /// penalty 1 and one row a leaf, every feature at every split, no early stopping), and the
    /// other kind's options refused.
    pub fn for_kind(kind: ModelKind, pairs: &[(String, String)]) -> Result<Self, FraudError> {
        let mut o = TrainOptions::default();
        if kind == ModelKind::GradientBoosting {
            // XGBoost's tree shape and penalty: on the three data shapes of
            // `benches/boosting_reference.py` these were within 0.004 AUC and 0.001 average
            // precision of the better of LightGBM and XGBoost, where LightGBM's defaults (31
            // leaves, 20 rows a leaf, no penalty) trailed by up to 0.07 average precision with rare
            // positives (docs/benchmarks.md).
            o.max_depth = Some(BOOSTING_MAX_DEPTH);
            o.min_samples_leaf = 1;
            o.l2_regularization = 1.0;
            o.early_stopping_rounds = 0;
            o.max_features = MaxFeatures::All;
        }
        check_duplicates(pairs)?;
        for (key, _) in pairs {
            let key = key.to_ascii_lowercase();
            let (foreign, owner) = match kind {
                ModelKind::RandomForest => {
                    (BOOSTING_ONLY.contains(&key.as_str()), ModelKind::GradientBoosting)
                }
                ModelKind::GradientBoosting => (FOREST_ONLY.contains(&key.as_str()), ModelKind::RandomForest),
            };
            if foreign {
                return Err(invalid_option(
                    &key,
                    format!(
                        "applies to type = '{}' only, not to '{}'",
                        owner.sql_name(),
                        kind.sql_name()
                    ),
                ));
            }
        }
        for (key, value) in pairs {
            let key = key.to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                k if MODEL_KEYS.contains(&k) => {}
                "trees" | "n_estimators" => {
                    o.trees = parse_count(&key, value, 1)?;
                    if o.trees > 10_000 {
                        return Err(invalid_option(&key, "must be at most 10000"));
                    }
                }
                "max_depth" => {
                    o.max_depth = if value.eq_ignore_ascii_case("none") || value.eq_ignore_ascii_case("null")
                    {
                        None
                    } else {
                        let depth = parse_count(&key, value, 1)?;
                        if depth > crate::forest::MAX_TREE_DEPTH {
                            return Err(invalid_option(
                                &key,
                                format!("must be at most {} (or none)", crate::forest::MAX_TREE_DEPTH),
                            ));
                        }
                        Some(depth)
                    }
                }
                "min_samples_leaf" => o.min_samples_leaf = parse_count(&key, value, 1)?,
                "max_features" => o.max_features = MaxFeatures::parse(value)?,
                "class_weight" => {
                    o.class_weight = match value.to_ascii_lowercase().as_str() {
                        "balanced" => ClassWeight::Balanced,
                        "none" | "null" => ClassWeight::None,
                        _ => {
                            return Err(invalid_option(
                                &key,
                                format!("'{value}' is not 'balanced' or 'none'"),
                            ));
                        }
                    }
                }
                "seed" | "random_state" => {
                    o.seed = value.parse::<u64>().map_err(|_| {
                        invalid_option(&key, format!("'{value}' is not a non-negative integer"))
                    })?
                }
                "max_bins" => {
                    o.max_bins = parse_count(&key, value, 2)?;
                    if o.max_bins > MAX_BINS {
                        return Err(invalid_option(&key, format!("must be at most {MAX_BINS}")));
                    }
                }
                "bootstrap" => o.bootstrap = parse_bool(&key, value)?,
                "learning_rate" => match value.parse::<f64>() {
                    Ok(v) if v > 0.0 && v <= 1.0 => o.learning_rate = v,
                    _ => {
                        return Err(invalid_option(
                            &key,
                            format!("'{value}' is not a number in (0, 1]"),
                        ));
                    }
                },
                "l2_regularization" => match value.parse::<f64>() {
                    Ok(v) if v >= 0.0 && v.is_finite() => o.l2_regularization = v,
                    _ => return Err(invalid_option(&key, format!("'{value}' is not a number >= 0"))),
                },
                "max_leaves" => o.max_leaves = parse_count(&key, value, 2)?,
                "early_stopping_rounds" => o.early_stopping_rounds = parse_count(&key, value, 0)?,
                _ => {
                    return Err(invalid_option(
                        &key,
                        "unknown option; expected one of type, target, trees, max_depth, min_samples_leaf, \
max_features, class_weight, seed, max_bins, bootstrap, learning_rate, l2_regularization, max_leaves, \
early_stopping_rounds, holdout_fraction, holdout_where",
                    ));
                }
            }
        }
        let leaves_given = pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("max_leaves"));
        if kind == ModelKind::GradientBoosting && !leaves_given {
            // Unset, the leaves follow the depth (a full tree of `max_depth` levels, as XGBoost
            // grows), or LightGBM's 31 for trees of unlimited depth.
            o.max_leaves = o.max_depth.map_or(LEAVES_WITHOUT_DEPTH, |d| {
                u32::try_from(d)
                    .ok()
                    .and_then(|d| 1usize.checked_shl(d))
                    .unwrap_or(usize::MAX)
            });
        }
        Ok(o)
    }
}

/// Everything `CREATE MODEL ... OPTIONS (...)` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// What to train (`type`, required).
    #[serde(default)]
    pub kind: ModelKind,
    /// The label column (`target`, required): BOOLEAN, or an integer column of 0 and 1.
    pub target: String,
    /// The holdout rows the model is evaluated on after training.
    pub holdout: Holdout,
    /// `holdout_where = '<expr>'` as written; the session appends `(<expr>) AS __holdout` to the
    /// training query (and `holdout` is then `Holdout::Column(HOLDOUT_COLUMN)`).
    pub holdout_where: Option<String>,
    /// The forest's hyper-parameters.
    pub train: TrainOptions,
}

impl ModelOptions {
    /// From the OPTIONS list, keys lowercased, values as SQL literal text without quotes.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, FraudError> {
        let mut target = None;
        let mut fraction = None;
        let mut holdout_where = None;
        let mut kind = None;
        for (key, value) in pairs {
            let key = key.to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "type" => kind = Some(value.to_ascii_lowercase()),
                "target" => {
                    if value.is_empty() {
                        return Err(invalid_option("target", "must name the label column"));
                    }
                    target = Some(value.to_owned());
                }
                "holdout_fraction" => match value.parse::<f64>() {
                    Ok(f) if f > 0.0 && f < 1.0 => fraction = Some(f),
                    _ => {
                        return Err(invalid_option(
                            "holdout_fraction",
                            format!("'{value}' is not a number strictly between 0 and 1"),
                        ));
                    }
                },
                "holdout_where" => {
                    if value.is_empty() {
                        return Err(invalid_option(
                            "holdout_where",
                            "must be a boolean SQL expression",
                        ));
                    }
                    holdout_where = Some(value.to_owned());
                }
                _ => {}
            }
        }
        let kind = match kind.as_deref() {
            None => {
                return Err(invalid_option(
                    "type",
                    "is required; use type = 'random_forest' or 'gradient_boosting'",
                ));
            }
            Some(kind) => ModelKind::parse(kind)?,
        };
        let train = TrainOptions::for_kind(kind, pairs)?;
        let target =
            target.ok_or_else(|| invalid_option("target", "is required: target = '<label column>'"))?;
        let holdout = match (fraction, &holdout_where) {
            (Some(_), Some(_)) => {
                return Err(invalid_option(
                    "holdout_where",
                    "cannot be combined with holdout_fraction; use one of them",
                ));
            }
            (Some(f), None) => Holdout::Fraction(f),
            (None, Some(_)) => Holdout::Column(HOLDOUT_COLUMN.to_owned()),
            (None, None) => Holdout::None,
        };
        Ok(Self {
            kind,
            target,
            holdout,
            holdout_where,
            train,
        })
    }
}

fn check_duplicates(pairs: &[(String, String)]) -> Result<(), FraudError> {
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(o, _)| o.eq_ignore_ascii_case(k)) {
            return Err(invalid_option(&k.to_ascii_lowercase(), "is given more than once"));
        }
    }
    Ok(())
}

fn parse_count(key: &str, value: &str, min: usize) -> Result<usize, FraudError> {
    match value.parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(invalid_option(
            key,
            format!("'{value}' is not an integer >= {min}"),
        )),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, FraudError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid_option(key, format!("'{value}' is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_the_issue_example() {
        let o = ModelOptions::from_pairs(&pairs(&[
            ("type", "random_forest"),
            ("target", "is_fraudulent"),
            ("trees", "100"),
            ("max_depth", "12"),
            ("min_samples_leaf", "3"),
            ("max_features", "sqrt"),
            ("class_weight", "balanced"),
            ("seed", "7"),
            ("holdout_fraction", "0.2"),
        ]))
        .unwrap();
        assert_eq!(o.target, "is_fraudulent");
        assert_eq!(o.holdout, Holdout::Fraction(0.2));
        assert_eq!(o.train.trees, 100);
        assert_eq!(o.train.max_depth, Some(12));
        assert_eq!(o.train.min_samples_leaf, 3);
        assert_eq!(o.train.class_weight, ClassWeight::Balanced);
        assert_eq!(o.train.seed, 7);
    }

    #[test]
    fn holdout_where_becomes_a_column() {
        let o = ModelOptions::from_pairs(&pairs(&[
            ("type", "random_forest"),
            ("target", "y"),
            ("holdout_where", "tx_date >= '2024-06-20'"),
        ]))
        .unwrap();
        assert_eq!(o.holdout, Holdout::Column(HOLDOUT_COLUMN.into()));
        assert_eq!(o.holdout_where.as_deref(), Some("tx_date >= '2024-06-20'"));
    }

    #[test]
    fn bad_options_name_the_option() {
        let base = [("type", "random_forest"), ("target", "y")];
        for (k, v) in [
            ("trees", "0"),
            ("trees", "-3"),
            ("max_features", "bogus"),
            ("max_features", "0"),
            ("bogus_option", "1"),
            ("class_weight", "heavy"),
            ("holdout_fraction", "1.5"),
            ("min_samples_leaf", "0"),
            ("max_bins", "300"),
            ("max_depth", "1025"),
        ] {
            let mut p = pairs(&base);
            p.push((k.into(), v.into()));
            let err = ModelOptions::from_pairs(&p).unwrap_err().to_string();
            assert!(err.contains(&format!("'{k}'")), "{k}={v}: {err}");
        }
        let err = ModelOptions::from_pairs(&pairs(&[("type", "svm"), ("target", "y")])).unwrap_err();
        assert!(err.to_string().contains("'type'"), "{err}");
        let err = ModelOptions::from_pairs(&pairs(&[("type", "random_forest")])).unwrap_err();
        assert!(err.to_string().contains("'target'"), "{err}");
        let err = ModelOptions::from_pairs(&pairs(&[
            ("type", "random_forest"),
            ("target", "y"),
            ("trees", "3"),
            ("TREES", "4"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn max_features_resolves_like_sklearn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(15), 3);
        assert_eq!(MaxFeatures::Log2.resolve(15), 3);
        assert_eq!(MaxFeatures::All.resolve(15), 15);
        assert_eq!(MaxFeatures::Count(40).resolve(15), 15);
        assert_eq!(MaxFeatures::Fraction(0.5).resolve(15), 7);
        assert_eq!(MaxFeatures::Sqrt.resolve(1), 1);
    }
}
