//! `--cluster`: statements on Apache DataFusion Ballista give the local results; an unreachable
//! scheduler is a clear error.

use crate::common::{run, run_in};

#[test]
fn standalone_cluster_gives_the_local_result() {
    let sql = "SELECT review_date, sentiment_label(review_text) AS label, count(*) AS n, \
               round(avg(sentiment_score(review_text)), 6) AS score \
               FROM reviews GROUP BY 1, 2 ORDER BY 1, 2";
    let local = run(&["sql", "--format", "csv", "-c", sql]);
    local.ok();
    let remote = run(&["--cluster", "standalone", "sql", "--format", "csv", "-c", sql]);
    remote.ok();
    assert_eq!(remote.stdout, local.stdout);
    assert!(local.stdout.lines().count() > 3, "{}", local.stdout);
    let explain = format!("EXPLAIN {sql}");
    let plan = run(&[
        "--cluster",
        "standalone",
        "sql",
        "--format",
        "csv",
        "-c",
        &explain,
    ]);
    plan.ok();
    assert!(plan.stdout.contains("distributed_plan"), "{}", plan.stdout);
}

#[test]
fn an_unreachable_scheduler_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("df://127.0.0.1:{port}");
    run(&["--cluster", &url, "sql", "-c", "SELECT 1"]).fails_with(
        1,
        &[
            "cannot reach the Ballista scheduler at df://127.0.0.1:",
            "--cluster",
        ],
    );
}

/// The lake's own kinds of table reach the cluster intact: a job report (a Delta table) is read at
/// the version this process read (a stray file beside it is not), a glob table keeps its pattern, a
/// report with a torn Delta log fails with the same message, and the in-process ledger says to
/// query it here.
#[test]
fn reports_globs_and_broken_tables_read_the_same_on_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let toml = std::fs::read_to_string(repo.join("nightshift.toml")).unwrap()
        + "\n[[tables]]\nname = \"first_day\"\npath = \"reviews/review_date=2024-06-01/*.parquet\"\n";
    std::fs::write(p.join("nightshift.toml"), toml).unwrap();
    crate::common::copy_repo_queries(p);
    let generate = [
        "datasets",
        "generate",
        "--out",
        "datasets/lake",
        "--reviews",
        "600",
        "--days",
        "3",
    ];
    run_in(p, &generate, &[], None).ok();
    run_in(
        p,
        &["run", "daily_sentiment", "--date", "2024-06-02", "--no-progress"],
        &[],
        None,
    )
    .ok();
    // A file no Delta version names, as a killed run leaves behind.
    let day = p.join("datasets/lake/reports/daily_sentiment/review_date=2024-06-02");
    let published = std::fs::read_dir(&day).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&published, day.join("part-stray.parquet")).unwrap();

    let sql = [
        "-c",
        "SELECT sentiment, sum(reviews) AS n FROM reports.daily_sentiment GROUP BY 1 ORDER BY 1",
        "-c",
        "SELECT count(*) AS n, sum(length(review_text)) AS chars FROM first_day",
    ];
    let query = |cluster: bool| {
        let mut args = if cluster {
            vec!["--cluster", "standalone"]
        } else {
            vec![]
        };
        args.extend(["sql", "--format", "csv"]);
        args.extend(sql);
        let r = run_in(p, &args, &[], None);
        r.ok();
        r.stdout
    };
    let local = query(false);
    assert_eq!(query(true), local);
    let reviews: u64 = local
        .lines()
        .skip(1)
        .take_while(|l| *l != "n,chars")
        .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        reviews, 200,
        "the report counts one day of 600 reviews over 3:\n{local}"
    );
    assert!(local.contains("\n200,"), "the glob table is one day:\n{local}");

    let ledger = run_in(
        p,
        &[
            "--cluster",
            "standalone",
            "sql",
            "-c",
            "SELECT * FROM nightshift.runs",
        ],
        &[],
        None,
    );
    ledger.fails_with(
        1,
        &[
            "nightshift.runs",
            "lives only in this process",
            "without --cluster",
        ],
    );

    let report = p.join("datasets/lake/reports/daily_sentiment");
    let latest = *crate::common::delta_versions(&report).last().unwrap();
    std::fs::write(
        report.join("_delta_log").join(format!("{latest:020}.json")),
        "{ not json",
    )
    .unwrap();
    let q = ["sql", "-c", "SELECT count(*) FROM reports.daily_sentiment"];
    let local = run_in(p, &q, &[], None);
    let mut on_cluster = vec!["--cluster", "standalone"];
    on_cluster.extend(q);
    let remote = run_in(p, &on_cluster, &[], None);
    local.fails_with(1, &["reports/daily_sentiment"]);
    remote.fails_with(1, &["reports/daily_sentiment"]);
    // The cluster wraps the scheduler's planning error; the reason is the same.
    let tail = &local.stderr[local.stderr.rfind("failed to read table").unwrap()..];
    let reason = tail.lines().next().unwrap();
    assert!(reason.contains("Delta table"), "{reason}");
    assert!(remote.stderr.contains(reason), "{}", remote.stderr);
}
