//! The REPL driven through a pseudo-terminal, as a person would use it.

use std::path::Path;
use std::process::Command;

use rexpect::session::PtySession;

use crate::common::{bin, demo_lake, run, run_in};

/// Generous: the first statement may wait for a busy build machine.
const TIMEOUT_MS: u64 = 60_000;
const PROMPT: &str = "nightshift> ";

/// Starts `nightshift repl` on the demo lake in a terminal, with its own HOME and history file.
fn spawn(dir: &Path, history: &Path) -> PtySession {
    let history = history.to_str().expect("utf-8 path");
    spawn_with(dir, &["repl", "--history", history], &[])
}

/// Starts the binary with `args` after `--lake` in a terminal, in `dir` as HOME, with `env` added.
fn spawn_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    let mut cmd = Command::new(bin());
    cmd.args(["--lake", demo_lake().to_str().expect("utf-8 path")])
        .args(args)
        .current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("NIGHTSHIFT_") || k.starts_with("AWS_") || k == "RUST_LOG" || k == "PAGER" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).expect("start the REPL");
    p.exp_string(PROMPT).expect("first prompt");
    p
}

/// Sends one line and returns what the REPL printed up to `needle`; fails on an error block.
#[track_caller]
fn ask(p: &mut PtySession, line: &str, needle: &str) -> String {
    p.send_line(line).expect("send");
    let out = p
        .exp_string(needle)
        .unwrap_or_else(|e| panic!("no {needle:?} after {line:?}: {e}"));
    assert!(!out.contains("error:"), "{line:?} failed:\n{out}");
    p.exp_string(PROMPT).expect("prompt after the result");
    out
}

fn quit(mut p: PtySession) {
    p.send_line("\\q").expect("send \\q");
    p.exp_eof().expect("the REPL exits on \\q");
}

#[test]
fn multi_line_statements_run_when_they_end_with_a_semicolon() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    // The first line is incomplete: nothing runs until the `;`.
    p.send_line("SELECT 6 *").unwrap();
    ask(&mut p, "7 AS answer;", "42");
    // Two statements on one line both run, in order.
    let out = ask(
        &mut p,
        "SELECT upper('first') AS a; SELECT upper('second') AS b;",
        "SECOND",
    );
    assert!(out.contains("FIRST"), "{out}");
    quit(p);
}

#[test]
fn tab_completes_table_and_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    // `transac` + Tab must become `transactions`, or the query fails with an unknown table.
    let out = ask(&mut p, "SELECT count(*) AS n FROM transac\t;", "1 row");
    assert!(out.contains("transactions"), "{out}");
    // `tx_dat` + Tab must become `tx_date`, a column of the table named in the statement.
    let out = ask(
        &mut p,
        "SELECT count(*) AS n FROM transactions WHERE tx_dat\t IS NOT NULL;",
        "1 row",
    );
    assert!(out.contains("tx_date"), "{out}");
    assert!(!out.contains("\x1b[1;34m"), "NO_COLOR: no keyword colour:\n{out}");
    // A view made in the session is offered too.
    // (DDL prints nothing: a second statement on the line shows it has run.)
    ask(
        &mut p,
        "CREATE VIEW recent_days AS SELECT DISTINCT tx_date FROM transactions; SELECT upper('made') AS m;",
        "MADE",
    );
    ask(&mut p, "SELECT count(*) AS n FROM recent_d\t;", "1 row");
    quit(p);
}

#[test]
fn keywords_are_coloured_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    // An empty NO_COLOR does not count (no-color.org).
    let mut p = spawn_with(dir.path(), &["repl", "--history", "h"], &[("NO_COLOR", "")]);
    p.send_line("SELECT 1 AS one;").unwrap();
    p.exp_string("\x1b[1;34mSELECT\x1b[0m")
        .expect("a coloured keyword");
    p.exp_string(PROMPT).unwrap();
    quit(p);
}

