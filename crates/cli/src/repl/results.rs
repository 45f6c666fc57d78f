//! Where a result goes: the `\o` file, the pager or stdout, with `EXPLAIN` plans kept as
//! indented text.

use std::io::{IsTerminal, Write};

use arrow::array::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use super::diagnostics;
use super::progress::Progress;
use super::statements::Repl;
use crate::args::Format;
use crate::failure::is_broken_pipe;
use crate::output::{FileMode, Printer, thousands, write_file, write_stdout};

impl Repl<'_> {
    /// Sends a result to the `\o` file, the pager or stdout. Meta-command output (`to_file` false)
    /// always goes to the terminal.
    pub(super) async fn emit(
        &mut self,
        stream: SendableRecordBatchStream,
        progress: &Progress,
        to_file: bool,
    ) -> anyhow::Result<usize> {
        if stream.schema().fields().is_empty() {
            let mut stream = stream;
            let mut rows = 0;
            while let Some(b) = stream.next().await {
                rows += b?.num_rows();
            }
            return Ok(rows);
        }
        if to_file && let Some(out) = &mut self.output {
            let printer = Printer {
                format: out.format,
                maxrows: 0,
            };
            // Parquet holds one result, so each replaces the file.
            let mode = if out.results == 0 || out.format == Format::Parquet {
                FileMode::Replace
            } else {
                FileMode::Append
            };
            let rows = write_file(&printer, stream, &out.path, mode).await?;
            out.results += 1;
            progress.finish();
            eprintln!(
                "{} row{} written to '{}'",
                thousands(rows),
                if rows == 1 { "" } else { "s" },
                out.path.display()
            );
            return Ok(rows);
        }
        if self.format == Format::Table && is_plan(&stream.schema()) {
            // Plans are indented text: a table would cut them into one line per cell.
            let mut buf = Vec::new();
            let rows = write_plans(stream, &mut buf).await?;
            progress.finish();
            if self.pager && std::io::stdout().is_terminal() {
                page(&buf);
            } else {
                let mut out = std::io::stdout();
                let _ = out.write_all(&buf);
            }
            return Ok(rows);
        }
        let printer = Printer {
            format: self.format,
            maxrows: self.maxrows,
        };
        if self.pager && std::io::stdout().is_terminal() {
            let mut buf = Vec::new();
            let rows = printer.write_stream(stream, &mut buf).await?;
            progress.finish();
            page(&buf);
            return Ok(rows);
        }
        match write_stdout(&printer, stream, &|| progress.finish()).await {
            Err(e) if is_broken_pipe(&e) => Ok(0),
            rows => rows,
        }
    }

    /// Prints a batch made by a meta-command (all rows, current format, through the pager if on).
    pub(super) async fn emit_batch(&mut self, batch: RecordBatch) {
        let schema = batch.schema();
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(async move { Ok(batch) }),
        ));
        let saved = std::mem::replace(&mut self.maxrows, 0);
        let progress = Progress::none();
        let r = self.emit(stream, &progress, false).await;
        self.maxrows = saved;
        if let Err(e) = r {
            self.print_error(&diagnostics::report(&e, ""), "");
        }
    }
}

/// The result of `EXPLAIN`: `plan_type` and `plan` text columns.
fn is_plan(schema: &arrow::datatypes::Schema) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

/// Writes each plan under its type, keeping its indentation.
async fn write_plans(mut stream: SendableRecordBatchStream, out: &mut Vec<u8>) -> anyhow::Result<usize> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut rows = 0;
    let options = FormatOptions::default();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let kinds = ArrayFormatter::try_new(batch.column(0).as_ref(), &options)?;
        let plans = ArrayFormatter::try_new(batch.column(1).as_ref(), &options)?;
        for row in 0..batch.num_rows() {
            writeln!(out, "{}:", kinds.value(row))?;
            for line in plans.value(row).to_string().lines() {
                writeln!(out, "  {line}")?;
            }
            rows += 1;
        }
    }
    Ok(rows)
}

/// Shows text through `$PAGER` (default `less -S`; `LESS=FRX` unless set, so short results print
/// as usual). Falls back to stdout when the pager cannot start.
fn page(text: &[u8]) {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -S".into());
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(&pager).stdin(std::process::Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", "FRX");
    }
    match cmd.spawn() {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                // The user may quit the pager before reading everything.
                let _ = stdin.write_all(text);
            }
            let _ = child.wait();
        }
        Err(e) => {
            eprintln!("warning: cannot start the pager '{pager}': {e}");
            let _ = std::io::stdout().write_all(text);
        }
    }
}
