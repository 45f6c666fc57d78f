//! Gradient-boosted trees for the logistic loss (`type = 'gradient_boosting'`), grown from the
//! same quantile bins as the forest, as LightGBM and scikit-learn's `HistGradientBoostingClassifier`
//! do: each round fits one tree to the loss's gradients, leaf by leaf (best gain first, up to
//! `max_leaves`), from per-node histograms of gradient and hessian sums, the larger child's
//! histogram taken as its parent's minus the smaller child's. A leaf's value is Newton's step
//! `-G / (H + l2)` times the learning rate; a split's gain is
//! `G_L² / (H_L + l2) + G_R² / (H_R + l2) - G² / (H + l2)`. Missing values go to the side that
//! gains more. With early stopping, a tenth of the training rows (chosen by the seed) is set aside
//! and the rounds stop once their log loss has not improved for `early_stopping_rounds` rounds;
//! the model keeps the best round.
//!
//! The model's score is `sigmoid(base + Σ trees)`, `base` the log-odds of the (weighted) positive
//! share of the rows the trees are fit to.

use super::binning::MISSING_BIN;
use super::grow::{BinSums, TrainData, best_bin_split};
use crate::TrainOptions;
use crate::forest::{MISSING_LEFT, Node};
use crate::rng::{Rng, mix64, unit};

/// Gradient, hessian, weight and row count of a bin or node.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    g: f64,
    h: f64,
    w: f64,
    n: u32,
}

impl BinSums for Sums {
    fn rows(&self) -> u32 {
        self.n
    }
    fn add(&mut self, o: &Sums) {
        self.g += o.g;
        self.h += o.h;
        self.w += o.w;
        self.n += o.n;
    }
    fn sub(&self, o: &Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
            w: self.w - o.w,
            n: self.n - o.n,
        }
    }
}

/// Row × feature visits above which a histogram is built on several threads.
const PARALLEL_WORK: usize = 200_000;

/// Smallest hessian sum a child may have (LightGBM's `min_sum_hessian_in_leaf`).
const MIN_CHILD_HESSIAN: f64 = 1e-3;
/// Share of the training rows set aside to decide when to stop.
const VALIDATION_FRACTION: f64 = 0.1;
/// Smallest improvement of the validation loss that counts.
const TOLERANCE: f64 = 1e-7;

/// The boosted trees (nodes and covers each), the base log-odds, and each feature's total gain.
pub(crate) struct Boosted {
    pub(crate) trees: Vec<(Vec<Node>, Vec<f64>)>,
    pub(crate) base: f64,
    pub(crate) gains: Vec<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: usize,
    missing_left: bool,
    gain: f64,
    left: Sums,
    right: Sums,
}

/// A leaf of the tree being grown: its rows are `rows[start..end]`.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sums: Sums,
    hist: Vec<Sums>,
    split: Option<Split>,
}

