//! The patched Ballista scheduler (vendor/README.md): a stage rolled back after an executor's loss
//! runs all its tasks again, so what its finished tasks reported before must not be read twice.
//! Driven through the scheduler's public execution-graph interface, task by task, as Ballista's
//! own tests of executor loss do; without the patch both tests fail.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::{ShuffleWritePartition, SuccessfulTask, TaskStatus, task_status};
use ballista_core::serde::scheduler::{
    ExecutorMetadata, ExecutorOperatingSystemSpecification, ExecutorSpecification,
};
use ballista_scheduler::planner::DefaultDistributedPlanner;
use ballista_scheduler::state::execution_graph::{ExecutionGraph, StaticExecutionGraph, TaskDescription};
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::functions_aggregate::sum::sum;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use datafusion::test_util::scan_empty_with_partitions;

/// A graph of `id, sum(gmv) GROUP BY id` over 2 input partitions, `partitions` wide: one stage per
/// aggregation, plus a second grouping on top when `twice`.
async fn aggregation_graph(partitions: usize, twice: bool) -> StaticExecutionGraph {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    let state = ctx.state();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("gmv", DataType::UInt64, false),
    ]);
    let mut plan = scan_empty_with_partitions(None, &schema, Some(vec![0, 1]), 2)
        .unwrap()
        .aggregate(vec![col("id")], vec![sum(col("gmv")).alias("total")])
        .unwrap();
    if twice {
        plan = plan
            .aggregate(vec![col("total")], vec![sum(col("total")).alias("again")])
            .unwrap();
    }
    let plan = state.optimize(&plan.build().unwrap()).unwrap();
    let plan = state.create_physical_plan(&plan).await.unwrap();
    StaticExecutionGraph::new(
        "localhost:50050",
        &"job".into(),
        "",
        "session",
        plan,
        0,
        Arc::new(SessionConfig::new_with_ballista()),
        &mut DefaultDistributedPlanner::new(),
        None,
    )
    .unwrap()
}

fn executor(id: &str) -> ExecutorMetadata {
    ExecutorMetadata {
        id: id.to_string(),
        host: "localhost".to_string(),
        port: 8080,
        grpc_port: 9090,
        specification: ExecutorSpecification::default().with_vcores(1),
        os_info: ExecutorOperatingSystemSpecification::default(),
    }
}

/// Reports `task` finished on `executor`, with one output file per output partition.
fn complete(graph: &mut dyn ExecutionGraph, task: TaskDescription, executor: &ExecutorMetadata) {
    let partitions = (0..task.get_output_partition_number() as u64)
        .map(|partition_id| ShuffleWritePartition {
            partition_id,
            num_batches: 1,
            num_rows: 1,
            num_bytes: 1,
            file_id: None,
            is_sort_shuffle: false,
        })
        .collect();
    let status = TaskStatus {
        task_id: task.key.task_id as u32,
        job_id: task.key.job_id.clone().into(),
        stage_id: task.key.stage_id as u32,
        stage_attempt_num: task.stage_attempt_num as u32,
        launch_time: 0,
        start_exec_time: 0,
        end_exec_time: 0,
        metrics: vec![],
        status: Some(task_status::Status::Successful(SuccessfulTask {
            executor_id: executor.id.clone(),
            partitions,
            runtime_stats: vec![],
            task_column_stats: vec![],
            window_state: vec![],
        })),
    };
    graph.update_task_status(executor, vec![status], 1, 1).unwrap();
}

/// Runs the stage that has tasks to offer, all on `executor`.
fn complete_next_stage(graph: &mut dyn ExecutionGraph, executor: &ExecutorMetadata) {
    graph.revive();
    while let Some(task) = graph.pop_next_task(&executor.id).unwrap() {
        let stage = task.key.stage_id;
        complete(graph, task, executor);
        if graph
            .stages()
            .get(&stage)
            .is_some_and(|s| !matches!(s, ExecutionStage::Running(_)))
        {
            break;
        }
    }
}

/// Runs every remaining task on `executor` until the job is done.
fn drain(graph: &mut dyn ExecutionGraph, executor: &ExecutorMetadata) {
    for _ in 0..100 {
        graph.revive();
        let Some(task) = graph.pop_next_task(&executor.id).unwrap() else {
            break;
        };
        complete(graph, task, executor);
    }
    assert!(graph.is_successful(), "the job did not finish");
}

/// Executor 1 runs the first stage; one task of the next stage finishes on executor 2; then
/// executor 1 is lost, which rolls the running stage back.
fn lose_executor_mid_stage(graph: &mut dyn ExecutionGraph) -> (ExecutorMetadata, ExecutorMetadata) {
    let (lost, survivor) = (executor("lost"), executor("survivor"));
    graph.revive();
    complete_next_stage(graph, &lost);
    graph.revive();
    let task = graph
        .pop_next_task(&survivor.id)
        .unwrap()
        .expect("a task of the next stage");
    complete(graph, task, &survivor);
    let (reset, _) = graph.reset_stages_on_lost_executor(&lost.id).unwrap();
    assert_eq!(
        reset.len(),
        2,
        "the first stage reruns and the running one rolls back"
    );
    (lost, survivor)
}

#[tokio::test]
async fn a_rolled_back_final_stage_names_each_output_partition_once() {
    let mut graph = aggregation_graph(4, false).await;
    let (_, survivor) = lose_executor_mid_stage(&mut graph);
    drain(&mut graph, &survivor);
    // A final stage's task writes one output, named by the partition the task ran.
    let mut partitions: Vec<usize> = graph
        .output_locations()
        .iter()
        .map(|l| l.map_partition_id)
        .collect();
    partitions.sort_unstable();
    assert_eq!(
        partitions,
        [0, 1, 2, 3],
        "each partition once, or a client reads its rows twice"
    );
}

#[tokio::test]
async fn a_rolled_back_middle_stage_feeds_each_output_once() {
    let mut graph = aggregation_graph(4, true).await;
    assert_eq!(graph.stage_count(), 3);
    let (_, survivor) = lose_executor_mid_stage(&mut graph);
    // What the middle stage's finished task reported is no input of the last stage any more.
    for stage in graph.stages().values() {
        if let ExecutionStage::UnResolved(s) = stage {
            for input in s.inputs.values() {
                assert!(
                    input.partition_locations.values().all(Vec::is_empty),
                    "a rolled-back stage's output is still an input: {input:?}"
                );
            }
        }
    }
    drain(&mut graph, &survivor);
    // Each of the last stage's inputs names each (map task, partition) once.
    let last = graph
        .stages()
        .values()
        .find(|s| matches!(s, ExecutionStage::Successful(s) if s.output_links.is_empty()));
    let Some(ExecutionStage::Successful(last)) = last else {
        panic!("no final stage");
    };
    for input in last.inputs.values() {
        for locations in input.partition_locations.values() {
            let mut maps: Vec<usize> = locations.iter().map(|l| l.map_partition_id).collect();
            maps.sort_unstable();
            let n = maps.len();
            maps.dedup();
            assert_eq!(n, maps.len(), "a map output is read twice: {locations:?}");
        }
    }
}
