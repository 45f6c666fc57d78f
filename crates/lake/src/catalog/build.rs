//! Building a table: the listing table over a table's files, with its schema merged from the
//! Parquet footers and its partition columns from the hive folders (or as declared).

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::datasource::physical_plan::parquet::transform_schema_to_view;
use datafusion::prelude::SessionContext;

use super::discover::TableFile;
use super::register::{bad_file, parse_table_url};
use crate::error::LakeError;
use crate::footer::FileFooter;
use crate::partitions::{infer_partition_type, parse_partition_value};
use crate::schema_merge::merge_file_schemas;
use crate::spec::PartitionSpec;

/// A built table: the listing table, its partition columns and its rows.
type Built = (ListingTable, Vec<PartitionSpec>, u64);

/// The listing table of a table's `files` with their `footers`, its partition columns and its row
/// count; the first unreadable file or inconsistent folder is the error.
pub(crate) fn build_table(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    files: &[TableFile],
    footers: &[Result<FileFooter, LakeError>],
    declared_partitions: &[PartitionSpec],
    declared_schema: Option<Schema>,
) -> Result<Built, LakeError> {
    let mut ok = Vec::with_capacity(footers.len());
    for f in footers {
        match f {
            Ok(f) => ok.push(f),
            Err(e) => return Err(bad_file(e, url)),
        }
    }
    let rows = ok.iter().map(|f| f.rows).sum();
    let partitions = partition_columns(url, files, declared_partitions)?;
    let file_schema = match declared_schema {
        Some(s) => s,
        None if ok.is_empty() => Schema::empty(),
        None => {
            let merged = merge_file_schemas(name, ok.iter().map(|f| (f.location.as_str(), &f.schema)))?;
            // Partition values come from folders; a copy inside the files is dropped.
            Schema::new(
                merged
                    .fields()
                    .iter()
                    .filter(|f| !partitions.iter().any(|p| &p.name == f.name()))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        }
    };
    let state = ctx.state();
    let file_schema = if state.config_options().execution.parquet.schema_force_view_types {
        transform_schema_to_view(&file_schema)
    } else {
        file_schema
    };
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            partitions
                .iter()
                .map(|p| (p.name.clone(), p.data_type.data_type()))
                .collect(),
        );
    let config = ListingTableConfig::new(parse_table_url(url)?)
        .with_listing_options(options)
        .with_schema(Arc::new(file_schema));
    let table = ListingTable::try_new(config)?;
    Ok((table, partitions, rows))
}

/// The partition columns of `files`: the hive keys every file must share, typed as declared or as
/// inferred from their values.
fn partition_columns(
    url: &str,
    files: &[TableFile],
    declared: &[PartitionSpec],
) -> Result<Vec<PartitionSpec>, LakeError> {
    let bad = |reason: String| LakeError::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    let Some(first) = files.first() else {
        return Ok(declared.to_vec());
    };
    let keys: Vec<&str> = first.partitions.iter().map(|(k, _)| k.as_str()).collect();
    for f in files {
        let other: Vec<&str> = f.partitions.iter().map(|(k, _)| k.as_str()).collect();
        if other != keys {
            return Err(bad(format!(
                "partition folders disagree: '{}' has [{}] but '{}' has [{}]",
                first.meta.location,
                keys.join(", "),
                f.meta.location,
                other.join(", ")
            )));
        }
    }
    if !declared.is_empty() {
        let names: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
        if names != keys {
            return Err(bad(format!(
                "declared partition columns [{}] do not match the folders [{}] of '{}'",
                names.join(", "),
                keys.join(", "),
                first.meta.location
            )));
        }
        for (i, p) in declared.iter().enumerate() {
            if let Some(f) = files
                .iter()
                .find(|f| !parse_partition_value(&f.partitions[i].1, p.data_type))
            {
                return Err(bad(format!(
                    "partition folder '{}={}' of '{}' is not a {:?}",
                    p.name, f.partitions[i].1, f.meta.location, p.data_type
                )));
            }
        }
        return Ok(declared.to_vec());
    }
    Ok(keys
        .iter()
        .enumerate()
        .map(|(i, k)| PartitionSpec {
            name: (*k).to_string(),
            data_type: infer_partition_type(files.iter().map(|f| f.partitions[i].1.as_str())),
        })
        .collect())
}