/// Boosts `opts.trees` rounds (fewer with early stopping); `progress` hears of each round.
pub(crate) fn boost(
    data: &TrainData<'_>,
    opts: &TrainOptions,
    threads: usize,
    progress: impl Fn(usize),
) -> Boosted {
    let n = data.labels.len();
    let features = data.bins.len();
    let y: Vec<f64> = data.labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    let weight: Vec<f64> = data
        .labels
        .iter()
        .map(|&l| data.class_weight[usize::from(l)])
        .collect();
    let stopping = opts.early_stopping_rounds > 0;
    let held: Vec<bool> = (0..n)
        .map(|r| stopping && unit(mix64(mix64(opts.seed ^ 0x5EED_0FB0) ^ r as u64)) < VALIDATION_FRACTION)
        .collect();
    let fit_rows: Vec<u32> = (0..n as u32).filter(|&r| !held[r as usize]).collect();
    let val_rows: Vec<u32> = (0..n as u32).filter(|&r| held[r as usize]).collect();
    let (mut pos, mut all) = (0.0, 0.0);
    for &r in &fit_rows {
        pos += weight[r as usize] * y[r as usize];
        all += weight[r as usize];
    }
    let share = (pos / all).clamp(1e-12, 1.0 - 1e-12);
    let base = (share / (1.0 - share)).ln();
    let mut margin = vec![base; n];
    let mut grad = vec![0.0; n];
    let mut hess = vec![0.0; n];
    let mut grower = Grower::new(data, opts, features, threads);
    let mut trees = Vec::new();
    let mut gains = vec![0.0; features];
    let mut gains_at_best = gains.clone();
    let (mut best_loss, mut best_round) = (f64::INFINITY, 0usize);
    let mut rng = Rng::new(mix64(opts.seed ^ 0x0B00_57ED));
    for round in 0..opts.trees {
        for &r in &fit_rows {
            let r = r as usize;
            let p = sigmoid(margin[r]);
            grad[r] = weight[r] * (p - y[r]);
            hess[r] = (weight[r] * p * (1.0 - p)).max(1e-16);
        }
        let (tree, covers, leaf_of) = grower.grow(&fit_rows, &grad, &hess, &weight, &mut rng, &mut gains);
        for &(r, leaf) in &leaf_of {
            margin[r as usize] += tree[leaf].threshold;
        }
        for &r in &val_rows {
            margin[r as usize] += tree[walk(data, &tree, r as usize)].threshold;
        }
        trees.push((tree, covers));
        progress(round + 1);
        if !stopping {
            continue;
        }
        let loss = log_loss(&val_rows, &margin, &y, &weight);
        if loss < best_loss - TOLERANCE {
            (best_loss, best_round) = (loss, round);
            gains_at_best.clone_from(&gains);
        } else if round - best_round >= opts.early_stopping_rounds {
            break;
        }
    }
    if stopping && !val_rows.is_empty() {
        trees.truncate(best_round + 1);
        gains = gains_at_best;
    }
    Boosted { trees, base, gains }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn log_loss(rows: &[u32], margin: &[f64], y: &[f64], weight: &[f64]) -> f64 {
    let (mut loss, mut total) = (0.0, 0.0);
    for &r in rows {
        let r = r as usize;
        // log(1 + e^m) - y m, stable for large |m|.
        let m = margin[r];
        let softplus = if m > 0.0 {
            m + (-m).exp().ln_1p()
        } else {
            m.exp().ln_1p()
        };
        loss += weight[r] * (softplus - y[r] * m);
        total += weight[r];
    }
    if total > 0.0 { loss / total } else { 0.0 }
}

/// The leaf a training row reaches, by its bins.
fn walk(data: &TrainData<'_>, tree: &[Node], r: usize) -> usize {
    let mut i = 0;
    loop {
        let n = tree[i];
        if n.feature == crate::forest::LEAF {
            return i;
        }
        let f = usize::from(n.feature);
        let b = data.bins[f][r];
        let left = if b == MISSING_BIN {
            n.flags & MISSING_LEFT != 0
        } else {
            // The split's threshold is its bin's upper edge: bins up to it go left.
            data.uppers[f][usize::from(b)] <= n.threshold
        };
        i = n.left as usize + usize::from(!left);
    }
}

/// Per-round scratch.
struct Grower<'a> {
    data: &'a TrainData<'a>,
    opts: &'a TrainOptions,
    rows: Vec<u32>,
    scratch: Vec<u32>,
    features: Vec<usize>,
    k: usize,
    bins: usize,
    threads: usize,
}

impl<'a> Grower<'a> {
    fn new(data: &'a TrainData<'a>, opts: &'a TrainOptions, features: usize, threads: usize) -> Self {
        Self {
            data,
            opts,
            rows: Vec::new(),
            scratch: Vec::new(),
            features: (0..features).collect(),
            k: opts.max_features.resolve(features),
            bins: usize::from(MISSING_BIN) + 1,
            threads,
        }
    }

    /// One tree fit to `grad` and `hess` over `fit_rows`: its nodes (leaf values already scaled by
    /// the learning rate), covers (row weights), and the leaf of each row.
    #[allow(clippy::type_complexity)]
    fn grow(
        &mut self,
        fit_rows: &[u32],
        grad: &[f64],
        hess: &[f64],
        weight: &[f64],
        rng: &mut Rng,
        gains: &mut [f64],
    ) -> (Vec<Node>, Vec<f64>, Vec<(u32, usize)>) {
        self.rows.clear();
        self.rows.extend_from_slice(fit_rows);
        let mut root = Sums::default();
        for &r in fit_rows {
            let r = r as usize;
            root.add(&Sums {
                g: grad[r],
                h: hess[r],
                w: weight[r],
                n: 1,
            });
        }
        let l2 = self.opts.l2_regularization;
        let lr = self.opts.learning_rate;
        let mut nodes = vec![Node::leaf(0.0)];
        let mut covers = vec![root.w];
        let hist = self.histogram(0, self.rows.len(), grad, hess, weight);
        let mut open = vec![Open {
            node: 0,
            start: 0,
            end: self.rows.len(),
            depth: 0,
            sums: root,
            hist,
            split: None,
        }];
        open[0].split = self.best_split(&open[0], rng);
        let mut leaves = 1;
        while leaves < self.opts.max_leaves {
            // The open leaf whose split gains most.
            let Some(at) = (0..open.len())
                .filter(|&i| open[i].split.is_some())
                .max_by(|&a, &b| gain_of(&open[a]).total_cmp(&gain_of(&open[b])))
            else {
                break;
            };
            let leaf = open.swap_remove(at);
            let split = leaf.split.expect("filtered on a split");
            gains[split.feature] += split.gain;
            let mid = self.partition(leaf.start, leaf.end, &split);
            let left = nodes.len();
            nodes[leaf.node] = Node {
                threshold: self.data.uppers[split.feature][split.bin],
                feature: split.feature as u16,
                flags: if split.missing_left { MISSING_LEFT } else { 0 },
                left: left as u32,
            };
            nodes.extend([Node::leaf(0.0), Node::leaf(0.0)]);
            covers.extend([split.left.w, split.right.w]);
            leaves += 1;
            // The smaller child's histogram from its rows, the larger one's by subtraction.
            let (small, large) = if mid - leaf.start <= leaf.end - mid {
                ((leaf.start, mid, left), (mid, leaf.end, left + 1))
            } else {
                ((mid, leaf.end, left + 1), (leaf.start, mid, left))
            };
            let small_hist = self.histogram(small.0, small.1, grad, hess, weight);
            let mut large_hist = leaf.hist;
            for (l, s) in large_hist.iter_mut().zip(&small_hist) {
                *l = l.sub(s);
            }
            let sums = |node: usize| if node == left { split.left } else { split.right };
            for ((start, end, node), hist) in [(small, small_hist), (large, large_hist)] {
                let mut child = Open {
                    node,
                    start,
                    end,
                    depth: leaf.depth + 1,
                    sums: sums(node),
                    hist,
                    split: None,
                };
                child.split = self.best_split(&child, rng);
                open.push(child);
            }
        }
        let mut leaf_of = Vec::with_capacity(self.rows.len());
        for leaf in &open {
            nodes[leaf.node] = Node::leaf(-leaf.sums.g / (leaf.sums.h + l2) * lr);
            leaf_of.extend(self.rows[leaf.start..leaf.end].iter().map(|&r| (r, leaf.node)));
        }
        (nodes, covers, leaf_of)
    }

