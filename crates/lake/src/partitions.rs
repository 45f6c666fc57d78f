//! Hive partition folders (`key=value`): split a segment, infer a column type, check a value.

use chrono_free::is_date;

use crate::spec::PartitionType;

/// Splits a path segment `key=value` into its parts.
pub(crate) fn split_hive_segment(segment: &str) -> Option<(&str, &str)> {
    let (k, v) = segment.split_once('=')?;
    (!k.is_empty()).then_some((k, v))
}

/// Infers the narrowest partition type that every value fits: date, then integer, then string.
pub fn infer_partition_type<'a>(values: impl IntoIterator<Item = &'a str>) -> PartitionType {
    let mut date = true;
    let mut int = true;
    let mut any = false;
    for v in values {
        any = true;
        let v = percent_decode(v);
        date &= is_date(&v);
        int &= v.parse::<i64>().is_ok();
        if !date && !int {
            return PartitionType::String;
        }
    }
    match (any, date, int) {
        (false, _, _) => PartitionType::String,
        (true, true, _) => PartitionType::Date,
        (true, _, true) => PartitionType::Int,
        _ => PartitionType::String,
    }
}

/// Checks that a folder value parses as the given partition type.
pub fn parse_partition_value(value: &str, ty: PartitionType) -> bool {
    let v = percent_decode(value);
    match ty {
        PartitionType::Date => is_date(&v),
        PartitionType::Int => v.parse::<i64>().is_ok(),
        PartitionType::String => true,
    }
}

fn percent_decode(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains('%') {
        return v.into();
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

mod chrono_free {
    /// `YYYY-MM-DD` with a valid month and day (the form hive folders use).
    pub(super) fn is_date(s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return false;
        }
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
        let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
            return false;
        };
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1..=days).contains(&d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types() {
        assert_eq!(
            infer_partition_type(["2024-06-01", "2024-02-29"]),
            PartitionType::Date
        );
        assert_eq!(infer_partition_type(["2023-02-29"]), PartitionType::String);
        assert_eq!(infer_partition_type(["1", "-20"]), PartitionType::Int);
        assert_eq!(infer_partition_type(["1", "x"]), PartitionType::String);
        assert_eq!(infer_partition_type(["eu%2Dwest"]), PartitionType::String);
        assert_eq!(infer_partition_type(["2024%2D06%2D01"]), PartitionType::Date);
    }

    #[test]
    fn splits_segments() {
        assert_eq!(
            split_hive_segment("tx_date=2024-06-01"),
            Some(("tx_date", "2024-06-01"))
        );
        assert_eq!(split_hive_segment("=x"), None);
        assert_eq!(split_hive_segment("plain"), None);
    }
}
