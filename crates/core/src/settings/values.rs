//! The value syntaxes shared by the settings file, the environment and the flags: sizes and SQL types.

use datafusion::arrow::datatypes::DataType;

/// Parses a size: `1048576`, `512MB`, `4GiB`, `1.5G` (binary units, K/M/G/T with optional iB/B).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size; write e.g. \"512MiB\" or \"4GiB\""))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("'{s}' has an unknown unit; use B, KiB, MiB, GiB or TiB")),
    };
    let bytes = n * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{s}' is not a usable size"));
    }
    Ok(bytes as u64)
}

/// The largest batch size (`engine.batch_size`, `datafusion.execution.batch_size`): DataFusion sizes
/// buffers by it before the first row, and an allocation that fails aborts the process.
pub(crate) const MAX_BATCH_SIZE: usize = 1 << 20;

/// The largest number of partitions (`engine.target_partitions`, `datafusion.execution.target_partitions`):
/// DataFusion makes the channels and tasks of every partition up front.
pub(crate) const MAX_TARGET_PARTITIONS: usize = 1 << 12;

/// `n` if it is at most `max`, or what is wrong.
pub(crate) fn at_most(n: usize, max: usize) -> Result<usize, String> {
    if n <= max {
        Ok(n)
    } else {
        Err(format!("{n} is too large; the most nightshift accepts is {max}"))
    }
}

/// Maps the SQL type names accepted in explicit schemas to Arrow types.
pub fn parse_sql_type(s: &str) -> Option<DataType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "boolean" | "bool" => DataType::Boolean,
        "tinyint" | "int8" => DataType::Int8,
        "smallint" | "int16" => DataType::Int16,
        "int" | "integer" | "int32" => DataType::Int32,
        "bigint" | "int64" => DataType::Int64,
        "real" | "float" | "float32" => DataType::Float32,
        "double" | "float64" | "double precision" => DataType::Float64,
        "varchar" | "string" | "text" | "utf8" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
        "binary" | "bytea" => DataType::Binary,
        _ => return None,
    })
}

/// `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in any case.
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }
}