    /// Per feature, per bin sums of `rows[start..end]` (`features × bins`).
    fn histogram(&self, start: usize, end: usize, grad: &[f64], hess: &[f64], weight: &[f64]) -> Vec<Sums> {
        let mut hist = vec![Sums::default(); self.features.len() * self.bins];
        let rows = &self.rows[start..end];
        let fill = |hist: &mut [Sums], first: usize| {
            for (h, bins) in hist.chunks_mut(self.bins).zip(&self.data.bins[first..]) {
                for &r in rows {
                    let r = r as usize;
                    let s = &mut h[usize::from(bins[r])];
                    s.g += grad[r];
                    s.h += hess[r];
                    s.w += weight[r];
                    s.n += 1;
                }
            }
        };
        // Features split between threads for large nodes (each feature's histogram is summed in
        // row order either way, so the trees do not depend on the thread count); a thread costs
        // more than a small node's histogram.
        let threads = self.threads.min(self.features.len());
        if threads < 2 || rows.len() * self.features.len() < PARALLEL_WORK {
            fill(&mut hist, 0);
            return hist;
        }
        let per = self.features.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (i, part) in hist.chunks_mut(per * self.bins).enumerate() {
                let fill = &fill;
                s.spawn(move || fill(part, i * per));
            }
        });
        hist
    }

    /// The best split of `leaf` over `k` randomly drawn features (all by default), if any gains.
    fn best_split(&mut self, leaf: &Open, rng: &mut Rng) -> Option<Split> {
        let msl = self.opts.min_samples_leaf as u32;
        let depth_ok = leaf.depth < self.opts.max_depth.unwrap_or(crate::forest::MAX_TREE_DEPTH);
        if !depth_ok || leaf.sums.n < 2 * msl.max(1) {
            return None;
        }
        let l2 = self.opts.l2_regularization;
        let score = |s: &Sums| s.g * s.g / (s.h + l2);
        let parent = score(&leaf.sums);
        let nf = self.features.len();
        if self.k < nf {
            for i in 0..self.k {
                let j = i + rng.below(nf - i);
                self.features.swap(i, j);
            }
        }
        let mut best: Option<Split> = None;
        for &f in &self.features[..self.k.min(nf)] {
            let h = &leaf.hist[f * self.bins..(f + 1) * self.bins];
            let nbins = self.data.uppers[f].len();
            let candidate = best_bin_split(h, nbins, &leaf.sums, msl, |left, right| {
                if left.h < MIN_CHILD_HESSIAN || right.h < MIN_CHILD_HESSIAN {
                    return None;
                }
                let gain = score(left) + score(right) - parent;
                (gain > 1e-12).then_some(gain)
            });
            if let Some(c) = candidate
                && best.is_none_or(|s| c.score > s.gain)
            {
                best = Some(Split {
                    feature: f,
                    bin: c.bin,
                    missing_left: c.missing_left,
                    gain: c.score,
                    left: c.left,
                    right: c.right,
                });
            }
        }
        best
    }

    /// Stable partition of `rows[start..end]` by the split; returns the start of the right part.
    fn partition(&mut self, start: usize, end: usize, split: &Split) -> usize {
        let bins = self.data.bins[split.feature];
        super::grow::partition_rows(
            &mut self.rows[start..end],
            &mut self.scratch,
            bins,
            split.bin,
            split.missing_left,
        ) + start
    }
}

fn gain_of(leaf: &Open) -> f64 {
    leaf.split.map_or(f64::NEG_INFINITY, |s| s.gain)
}
