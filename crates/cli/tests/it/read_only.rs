use crate::common::{demo_lake, run};

#[test]
fn read_only_refuses_writes_ddl_and_outside_paths() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x.parquet");
    run(&["--read-only", "sql", "-c", "SELECT count(*) FROM reviews"]).ok();
    run(&[
        "--read-only",
        "sql",
        "-c",
        &format!("COPY (SELECT 1) TO '{}'", target.display()),
    ])
    .fails_with(1, &["read-only"]);
    assert!(!target.exists());
    run(&[
        "--read-only",
        "sql",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}'",
            dir.path().display()
        ),
    ])
    .fails_with(1, &["read-only"]);
    run(&[
        "--read-only",
        "sql",
        "-c",
        "INSERT INTO reviews SELECT * FROM reviews",
    ])
    .fails_with(1, &["read-only"]);
    // Outside the lake, directly and through '..'.
    crate::common::write_parquet(&target, &[1], false, None);
    run(&["sql", "-c", &format!("SELECT * FROM '{}'", target.display())]).ok();
    run(&[
        "--read-only",
        "sql",
        "-c",
        &format!("SELECT * FROM '{}'", target.display()),
    ])
    .fails_with(1, &["read-only", "outside the lake"]);
    let lake = demo_lake();
    let sneaky = format!("{}/../../x.parquet", lake.join("reviews").display());
    run(&["--read-only", "sql", "-c", &format!("SELECT * FROM '{sneaky}'")])
        .fails_with(1, &["read-only", ".."]);
    // The same through the environment and the file.
    let r = crate::common::run_in(
        lake.parent().unwrap(),
        &[
            "--lake",
            lake.to_str().unwrap(),
            "sql",
            "-c",
            &format!("COPY (SELECT 1) TO '{}'", target.display()),
        ],
        &[("NIGHTSHIFT_READ_ONLY", "true")],
        None,
    );
    r.fails_with(1, &["read-only"]);
}
