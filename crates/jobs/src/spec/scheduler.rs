//! The `[scheduler]` table of the main settings file.

use nightshift_core::{IssueOrigin, TomlReader};
use toml::de::DeTable;

use super::duration::duration;
use super::types::SchedulerSettings;

/// Reads `[scheduler]` into `s`; its `include` patterns go to `includes` with the place they were written.
pub(super) fn parse_scheduler(
    r: &mut TomlReader<'_>,
    t: &DeTable<'_>,
    s: &mut SchedulerSettings,
    includes: &mut Vec<(String, IssueOrigin)>,
) {
    for (k, v) in t.iter() {
        let name = k.get_ref().as_ref();
        let key = format!("scheduler.{name}");
        match name {
            "include" => {
                if let Some(list) = r.strings(v, &key) {
                    let at = r.at(&v.span());
                    includes.extend(list.into_iter().map(|p| (p, at.clone())));
                }
            }
            "catch_up_limit" => match r.int(v, &key) {
                Some(n) if n >= 0 => s.catch_up_limit = n as usize,
                Some(_) => r.issue(&v.span(), &key, "expected 0 or more"),
                None => {}
            },
            "lease_ttl" => s.lease_ttl = duration(r, v, &key).unwrap_or(s.lease_ttl),
            "grace_period" => s.grace_period = duration(r, v, &key).unwrap_or(s.grace_period),
            "poll_interval" => s.poll_interval = duration(r, v, &key).unwrap_or(s.poll_interval),
            "price_per_cpu_hour" => match r.float(v, &key) {
                Some(p) if p >= 0.0 && p.is_finite() => s.price_per_cpu_hour = p,
                Some(_) => r.issue(&v.span(), &key, "expected a price of 0 or more"),
                None => {}
            },
            other => r.issue(
                &k.span(),
                &format!("scheduler.{other}"),
                "unknown key; known keys: include, catch_up_limit, lease_ttl, grace_period, poll_interval, price_per_cpu_hour",
            ),
        }
    }
}
