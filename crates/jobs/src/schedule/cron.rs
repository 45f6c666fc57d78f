//! Cron fields (`*/15 9-17 * * mon-fri`): parsing them into bit sets and finding the fire instants
//! before and after a given one.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use super::parse::err;
use super::{ScheduleError, local, to_utc};

/// Five cron fields as sets: minute, hour, day of month, month, day of week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Cron's rule: when both day fields are restricted, a day matches if either matches.
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl Cron {
    pub(super) fn parse(fields: &str, text: &str) -> Result<Self, ScheduleError> {
        let f: Vec<&str> = fields.split_whitespace().collect();
        let months = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        let minutes = field(f[0], 0, 59, &[], "minute", text)?;
        let hours = field(f[1], 0, 23, &[], "hour", text)?;
        let dom = field(f[2], 1, 31, &[], "day of month", text)?;
        let month = field(f[3], 1, 12, &months, "month", text)?;
        let mut dow = field(f[4], 0, 7, &days, "day of week", text)?;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7);
        }
        let dom_only = !f[2].starts_with('*') && f[4].starts_with('*');
        let month_len = [0u32, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        if dom_only
            && !(1..=12usize).any(|m| month & (1 << m) != 0 && (dom >> 1).trailing_zeros() < month_len[m])
        {
            return Err(err(text, "the day of month never occurs in the months given"));
        }
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: dom as u32,
            months: month as u16,
            weekdays: dow as u8,
            days_restricted: !f[2].starts_with('*'),
            weekdays_restricted: !f[4].starts_with('*'),
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }

    /// Local fire times of one day, in order.
    fn times(&self) -> impl DoubleEndedIterator<Item = NaiveTime> + '_ {
        (0..24u32)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60u32)
                    .filter(move |m| self.minutes & (1 << m) != 0)
                    .filter_map(move |m| NaiveTime::from_hms_opt(h, m, 0))
            })
    }

    /// The first fire instant strictly after `t`.
    pub(super) fn next_after(&self, tz: &Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        // Start a day early: a shifted gap time can map after `t` although its local time is before.
        let mut day = local(tz, t).date() - Duration::days(1);
        for _ in 0..(366 * 8) {
            if self.day_matches(day) {
                for time in self.times() {
                    let at = to_utc(tz, day.and_time(time));
                    if at > t {
                        return at;
                    }
                }
            }
            day += Duration::days(1);
        }
        // Only reachable for impossible dates such as 30 February, rejected at parse time.
        t + Duration::days(366 * 8)
    }

    /// The last fire instant at or before `t`.
    pub(super) fn last_at_or_before(&self, tz: &Tz, t: DateTime<Utc>) -> DateTime<Utc> {
        let mut day = local(tz, t).date() + Duration::days(1);
        for _ in 0..(366 * 8) {
            if self.day_matches(day) {
                for time in self.times().rev() {
                    let at = to_utc(tz, day.and_time(time));
                    if at <= t {
                        return at;
                    }
                }
            }
            day -= Duration::days(1);
        }
        t - Duration::days(366 * 8)
    }
}

/// One cron field as a bit set: `*`, `N`, `A-B`, `*/S`, `A-B/S`, lists, and names.
fn field(s: &str, min: u32, max: u32, names: &[&str], what: &str, text: &str) -> Result<u64, ScheduleError> {
    let bad = |m: String| err(text, format!("cron {what} field '{s}': {m}"));
    let value = |v: &str| -> Result<u32, ScheduleError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let n: u32 = v
            .parse()
            .map_err(|_| bad(format!("'{v}' is not a number from {min} to {max}")))?;
        if n < min || n > max {
            return Err(bad(format!("{n} is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut set = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("'{st}' is not a positive step")))?;
                if st > max - min {
                    return Err(bad(format!(
                        "the step {st} is larger than the field's range {min}-{max}: it would match \
                         only the first value; write that value instead"
                    )));
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(bad(format!("the range {a}-{b} is backwards")));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        let mut v = Some(lo);
        while let Some(x) = v.filter(|x| *x <= hi) {
            set |= 1 << x;
            v = x.checked_add(step);
        }
    }
    if set == 0 {
        return Err(bad("matches nothing".into()));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use crate::schedule::Schedule;
    use chrono::{DateTime, Utc};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cron_fields() {
        let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        // Friday 17:50 → Monday 09:00.
        assert_eq!(
            s.next_fire(utc("2024-06-07T17:50:00Z")),
            utc("2024-06-10T09:00:00Z")
        );
        let s = Schedule::parse("0 0 1,15 * *").unwrap();
        assert_eq!(
            s.next_fire(utc("2024-06-02T00:00:00Z")),
            utc("2024-06-15T00:00:00Z")
        );
        // Day of month OR day of week when both are restricted.
        let s = Schedule::parse("0 0 13 * fri").unwrap();
        assert_eq!(
            s.next_fire(utc("2024-06-01T00:00:00Z")),
            utc("2024-06-07T00:00:00Z")
        );
        let s = Schedule::parse("0 12 * * 7").unwrap();
        assert_eq!(
            s.next_fire(utc("2024-06-01T00:00:00Z")),
            utc("2024-06-02T12:00:00Z")
        );
    }
}
