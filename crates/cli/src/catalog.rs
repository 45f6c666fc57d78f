//! `nightshift tables | describe` (and the REPL's `\dt`, `\d`): the lake's tables and a table's
//! columns, from metadata only.

use std::sync::Arc;

use anyhow::anyhow;
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use nightshift_core::Session;
use nightshift_core::TableFormat;

use crate::args::OutputArgs;
use crate::failure::Failure;
use crate::output::print_batch;

/// `nightshift tables`.
pub async fn tables(session: &Session, output: &OutputArgs) -> Result<(), Failure> {
    print_batch(tables_batch(session)?, output).await
}

/// The lake's tables as one batch (`nightshift tables`, the REPL's `\dt`).
pub fn tables_batch(session: &Session) -> anyhow::Result<RecordBatch> {
    let infos: Vec<_> = session.catalog().tables().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("partitions", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
    ]));
    let partitions = infos.iter().map(|t| {
        t.partitions
            .iter()
            .map(|p| format!("{} {:?}", p.name, p.data_type).to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            infos.iter().map(|t| t.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            infos.iter().map(|t| t.format.to_string()),
        )),
        Arc::new(UInt64Array::from_iter_values(infos.iter().map(|t| t.rows))),
        Arc::new(UInt64Array::from_iter_values(
            infos.iter().map(|t| t.files as u64),
        )),
        Arc::new(UInt64Array::from_iter_values(infos.iter().map(|t| t.bytes))),
        Arc::new(StringArray::from_iter_values(partitions)),
        Arc::new(StringArray::from_iter_values(
            infos.iter().map(|t| t.location.as_str()),
        )),
        Arc::new(StringArray::from(
            infos.iter().map(|t| t.error.clone()).collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `nightshift describe TABLE`.
pub async fn describe(session: &Session, table: &str, output: &OutputArgs) -> Result<(), Failure> {
    print_batch(describe_batch(session, table).await?, output).await
}

/// A table's columns as one batch (`nightshift describe`, the REPL's `\d TABLE`).
pub async fn describe_batch(session: &Session, table: &str) -> anyhow::Result<RecordBatch> {
    // `reports.daily_sentiment` names the table `daily_sentiment` of the schema `reports`, as the
    // catalog lists it.
    let reference = match table.split_once('.') {
        Some((schema, name)) if session.catalog().table(table).is_some() => {
            datafusion::common::TableReference::partial(schema, name)
        }
        _ => datafusion::common::TableReference::bare(table),
    };
    let provider = session.context().table_provider(reference).await.map_err(|_| {
        let known: Vec<_> = session.catalog().tables().map(|t| t.name.clone()).collect();
        anyhow!(
            "no table '{table}' in the lake; known tables: {}",
            known.join(", ")
        )
    })?;
    let info = session.catalog().table(table);
    if let Some(err) = info.and_then(|i| i.error.as_ref()) {
        eprintln!("warning: {err}");
    }
    if let Some(i) = info
        && let TableFormat::Delta { version } = i.format
    {
        eprintln!("{table}: Delta table at version {version} ({})", i.location);
    }
    let schema = provider.schema();
    let is_partition = |name: &str| info.is_some_and(|i| i.partitions.iter().any(|p| p.name == name));
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
        Field::new("partition", DataType::Boolean, false),
    ]));
    let fields = schema.fields();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| f.name().as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            fields.iter().map(|f| f.data_type().to_string()),
        )),
        Arc::new(BooleanArray::from(
            fields.iter().map(|f| f.is_nullable()).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            fields.iter().map(|f| is_partition(f.name())).collect::<Vec<_>>(),
        )),
    ];
    Ok(RecordBatch::try_new(out_schema, columns)?)
}