#[test]
fn describe_lists_the_columns_and_errors_keep_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    let out = ask(&mut p, "\\d transactions", "row");
    for needle in ["column", "type", "tx_date", "partition"] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
    // A bad column: one error block with the caret under it and a hint, then the prompt again.
    p.send_line("SELECT nosuch_col FROM transactions;").unwrap();
    let out = p.exp_string("hint:").expect("an error block with a hint");
    assert!(out.contains("error:"), "{out}");
    assert!(out.contains("1 | SELECT nosuch_col FROM transactions"), "{out}");
    assert!(
        out.contains("  |        ^^^^^^^^^^"),
        "caret under the column:\n{out}"
    );
    p.exp_string(PROMPT).unwrap();
    ask(&mut p, "SELECT lower('STILL') || 'here' AS s;", "stillhere");
    quit(p);
}

#[test]
fn output_to_a_csv_file_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    let q = "SELECT tx_date, count(*) AS n FROM transactions GROUP BY tx_date ORDER BY tx_date";
    ask(&mut p, "\\o out.csv", "as csv");
    ask(&mut p, &format!("{q};"), "written to 'out.csv'");
    ask(&mut p, "\\o", "terminal");
    // Back on the terminal: results print again and no longer reach the file.
    ask(&mut p, "SELECT upper('screen') AS s;", "SCREEN");
    quit(p);
    let written = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let expected = run(&["sql", "--format", "csv", "-c", q]);
    expected.ok();
    assert_eq!(written, expected.stdout);
    assert!(written.starts_with("tx_date,n\n"), "{written}");
}

#[test]
fn ctrl_c_cancels_a_long_query_and_the_next_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    // Hours of work: only Ctrl-C ends it.
    p.send_line("SELECT count(*) FROM generate_series(1, 100000000000) AS t(v) WHERE v % 7 = 3;")
        .unwrap();
    // The progress line appears after a second on stderr (a terminal here).
    p.exp_string("Ctrl-C cancels").expect("a progress line");
    p.send_control('c').unwrap();
    p.exp_string("cancelled").expect("the query is cancelled");
    p.exp_string(PROMPT).unwrap();
    ask(&mut p, "SELECT upper('after') AS z;", "AFTER");
    // Ctrl-D leaves.
    p.send_control('d').unwrap();
    p.exp_eof().expect("the REPL exits on Ctrl-D");
}

#[test]
fn history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("state").join("history");
    let mut p = spawn(dir.path(), &history);
    ask(&mut p, "SELECT upper('remembered') AS h;", "REMEMBERED");
    quit(p);
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("SELECT upper('remembered') AS h;"), "{saved}");
    let mut p = spawn(dir.path(), &history);
    // Up arrow: the last entry (`\q`); twice: the query, which runs again.
    p.send("\x1b[A\x1b[A").unwrap();
    p.send_line("").unwrap();
    p.exp_string("REMEMBERED")
        .expect("the query from the last session");
    p.exp_string(PROMPT).unwrap();
    quit(p);
}

#[test]
fn parameters_timing_and_function_docs() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(dir.path(), &dir.path().join("history"));
    ask(&mut p, "\\set day 2024-06-02", "Date32");
    ask(&mut p, "\\timing on", "timing is on");
    let out = ask(
        &mut p,
        "SELECT count(*) AS n FROM transactions WHERE tx_date = $day;",
        " s\r\n",
    );
    assert!(out.contains("1 row"), "{out}");
    // Our own functions are documented like DataFusion's.
    let out = ask(&mut p, "\\df sentiment_score", "syntax:");
    assert!(out.contains("scalar function"), "{out}");
    quit(p);
}

