//! nightshift on an in-process Ballista cluster (scheduler and two executors on loopback): the same
//! statements give the same results as a local session, with every nightshift function installed on
//! every node.

mod rollback;

use nightshift_cluster::{NodeKit, connect, start_standalone};
use nightshift_core::{Params, Session, Settings};

async fn project() -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    nightshift_datasets::generate(&nightshift_datasets::GenerateOptions {
        out: dir.path().join("lake"),
        reviews: 3000,
        transactions: 300,
        days: 5,
        seed: 11,
        start_date: "2024-06-01".parse().unwrap(),
    })
    .unwrap();
    let file = dir.path().join("nightshift.toml");
    let toml = "[lake]\nroot = \"lake\"\n";
    std::fs::write(&file, toml).unwrap();
    (dir, Settings::from_toml(toml, &file).unwrap())
}

async fn rows(session: &Session, sql: &str) -> String {
    let batches = session
        .sql(sql, &Params::new())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_sentiment_report_is_the_same_on_the_cluster() {
    let (_dir, settings) = project().await;
    let kit = NodeKit::new(&settings).unwrap();
    let addr = start_standalone(&kit, 2, 2).await.unwrap();
    let local = Session::new(settings.clone()).await.unwrap();
    let remote = connect(settings, &format!("df://localhost:{}", addr.port()))
        .await
        .unwrap();

    // Scored from a column, so the executors evaluate the functions (a literal would be folded on
    // the client and hide a function missing on the cluster).
    let sql = "SELECT review_date, sentiment_label(review_text) AS label, count(*) AS n, \
               round(avg(sentiment_score(review_text)), 6) AS score, \
               round(sum(sentiment(review_text)['pos']), 3) AS pos \
               FROM reviews GROUP BY 1, 2 ORDER BY 1, 2";
    let expected = rows(&local, sql).await;
    assert!(expected.contains("positive"), "{expected}");
    assert_eq!(rows(&remote, sql).await, expected);

    // The plan is Ballista's: stages, with the functions inside them.
    let plan = rows(&remote, &format!("EXPLAIN {sql}")).await;
    assert!(
        plan.contains("distributed_plan")
            && plan.contains("ResolvedStage")
            && plan.contains("sentiment_label"),
        "{plan}"
    );
    let plan = rows(&local, &format!("EXPLAIN {sql}")).await;
    assert!(!plan.contains("distributed_plan"), "{plan}");
}

/// The functions a context has beyond plain DataFusion's, sorted.
fn added_functions(state: &datafusion::execution::SessionState) -> Vec<String> {
    let plain = datafusion::prelude::SessionContext::new().state();
    let mut names: Vec<String> = state
        .scalar_functions()
        .keys()
        .filter(|k| !plain.scalar_functions().contains_key(*k))
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn every_node_installs_every_nightshift_function() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_dir, settings) = project().await;
        // What a local session actually has, not a list kept beside the code.
        let local = Session::new(settings.clone()).await.unwrap();
        let expected = added_functions(&local.context().state());
        for f in ["sentiment_score", "sentiment", "predict", "fraud_score"] {
            assert!(
                expected.iter().any(|e| e == f),
                "the local session lacks {f}: {expected:?}"
            );
        }
        let kit = NodeKit::new(&settings).unwrap();
        assert_eq!(kit.function_names(), expected);
        // The scheduler plans with the kit's session state; executors resolve with its registry.
        let scheduler = kit
            .session_state(datafusion::prelude::SessionConfig::new())
            .unwrap();
        let registry = kit.function_registry().unwrap();
        for name in &expected {
            assert!(
                scheduler.scalar_functions().contains_key(name),
                "the scheduler lacks {name}"
            );
            assert!(
                registry.scalar_functions.contains_key(name),
                "executors lack {name}"
            );
        }
        // The client has them too, after Ballista's upgrade replaced the function list.
        let remote = connect(settings, "df://localhost:1").await.unwrap();
        let state = remote.context().state();
        for name in &expected {
            assert!(
                state.scalar_functions().contains_key(name),
                "the client lacks {name}"
            );
        }
    });
}
