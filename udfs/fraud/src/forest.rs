//! The trained forest in a flat, cache-friendly layout, and the batch scoring kernel.
//!
//! All trees share one node array; a tree is its root's offset. A node is 16 bytes: a split
//! (`feature`, `threshold`, whether missing values go left, and the offset of its two children,
//! which are adjacent) or a leaf (`feature == LEAF`, `threshold` holds the leaf's probability).
//! Scoring walks blocks of rows through one tree at a time so the tree's top levels stay in cache.

/// `feature` of a leaf node.
pub(crate) const LEAF: u16 = u16::MAX;
/// `flags` bit: missing values (NaN) take the left branch.
pub(crate) const MISSING_LEFT: u16 = 1;

/// One node; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    /// Split value (go left when `x <= threshold`) or, for a leaf, the probability of the positive class.
    pub threshold: f64,
    /// Feature index, or [`LEAF`].
    pub feature: u16,
    /// [`MISSING_LEFT`] or 0.
    pub flags: u16,
    /// Index (within the tree) of the left child; the right child follows it.
    pub left: u32,
}

impl Node {
    pub(crate) fn leaf(p: f64) -> Self {
        Node {
            threshold: p,
            feature: LEAF,
            flags: 0,
            left: 0,
        }
    }
}

/// Rows scored through one tree before moving to the next.
const BLOCK: usize = 256;

/// Rows walked through a tree in lock-step, so their dependent loads overlap.
const LANES: usize = 8;

/// Every tree of a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Forest {
    /// Nodes of all trees, tree after tree.
    pub nodes: Vec<Node>,
    /// Start of each tree in `nodes`.
    pub roots: Vec<u32>,
    /// The scoring layout: `nodes` with every leaf turned into a split that loops to itself
    /// (threshold +inf, missing left), so a walk can take steps without branching on leaves.
    looped: Vec<Node>,
    /// The leaf values by node index (0 for splits).
    leaf_values: Vec<f64>,
}

impl Forest {
    pub(crate) fn push_tree(&mut self, tree: &[Node]) {
        self.roots.push(self.nodes.len() as u32);
        self.nodes.extend_from_slice(tree);
    }

    /// Builds the scoring layout from `nodes` (after decoding or growing).
    pub(crate) fn prepare(&mut self) {
        self.looped.clear();
        self.leaf_values.clear();
        let mut tree = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            while tree + 1 < self.roots.len() && self.roots[tree + 1] as usize <= i {
                tree += 1;
            }
            let root = self.roots.get(tree).copied().unwrap_or(0) as usize;
            if n.feature == LEAF {
                self.looped.push(Node {
                    threshold: f64::INFINITY,
                    feature: 0,
                    flags: MISSING_LEFT,
                    left: (i - root) as u32,
                });
                self.leaf_values.push(n.threshold);
            } else {
                self.looped.push(*n);
                self.leaf_values.push(0.0);
            }
        }
    }

    /// Checks that every child index and feature index is in range (for loaded artifacts).
    pub(crate) fn validate(&self, features: usize) -> Result<(), String> {
        if self.roots.is_empty() {
            return Err("the forest has no trees".into());
        }
        for (t, &root) in self.roots.iter().enumerate() {
            let end = self.roots.get(t + 1).copied().unwrap_or(self.nodes.len() as u32);
            if root >= end {
                return Err(format!("tree {t} is empty"));
            }
            let len = (end - root) as usize;
            for (i, n) in self.nodes[root as usize..end as usize].iter().enumerate() {
                if n.feature == LEAF {
                    if !(0.0..=1.0).contains(&n.threshold) {
                        return Err(format!("tree {t} node {i} has leaf value {}", n.threshold));
                    }
                    continue;
                }
                if n.feature as usize >= features {
                    return Err(format!(
                        "tree {t} node {i} splits on feature {} of {features}",
                        n.feature
                    ));
                }
                // Children come after their parent, which also rules out cycles.
                if (n.left as usize) <= i || n.left as usize + 1 >= len {
                    return Err(format!("tree {t} node {i} has child {} out of range", n.left));
                }
                if n.threshold.is_nan() {
                    return Err(format!("tree {t} node {i} has a NaN threshold"));
                }
            }
        }
        Ok(())
    }

    /// Mean positive probability over the trees for each row of `columns` (one slice per feature,
    /// NaN = missing).
    pub(crate) fn predict(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        let nf = columns.len().max(1);
        let mut out = vec![0.0f64; rows];
        // Row-major copy of a block: one row's features share a cache line. Padding rows are NaN.
        let mut block = vec![f64::NAN; BLOCK * nf];
        let trees = self.roots.len() as f64;
        for start in (0..rows).step_by(BLOCK) {
            let n = BLOCK.min(rows - start);
            for (f, col) in columns.iter().enumerate() {
                for r in 0..n {
                    block[r * nf + f] = col[start + r];
                }
            }
            for r in n..n.next_multiple_of(LANES) {
                block[r * nf..(r + 1) * nf].fill(f64::NAN);
            }
            let acc = &mut out[start..start + n];
            for &root in &self.roots {
                let tree = &self.looped[root as usize..];
                let values = &self.leaf_values[root as usize..];
                for lane0 in (0..n).step_by(LANES) {
                    let rows = &block[lane0 * nf..(lane0 + LANES) * nf];
                    let at = walk_lanes(tree, rows, nf);
                    for (k, &i) in at.iter().enumerate().take(n - lane0) {
                        acc[lane0 + k] += values[i as usize];
                    }
                }
            }
            for a in acc.iter_mut() {
                *a /= trees;
            }
        }
        out
    }
}

