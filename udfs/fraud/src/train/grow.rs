//! Tree growing: one tree from the binned training rows, split by split from per-node histograms.

use super::binning::MISSING_BIN;
use crate::TrainOptions;
use crate::forest::{MISSING_LEFT, Node};
use crate::rng::Rng;

/// The binned training rows that every tree grows from.
pub(crate) struct TrainData<'a> {
    /// Per feature, the bin code of each training row.
    pub(crate) bins: Vec<&'a [u8]>,
    /// Per feature, the upper edge of each bin.
    pub(crate) uppers: Vec<&'a [f64]>,
    pub(crate) labels: &'a [bool],
    pub(crate) class_weight: [f64; 2],
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    neg: f64,
    pos: f64,
    n: u32,
}

impl BinSums for Stats {
    fn rows(&self) -> u32 {
        self.n
    }
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
}

impl Stats {
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
pub(crate) struct Grower<'a> {
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
    pub(crate) fn new(data: &'a TrainData<'a>, opts: &'a TrainOptions) -> Self {
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

    /// One tree, with each node's cover (the weight of the training rows that reach it: bootstrap
    /// counts times class weights), which exact TreeSHAP needs.
    pub(crate) fn grow(&mut self, seed: u64) -> (Vec<Node>, Vec<f64>) {
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
        let mut covers = vec![root.weight()];
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
            let depth_ok = t.depth < self.opts.max_depth.unwrap_or(crate::forest::MAX_TREE_DEPTH);
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
            covers.push(split.left.weight());
            covers.push(split.right.weight());
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
        (nodes, covers)
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
            let nbins = self.data.uppers[f].len();
            let candidate = best_bin_split(&self.hist, nbins, &t.stats, msl, |left, right| {
                (left.weight() > 0.0 && right.weight() > 0.0).then(|| left.purity() + right.purity())
            });
            if let Some(c) = candidate
                && best.is_none_or(|s| c.score > s.score)
            {
                best = Some(Split {
                    feature: f,
                    bin: c.bin,
                    missing_left: c.missing_left,
                    score: c.score,
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
        partition_rows(
            &mut self.rows[start..end],
            &mut self.scratch,
            bins,
            split.bin,
            split.missing_left,
        ) + start
    }
}

/// What the split scan needs of a histogram bin's sums (the forest's class weights, the
/// boosting's gradients).
pub(crate) trait BinSums: Copy + Default {
    /// Training rows in the bin.
    fn rows(&self) -> u32;
    fn add(&mut self, other: &Self);
    fn sub(&self, other: &Self) -> Self;
}

/// The best split of one feature, from its histogram.
pub(crate) struct Candidate<S> {
    /// Bins up to this one go left …
    pub(crate) bin: usize,
    /// … and missing values too when set.
    pub(crate) missing_left: bool,
    pub(crate) score: f64,
    pub(crate) left: S,
    pub(crate) right: S,
}

/// The best split of one feature whose histogram is `hist` (bins below `nbins`, missing values in
/// [`MISSING_BIN`]) in a node whose sums are `total`: each side holds at least `min_rows` rows (and
/// one), `score(left, right)` is `Some`, and it is the highest (the first of equal ones). Missing
/// values are tried on both sides; with none in the node, they follow the larger child.
pub(crate) fn best_bin_split<S: BinSums>(
    hist: &[S],
    nbins: usize,
    total: &S,
    min_rows: u32,
    mut score: impl FnMut(&S, &S) -> Option<f64>,
) -> Option<Candidate<S>> {
    let missing = hist[usize::from(MISSING_BIN)];
    let min_rows = min_rows.max(1);
    let mut best: Option<Candidate<S>> = None;
    let mut cum = S::default();
    for (b, bin) in hist.iter().enumerate().take(nbins.min(usize::from(MISSING_BIN))) {
        if bin.rows() == 0 {
            continue;
        }
        cum.add(bin);
        for missing_left in [false, true] {
            if missing_left && missing.rows() == 0 {
                continue;
            }
            let mut left = cum;
            if missing_left {
                left.add(&missing);
            }
            let right = total.sub(&left);
            if left.rows() < min_rows || right.rows() < min_rows {
                continue;
            }
            let Some(s) = score(&left, &right) else {
                continue;
            };
            if best.as_ref().is_none_or(|c| s > c.score) {
                let missing_left = if missing.rows() == 0 {
                    left.rows() >= right.rows()
                } else {
                    missing_left
                };
                best = Some(Candidate {
                    bin: b,
                    missing_left,
                    score: s,
                    left,
                    right,
                });
            }
        }
    }
    best
}

/// Stable partition of `rows` by a split at `bin` of the feature whose codes are `bins`: the rows
/// that go left first; returns how many went left. `scratch` is a reusable buffer.
pub(crate) fn partition_rows(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    bins: &[u8],
    bin: usize,
    missing_left: bool,
) -> usize {
    scratch.clear();
    let mut w = 0;
    for i in 0..rows.len() {
        let r = rows[i];
        let b = bins[r as usize];
        let left = if b == MISSING_BIN {
            missing_left
        } else {
            usize::from(b) <= bin
        };
        if left {
            rows[w] = r;
            w += 1;
        } else {
            scratch.push(r);
        }
    }
    rows[w..].copy_from_slice(scratch);
    w
}

fn leaf_value(s: &Stats) -> f64 {
    let w = s.weight();
    if w <= 0.0 {
        0.0
    } else {
        (s.pos / w).clamp(0.0, 1.0)
    }
}
