//! SQL colouring for the input line. Colours are plain ANSI SGR codes that add no width, as
//! rustyline requires; the caller decides whether to colour at all (`NO_COLOR`, not a terminal).

use super::completion::KEYWORDS;
use super::lex::{Kind, scan};

const KEYWORD: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[2m";
const PARAM: &str = "\x1b[36m";
const META: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// Returns `line` with keywords, strings, numbers, comments, parameters and meta-commands coloured.
pub(crate) fn highlight(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 32);
    if line.trim_start().starts_with('\\') {
        let lead = line.len() - line.trim_start().len();
        let rest = &line[lead..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&line[..lead]);
        paint(&mut out, META, &rest[..end]);
        out.push_str(&rest[end..]);
        return out;
    }
    for t in scan(line) {
        let text = t.text(line);
        let colour = match t.kind {
            Kind::Word if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text)) => Some(KEYWORD),
            Kind::Str => Some(STRING),
            Kind::Number => Some(NUMBER),
            Kind::Comment => Some(COMMENT),
            Kind::Param => Some(PARAM),
            _ => None,
        };
        match colour {
            Some(c) => paint(&mut out, c, text),
            None => out.push_str(text),
        }
    }
    out
}

fn paint(out: &mut String, colour: &str, text: &str) {
    out.push_str(colour);
    out.push_str(text);
    out.push_str(RESET);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut in_escape = false;
        for c in s.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn colours_without_changing_the_text() {
        let line = "select name, 'x' -- c\nFROM t WHERE n > 1.5 AND d = $d";
        let h = highlight(line);
        assert_eq!(strip(&h), line);
        assert!(h.contains(&format!("{KEYWORD}select{RESET}")));
        assert!(h.contains(&format!("{STRING}'x'{RESET}")));
        assert!(h.contains(&format!("{NUMBER}1.5{RESET}")));
        assert!(h.contains(&format!("{PARAM}$d{RESET}")));
        assert!(
            !h.contains(&format!("{KEYWORD}name")),
            "common column names stay plain"
        );
        let meta = highlight("\\d reviews");
        assert_eq!(strip(&meta), "\\d reviews");
        assert!(meta.starts_with(META));
    }
}
