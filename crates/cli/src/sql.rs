//! `nightshift sql`: statements from files, `-c` strings or stdin, run in order, each result
//! printed (or the last written to `-o FILE`).

use std::io::{IsTerminal, Read};
use std::time::Instant;

use anyhow::{Context, anyhow};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use nightshift_core::{Params, Session, split_statements};

use crate::args::SqlArgs;
use crate::failure::Failure;
use crate::output::{FileMode, Printer, write_file, write_stdout};

/// One script: where it came from and its text.
struct Script {
    origin: String,
    text: String,
}

/// Runs every statement in order; the first that fails stops the rest.
pub async fn run(session: &Session, args: SqlArgs) -> Result<(), Failure> {
    let params = Params::parse(&args.params).map_err(Failure::usage)?;
    let format = args
        .output
        .format
        .resolve(args.output.output.as_deref())
        .map_err(Failure::Usage)?;
    let mut scripts = Vec::new();
    for f in &args.files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read SQL file '{}'", f.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "SQL file '{}' is not UTF-8 (byte {})",
                f.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        scripts.push(Script {
            origin: f.display().to_string(),
            text,
        });
    }
    for (i, c) in args.commands.iter().enumerate() {
        scripts.push(Script {
            origin: format!("-c #{}", i + 1),
            text: c.clone(),
        });
    }
    if scripts.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(Failure::Usage(anyhow!(
                "no SQL given: use -f FILE, -c \"SQL\" or pipe SQL on stdin"
            )));
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read SQL from stdin")?;
        scripts.push(Script {
            origin: "<stdin>".into(),
            text,
        });
    }
    let printer = Printer {
        format,
        maxrows: args.output.maxrows,
    };
    let out_file = args.output.output.as_deref();
    let mut statements = Vec::new();
    for s in &scripts {
        let split = split_statements(&s.text).map_err(|e| {
            anyhow!(
                "{}:{}:{}: cannot split the SQL into statements: {}",
                s.origin,
                e.line,
                e.column,
                e.message
            )
        })?;
        statements.extend(split.into_iter().map(|st| (s.origin.as_str(), st)));
    }
    let last = statements.len().saturating_sub(1);
    for (i, (origin, st)) in statements.iter().enumerate() {
        let started = Instant::now();
        let location = format!("{origin}:{}:{}", st.line, st.column);
        let fail = |e: anyhow::Error| {
            let cause = render_cause(&e);
            let hint = nightshift_core::resource_hint(&cause, &session.settings().engine)
                .map(|h| format!("\n  hint: {h}"))
                .unwrap_or_default();
            Failure::Query(anyhow!(
                "statement at {location} failed: {}\n  {cause}{hint}",
                st.first_line(),
            ))
        };
        let df = session.sql(&st.text, &params).await.map_err(|e| fail(e.into()))?;
        let stream = session.execute_stream(df).await.map_err(|e| fail(e.into()))?;
        let rows = if stream.schema().fields().is_empty() {
            drain(stream).await.map_err(fail)?
        } else if let Some(path) = out_file {
            if i == last {
                write_file(&printer, stream, path, FileMode::Replace)
                    .await
                    .map_err(fail)?
            } else {
                drain(stream).await.map_err(fail)?
            }
        } else {
            write_stdout(&printer, stream, &|| {}).await.map_err(fail)?
        };
        if args.timing {
            eprintln!(
                "{location}: {rows} rows in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn render_cause(e: &anyhow::Error) -> String {
    let s = e.to_string();
    // DataFusion errors carry their own context; keep one line per cause.
    s.lines().collect::<Vec<_>>().join("\n  ")
}

async fn drain(mut stream: SendableRecordBatchStream) -> anyhow::Result<usize> {
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}
