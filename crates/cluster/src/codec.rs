//! How nightshift's own tables cross the wire to a Ballista scheduler.
//!
//! DataFusion serialises plain listing tables itself; the lake's other tables come here:
//! - a Delta table, job reports included ([`DeltaSnapshotTable`]): its folder's listing table plus
//!   the files of the version this process read, so that the scheduler scans exactly that version
//!   with DataFusion's Parquet scan ([`FileSetTable`]);
//! - a glob table ([`GlobTable`]): its listing table plus the pattern, which DataFusion's own
//!   encoding drops (it would read the whole folder);
//! - a table that cannot be read ([`BrokenTable`]): its message, so the scheduler fails with it.
//!
//! Everything else (Ballista's cache nodes, file formats, functions) goes to Ballista's codec.

use std::collections::HashSet;
use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    AggregateUDF, Extension, LogicalPlan, LogicalPlanBuilder, ScalarUDF, WindowUDF,
};
use datafusion_proto::logical_plan::{AsLogicalPlan, LogicalExtensionCodec};
use datafusion_proto::protobuf::LogicalPlanNode;
use nightshift_lake::{BrokenTable, DeltaSnapshotTable, GlobTable};

use crate::file_set::FileSetTable;
use object_store::path::Path;
use prost::Message;
use serde::{Deserialize, Serialize};

/// What is written for one of our tables: this header as JSON, then the listing table as a
/// DataFusion plan (a scan of it), if it has one.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Header {
    Files { files: Vec<String> },
    Glob { glob: String },
    Broken { message: String },
}

/// Ballista's logical codec, plus nightshift's tables.
#[derive(Debug, Default)]
pub struct NightshiftLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

fn plan_error(m: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(m.into())
}

impl NightshiftLogicalCodec {
    fn encode_listing(
        &self,
        table_ref: &TableReference,
        listing: Arc<dyn TableProvider>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let scan = LogicalPlanBuilder::scan(table_ref.clone(), provider_as_source(listing), None)?.build()?;
        let node = LogicalPlanNode::try_from_logical_plan(&scan, self)?;
        node.encode(out)
            .map_err(|e| DataFusionError::Internal(format!("cannot encode table '{table_ref}': {e}")))
    }

