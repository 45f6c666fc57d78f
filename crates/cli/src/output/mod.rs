//! Result printing: the formats (table, csv, tsv, json, ndjson, parquet), and the one way each
//! destination is written: stdout, or a file through a temporary file beside it.

mod file;
mod table;
mod units;

use std::io::Write;

use arrow::array::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

pub use self::file::{FileMode, write_file};
use self::table::write_table;
pub use self::units::{human_bytes, thousands};
use crate::args::{Format, OutputArgs};
use crate::failure::Failure;

/// Where results go and how.
pub struct Printer {
    /// The resolved format.
    pub format: Format,
    /// Rows shown by the table format (0 = all).
    pub maxrows: usize,
}

impl Printer {
    /// Streams one result into `out` (stdout or a file). Returns the number of rows.
    pub async fn write_stream(
        &self,
        mut stream: SendableRecordBatchStream,
        out: &mut (dyn Write + Send),
    ) -> anyhow::Result<usize> {
        let schema = stream.schema();
        let mut rows = 0usize;
        match self.format {
            Format::Table | Format::Auto => {
                let mut kept = Vec::new();
                let mut kept_rows = 0usize;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    if self.maxrows == 0 || kept_rows < self.maxrows {
                        let take = if self.maxrows == 0 {
                            batch.num_rows()
                        } else {
                            (self.maxrows - kept_rows).min(batch.num_rows())
                        };
                        kept_rows += take;
                        kept.push(batch.slice(0, take));
                    }
                }
                write_table(out, &schema, &kept, rows, kept_rows)?;
            }
            Format::Csv | Format::Tsv => {
                let delim = if self.format == Format::Csv { b',' } else { b'\t' };
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_delimiter(delim)
                    .build(out);
                let mut any = false;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    w.write(&batch)?;
                    any = true;
                }
                if !any {
                    w.write(&RecordBatch::new_empty(schema))?;
                }
            }
            Format::Json => {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::JsonArray>(out);
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    w.write(&batch)?;
                }
                w.finish()?;
                w.into_inner().write_all(b"\n")?;
            }
            Format::Ndjson => {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(out);
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    w.write(&batch)?;
                }
                w.finish()?;
            }
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                let mut w = ArrowWriter::try_new(out, schema, Some(props))?;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    rows += batch.num_rows();
                    w.write(&batch)?;
                }
                w.close()?;
            }
        }
        Ok(rows)
    }
}

/// Streams a result to stdout through a buffer; `before_output` runs before its first byte (the
/// REPL clears its progress line there). A broken pipe comes back as an error like any other:
/// callers decide with [`crate::failure::is_broken_pipe`], by one rule, that it is success.
pub async fn write_stdout(
    printer: &Printer,
    stream: SendableRecordBatchStream,
    before_output: &(dyn Fn() + Sync),
) -> anyhow::Result<usize> {
    let mut out = BeforeWrites {
        before: before_output,
        inner: std::io::BufWriter::new(std::io::stdout()),
    };
    let rows = printer.write_stream(stream, &mut out).await?;
    out.flush()?;
    Ok(rows)
}

/// A writer that calls `before` ahead of every write (it does its work once, then returns at once).
struct BeforeWrites<'a, W> {
    before: &'a (dyn Fn() + Sync),
    inner: W,
}

impl<W: Write> Write for BeforeWrites<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (self.before)();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Prints one batch as `output` says: to its `-o` file or to stdout.
pub async fn print_batch(batch: RecordBatch, output: &OutputArgs) -> Result<(), Failure> {
    let printer = Printer {
        format: output
            .format
            .resolve(output.output.as_deref())
            .map_err(Failure::Usage)?,
        maxrows: output.maxrows,
    };
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        batch.schema(),
        futures::stream::once(async move { Ok(batch) }),
    ));
    match &output.output {
        Some(path) => write_file(&printer, stream, path, FileMode::Replace).await?,
        None => write_stdout(&printer, stream, &|| {}).await?,
    };
    Ok(())
}
