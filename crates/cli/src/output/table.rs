//! The `table` format: a bordered table for people, NULL shown, long and multi-line cells cut.

use std::io::Write;

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{Cell, ContentArrangement, Table, presets};

const MAX_CELL_CHARS: usize = 60;

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