    fn decode_listing(&self, bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn TableProvider>> {
        let node = LogicalPlanNode::decode(bytes)
            .map_err(|e| DataFusionError::Internal(format!("cannot decode a lake table: {e}")))?;
        let LogicalPlan::TableScan(scan) = node.try_into_logical_plan(ctx, self)? else {
            return Err(DataFusionError::Internal(
                "a lake table was not sent as a scan".into(),
            ));
        };
        let provider = source_as_provider(&scan.source)?;
        if provider.downcast_ref::<ListingTable>().is_none() {
            return Err(DataFusionError::Internal(
                "a lake table was not a listing table".into(),
            ));
        }
        Ok(provider)
    }
}

/// The listing table of a Delta table's folder with the same columns as delta-rs's provider (its
/// partition columns from the hive folders delta-rs writes, percent-decoded by DataFusion as
/// delta-rs encodes them).
fn delta_listing(t: &DeltaSnapshotTable) -> Result<Arc<dyn TableProvider>> {
    let schema = t.schema();
    let partitions = t.partition_columns();
    let file_schema = datafusion::arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !partitions.iter().any(|p| p == f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let partition_cols = partitions
        .iter()
        .map(|p| Ok((p.clone(), schema.field_with_name(p)?.data_type().clone())))
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols);
    let config = ListingTableConfig::new(ListingTableUrl::parse(t.url())?)
        .with_listing_options(options)
        .with_schema(Arc::new(file_schema));
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// A listing table's schema without its partition columns (what its configuration takes).
fn file_schema(listing: &ListingTable) -> SchemaRef {
    let partitions: HashSet<&str> = listing
        .options()
        .table_partition_cols
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let schema = listing.schema();
    Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .filter(|f| !partitions.contains(f.name().as_str()))
            .cloned()
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}

fn write(header: &Header, rest: &[u8], buf: &mut Vec<u8>) -> Result<()> {
    let json = serde_json::to_vec(header).map_err(|e| DataFusionError::Internal(e.to_string()))?;
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    buf.extend_from_slice(rest);
    Ok(())
}

fn read(buf: &[u8]) -> Result<(Header, &[u8])> {
    let bad = || DataFusionError::Internal("a lake table's encoding is damaged".into());
    let len = u32::from_le_bytes(buf.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let json = buf.get(4..4 + len).ok_or_else(bad)?;
    let header = serde_json::from_slice(json).map_err(|_| bad())?;
    Ok((header, &buf[4 + len..]))
}

impl LogicalExtensionCodec for NightshiftLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let (header, rest) = read(buf)?;
        Ok(match header {
            Header::Broken { message } => Arc::new(BrokenTable::new(message, schema)),
            Header::Files { files } => {
                let listing = self.decode_listing(rest, ctx)?;
                let files = files
                    .iter()
                    .map(|f| {
                        Path::parse(f)
                            .map_err(|e| plan_error(format!("table '{table_ref}': bad file path: {e}")))
                    })
                    .collect::<Result<_>>()?;
                Arc::new(FileSetTable::new(listing, files, schema))
            }
            Header::Glob { glob } => {
                let provider = self.decode_listing(rest, ctx)?;
                let listing = provider
                    .downcast_ref::<ListingTable>()
                    .ok_or_else(|| plan_error(format!("table '{table_ref}' is not a listing table")))?;
                let base = listing
                    .table_paths()
                    .first()
                    .ok_or_else(|| plan_error(format!("table '{table_ref}' has no location")))?;
                let pattern = glob::Pattern::new(&glob)
                    .map_err(|e| plan_error(format!("table '{table_ref}': bad glob '{glob}': {e}")))?;
                let url = ListingTableUrl::try_new(base.get_url().clone(), Some(pattern))?;
                let table = ListingTable::try_new(
                    ListingTableConfig::new(url)
                        .with_listing_options(listing.options().clone())
                        .with_schema(file_schema(listing)),
                )?;
                Arc::new(GlobTable::new(table))
            }
        })
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let mut rest = Vec::new();
        if let Some(t) = node.downcast_ref::<DeltaSnapshotTable>() {
            let files = t.files().ok_or_else(|| {
                plan_error(format!(
                    "table '{table_ref}' (version {}) has deletion vectors, which only delta-rs reads, \
                     and delta-rs cannot send its scan to a cluster: query it without --cluster, or \
                     rewrite the table without deletion vectors",
                    t.version()
                ))
            })?;
            self.encode_listing(table_ref, delta_listing(t)?, &mut rest)?;
            let mut files: Vec<String> = files.iter().map(|p| p.to_string()).collect();
            files.sort();
            write(&Header::Files { files }, &rest, buf)
        } else if let Some(t) = node.downcast_ref::<GlobTable>() {
            let glob = t
                .listing()
                .table_paths()
                .first()
                .and_then(|u| u.get_glob().as_ref())
                .map(|g| g.as_str().to_string())
                .ok_or_else(|| plan_error(format!("table '{table_ref}' has no glob")))?;
            self.encode_listing(table_ref, t.listing().clone(), &mut rest)?;
            write(&Header::Glob { glob }, &rest, buf)
        } else if let Some(t) = node.downcast_ref::<BrokenTable>() {
            write(
                &Header::Broken {
                    message: t.message().to_string(),
                },
                &rest,
                buf,
            )
        } else {
            Err(plan_error(format!(
                "table '{table_ref}' lives only in this process (an in-memory table such as \
                 nightshift.runs, or one made with CREATE TABLE) and cannot be sent to the cluster: \
                 query it without --cluster"
            )))
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
