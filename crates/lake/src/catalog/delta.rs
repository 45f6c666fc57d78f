//! Registration of Delta tables (through delta-rs's provider, at their latest version) and of the
//! folders of formats the lake refuses, which become [`BrokenTable`]s that say why.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use object_store::ObjectStore;

use super::providers::BrokenTable;
use super::register::put_table;
use super::{TableFormat, TableInfo};
use crate::delta::{DeltaLocation, LEGACY_REPORT, delta_facts, delta_table_provider};
use crate::error::LakeError;
use crate::spec::{PartitionSpec, PartitionType};

/// Registers the Delta table at `url` as `reference`. A table whose log cannot be read, or that
/// uses a feature delta-rs cannot read, is registered as a [`BrokenTable`] with the reason, so that
/// the rest of the lake stays usable.
pub(crate) async fn register_delta(
    ctx: &SessionContext,
    store: Arc<dyn ObjectStore>,
    url: &str,
    reference: TableReference,
) -> Result<TableInfo, LakeError> {
    let name = reference.to_string();
    let mut info = TableInfo {
        name: name.clone(),
        location: url.to_string(),
        files: 0,
        bytes: 0,
        rows: 0,
        partitions: Vec::new(),
        schema: Arc::new(Schema::empty()),
        declared: false,
        error: None,
        format: TableFormat::Delta { version: 0 },
    };
    let opened = async {
        let location = DeltaLocation::new(store, url)?;
        let table = location.open(None).await?;
        let facts = delta_facts(&table)?;
        let provider = delta_table_provider(ctx, &table).await?;
        Ok::<_, LakeError>((facts, provider))
    };
    match opened.await {
        Ok((facts, provider)) => {
            let schema = provider.schema();
            info.files = facts.files;
            info.bytes = facts.bytes;
            info.rows = facts.rows.unwrap_or(0);
            info.format = TableFormat::Delta {
                version: facts.version,
            };
            info.partitions = facts
                .partition_columns
                .iter()
                .map(|c| PartitionSpec {
                    name: c.clone(),
                    data_type: schema
                        .field_with_name(c)
                        .map(|f| PartitionType::of(f.data_type()))
                        .unwrap_or(PartitionType::String),
                })
                .collect();
            info.schema = schema;
            put_table(ctx, reference, provider)?;
        }
        Err(e) => {
            let err = LakeError::Table {
                table: name.clone(),
                source: Box::new(e),
            };
            tracing::warn!(table = %name, error = %err, "Delta table registered as unreadable");
            info.error = Some(err.to_string());
            put_table(
                ctx,
                reference,
                Arc::new(BrokenTable::new(err.to_string(), Arc::clone(&info.schema))),
            )?;
        }
    }
    Ok(info)
}

/// Registers a folder in a format the lake cannot read as a table whose every query fails with an
/// error naming the folder and the format.
pub(crate) fn register_unsupported(
    ctx: &SessionContext,
    url: &str,
    reference: TableReference,
    format: &'static str,
) -> Result<TableInfo, LakeError> {
    let name = reference.to_string();
    let err = LakeError::Table {
        table: name.clone(),
        source: Box::new(if format == LEGACY_REPORT {
            LakeError::LegacyReport {
                location: url.to_string(),
            }
        } else {
            LakeError::UnsupportedFormat {
                location: url.to_string(),
                format,
            }
        }),
    };
    tracing::warn!(table = %name, error = %err, "table in an unsupported format");
    let schema = Arc::new(Schema::empty());
    put_table(
        ctx,
        reference,
        Arc::new(BrokenTable::new(err.to_string(), Arc::clone(&schema))),
    )?;
    Ok(TableInfo {
        name,
        location: url.to_string(),
        files: 0,
        bytes: 0,
        rows: 0,
        partitions: Vec::new(),
        schema,
        declared: false,
        error: Some(err.to_string()),
        format: TableFormat::Unsupported(format),
    })
}
