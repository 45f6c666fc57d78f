//! `[udfs.sentiment] lexicon`: project words that add to or override VADER's lexicon.

use crate::common::{demo_lake, run_in};

fn project(lexicon: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[lake]\nroot = \"{}\"\n[udfs.sentiment]\nlexicon = \"domain.tsv\"\n",
        demo_lake().display()
    );
    std::fs::write(dir.path().join("nightshift.toml"), toml).unwrap();
    std::fs::write(dir.path().join("domain.tsv"), lexicon).unwrap();
    dir
}

const QUERY: &str = "SELECT sentiment_score('I want a refund') AS a, \
                     sentiment_label('I want a refund') AS l, \
                     sentiment_score('The refund was quick and friendly') AS b";

#[test]
fn overrides_change_scores_as_the_reference_does() {
    // Expected values from vaderSentiment 3.3.2 with `analyzer.lexicon['refund'] = -1.5`.
    let dir = project("# domain vocabulary\nrefund\t-1.5\n");
    let r = run_in(dir.path(), &["sql", "--format", "csv", "-c", QUERY], &[], None);
    assert_eq!(r.ok().stdout, "a,l,b\n-0.296,negative,0.1779\n");
    // Without the file, VADER's own lexicon (where 'refund' is unknown).
    let plain = run_in(
        dir.path(),
        &[
            "--config",
            "/dev/null",
            "--lake",
            demo_lake().to_str().unwrap(),
            "sql",
            "--format",
            "csv",
            "-c",
            QUERY,
        ],
        &[],
        None,
    );
    assert_eq!(plain.ok().stdout, "a,l,b\n0.0772,positive,0.4939\n");
}

#[test]
fn the_function_documentation_shows_the_override() {
    let dir = project("refund -1.5\n");
    let r = run_in(
        dir.path(),
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT description FROM information_schema.routines WHERE routine_name = 'sentiment_score'",
        ],
        &[],
        None,
    );
    assert!(
        r.ok().stdout.contains("Lexicon override active: 1 word(s) from"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("domain.tsv"), "{}", r.stdout);
}

#[test]
fn a_bad_line_names_the_file_and_line() {
    let dir = project("refund -1.5\n\nrestock lots\n");
    let r = run_in(dir.path(), &["sql", "-c", "SELECT 1"], &[], None);
    r.fails_with(2, &["domain.tsv:3", "'lots'", "udfs.sentiment.lexicon"]);
    let dir = project("refund -1.5\n");
    std::fs::remove_file(dir.path().join("domain.tsv")).unwrap();
    run_in(dir.path(), &["sql", "-c", "SELECT 1"], &[], None).fails_with(2, &["domain.tsv", "cannot read"]);
}
