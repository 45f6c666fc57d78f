//! Durations in job files: `"90s"`, `"10m"`, `"2h"`, `"1d"`, `"500ms"`, or a number of seconds.

use std::time::Duration;

use nightshift_core::TomlReader;
use toml::Spanned;
use toml::de::DeValue;

/// `"90s"`, `"10m"`, `"2h"`, `"1d"`, `"500ms"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as \"30s\", \"10m\" or \"2h\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        u => return Err(format!("unknown unit '{u}' in '{s}'; use ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{s}' is not a usable duration"))
}

/// A duration value: an integer number of seconds or a string such as `"30s"`.
pub(super) fn duration(r: &mut TomlReader<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Option<Duration> {
    let parsed = match v.get_ref() {
        DeValue::Integer(_) => {
            return r
                .int(v, key)
                .and_then(|n| u64::try_from(n).ok())
                .map(Duration::from_secs);
        }
        DeValue::String(s) => parse_duration(s),
        other => Err(format!(
            "expected a duration such as \"30s\", \"10m\" or \"2h\", found {}",
            other.type_str()
        )),
    };
    match parsed {
        Ok(d) => Some(d),
        Err(m) => {
            r.issue(&v.span(), key, m);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("2 fortnights").is_err());
    }
}