/// Walks `LANES` rows through one tree together until all stand on leaves (which loop to
/// themselves); returns the leaf index of each.
#[inline(always)]
fn walk_lanes(tree: &[Node], rows: &[f64], nf: usize) -> [u32; LANES] {
    let mut at = [0u32; LANES];
    loop {
        let mut moved = false;
        for (k, i) in at.iter_mut().enumerate() {
            let n = tree[*i as usize];
            let x = rows[k * nf + n.feature as usize];
            let left = (x <= n.threshold) | (x.is_nan() & (n.flags & MISSING_LEFT != 0));
            let next = n.left + u32::from(!left);
            moved |= next != *i;
            *i = next;
        }
        if !moved {
            return at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: u16, threshold: f64, missing_left: bool, left: u32) -> Node {
        Node {
            threshold,
            feature,
            flags: if missing_left { MISSING_LEFT } else { 0 },
            left,
        }
    }

    #[test]
    fn walks_splits_and_missing_values() {
        // x0 <= 1 (missing right) ? leaf 0.25 : (x1 <= 5 (missing left) ? 0.5 : 1.0)
        let tree = [
            split(0, 1.0, false, 1),
            Node::leaf(0.25),
            split(1, 5.0, true, 3),
            Node::leaf(0.5),
            Node::leaf(1.0),
        ];
        let mut f = Forest::default();
        f.push_tree(&tree);
        f.push_tree(&[Node::leaf(0.75)]);
        f.prepare();
        assert!(f.validate(2).is_ok());
        let cols = vec![
            vec![0.0, 2.0, 2.0, f64::NAN, 1.0],
            vec![9.0, 4.0, 6.0, f64::NAN, f64::NAN],
        ];
        let p = f.predict(&cols, 5);
        assert_eq!(p, vec![0.5, 0.625, 0.875, 0.625, 0.5]);
    }

    #[test]
    fn validate_rejects_bad_children_and_features() {
        let mut f = Forest::default();
        f.push_tree(&[split(0, 1.0, false, 1), Node::leaf(0.1)]);
        assert!(f.validate(1).unwrap_err().contains("out of range"));
        let mut f = Forest::default();
        f.push_tree(&[split(3, 1.0, false, 1), Node::leaf(0.1), Node::leaf(0.2)]);
        assert!(f.validate(2).unwrap_err().contains("feature 3"));
    }
}
