//! Jobs end to end on a generated demo lake: backfill, idempotent reruns, the ledger, catch-up from
//! the ledger under clock steps.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use nightshift_core::{Session, Settings};
use nightshift_jobs::{Clock, JobSet, RunState, Runner, Selection};

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn set(&self, t: &str) {
        *self.0.lock().unwrap() = t.parse().unwrap();
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const SQL: &str = "SELECT review_date, sentiment_label(review_text) AS sentiment, count(*) AS reviews \
                   FROM reviews WHERE review_date = $run_date GROUP BY 1, 2 ORDER BY 1, 2";

async fn project() -> (tempfile::TempDir, Session, JobSet) {
    project_with("daily @ 02:00 UTC").await
}

async fn project_with(schedule: &str) -> (tempfile::TempDir, Session, JobSet) {
    let dir = tempfile::tempdir().unwrap();
    nightshift_datasets::generate(&nightshift_datasets::GenerateOptions {
        out: dir.path().join("lake"),
        reviews: 700,
        transactions: 70,
        days: 7,
        seed: 7,
        start_date: d("2024-06-01"),
    })
    .unwrap();
    std::fs::create_dir_all(dir.path().join("queries")).unwrap();
    std::fs::write(dir.path().join("queries/daily.sql"), SQL).unwrap();
    let toml = "[lake]\nroot = \"lake\"\n[scheduler]\ncatch_up_limit = 5\n\
                [jobs.daily_sentiment]\nsql = \"queries/daily.sql\"\nschedule = \"SCHEDULE\"\n\
                output = \"reports/daily_sentiment\"\npartition_by = [\"review_date\"]\n";
    let toml = toml.replace("SCHEDULE", schedule);
    let file = dir.path().join("nightshift.toml");
    std::fs::write(&file, &toml).unwrap();
    let settings = Settings::from_toml(&toml, &file).unwrap();
    let jobs = JobSet::from_settings(&settings).unwrap();
    let session = Session::new(settings).await.unwrap();
    (dir, session, jobs)
}

async fn count(session: &Session, sql: &str) -> i64 {
    let batches = session.context().sql(sql).await.unwrap().collect().await.unwrap();
    let col = batches[0].column(0);
    datafusion::common::ScalarValue::try_from_array(col, 0)
        .unwrap()
        .to_string()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn backfill_rerun_ledger_and_catch_up() {
    let (_dir, session, jobs) = project().await;
    let clock = Arc::new(TestClock(Mutex::new("2024-06-08T03:00:00Z".parse().unwrap())));
    let runner = Runner::new(&session, jobs, clock.clone()).unwrap();

    // A week's backfill runs seven intervals in order.
    let plan = runner
        .plan(&[], &Selection::Dates(d("2024-06-01"), d("2024-06-07")))
        .await
        .unwrap();
    let dates: Vec<_> = plan.iter().map(|p| p.interval.run_date.to_string()).collect();
    assert_eq!(dates.len(), 7);
    assert_eq!(dates[0], "2024-06-01");
    for p in &plan {
        let r = runner.run(&p.job, &p.interval).await;
        assert_eq!(r.state, RunState::Succeeded, "{:?}", r.message);
        assert!(r.rows_written > 0);
    }
    let job = runner.jobs().get("daily_sentiment").unwrap().clone();
    let output = runner.output(&job);
    let files = output.published_files().await.unwrap();
    let report = session
        .context()
        .read_parquet(files.clone(), Default::default())
        .await
        .unwrap();
    let per_label: i64 = report.clone().count().await.unwrap() as i64;
    // Cross-check against the lake: one row per (day, label), and every review counted once.
    let expected = count(
        &session,
        "SELECT count(*) FROM (SELECT DISTINCT review_date, sentiment_label(review_text) FROM reviews)",
    )
    .await;
    assert_eq!(per_label, expected);
    let total_reviews: i64 = {
        let b = report
            .aggregate(
                vec![],
                vec![datafusion::functions_aggregate::expr_fn::sum(
                    datafusion::prelude::col("reviews"),
                )],
            )
            .unwrap()
            .collect()
            .await
            .unwrap();
        datafusion::common::ScalarValue::try_from_array(b[0].column(0), 0)
            .unwrap()
            .to_string()
            .parse()
            .unwrap()
    };
    assert_eq!(
        total_reviews,
        count(&session, "SELECT count(*) FROM reviews").await
    );

    // Rerunning a day gives the same report and the same file count.
    let facts = |t: Option<deltalake_core::DeltaTable>| nightshift_lake::delta_facts(&t.unwrap()).unwrap();
    let before = facts(output.table().await.unwrap());
    let iv = plan[2].interval;
    let r = runner.run(&job, &iv).await;
    assert_eq!(r.state, RunState::Succeeded);
    let after = facts(output.table().await.unwrap());
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.rows, before.rows);
    assert_eq!(after.files, before.files);
    assert_eq!(r.output_version, Some(after.version));

    // The ledger holds every run and is queryable as nightshift.runs.
    runner.ledger().register(session.context()).await.unwrap();
    assert_eq!(
        count(
            &session,
            "SELECT count(*) FROM nightshift.runs WHERE state = 'succeeded' AND job = 'daily_sentiment'"
        )
        .await,
        8
    );

    // Catch-up comes from the last committed interval: two days of downtime → two runs.
    clock.set("2024-06-10T02:30:00Z");
    let due: Vec<_> = runner
        .plan(&[], &Selection::Due)
        .await
        .unwrap()
        .iter()
        .map(|p| p.interval.run_date.to_string())
        .collect();
    assert_eq!(due, ["2024-06-08", "2024-06-09"]);
    // A clock stepped back finds nothing due; stepped far forward, the catch-up limit keeps the newest.
    clock.set("2024-06-07T10:00:00Z");
    assert!(runner.plan(&[], &Selection::Due).await.unwrap().is_empty());
    clock.set("2024-07-01T10:00:00Z");
    let due = runner.plan(&[], &Selection::Due).await.unwrap();
    assert_eq!(due.len(), 5);
    assert_eq!(due[4].interval.run_date, d("2024-06-30"));
}

#[tokio::test]
async fn a_sql_error_fails_at_once_with_its_location() {
    let (dir, session, _) = project().await;
    std::fs::write(dir.path().join("queries/daily.sql"), "SELECT nope FROM reviews").unwrap();
    let jobs = JobSet::from_settings(session.settings()).unwrap();
    let clock = Arc::new(TestClock(Mutex::new("2024-06-08T03:00:00Z".parse().unwrap())));
    let runner = Runner::new(&session, jobs, clock).unwrap();
    let plan = runner
        .plan(&["daily_sentiment".to_string()], &Selection::Now)
        .await
        .unwrap();
    let r = runner.run(&plan[0].job, &plan[0].interval).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(r.attempts, 1, "SQL errors are not retried");
    let msg = r.message.unwrap();
    assert!(msg.contains("daily.sql:1:1") && msg.contains("nope"), "{msg}");
    let output = runner.output(runner.jobs().get("daily_sentiment").unwrap());
    assert!(output.latest_version().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_lake_run_each_interval_exactly_once() {
    let (_dir, session, jobs) = project().await;
    let session_b = Session::new(session.settings().clone()).await.unwrap();
    let clock = Arc::new(TestClock(Mutex::new("2024-06-08T03:00:00Z".parse().unwrap())));
    let a = Runner::new(&session, jobs.clone(), clock.clone()).unwrap();
    let b = Runner::new(&session_b, jobs, clock.clone()).unwrap();
    let selection = Selection::Dates(d("2024-06-01"), d("2024-06-06"));
    let plan_a = a.plan(&[], &selection).await.unwrap();
    let mut plan_b = b.plan(&[], &selection).await.unwrap();
    plan_b.reverse(); // meet in the middle, and race on every interval
    // Both schedulers interleave on every await: each lease, ledger read and publish can race.
    let go = |runner: &'static Runner, plan: Vec<nightshift_jobs::PlannedRun>| async move {
        let mut ran = Vec::new();
        for p in plan {
            if let Some(r) = runner.run_due(&p.job, &p.interval).await.unwrap() {
                assert_eq!(r.state, RunState::Succeeded, "{:?}", r.message);
                ran.push(r.run_date);
            }
        }
        ran
    };
    let (a, b): (&'static Runner, &'static Runner) = (Box::leak(Box::new(a)), Box::leak(Box::new(b)));
    let (ran_a, ran_b) = tokio::join!(go(a, plan_a), go(b, plan_b));
    let mut all: Vec<String> = ran_a.into_iter().chain(ran_b).collect();
    all.sort();
    assert_eq!(
        all,
        [
            "2024-06-01",
            "2024-06-02",
            "2024-06-03",
            "2024-06-04",
            "2024-06-05",
            "2024-06-06"
        ]
    );
    let runs = a.ledger().runs().await.unwrap();
    assert_eq!(runs.iter().filter(|r| r.state == RunState::Succeeded).count(), 6);
}

#[tokio::test]
async fn catch_up_across_a_daylight_saving_change_runs_each_day_once() {
    let (_dir, session, jobs) = project_with("daily @ 02:30 Europe/Berlin").await;
    let clock = Arc::new(TestClock(Mutex::new("2024-03-30T12:00:00Z".parse().unwrap())));
    let runner = Runner::new(&session, jobs, clock.clone()).unwrap();
    let first = runner.plan(&[], &Selection::Due).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].interval.run_date, d("2024-03-29"));
    assert_eq!(
        runner.run(&first[0].job, &first[0].interval).await.state,
        RunState::Succeeded
    );
    // Down over the spring-forward night (2024-03-31, 02:00 → 03:00 in Berlin).
    clock.set("2024-04-02T12:00:00Z");
    let due = runner.plan(&[], &Selection::Due).await.unwrap();
    let days: Vec<String> = due.iter().map(|p| p.interval.run_date.to_string()).collect();
    assert_eq!(days, ["2024-03-30", "2024-03-31", "2024-04-01"]);
    // The skipped 02:30 fires once, shifted by the gap; the short day is 23 hours.
    assert_eq!(
        due[0].interval.fire_at,
        "2024-03-31T01:30:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!((due[1].interval.end - due[1].interval.start).num_hours(), 23);
    for p in &due {
        assert_eq!(runner.run(&p.job, &p.interval).await.state, RunState::Succeeded);
    }
    assert!(runner.plan(&[], &Selection::Due).await.unwrap().is_empty());
}
