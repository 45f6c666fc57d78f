//! Result printing: table, csv, tsv, json, ndjson and parquet, to stdout or a file.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::ValueEnum;
use comfy_table::{Cell, ContentArrangement, Table, presets};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people (NULL shown as NULL, long values cut).
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Parquet (needs -o FILE).
    Parquet,
    /// From the -o file's extension, else table.
    Auto,
}

impl Format {
    /// Resolves `auto` from the output file's extension.
    pub fn resolve(self, out: Option<&Path>) -> Result<Format> {
        if self != Format::Auto {
            if self == Format::Parquet && out.is_none() {
                bail!("--format parquet needs an output file: add -o FILE.parquet");
            }
            return Ok(self);
        }
        let ext = out
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        Ok(match ext.as_deref() {
            None => Format::Table,
            Some("csv") => Format::Csv,
            Some("tsv") => Format::Tsv,
            Some("json") => Format::Json,
            Some("ndjson" | "jsonl") => Format::Ndjson,
            Some("parquet") => Format::Parquet,
            Some(_) => Format::Table,
        })
    }
}

/// Where results go and how.
pub struct Printer {
    /// The resolved format.
    pub format: Format,
    /// Rows shown by the table format (0 = all).
    pub maxrows: usize,
}

const MAX_CELL_CHARS: usize = 60;

impl Printer {
    /// Streams one result into `out` (stdout or a file). Returns the number of rows.
    pub async fn write_stream(
        &self,
        mut stream: SendableRecordBatchStream,
        out: &mut (dyn Write + Send),
    ) -> Result<usize> {
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

/// Renders batches as a table with NULLs shown and wide cells cut.
pub fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    total_rows: usize,
    shown_rows: usize,
) -> Result<()> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    let options = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells = formatters.iter().map(|f| {
                let s = f.value(row).to_string();
                Cell::new(truncate(&s))
            });
            table.add_row(cells);
        }
    }
    writeln!(out, "{table}")?;
    if shown_rows < total_rows {
        writeln!(
            out,
            "{total_rows} rows ({shown_rows} shown; --maxrows 0 shows all)"
        )?;
    } else {
        writeln!(out, "{total_rows} row{}", if total_rows == 1 { "" } else { "s" })?;
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_CELL_CHARS {
        return one_line;
    }
    let mut t: String = one_line.chars().take(MAX_CELL_CHARS - 1).collect();
    t.push('…');
    t
}