#[test]
fn history_goes_to_nightshift_history_else_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    // No --history: the user's data folder (XDG_DATA_HOME on Linux).
    let mut p = spawn_with(dir.path(), &["repl"], &[]);
    ask(&mut p, "SELECT upper('in data dir') AS h;", "IN DATA DIR");
    quit(p);
    let default = dir.path().join("data").join("nightshift").join("history");
    let saved = std::fs::read_to_string(&default).unwrap();
    assert!(saved.contains("in data dir"), "{saved}");
    // NIGHTSHIFT_HISTORY wins over the data folder.
    let custom = dir.path().join("custom_history");
    let custom_str = custom.to_str().unwrap();
    let mut p = spawn_with(dir.path(), &["repl"], &[("NIGHTSHIFT_HISTORY", custom_str)]);
    ask(&mut p, "SELECT upper('from env') AS h;", "FROM ENV");
    quit(p);
    assert!(std::fs::read_to_string(&custom).unwrap().contains("from env"));
    assert!(!std::fs::read_to_string(&default).unwrap().contains("from env"));
}

#[test]
fn bare_nightshift_opens_the_repl_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_with(dir.path(), &[], &[]);
    ask(&mut p, "SELECT upper('bare') AS b;", "BARE");
    quit(p);
    // Without a terminal it prints the usage and fails as a usage error.
    let r = run(&[]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Usage"), "{}", r.stdout);
}

#[test]
fn include_runs_a_file_and_the_pager_shows_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("two.sql"),
        "SELECT upper('one') AS a;\n-- a comment\nSELECT upper('two') AS b;\n",
    )
    .unwrap();
    let mut p = spawn_with(
        dir.path(),
        &["repl", "--history", "h"],
        &[("PAGER", "sed 's/^/PAGED:/'")],
    );
    let out = ask(&mut p, "\\i two.sql", "TWO");
    assert!(out.contains("ONE"), "{out}");
    ask(&mut p, "\\pager on", "pager is on");
    ask(&mut p, "SELECT upper('long') AS l;", "PAGED:");
    ask(&mut p, "\\pager off", "pager is off");
    quit(p);
}

#[test]
fn piped_input_runs_statements_and_meta_commands() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake().to_str().unwrap();
    let history = dir.path().join("history");
    let r = run_in(
        dir.path(),
        &["--lake", lake, "repl", "--history", history.to_str().unwrap()],
        &[],
        // The last statement lacks its `;` and still runs.
        Some("SELECT 1 AS a;\n\\format csv\nSELECT 2\n  AS b"),
    );
    r.ok();
    assert!(r.stdout.contains("format is csv\nb\n2\n"), "{}", r.stdout);
    assert!(!history.exists(), "no history without a terminal");
}

/// A function that panics inside the engine fails its statement with a message; the session goes on.
#[test]
fn a_panicking_function_fails_its_statement_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut p = spawn_with(
        dir.path(),
        &["repl", "--history", history.to_str().unwrap()],
        &[("NIGHTSHIFT_FAULT_INJECTION", "1"), ("RUST_BACKTRACE", "0")],
    );
    p.send_line("SELECT nightshift_fault(true);").unwrap();
    let out = p
        .exp_string("this is a bug")
        .expect("an error block for the panic");
    assert!(
        out.contains("nightshift panicked: nightshift_fault: injected panic"),
        "{out}"
    );
    p.exp_string(PROMPT).unwrap();
    ask(&mut p, "SELECT 'still' || 'here' AS s;", "stillhere");
    quit(p);
}

/// Under a memory limit, a join whose hash table does not fit runs again with a sort-merge join,
/// which spills, and the REPL says so and prints the answer.
#[test]
fn a_join_beyond_the_memory_limit_runs_again_with_a_spilling_join() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let spill = dir.path().join("spill");
    let mut p = spawn_with(
        dir.path(),
        &[
            "--memory-limit",
            "32MiB",
            "--target-partitions",
            "2",
            "--spill-dir",
            spill.to_str().unwrap(),
            "repl",
            "--history",
            history.to_str().unwrap(),
        ],
        &[],
    );
    let data = "SELECT value AS k, (value * 7919) % 4000037 AS r FROM range(4000000)";
    let out = ask(
        &mut p,
        &format!("SELECT count(*) + 1 AS n FROM ({data}) a JOIN ({data}) b ON a.r = b.r;"),
        "4000001",
    );
    assert!(
        out.contains("running the statement again with sort-merge joins"),
        "{out}"
    );
    quit(p);
}
