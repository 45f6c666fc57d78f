//! Project lexicon overrides: `[udfs.sentiment] lexicon = "path"` adds words to VADER's lexicon or
//! changes their valence (domain vocabulary such as `refund -1.5`).

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::logical_expr::Documentation;

use crate::lexicon::{KEY_BYTES, LEXICON, Lexicon, build_with};

/// A problem in a lexicon file, with its location.
#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}: {message}")]
pub struct LexiconError {
    /// The file (or name) the text came from.
    pub origin: String,
    /// 1-based line; 0 when the file could not be read.
    pub line: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Words that add to or override VADER's lexicon, parsed from a file of `word<TAB or spaces>valence`
/// lines (valence in [-4, 4], as in VADER's own lexicon; `#` starts a comment line; extra tab-separated
/// fields, as in `vader_lexicon.txt`, are ignored).
#[derive(Debug, Clone)]
pub struct LexiconOverrides {
    origin: String,
    words: Vec<(String, f64)>,
}

impl PartialEq for LexiconOverrides {
    fn eq(&self, other: &Self) -> bool {
        self.words.len() == other.words.len()
            && self
                .words
                .iter()
                .zip(&other.words)
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

impl Eq for LexiconOverrides {}

impl Hash for LexiconOverrides {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for (w, v) in &self.words {
            w.hash(state);
            v.to_bits().hash(state);
        }
    }
}

impl LexiconOverrides {
    /// Parses the text of a lexicon file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, LexiconError> {
        let mut words: Vec<(String, f64)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| LexiconError {
                origin: origin.to_string(),
                line: i + 1,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = if line.contains('\t') {
                line.split('\t').map(str::trim).collect::<Vec<_>>()
            } else {
                line.split_whitespace().collect::<Vec<_>>()
            };
            fields.retain(|f| !f.is_empty());
            let (Some(word), Some(valence)) = (fields.first(), fields.get(1)) else {
                return Err(err(format!(
                    "expected 'word<TAB>valence', e.g. 'refund\t-1.5', found '{line}'"
                )));
            };
            let word = word.to_lowercase();
            if word.len() > KEY_BYTES {
                return Err(err(format!(
                    "'{word}' is longer than {KEY_BYTES} bytes; VADER would never match it"
                )));
            }
            let valence: f64 = valence
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && (-4.0..=4.0).contains(v))
                .ok_or_else(|| {
                    err(format!(
                        "valence '{valence}' of '{word}' is not a number in [-4, 4]"
                    ))
                })?;
            match words.iter_mut().find(|(w, _)| *w == word) {
                Some(entry) => entry.1 = valence,
                None => words.push((word, valence)),
            }
        }
        Ok(Self {
            origin: origin.to_string(),
            words,
        })
    }

    /// Reads and parses a lexicon file.
    pub fn load(path: &Path) -> Result<Self, LexiconError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| LexiconError {
            origin: origin.clone(),
            line: 0,
            message: format!("cannot read the lexicon file: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            LexiconError {
                origin: origin.clone(),
                line,
                message: "the line is not UTF-8".into(),
            }
        })?;
        Self::parse(&text, &origin)
    }

    /// Where the words came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many words it adds or overrides.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds no word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The valence the file gives `word`, if any.
    pub fn get(&self, word: &str) -> Option<f64> {
        self.words.iter().find(|(w, _)| w == word).map(|(_, v)| *v)
    }

    /// The lexicon with these words applied. Built once per distinct word list and kept for the
    /// process, so every batch and every session with the same file shares one table.
    pub(crate) fn lexicon(&self) -> &'static Lexicon {
        static BUILT: Mutex<Vec<(LexiconOverrides, &'static Lexicon)>> = Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, l)) = built.iter().find(|(o, _)| o == self) {
            return l;
        }
        let lexicon: &'static Lexicon = Box::leak(Box::new(build_with(&self.words)));
        built.push((self.clone(), lexicon));
        lexicon
    }
}

/// Which lexicon a function scores with: VADER's own, or VADER's with a project's overrides.
#[derive(Debug, Clone, Default)]
pub(crate) struct LexiconChoice {
    overrides: Option<Arc<(LexiconOverrides, Documentation)>>,
}

impl PartialEq for LexiconChoice {
    fn eq(&self, other: &Self) -> bool {
        match (&self.overrides, &other.overrides) {
            (None, None) => true,
            (Some(a), Some(b)) => a.0 == b.0,
            _ => false,
        }
    }
}

impl Eq for LexiconChoice {}

impl Hash for LexiconChoice {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if let Some(o) = &self.overrides {
            o.0.hash(state);
        }
    }
}

impl LexiconChoice {
    /// A choice with `overrides` applied; `base` is the function's own documentation, which gains a
    /// note that an override is active.
    pub(crate) fn new(overrides: Option<Arc<LexiconOverrides>>, base: &Documentation) -> Self {
        let overrides = overrides.filter(|o| !o.is_empty()).map(|o| {
            let mut doc = base.clone();
            doc.description.push_str(&format!(
                "\n\nLexicon override active: {} word(s) from '{}' add to or replace VADER's lexicon.",
                o.len(),
                o.origin()
            ));
            Arc::new(((*o).clone(), doc))
        });
        Self { overrides }
    }

    /// The lexicon to score with.
    pub(crate) fn lexicon(&self) -> &'static Lexicon {
        match &self.overrides {
            Some(o) => o.0.lexicon(),
            None => &LEXICON,
        }
    }

    /// The documentation with the override note, when an override is active.
    pub(crate) fn documentation(&self) -> Option<&Documentation> {
        self.overrides.as_ref().map(|o| &o.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tabs_spaces_comments_and_reports_lines() {
        let o = LexiconOverrides::parse(
            "# domain words\nrefund\t-1.5\nRESTOCKED  1.2\n\nrefund -2\n",
            "x.tsv",
        )
        .unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o.get("refund"), Some(-2.0));
        assert_eq!(o.get("restocked"), Some(1.2));
        let e = LexiconOverrides::parse("ok 1\nbad\n", "x.tsv").unwrap_err();
        assert_eq!((e.line, e.origin.as_str()), (2, "x.tsv"));
        let e = LexiconOverrides::parse("ok 1\n\nbad nine\n", "x.tsv").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("'nine'"), "{e}");
        assert!(LexiconOverrides::parse("w 4.5\n", "x").is_err());
    }

    #[test]
    fn lexicons_are_built_once_per_word_list() {
        let a = LexiconOverrides::parse("refund -1.5\n", "a").unwrap();
        let b = LexiconOverrides::parse("refund -1.5\n", "b").unwrap();
        assert!(std::ptr::eq(a.lexicon(), b.lexicon()));
        assert_eq!(a.lexicon().get(b"refund").valence(), Some(-1.5));
        assert_eq!(LEXICON.get(b"refund").valence(), None);
        assert_eq!(a.lexicon().get(b"good").valence(), Some(1.9));
    }
}
