//! Shared helpers of nightshift's black-box tests: the demo lake and a sqllogictest driver.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use nightshift_core::{Params, Session, Settings};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

/// A small demo lake, generated once per test process.
pub fn demo_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("create a temp folder for the demo lake");
        let path = dir.path().join("lake");
        let opts = nightshift_datasets::GenerateOptions {
            out: path.clone(),
            reviews: 2_000,
            transactions: 6_000,
            days: 5,
            seed: 7,
            ..Default::default()
        };
        nightshift_datasets::generate(&opts).expect("generate the demo lake");
        (dir, path)
    });
    path
}

/// Settings for a local lake root.
pub fn settings_for(root: &Path) -> Settings {
    let mut s = Settings::default();
    s.lake.root = root.display().to_string();
    s
}

/// A sqllogictest database backed by a nightshift [`Session`].
pub struct SltDb {
    session: Session,
    lake: String,
}

impl SltDb {
    /// A fresh session over `root`.
    pub async fn new(root: &Path) -> Result<Self, nightshift_core::CoreError> {
        let session = Session::new(settings_for(root)).await?;
        Ok(Self {
            session,
            lake: root.display().to_string(),
        })
    }
}

/// An error from a statement, as sqllogictest wants it.
#[derive(Debug)]
pub struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl SltError {
    /// Wraps a session error.
    pub fn from_core(e: nightshift_core::CoreError) -> Self {
        Self(e.to_string())
    }
}

#[async_trait::async_trait]
impl AsyncDB for SltDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let lake = self.lake.clone();
        // Plans print object-store paths without the leading '/'.
        let clean = |s: String| {
            s.replace(&lake, "<lake>")
                .replace(lake.trim_start_matches('/'), "<lake>")
        };
        let df = self
            .session
            .sql(sql, &Params::new())
            .await
            .map_err(|e| SltError(clean(e.to_string())))?;
        let schema = df.schema().as_arrow().clone();
        let batches = df
            .collect()
            .await
            .map_err(|e| SltError(clean(e.strip_backtrace())))?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                DataType::Float16 | DataType::Float32 | DataType::Float64 => DefaultColumnType::FloatingPoint,
                DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => DefaultColumnType::FloatingPoint,
                _ => DefaultColumnType::Text,
            })
            .collect();
        let rows = rows_as_strings(&batches)
            .map_err(SltError)?
            .into_iter()
            .map(|r| r.into_iter().map(clean).collect())
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "nightshift"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// Formats every cell: NULL as `NULL`, an empty string as `(empty)`, floats as Rust prints them.
pub fn rows_as_strings(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| {
                        let s = f.value(row).to_string();
                        if s.is_empty() { "(empty)".to_string() } else { s }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}
