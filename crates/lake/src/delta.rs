//! Delta Lake tables, read through delta-rs (`deltalake-core`).
//!
//! A lake folder holding `_delta_log/` is a Delta table. It is opened over the lake's own object
//! store (so the credentials, endpoint and HTTP settings of the lake apply) and registered through
//! delta-rs's DataFusion table provider: the files of exactly one version, with the log's
//! partition values and file statistics for pruning. Any version can be read back in SQL by a name
//! of the form `table@v3` or `table@2024-06-01T02:00:00Z` ([`TimeTravel`]).
//!
//! Commits go through delta-rs's default log store, which writes each `_delta_log/N.json` with a
//! create-only put; local disks, S3 (conditional writes, object_store's default), GCS and Azure
//! all implement it, so no lock service is configured.

use std::sync::{Arc, Once};

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

use crate::error::LakeError;

/// The folder that makes a folder a Delta table.
pub const DELTA_LOG: &str = "_delta_log";

/// Delta's default log store (create-only puts) for every cloud scheme the lake supports. delta-rs
/// registers it for `file://` and `memory://` only; its per-cloud crates would add the AWS SDK for
/// credentials that object_store already resolves.
#[derive(Debug)]
struct PutIfAbsentLogStores;

impl LogStoreFactory for PutIfAbsentLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3", "s3a", "gs", "az", "abfs", "abfss", "http", "https"] {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                logstore_factories().insert(url, Arc::new(PutIfAbsentLogStores));
            }
        }
    });
}

/// Which version of a Delta table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeTravel {
    /// A commit version.
    Version(u64),
    /// The version that was current at this instant.
    Timestamp(DateTime<Utc>),
}

impl TimeTravel {
    /// Splits a SQL table name into the table and the version it asks for: `daily@v3`,
    /// `daily@2024-06-01T02:00:00Z` (RFC 3339) or `daily@2024-06-01 02:00:00` (UTC). `None` when the
    /// name has no `@`; an error when the part after the last `@` is neither form.
    pub fn split(name: &str) -> Option<Result<(&str, TimeTravel), String>> {
        let (table, at) = name.rsplit_once('@')?;
        if table.is_empty() {
            return None;
        }
        Some(Self::parse(at).map(|t| (table, t)))
    }

