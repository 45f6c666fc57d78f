//! Schema merging: a table's file schemas merged into one, or a conflict naming both files.

use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::error::{LakeError, SchemaConflict};

/// Merges the schemas of a table's files.
///
/// Compatible differences are merged: a column missing from some files becomes nullable, and an
/// integer or float column widens to the larger type (`INT` and `BIGINT` give `BIGINT`). Anything
/// else is an error naming both files and the column. Field order follows the first file, then new
/// columns in the order they appear.
pub fn merge_file_schemas<'a>(
    table: &str,
    files: impl IntoIterator<Item = (&'a str, &'a Schema)>,
) -> Result<Schema, LakeError> {
    // (field, file that introduced its current type, present in every file so far)
    let mut merged: Vec<(Field, &'a str, bool)> = Vec::new();
    let mut count = 0usize;
    for (file, schema) in files {
        for (field, _, seen) in merged.iter_mut() {
            *seen = schema.field_with_name(field.name()).is_ok();
        }
        for f in schema.fields() {
            match merged.iter_mut().find(|(m, _, _)| m.name() == f.name()) {
                Some((m, origin, _)) => {
                    if m.data_type() == f.data_type() {
                        if f.is_nullable() && !m.is_nullable() {
                            *m = m.clone().with_nullable(true);
                        }
                        continue;
                    }
                    match widen(m.data_type(), f.data_type()) {
                        Some(t) => {
                            let nullable = m.is_nullable() || f.is_nullable();
                            if &t != m.data_type() {
                                *origin = file;
                            }
                            *m = Field::new(m.name(), t, nullable);
                        }
                        None => {
                            return Err(LakeError::IncompatibleSchema(Box::new(SchemaConflict {
                                table: table.to_string(),
                                column: f.name().clone(),
                                left_file: origin.to_string(),
                                left_type: m.data_type().to_string(),
                                right_file: file.to_string(),
                                right_type: f.data_type().to_string(),
                            })));
                        }
                    }
                }
                None => {
                    // A column added by a later file is absent from the earlier ones.
                    let nullable = count > 0 || f.is_nullable();
                    merged.push((f.as_ref().clone().with_nullable(nullable), file, true));
                }
            }
        }
        for (field, _, seen) in merged.iter_mut() {
            if !*seen && !field.is_nullable() {
                *field = field.clone().with_nullable(true);
            }
        }
        count += 1;
    }
    Ok(Schema::new(
        merged.into_iter().map(|(f, _, _)| f).collect::<Vec<_>>(),
    ))
}

fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int8 => Some((0, 1)),
        Int16 => Some((0, 2)),
        Int32 => Some((0, 3)),
        Int64 => Some((0, 4)),
        Float32 => Some((1, 1)),
        Float64 => Some((1, 2)),
        _ => None,
    };
    let (ka, ra) = rank(a)?;
    let (kb, rb) = rank(b)?;
    match (ka, kb) {
        (0, 0) | (1, 1) => Some(if ra >= rb { a.clone() } else { b.clone() }),
        // An integer column that became a float: every integer up to 2^53 is exact in a double.
        (0, 1) | (1, 0) => Some(Float64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(fields: &[(&str, DataType, bool)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t, nl)| Field::new(*n, t.clone(), *nl))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn merges_added_column_and_widened_int() {
        let a = s(&[("id", DataType::Int32, false)]);
        let b = s(&[("id", DataType::Int64, false), ("note", DataType::Utf8, true)]);
        let m = merge_file_schemas("t", [("a.parquet", &a), ("b.parquet", &b)]).unwrap();
        assert_eq!(m.field(0).data_type(), &DataType::Int64);
        assert_eq!(m.field(1).name(), "note");
        assert!(m.field(1).is_nullable());
    }

    #[test]
    fn column_missing_from_later_file_becomes_nullable() {
        let a = s(&[("id", DataType::Int64, false), ("x", DataType::Utf8, false)]);
        let b = s(&[("id", DataType::Int64, false)]);
        let m = merge_file_schemas("t", [("a", &a), ("b", &b)]).unwrap();
        assert!(m.field_with_name("x").unwrap().is_nullable());
        assert!(!m.field_with_name("id").unwrap().is_nullable());
    }

    #[test]
    fn incompatible_names_both_files() {
        let a = s(&[("id", DataType::Int64, false)]);
        let b = s(&[("id", DataType::Utf8, false)]);
        let err = merge_file_schemas("t", [("a.parquet", &a), ("b.parquet", &b)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.parquet") && err.contains("b.parquet") && err.contains("'id'"),
            "{err}"
        );
    }
}
