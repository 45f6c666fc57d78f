//! One test per kind of settings mistake; each exits 2 and names the file, line and key.

use crate::common::{demo_lake, run_in};

fn with_config(toml: &str, args: &[&str], env: &[(&str, &str)]) -> crate::common::Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nightshift.toml"), toml).unwrap();
    let r = run_in(dir.path(), args, env, None);
    drop(dir);
    r
}

#[test]
fn unknown_key() {
    with_config(
        "[lake]\nroot = \"x\"\nrot = \"y\"\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(2, &["nightshift.toml:3", "lake.rot", "unknown key"]);
}

#[test]
fn wrong_type() {
    with_config(
        "[engine]\ntarget_partitions = \"four\"\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(
        2,
        &[
            "nightshift.toml:2",
            "engine.target_partitions",
            "expected a positive integer",
        ],
    );
}

#[test]
fn bad_value() {
    with_config(
        "[engine]\nmemory_limit = \"lots\"\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(2, &["nightshift.toml:2", "engine.memory_limit", "'lots'"]);
}

#[test]
fn syntax_error() {
    with_config("[lake\nroot = 1\n", &["sql", "-c", "SELECT 1"], &[])
        .fails_with(2, &["nightshift.toml:1", "TOML syntax error"]);
}

#[test]
fn secret_in_file() {
    let r = with_config(
        "[lake.storage]\nsecret_access_key = \"hunter2hunter2\"\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    );
    r.fails_with(
        2,
        &[
            "nightshift.toml:2",
            "lake.storage.secret_access_key",
            "never read from the file",
        ],
    );
    assert!(!r.stderr.contains("hunter2hunter2"));
}

#[test]
fn bad_datafusion_option() {
    with_config(
        "[datafusion.execution]\nbatch_sise = 10\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(
        2,
        &[
            "nightshift.toml:2",
            "datafusion.execution.batch_sise",
            "not a valid DataFusion option",
        ],
    );
}

#[test]
fn bad_table_declaration() {
    with_config(
        "[[tables]]\nname = \"t\"\npath = \"../outside\"\npartitions = [{ name = \"d\", type = \"datetime\" }]\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(2, &["tables[0].path", "'..'", "tables[0].partitions[0]", "unknown partition type 'datetime'"]);
}

#[test]
fn bad_environment_and_flag() {
    with_config(
        "",
        &["sql", "-c", "SELECT 1"],
        &[("NIGHTSHIFT_TARGET_PARTITIONS", "zero")],
    )
    .fails_with(2, &["env NIGHTSHIFT_TARGET_PARTITIONS", "'zero'"]);
    with_config(
        "",
        &["--memory-limit", "12 parsecs", "sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(2, &["flag --memory-limit"]);
    with_config("", &["--set", "datafusion.nope=1", "sql", "-c", "SELECT 1"], &[])
        .fails_with(2, &["flag --set", "datafusion.nope"]);
    with_config("", &["sql", "--format", "yaml", "-c", "SELECT 1"], &[]).fails_with(2, &["yaml"]);
}

#[test]
fn optimizer_rules_can_be_switched_off_by_name() {
    let show =
        "SELECT value FROM information_schema.df_settings WHERE name = 'nightshift_optimizer.join_order'";
    let r = with_config(
        "",
        &[
            "--set",
            "nightshift_optimizer.join_order=false",
            "sql",
            "--format",
            "csv",
            "-c",
            show,
        ],
        &[],
    );
    r.ok();
    assert!(r.stdout.contains("false"), "{}", r.stdout);
    let r = with_config("", &["sql", "--format", "csv", "-c", show], &[]);
    r.ok();
    assert!(r.stdout.contains("true"), "{}", r.stdout);
    with_config(
        "",
        &["--set", "nightshift_optimizer.nope=1", "sql", "-c", "SELECT 1"],
        &[],
    )
    .fails_with(2, &["flag --set", "nightshift_optimizer.nope"]);
}

#[test]
fn all_problems_are_reported_at_once() {
    let r = with_config(
        "read_only = \"yes\"\n[lake]\nroot = 5\n[engine]\nbatch_size = -1\nfoo = 1\n",
        &["sql", "-c", "SELECT 1"],
        &[],
    );
    r.fails_with(
        2,
        &[
            "4 problems",
            ":1: read_only",
            ":3: lake.root",
            ":5: engine.batch_size",
            ":6: engine.foo",
        ],
    );
}

#[test]
fn precedence_is_defaults_file_env_flags() {
    let lake = demo_lake().to_str().unwrap().to_string();
    let toml = format!("[lake]\nroot = \"{lake}\"\n[engine]\ntarget_partitions = 3\n");
    let q = [
        "sql",
        "--format",
        "csv",
        "-c",
        "SHOW datafusion.execution.target_partitions",
    ];
    let value = |r: &crate::common::Run| r.stdout.lines().nth(1).unwrap_or_default().to_string();
    let file = with_config(&toml, &q, &[]);
    assert_eq!(value(file.ok()), "datafusion.execution.target_partitions,3");
    let env = with_config(&toml, &q, &[("NIGHTSHIFT_TARGET_PARTITIONS", "5")]);
    assert_eq!(value(env.ok()), "datafusion.execution.target_partitions,5");
    let mut args = vec!["--target-partitions", "7"];
    args.extend_from_slice(&q);
    let flag = with_config(&toml, &args, &[("NIGHTSHIFT_TARGET_PARTITIONS", "5")]);
    assert_eq!(value(flag.ok()), "datafusion.execution.target_partitions,7");
}

/// Without a setting, a query's partitions follow the threads (`--threads`, `NIGHTSHIFT_THREADS`,
/// else the cores): the threads plus as many again up to 4. A setting or flag still wins.
#[test]
fn default_partitions_follow_the_threads() {
    let lake = demo_lake().to_str().unwrap().to_string();
    let toml = format!("[lake]\nroot = \"{lake}\"\n");
    let shown = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend([
            "sql",
            "--format",
            "csv",
            "-c",
            "SHOW datafusion.execution.target_partitions",
        ]);
        let r = with_config(&toml, &all, env);
        r.ok().stdout.lines().nth(1).unwrap_or_default().to_string()
    };
    for (threads, partitions) in [("1", 2), ("3", 6), ("4", 8), ("9", 13)] {
        assert_eq!(
            shown(&["--threads", threads], &[]),
            format!("datafusion.execution.target_partitions,{partitions}"),
            "--threads {threads}"
        );
    }
    assert_eq!(
        shown(&[], &[("NIGHTSHIFT_THREADS", "2")]),
        "datafusion.execution.target_partitions,4"
    );
    assert_eq!(
        shown(&["--threads", "2", "--target-partitions", "3"], &[]),
        "datafusion.execution.target_partitions,3"
    );
    let zero = with_config(&toml, &["--threads", "0", "sql", "-c", "SELECT 1"], &[]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(zero.stderr.contains("--threads"), "{}", zero.stderr);
}

#[test]
fn explicit_tables_with_globs_and_declared_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for (folder, ids) in [
        ("raw/2024-01", [1, 2]),
        ("raw/2024-02/late", [3, 4]),
        ("raw/2023-12", [5, 6]),
    ] {
        crate::common::write_parquet(&lake.join(folder).join("part.parquet"), &ids, false, None);
    }
    for (folder, ids) in [("tagged/code=007", [1, 2]), ("tagged/code=010", [3, 4])] {
        crate::common::write_parquet(&lake.join(folder).join("part.parquet"), &ids, false, None);
    }
    let toml = "[lake]\nroot = \"lake\"\n\
        [[tables]]\nname = \"events\"\npath = \"raw/2024-*/**/*.parquet\"\n\
        [[tables]]\nname = \"tagged\"\npath = \"tagged/\"\npartitions = [{ name = \"code\", type = \"string\" }]\n";
    std::fs::write(dir.path().join("nightshift.toml"), toml).unwrap();
    let q = |sql: &str| run_in(dir.path(), &["sql", "--format", "csv", "-c", sql], &[], None);
    // The glob takes 2024's folders at any depth and leaves 2023 out.
    assert_eq!(
        q("SELECT sum(id) AS s, count(*) AS n FROM events").ok().stdout,
        "s,n\n10,4\n"
    );
    // Declared as a string, '007' keeps its zeros (inferred, it would be the integer 7).
    assert_eq!(
        q("SELECT code, sum(id) AS s FROM tagged GROUP BY code ORDER BY code")
            .ok()
            .stdout,
        "code,s\n007,3\n010,7\n"
    );
    // Discovery still finds the folders as tables of their own, with inferred types.
    assert_eq!(
        q("SELECT arrow_typeof(code) AS t FROM tagged LIMIT 1")
            .ok()
            .stdout,
        "t\nUtf8\n"
    );
    // A declared type that a folder does not fit is an error naming the folder.
    let bad = "[lake]\nroot = \"lake\"\n[[tables]]\nname = \"tagged\"\npath = \"raw/\"\npartitions = [{ name = \"code\", type = \"int\" }]\n";
    std::fs::write(dir.path().join("nightshift.toml"), bad).unwrap();
    q("SELECT * FROM tagged").fails_with(1, &["declared partition columns [code]"]);
}
