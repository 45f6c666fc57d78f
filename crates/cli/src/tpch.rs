//! `nightshift bench tpch`: the 22 TPC-H queries on tables generated once by tpchgen, in this
//! process, with the command's settings (the repository's nightshift.toml ships a memory limit).
//! `benches/tpch/compare.py` runs DuckDB and raw DataFusion beside it on the same files.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use nightshift_core::{Params, Session, split_statements};
use nightshift_datasets::{TpchOptions, generate_tpch, tpch_is_generated};

use crate::args::GlobalArgs;
use crate::failure::Failure;

/// The query texts (derived from the TPC-H specification under the TPC Fair Use Policy; the
/// substitution parameters of apache/datafusion's benchmarks; see queries/tpch/README.md).
const QUERIES: [&str; 22] = [
    include_str!("../../../queries/tpch/q1.sql"),
    include_str!("../../../queries/tpch/q2.sql"),
    include_str!("../../../queries/tpch/q3.sql"),
    include_str!("../../../queries/tpch/q4.sql"),
    include_str!("../../../queries/tpch/q5.sql"),
    include_str!("../../../queries/tpch/q6.sql"),
    include_str!("../../../queries/tpch/q7.sql"),
    include_str!("../../../queries/tpch/q8.sql"),
    include_str!("../../../queries/tpch/q9.sql"),
    include_str!("../../../queries/tpch/q10.sql"),
    include_str!("../../../queries/tpch/q11.sql"),
    include_str!("../../../queries/tpch/q12.sql"),
    include_str!("../../../queries/tpch/q13.sql"),
    include_str!("../../../queries/tpch/q14.sql"),
    include_str!("../../../queries/tpch/q15.sql"),
    include_str!("../../../queries/tpch/q16.sql"),
    include_str!("../../../queries/tpch/q17.sql"),
    include_str!("../../../queries/tpch/q18.sql"),
    include_str!("../../../queries/tpch/q19.sql"),
    include_str!("../../../queries/tpch/q20.sql"),
    include_str!("../../../queries/tpch/q21.sql"),
    include_str!("../../../queries/tpch/q22.sql"),
];

/// What `bench tpch` was asked for.
pub struct TpchArgs {
    pub scale: f64,
    pub queries: String,
    pub repeat: u64,
    pub parts: u64,
    pub data: Option<PathBuf>,
}

/// Query numbers from `1-22`, `1,3,5-7` and the like.
pub fn parse_queries(text: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| -> Result<usize> {
            let n: usize = s
                .trim()
                .parse()
                .map_err(|_| anyhow!("'{s}' is not a query number"))?;
            if !(1..=22).contains(&n) {
                bail!("there is no TPC-H query {n}: the queries are 1 to 22");
            }
            Ok(n)
        };
        let (a, b) = (num(a)?, num(b)?);
        if a > b {
            bail!("the range {a}-{b} is backwards");
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        bail!("no queries given: write them as 1-22 or 1,3,5-7");
    }
    Ok(out)
}

/// Runs one query's statements; returns the rows of its last `SELECT`.
async fn run_query(session: &Session, n: usize) -> Result<usize> {
    let statements = split_statements(QUERIES[n - 1]).map_err(|e| anyhow!("q{n}: {}", e.message))?;
    let mut rows = 0;
    for st in statements {
        let df = session.sql(&st.text, &Params::new()).await?;
        let mut stream = session.execute_stream(df).await?;
        let mut count = 0;
        while let Some(batch) = stream.next().await {
            count += batch?.num_rows();
        }
        if st.text.trim_start().to_ascii_lowercase().starts_with("select") {
            rows = count;
        }
    }
    Ok(rows)
}

pub async fn run(args: TpchArgs, g: &GlobalArgs) -> Result<(), Failure> {
    let queries = parse_queries(&args.queries).map_err(Failure::Usage)?;
    let data = args
        .data
        .unwrap_or_else(|| PathBuf::from(format!("tpch-sf{}", args.scale)));
    let opts = TpchOptions {
        out: data.clone(),
        scale: args.scale,
        parts: args.parts as usize,
    };
    if tpch_is_generated(&opts) {
        eprintln!(
            "using the TPC-H tables of scale {} in {}",
            args.scale,
            data.display()
        );
    } else {
        eprintln!(
            "generating the TPC-H tables of scale {} into {} (once)",
            args.scale,
            data.display()
        );
        let started = Instant::now();
        let summary = generate_tpch(&opts).map_err(|e| Failure::Usage(e.into()))?;
        let bytes: u64 = summary.tables.iter().map(|t| t.bytes).sum();
        eprintln!(
            "generated {} tables, {:.2} GB, in {:.1} s",
            summary.tables.len(),
            bytes as f64 / 1e9,
            started.elapsed().as_secs_f64()
        );
    }
    let mut settings = crate::session::load_settings(g)?;
    settings.lake.root = std::fs::canonicalize(&data)
        .with_context(|| format!("cannot open {}", data.display()))?
        .display()
        .to_string();
    settings.lake.discover = true;
    settings.lake.tables.clear();
    let session = Session::new(settings.clone())
        .await
        .map_err(|e| Failure::Query(e.into()))?;
    println!(
        "TPC-H scale {} in {} ({} partitions, memory limit {}), best of {} after a warm-up",
        args.scale,
        data.display(),
        session.context().state().config().target_partitions(),
        settings
            .engine
            .memory_limit
            .map_or("none".to_string(), |b| format!(
                "{:.1} GiB",
                b as f64 / (1u64 << 30) as f64
            )),
        args.repeat
    );
    println!("{:<6} {:>10} {:>8}", "query", "seconds", "rows");
    let mut total = 0.0;
    for n in queries {
        let mut best = f64::INFINITY;
        let mut rows = 0;
        for _ in 0..=args.repeat {
            let started = Instant::now();
            rows = run_query(&session, n)
                .await
                .map_err(|e| Failure::Query(e.context(format!("TPC-H query {n} failed"))))?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        total += best;
        println!("{:<6} {:>10.3} {:>8}", format!("q{n}"), best, rows);
    }
    println!("{:<6} {:>10.3}", "total", total);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists() {
        assert_eq!(parse_queries("1-22").unwrap().len(), 22);
        assert_eq!(parse_queries("1,3,5-7").unwrap(), vec![1, 3, 5, 6, 7]);
        for bad in ["0", "23", "5-3", "x", ""] {
            assert!(parse_queries(bad).is_err(), "{bad}");
        }
    }
}