    fn parse(at: &str) -> Result<Self, String> {
        if let Some(v) = at.strip_prefix('v').or_else(|| at.strip_prefix('V')) {
            return v
                .parse()
                .map(TimeTravel::Version)
                .map_err(|_| format!("'@{at}': a version is 'v' and a number, as in @v3"));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(at) {
            return Ok(TimeTravel::Timestamp(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(at, format) {
                return Ok(TimeTravel::Timestamp(t.and_utc()));
            }
        }
        Err(format!(
            "'@{at}' is neither a version (@v3) nor a timestamp (@2024-06-01T02:00:00Z)"
        ))
    }
}

impl std::fmt::Display for TimeTravel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeTravel::Version(v) => write!(f, "version {v}"),
            TimeTravel::Timestamp(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// A Delta table of the lake: where it is and how to open it again (at another version).
#[derive(Clone)]
pub struct DeltaLocation {
    store: Arc<dyn ObjectStore>,
    url: Url,
}

impl std::fmt::Debug for DeltaLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaLocation")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl DeltaLocation {
    /// The table at `url` (a folder URL of the lake) in `store`, the lake's store rooted at its
    /// bucket (or at `/` for a local disk).
    pub fn new(store: Arc<dyn ObjectStore>, url: &str) -> Result<Self, LakeError> {
        let parsed = Url::parse(url).map_err(|e| LakeError::InvalidLocation {
            location: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_url(store, parsed))
    }

    /// The table at `url` (a folder URL) in `store`, the store rooted at its bucket.
    pub fn from_url(store: Arc<dyn ObjectStore>, mut url: Url) -> Self {
        register_log_stores();
        if url.path().len() > 1 && url.path().ends_with('/') {
            let trimmed = url.path().trim_end_matches('/').to_string();
            url.set_path(&trimmed);
        }
        Self { store, url }
    }

    /// The table's folder URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The table's handle without reading its log (to create it).
    pub fn unloaded(&self) -> DeltaResult<DeltaTable> {
        DeltaTableBuilder::from_url(self.url.clone())?
            .with_storage_backend(Arc::clone(&self.store), self.url.clone())
            .build()
    }

    /// The table at its latest version, or `None` when the folder holds no Delta table yet.
    pub async fn try_open(&self) -> DeltaResult<Option<DeltaTable>> {
        // One listing decides: delta-rs reports a missing folder as an error (and logs it).
        let log = object_store::path::Path::from_url_path(self.url.path())
            .unwrap_or_default()
            .join(DELTA_LOG);
        let mut listing = self.store.list(Some(&log));
        match futures::StreamExt::next(&mut listing).await {
            None => return Ok(None),
            Some(Err(source)) => {
                return Err(DeltaTableError::ObjectStore { source });
            }
            Some(Ok(_)) => {}
        }
        let mut table = self.unloaded()?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the table at its latest version, or at the version `at` asks for.
    pub async fn open(&self, at: Option<TimeTravel>) -> Result<DeltaTable, LakeError> {
        let err = |source: DeltaTableError| delta_error(&self.url, source);
        let mut table = self.unloaded().map_err(err)?;
        match at {
            None => table.load().await.map_err(err)?,
            Some(TimeTravel::Version(v)) => {
                let latest = table.get_latest_version().await.map_err(err)?;
                if v > latest {
                    return Err(LakeError::Delta {
                        location: self.url.to_string(),
                        reason: format!("the table has no version {v}: its versions are 0 to {latest}"),
                    });
                }
                table.load_version(v).await.map_err(err)?
            }
            Some(TimeTravel::Timestamp(t)) => table.load_with_datetime(t).await.map_err(err)?,
        }
        Ok(table)
    }
}

/// What the catalog shows of a Delta table, from its log only.
#[derive(Debug, Clone)]
pub struct DeltaFacts {
    /// The loaded version.
    pub version: u64,
    /// Files of that version.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Their rows, where every file's statistics give them.
    pub rows: Option<u64>,
    /// The partition columns.
    pub partition_columns: Vec<String>,
}

/// The facts of a loaded table.
pub fn delta_facts(table: &DeltaTable) -> Result<DeltaFacts, LakeError> {
    let snapshot = table.snapshot().map_err(|e| delta_error(table.table_url(), e))?;
    let mut bytes = 0u64;
    let mut rows = Some(0u64);
    let mut files = 0;
    for f in snapshot.log_data().iter() {
        files += 1;
        bytes += u64::try_from(f.size()).unwrap_or(0);
        rows = match (rows, f.num_records()) {
            (Some(r), Some(n)) => Some(r + n as u64),
            _ => None,
        };
    }
    Ok(DeltaFacts {
        version: snapshot.version(),
        files,
        bytes,
        rows,
        partition_columns: snapshot.metadata().partition_columns().to_vec(),
    })
}

/// A Delta table registered in a session: delta-rs's provider for one version, with what that
/// version is made of (its folder, its files, its partition columns), so that the table can be
/// sent to a Ballista cluster as a scan of exactly those files (delta-rs 1.1 has no codec for its
/// physical scan). Every query in this process goes to delta-rs's provider.
#[derive(Debug)]
pub struct DeltaSnapshotTable {
    inner: Arc<dyn TableProvider>,
    url: String,
    version: u64,
    /// `None` when a file has a deletion vector: only delta-rs can read that version.
    files: Option<Vec<object_store::path::Path>>,
    partition_columns: Vec<String>,
}

impl DeltaSnapshotTable {
    /// The folder URL (with a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The version read.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The object paths of the version's data files; `None` when a file has a deletion vector
    /// (rows deleted without rewriting the file), which only delta-rs reads.
    pub fn files(&self) -> Option<&[object_store::path::Path]> {
        self.files.as_deref()
    }

    /// The partition columns.
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// Whether any file of the version has a deletion vector (rows deleted without rewriting the
    /// file): such a version can be read only through delta-rs.
    fn check_plain(table: &DeltaTable) -> bool {
        table.snapshot().is_ok_and(|s| {
            s.log_data()
                .iter()
                .all(|f| f.deletion_vector_descriptor().is_none())
        })
    }
}

#[async_trait::async_trait]
impl TableProvider for DeltaSnapshotTable {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion::logical_expr::Expr],
    ) -> datafusion::error::Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        self.inner.statistics()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }
}

/// The [`DeltaSnapshotTable`] of `table` at its loaded version, its scans configured from `ctx`'s
/// settings (filter pushdown into the Parquet scan, view types).
pub async fn delta_table_provider(
    ctx: &SessionContext,
    table: &DeltaTable,
) -> Result<Arc<dyn TableProvider>, LakeError> {
    let inner = delta_provider(ctx, table).await?;
    let snapshot = table.snapshot().map_err(|e| delta_error(table.table_url(), e))?;
    let base = object_store::path::Path::from_url_path(table.table_url().path()).unwrap_or_default();
    let plain = DeltaSnapshotTable::check_plain(table);
    let files = plain.then(|| {
        snapshot
            .log_data()
            .iter()
            .map(|f| object_store::path::Path::from_iter(base.parts().chain(f.object_store_path().parts())))
            .collect()
    });
    Ok(Arc::new(DeltaSnapshotTable {
        inner,
        url: format!("{}/", table.table_url().as_str().trim_end_matches('/')),
        version: snapshot.version(),
        files,
        partition_columns: snapshot.metadata().partition_columns().to_vec(),
    }))
}

/// delta-rs's table provider for `table` at its loaded version, configured from `ctx`'s settings
/// (filter pushdown into the Parquet scan, view types).
pub async fn delta_provider(
    ctx: &SessionContext,
    table: &DeltaTable,
) -> Result<Arc<dyn TableProvider>, LakeError> {
    let state = Arc::new(ctx.state());
    table
        .table_provider()
        .with_session(state)
        .await
        .map_err(|e| LakeError::Delta {
            location: table.table_url().to_string(),
            reason: e.strip_backtrace(),
        })
}

/// `e` as the lake's error for the table at `url`, with what to do where there is something to do.
pub(crate) fn delta_error(url: &Url, e: DeltaTableError) -> LakeError {
    let reason = match &e {
        DeltaTableError::KernelError(k) if k.to_string().contains("nsupported") => format!(
            "{k}: the table uses a Delta feature that delta-rs (deltalake-core 1.1) cannot read; \
             read it with a reader that supports the feature, or rewrite the table without it"
        ),
        DeltaTableError::Transaction { source } if source.to_string().contains("eature") => format!(
            "{source}: the table uses a Delta feature that delta-rs (deltalake-core 1.1) cannot read; \
             read it with a reader that supports the feature, or rewrite the table without it"
        ),
        DeltaTableError::InvalidVersion(v) => {
            format!("the table has no version {v}")
        }
        other => other.to_string(),
    };
    LakeError::Delta {
        location: url.to_string(),
        reason,
    }
}

/// The name [`foreign_format`] gives a job report still in nightshift's pre-Delta layout.
pub const LEGACY_REPORT: &str = "nightshift pre-Delta report";

/// Formats the lake cannot read and refuses rather than read as loose Parquet: where in `parts`
/// (an object's path segments) the marker folder is, and the format's name.
pub(crate) fn foreign_format(parts: &[String]) -> Option<(usize, &'static str)> {
    // nightshift's own layout before reports became Delta tables: <report>/_manifests/<n>.json.
    if let Some(i) = parts.iter().position(|p| p == "_manifests")
        && i > 0
    {
        return Some((i, LEGACY_REPORT));
    }
    // Iceberg: <table>/metadata/<n>-<uuid>.metadata.json (or v<n>.metadata.json).
    if let Some(i) = parts.iter().position(|p| p == "metadata")
        && i > 0
        && i + 2 == parts.len()
        && parts[i + 1].ends_with(".metadata.json")
    {
        return Some((i, "Apache Iceberg"));
    }
    // Hudi: <table>/.hoodie/…
    if let Some(i) = parts.iter().position(|p| p == ".hoodie")
        && i > 0
    {
        return Some((i, "Apache Hudi"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_table_and_version() {
        assert_eq!(
            TimeTravel::split("daily@v3"),
            Some(Ok(("daily", TimeTravel::Version(3))))
        );
        let Some(Ok((t, TimeTravel::Timestamp(at)))) = TimeTravel::split("daily@2024-06-01T02:00:00Z") else {
            panic!("a timestamp")
        };
        assert_eq!(t, "daily");
        assert_eq!(at.to_rfc3339(), "2024-06-01T02:00:00+00:00");
        assert_eq!(
            TimeTravel::split("daily@2024-06-01 02:00:00"),
            Some(Ok(("daily", TimeTravel::Timestamp(at))))
        );
        assert_eq!(TimeTravel::split("daily"), None);
        assert_eq!(TimeTravel::split("@v3"), None);
        let err = TimeTravel::split("daily@yesterday").unwrap().unwrap_err();
        assert!(err.contains("neither a version"), "{err}");
        let err = TimeTravel::split("daily@vx").unwrap().unwrap_err();
        assert!(err.contains("@v3"), "{err}");
    }

    #[test]
    fn iceberg_and_hudi_folders_are_recognised() {
        let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            foreign_format(&p("events/metadata/00001-ab.metadata.json")),
            Some((1, "Apache Iceberg"))
        );
        assert_eq!(foreign_format(&p("events/metadata/notes.txt")), None);
        assert_eq!(
            foreign_format(&p("trips/.hoodie/hoodie.properties")),
            Some((1, "Apache Hudi"))
        );
        assert_eq!(foreign_format(&p("sales/part-0.parquet")), None);
    }
}
