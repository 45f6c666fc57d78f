//! `nightshift datasets generate`: the deterministic demo lake.

use std::time::Instant;

use crate::args::DatasetsCommand;
use crate::failure::Failure;

/// Writes the demo lake and reports rows, files and bytes per table on stderr.
pub fn run(command: DatasetsCommand) -> Result<(), Failure> {
    match command {
        DatasetsCommand::Generate {
            out,
            reviews,
            transactions,
            days,
            seed,
            start_date,
        } => {
            let opts = nightshift_datasets::GenerateOptions {
                out,
                reviews,
                transactions,
                days,
                seed,
                start_date,
            };
            let started = Instant::now();
            let summary = nightshift_datasets::generate(&opts).map_err(|e| match e {
                nightshift_datasets::DatasetError::InvalidOptions { .. } => Failure::Usage(e.into()),
                other => Failure::Query(other.into()),
            })?;
            let secs = started.elapsed().as_secs_f64();
            let rows: usize = summary.tables.iter().map(|t| t.rows).sum();
            for t in &summary.tables {
                eprintln!(
                    "{}: {} rows, {} files, {} bytes",
                    t.name, t.rows, t.files, t.bytes
                );
            }
            eprintln!(
                "wrote {rows} rows to '{}' in {secs:.2} s ({:.0} rows/s)",
                opts.out.display(),
                rows as f64 / secs.max(1e-9)
            );
            Ok(())
        }
    }
}
