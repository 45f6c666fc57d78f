//! Binary classification metrics with scikit-learn's definitions.

use serde::{Deserialize, Serialize};

use crate::FraudError;

/// How well scores separate the classes, as `EVALUATE MODEL` and the holdout of `CREATE MODEL`
/// report them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows evaluated.
    pub rows: u64,
    /// Rows of the positive class.
    pub positives: u64,
    /// Area under the ROC curve (`sklearn.metrics.roc_auc_score`; ties count one half).
    pub auc_roc: f64,
    /// Average precision, the step-wise area under the precision-recall curve without
    /// interpolation (`sklearn.metrics.average_precision_score`).
    pub average_precision: f64,
    /// Mean binary cross-entropy, probabilities clipped to `[eps, 1 - eps]` with eps the f64
    /// machine epsilon (`sklearn.metrics.log_loss`).
    pub log_loss: f64,
    /// Precision of the positive predictions at 0.5 (a row is predicted positive when its score
    /// is above 0.5, as `RandomForestClassifier.predict`); 0 when nothing is predicted positive.
    pub precision: f64,
    /// Recall at 0.5.
    pub recall: f64,
    /// F1 at 0.5; 0 when precision and recall are both 0.
    pub f1: f64,
}

/// The metrics of `scores` (probabilities of the positive class) against `labels`.
///
/// Errors when the lengths differ, there are no rows, a score is not a finite number, or the labels
/// hold only one class (AUC is undefined then, as in scikit-learn).
pub fn evaluate(labels: &[bool], scores: &[f64]) -> Result<Metrics, FraudError> {
    if labels.len() != scores.len() {
        return Err(FraudError::Scoring(format!(
            "cannot evaluate {} labels against {} scores",
            labels.len(),
            scores.len()
        )));
    }
    if labels.is_empty() {
        return Err(FraudError::Scoring("cannot evaluate a model on zero rows".into()));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(FraudError::Scoring(format!(
            "score of row {i} is {}, not a number",
            scores[i]
        )));
    }
    let positives = labels.iter().filter(|&&l| l).count() as u64;
    let rows = labels.len() as u64;
    if positives == 0 || positives == rows {
        return Err(FraudError::Scoring(format!(
            "cannot evaluate on rows of only one class ({} rows, {positives} positive): AUC is undefined",
            rows
        )));
    }
    let negatives = rows - positives;

    let mut order: Vec<u32> = (0..labels.len() as u32).collect();
    // Descending score; the order within ties does not matter, ties are grouped below.
    order.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));

    let (mut tp, mut fp) = (0u64, 0u64);
    let (mut auc, mut ap) = (0.0f64, 0.0f64);
    let mut prev_recall = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i] as usize];
        let (mut gtp, mut gfp) = (0u64, 0u64);
        while i < order.len() && scores[order[i] as usize] == s {
            if labels[order[i] as usize] {
                gtp += 1;
            } else {
                gfp += 1;
            }
            i += 1;
        }
        // Trapezoid over the group: negatives in it pass all earlier positives and half of its own.
        auc += gfp as f64 * (tp as f64 + gtp as f64 / 2.0);
        tp += gtp;
        fp += gfp;
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    let auc_roc = auc / (positives as f64 * negatives as f64);

    let eps = f64::EPSILON;
    let mut log_loss = 0.0;
    let (mut tp5, mut fp5) = (0u64, 0u64);
    for (&l, &s) in labels.iter().zip(scores) {
        let p = s.clamp(eps, 1.0 - eps);
        log_loss -= if l { p.ln() } else { (1.0 - p).ln() };
        if s > 0.5 {
            if l {
                tp5 += 1;
            } else {
                fp5 += 1;
            }
        }
    }
    log_loss /= rows as f64;
    let precision = if tp5 + fp5 == 0 {
        0.0
    } else {
        tp5 as f64 / (tp5 + fp5) as f64
    };
    let recall = tp5 as f64 / positives as f64;
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(Metrics {
        rows,
        positives,
        auc_roc,
        average_precision: ap,
        log_loss,
        precision,
        recall,
        f1,
    })
}
