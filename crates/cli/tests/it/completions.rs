//! `nightshift completions SHELL`: a script for each shell that names every command, and one that
//! bash really completes with.

use crate::common::run_in;

/// Every top-level command, as the scripts must offer it.
const COMMANDS: &[&str] = &[
    "repl",
    "sql",
    "tables",
    "describe",
    "bench",
    "jobs",
    "run",
    "runs",
    "rerun",
    "schedule",
    "scheduler",
    "executor",
    "cluster",
    "datasets",
    "completions",
];

#[test]
fn each_shell_gets_a_script_that_names_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _nightshift"),
        ("zsh", "#compdef nightshift"),
        ("fish", "complete -c nightshift"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[nightshift]"),
    ] {
        let r = run_in(dir.path(), &["completions", shell], &[], None);
        r.ok();
        assert!(
            r.stdout.contains(marker),
            "{shell} script lacks {marker:?}:\n{}",
            r.stdout
        );
        for c in COMMANDS {
            assert!(r.stdout.contains(c), "{shell} script does not name '{c}'");
        }
        // Flags of subcommands are there too, not only the top level (fish spells them `-l once`).
        assert!(
            r.stdout.contains("--once") || r.stdout.contains("-l once"),
            "{shell} script lacks schedule --once"
        );
    }
    run_in(dir.path(), &["completions", "tcsh"], &[], None).fails_with(2, &["tcsh"]);
}

#[test]
fn bash_completes_a_command_from_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("nightshift.bash");
    let r = run_in(dir.path(), &["completions", "bash"], &[], None);
    r.ok();
    std::fs::write(&script, &r.stdout).unwrap();
    // What bash does on `nightshift sch<Tab>`.
    let probe = format!(
        "source '{}'; COMP_WORDS=(nightshift sch); COMP_CWORD=1; COMP_LINE='nightshift sch'; \
         COMP_POINT=${{#COMP_LINE}}; _nightshift nightshift sch nightshift; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let Ok(out) = std::process::Command::new("bash").args(["-c", &probe]).output() else {
        eprintln!("skipped: no bash on this machine");
        return;
    };
    let words = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        words.trim(),
        "schedule scheduler",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
