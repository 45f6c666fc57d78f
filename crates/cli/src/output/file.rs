//! The one way a result reaches a file: written to a temporary file beside it, which then replaces
//! the file or is appended to it, so a failed or cancelled query never leaves half a result.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use datafusion::physical_plan::SendableRecordBatchStream;

use super::Printer;

/// What a finished result does to the target file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// Replaces it (or creates it).
    Replace,
    /// Is appended to it (the REPL's second and later results after `\o FILE`).
    Append,
}

/// Streams one result into `path`; returns its rows. The temporary file is removed when the query
/// fails or the future is dropped (a cancelled REPL statement).
pub async fn write_file(
    printer: &Printer,
    stream: SendableRecordBatchStream,
    path: &Path,
    mode: FileMode,
) -> anyhow::Result<usize> {
    let tmp = Beside::create(path)?;
    let rows = {
        let mut w = std::io::BufWriter::new(&tmp.file);
        let rows = printer.write_stream(stream, &mut w).await?;
        w.flush()
            .with_context(|| format!("cannot write '{}'", tmp.path.display()))?;
        rows
    };
    match mode {
        FileMode::Replace => tmp.replace(path)?,
        FileMode::Append => tmp.append_to(path)?,
    }
    Ok(rows)
}

/// A temporary file in the target's folder (so the final rename stays on one file system),
/// removed on drop unless it replaced the target.
struct Beside {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl Beside {
    fn create(target: &Path) -> anyhow::Result<Self> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let path = target.with_file_name(format!(
            "{name}.{}-{}.tmp",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create '{}'", path.display()))?;
        Ok(Self {
            path,
            file,
            kept: false,
        })
    }

    fn replace(mut self, target: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, target)
            .with_context(|| format!("cannot write '{}'", target.display()))?;
        self.kept = true;
        Ok(())
    }

    fn append_to(self, target: &Path) -> anyhow::Result<()> {
        let context = || format!("cannot append to '{}'", target.display());
        let mut out = OpenOptions::new()
            .append(true)
            .open(target)
            .with_context(context)?;
        let mut src = File::open(&self.path).with_context(context)?;
        std::io::copy(&mut src, &mut out).with_context(context)?;
        Ok(())
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Format;
    use arrow::array::{Int64Array, RecordBatch};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use std::sync::Arc;

    fn stream(values: Vec<i64>, fail: bool) -> SendableRecordBatchStream {
        let batch = RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as _)]).unwrap();
        let schema = batch.schema();
        let mut items = vec![Ok(batch)];
        if fail {
            items.push(Err(datafusion::error::DataFusionError::Execution("boom".into())));
        }
        Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(items),
        ))
    }

    fn csv() -> Printer {
        Printer {
            format: Format::Csv,
            maxrows: 0,
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn replaces_then_appends_and_a_failure_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let rows = write_file(&csv(), stream(vec![1, 2], false), &path, FileMode::Replace)
            .await
            .unwrap();
        assert_eq!(rows, 2);
        write_file(&csv(), stream(vec![3], false), &path, FileMode::Append)
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "v\n1\n2\nv\n3\n");
        for mode in [FileMode::Replace, FileMode::Append] {
            assert!(
                write_file(&csv(), stream(vec![4], true), &path, mode)
                    .await
                    .is_err()
            );
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "v\n1\n2\nv\n3\n");
        assert_eq!(files(dir.path()), ["out.csv"], "no temporary file is left");
    }
}
