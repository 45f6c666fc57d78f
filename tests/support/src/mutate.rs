//! One mutation of a file's bytes, as the fuzz tests of settings and job files make them.

/// What [`mutate`] does at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The byte at the position becomes this one.
    Replace(u8),
    /// The span is deleted.
    Delete,
    /// The span is inserted again right before itself.
    Duplicate,
}

impl Mutation {
    /// The mutation that a fuzz test draws as `kind` (0, 1 or more) and `byte`.
    pub fn from_draw(kind: u8, byte: u8) -> Self {
        match kind {
            0 => Self::Replace(byte),
            1 => Self::Delete,
            _ => Self::Duplicate,
        }
    }
}

/// `bytes` with `mutation` at `at` (an index into `bytes`), on the span of up to `len` bytes
/// from there (cut at the end).
pub fn mutate(bytes: &[u8], at: usize, len: usize, mutation: Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = at.min(out.len());
    let end = at.saturating_add(len).min(out.len());
    match mutation {
        Mutation::Replace(byte) => {
            if let Some(b) = out.get_mut(at) {
                *b = byte;
            }
        }
        Mutation::Delete => {
            out.drain(at..end);
        }
        Mutation::Duplicate => {
            let span = out[at..end].to_vec();
            out.splice(at..at, span);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mutation_changes_what_it_says() {
        assert_eq!(mutate(b"abcdef", 1, 2, Mutation::Replace(b'X')), b"aXcdef");
        assert_eq!(mutate(b"abcdef", 1, 2, Mutation::Delete), b"adef");
        assert_eq!(mutate(b"abcdef", 1, 2, Mutation::Duplicate), b"abcbcdef");
        assert_eq!(mutate(b"abc", 2, 9, Mutation::Delete), b"ab");
        assert_eq!(mutate(b"abc", 5, 1, Mutation::Replace(b'X')), b"abc");
    }
}
