//! The progress line of a query that runs longer than a second: rows and bytes read so far and the
//! elapsed time, from the executing plan's metrics, on stderr, cleared before the result prints.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;

use crate::output::{human_bytes, thousands};

const FIRST_AFTER: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Line {
    shown: bool,
    done: bool,
}

/// Shows the line from a background task until [`Progress::finish`] (or drop).
pub(crate) struct Progress {
    line: Arc<Mutex<Line>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts watching `plan`; does nothing when `enabled` is false (stderr is not a terminal).
    pub fn start(plan: Arc<dyn ExecutionPlan>, started: Instant, enabled: bool) -> Self {
        let line = Arc::new(Mutex::new(Line::default()));
        let task = enabled.then(|| {
            let line = Arc::clone(&line);
            tokio::spawn(async move {
                tokio::time::sleep_until((started + FIRST_AFTER).into()).await;
                loop {
                    {
                        let mut l = line.lock().unwrap_or_else(|e| e.into_inner());
                        if l.done {
                            return;
                        }
                        let (rows, bytes) = read_so_far(plan.as_ref());
                        let text = describe(rows, bytes, started.elapsed());
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "\r\x1b[2K{text}");
                        let _ = err.flush();
                        l.shown = true;
                    }
                    tokio::time::sleep(EVERY).await;
                }
            })
        });
        Self { line, task }
    }

    /// No line at all (results that need no watching).
    pub fn none() -> Self {
        Self {
            line: Arc::new(Mutex::new(Line::default())),
            task: None,
        }
    }

    /// Stops the line and clears it; later calls do nothing.
    pub fn finish(&self) {
        let mut l = self.line.lock().unwrap_or_else(|e| e.into_inner());
        if l.done {
            return;
        }
        l.done = true;
        if l.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Rows out of the leaves (the scans) and bytes the Parquet readers fetched, over the whole tree.
pub(crate) fn read_so_far(plan: &dyn ExecutionPlan) -> (usize, usize) {
    let mut rows = 0;
    let mut bytes = 0;
    let mut stack = vec![plan];
    while let Some(node) = stack.pop() {
        let children = node.children();
        if let Some(m) = node.metrics() {
            if children.is_empty() {
                rows += m.output_rows().unwrap_or(0);
            }
            bytes += m.sum_by_name("bytes_scanned").map_or(0, |v| v.as_usize());
        }
        stack.extend(children.into_iter().map(|c| c.as_ref()));
    }
    (rows, bytes)
}

fn describe(rows: usize, bytes: usize, elapsed: Duration) -> String {
    format!(
        "{:.1} s · {} rows · {} read · Ctrl-C cancels",
        elapsed.as_secs_f64(),
        thousands(rows),
        human_bytes(bytes as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_reads_well() {
        let d = describe(1500, 2048, Duration::from_millis(1300));
        assert_eq!(d, "1.3 s · 1,500 rows · 2.0 KiB read · Ctrl-C cancels");
    }

    #[tokio::test]
    async fn counts_rows_and_bytes_read_by_a_plan() {
        use arrow::array::{Int64Array, RecordBatch};
        use datafusion::prelude::{ParquetReadOptions, SessionContext};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let batch = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from_iter_values(0..1000)) as _)])
            .unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
                .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let ctx = SessionContext::new();
        ctx.register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
        let plan = ctx
            .sql("SELECT count(*) FROM t WHERE v % 2 = 0")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        assert_eq!(read_so_far(plan.as_ref()), (0, 0), "nothing read before running");
        datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
            .await
            .unwrap();
        let (rows, bytes) = read_so_far(plan.as_ref());
        assert_eq!(rows, 1000);
        assert!(bytes > 0);
    }
}
