//! `--cluster`: statements on Apache DataFusion Ballista give the local results; an unreachable
//! scheduler is a clear error.

use crate::common::run;

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
