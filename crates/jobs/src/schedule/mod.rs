//! Schedules: when a job fires and which logical interval each run covers.
//!
//! Calendar schedules (`daily @ 02:00 Europe/Paris`, `weekly on mon @ 06:00 UTC`, `monthly on 1 @ 03:00
//! UTC`, `quarterly`, `yearly`) cover one calendar period in the job's time zone and fire after it
//! ends: the run of 2024-06-01 under `daily @ 02:00 UTC` covers `[2024-06-01 00:00, 2024-06-02 00:00)`
//! and fires at 2024-06-02 02:00. Cron schedules (`hourly`, five fields, optionally with a zone) fire at
//! each matching minute and cover the time since the previous fire.
//!
//! Local times are mapped to instants with one rule everywhere: a local time that does not exist
//! (the hour skipped when clocks spring forward) is shifted forward by the length of the gap (02:30
//! becomes 03:30), and a local time that happens twice (clocks fall back) is the first of the two.
//! So every job fires exactly once per interval on daylight-saving days.

mod cron;
mod parse;

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

use self::cron::Cron;

/// A schedule that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad schedule '{schedule}': {message}")]
pub struct ScheduleError {
    /// The schedule as written.
    pub schedule: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
    tz: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A calendar period; the run fires `day` days (0-based) and `at` after the following period starts.
    Calendar { period: Period, day: u32, at: NaiveTime },
    /// Cron fields; the interval runs from the previous fire to this one.
    Cron(Box<Cron>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    /// Weeks starting on this weekday.
    Week(Weekday),
    Month,
    Quarter,
    Year,
}

/// One logical interval of a job: the data a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    /// First instant covered.
    pub start: DateTime<Utc>,
    /// First instant not covered.
    pub end: DateTime<Utc>,
    /// The local date (in the schedule's zone) of `start`: `$run_date`.
    pub run_date: NaiveDate,
    /// When the scheduler runs it.
    pub fire_at: DateTime<Utc>,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{} .. {})",
            self.run_date,
            self.start.format("%Y-%m-%dT%H:%M:%SZ"),
            self.end.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

/// Local time → instant: gaps shift forward by their length, repeated times take the first.
fn to_utc(tz: &Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Interpret with the offset in force before the gap (no gap is longer than a day).
            let before = local - Duration::hours(24);
            let offset = match tz.from_local_datetime(&before) {
                LocalResult::Single(t) => t.offset().fix(),
                LocalResult::Ambiguous(a, _) => a.offset().fix(),
                LocalResult::None => tz.offset_from_utc_datetime(&before).fix(),
            };
            (local - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

fn local(tz: &Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(tz).naive_local()
}

impl Schedule {
    /// The schedule's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The interval that contains the instant `t`.
    pub fn interval_containing(&self, t: DateTime<Utc>) -> Interval {
        match &self.kind {
            Kind::Calendar { period, .. } => {
                let start = period.floor(local(&self.tz, t).date());
                // Rounding through local dates can land one period off around gaps: settle it.
                let mut iv = self.calendar(start);
                while iv.start > t {
                    iv = self.previous(&iv);
                }
                while iv.end <= t {
                    iv = self.next(&iv);
                }
                iv
            }
            Kind::Cron(cron) => {
                let end = cron.next_after(&self.tz, t);
                let start = cron.last_at_or_before(&self.tz, t);
                self.cron_interval(start, end)
            }
        }
    }

    fn cron_interval(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Interval {
        Interval {
            start,
            end,
            run_date: local(&self.tz, start).date(),
            fire_at: end,
        }
    }

    fn calendar(&self, start: NaiveDate) -> Interval {
        let Kind::Calendar { period, day, at } = &self.kind else {
            unreachable!("calendar intervals of a cron schedule")
        };
        let next = period.advance(start);
        let fire_day = next + Duration::days(i64::from(*day));
        Interval {
            start: to_utc(&self.tz, start.and_time(NaiveTime::MIN)),
            end: to_utc(&self.tz, next.and_time(NaiveTime::MIN)),
            run_date: start,
            fire_at: to_utc(&self.tz, fire_day.and_time(*at)),
        }
    }

    /// The interval right after `iv`.
    pub fn next(&self, iv: &Interval) -> Interval {
        match &self.kind {
            Kind::Calendar { period, .. } => self.calendar(period.advance(iv.run_date)),
            Kind::Cron(cron) => self.cron_interval(iv.end, cron.next_after(&self.tz, iv.end)),
        }
    }

    /// The interval right before `iv`.
    pub fn previous(&self, iv: &Interval) -> Interval {
        match &self.kind {
            Kind::Calendar { period, .. } => self.calendar(period.floor(iv.run_date - Duration::days(1))),
            Kind::Cron(cron) => {
                let start = cron.last_at_or_before(&self.tz, iv.start - Duration::seconds(1));
                self.cron_interval(start, iv.start)
            }
        }
    }

    /// The latest interval that is due at `now` (its fire time has passed), if any.
    pub fn latest_due(&self, now: DateTime<Utc>) -> Interval {
        let mut iv = self.interval_containing(now);
        while iv.fire_at > now {
            iv = self.previous(&iv);
        }
        iv
    }

    /// The first fire time strictly after `now`.
    pub fn next_fire(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut iv = self.latest_due(now);
        loop {
            iv = self.next(&iv);
            if iv.fire_at > now {
                return iv.fire_at;
            }
        }
    }

    /// The intervals whose run dates (local start dates) fall in `from..=to`, oldest first, starting
    /// with the interval that contains `from` (a monthly job's `--date 2024-06-15` is June).
    pub fn intervals_for_dates(&self, from: NaiveDate, to: NaiveDate) -> Vec<Interval> {
        let mut out = Vec::new();
        let mut iv = self.interval_containing(to_utc(&self.tz, from.and_time(NaiveTime::MIN)));
        while iv.run_date <= to {
            out.push(iv);
            iv = self.next(&iv);
        }
        out
    }
}

impl Period {
    /// The first day of the period that contains `d`.
    fn floor(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => d,
            Period::Week(wd) => {
                let back = (7 + d.weekday().num_days_from_monday() - wd.num_days_from_monday()) % 7;
                d - Duration::days(i64::from(back))
            }
            Period::Month => d.with_day(1).unwrap_or(d),
            Period::Quarter => NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1).unwrap_or(d),
            Period::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d),
        }
    }

    /// The first day of the next period, for a `start` returned by `floor`.
    fn advance(self, start: NaiveDate) -> NaiveDate {
        let months = |n: u32| start.checked_add_months(chrono::Months::new(n)).unwrap_or(start);
        match self {
            Period::Day => start + Duration::days(1),
            Period::Week(_) => start + Duration::days(7),
            Period::Month => months(1),
            Period::Quarter => months(3),
            Period::Year => months(12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn daily_covers_the_previous_day_and_fires_after_it() {
        let s = Schedule::parse("daily @ 02:00 UTC").unwrap();
        let iv = s.latest_due(utc("2024-06-02T03:00:00Z"));
        assert_eq!(iv.run_date, d("2024-06-01"));
        assert_eq!(iv.start, utc("2024-06-01T00:00:00Z"));
        assert_eq!(iv.end, utc("2024-06-02T00:00:00Z"));
        assert_eq!(iv.fire_at, utc("2024-06-02T02:00:00Z"));
        // Before 02:00 the previous day is the latest due.
        assert_eq!(
            s.latest_due(utc("2024-06-02T01:59:00Z")).run_date,
            d("2024-05-31")
        );
        assert_eq!(
            s.next_fire(utc("2024-06-02T02:00:00Z")),
            utc("2024-06-03T02:00:00Z")
        );
        assert_eq!(
            s.next_fire(utc("2024-06-02T01:00:00Z")),
            utc("2024-06-02T02:00:00Z")
        );
    }

    #[test]
    fn spring_forward_runs_a_0230_job_once_shifted_by_the_gap() {
        // Europe/Berlin springs forward on 2024-03-31 at 02:00 → 03:00.
        let s = Schedule::parse("daily @ 02:30 Europe/Berlin").unwrap();
        let ivs = s.intervals_for_dates(d("2024-03-29"), d("2024-03-31"));
        let fires: Vec<_> = ivs.iter().map(|i| i.fire_at).collect();
        assert_eq!(
            fires,
            vec![
                utc("2024-03-30T01:30:00Z"), // 02:30 CET
                utc("2024-03-31T01:30:00Z"), // 02:30 does not exist: 03:30 CEST
                utc("2024-04-01T00:30:00Z"), // 02:30 CEST
            ]
        );
        // The short day is 23 hours long and the intervals are contiguous.
        assert_eq!(ivs[1].end - ivs[1].start, Duration::hours(24));
        assert_eq!(ivs[2].end - ivs[2].start, Duration::hours(23));
        assert_eq!(ivs[0].end, ivs[1].start);
        // Walking fire times over the change hits each day exactly once.
        let mut t = utc("2024-03-29T12:00:00Z");
        let mut seen = Vec::new();
        for _ in 0..4 {
            t = s.next_fire(t);
            seen.push(s.latest_due(t).run_date);
        }
        assert_eq!(
            seen,
            vec![d("2024-03-29"), d("2024-03-30"), d("2024-03-31"), d("2024-04-01")]
        );
    }

    #[test]
    fn fall_back_runs_a_0130_job_once_at_the_first_occurrence() {
        // America/New_York falls back on 2024-11-03 at 02:00 EDT → 01:00 EST.
        let s = Schedule::parse("daily @ 01:30 America/New_York").unwrap();
        let ivs = s.intervals_for_dates(d("2024-11-02"), d("2024-11-03"));
        assert_eq!(ivs[0].fire_at, utc("2024-11-03T05:30:00Z")); // 01:30 EDT, the first one
        assert_eq!(ivs[1].end - ivs[1].start, Duration::hours(25));
        assert_eq!(ivs[1].fire_at, utc("2024-11-04T06:30:00Z")); // 01:30 EST
        let after_first = utc("2024-11-03T05:31:00Z");
        assert_eq!(s.next_fire(after_first), utc("2024-11-04T06:30:00Z"));
    }

    #[test]
    fn cron_with_a_zone_across_spring_forward() {
        let s = Schedule::parse("30 2 * * * Europe/Berlin").unwrap();
        let t = utc("2024-03-30T02:00:00Z");
        let prefixed = Schedule::parse("CRON_TZ=Europe/Berlin 30 2 * * *").unwrap();
        assert_eq!(prefixed.next_fire(t), s.next_fire(t));
        let f1 = s.next_fire(t);
        assert_eq!(f1, utc("2024-03-31T01:30:00Z"));
        assert_eq!(s.next_fire(f1), utc("2024-04-01T00:30:00Z"));
        let iv = s.latest_due(f1);
        assert_eq!((iv.start, iv.end), (utc("2024-03-30T01:30:00Z"), f1));
        assert_eq!(iv.run_date, d("2024-03-30"));
    }

    #[test]
    fn hourly_intervals_are_contiguous_hours() {
        let s = Schedule::parse("hourly").unwrap();
        let iv = s.latest_due(utc("2024-06-01T10:15:00Z"));
        assert_eq!(
            (iv.start, iv.end),
            (utc("2024-06-01T09:00:00Z"), utc("2024-06-01T10:00:00Z"))
        );
        assert_eq!(s.next(&iv).start, iv.end);
        assert_eq!(s.previous(&iv).end, iv.start);
        assert_eq!(s.intervals_for_dates(d("2024-06-01"), d("2024-06-01")).len(), 24);
    }

    #[test]
    fn weekly_monthly_quarterly_yearly() {
        let w = Schedule::parse("weekly on mon @ 06:00 UTC").unwrap();
        let iv = w.latest_due(utc("2024-06-05T00:00:00Z")); // a Wednesday
        assert_eq!(iv.run_date, d("2024-05-27"));
        assert_eq!(iv.fire_at, utc("2024-06-03T06:00:00Z"));
        let m = Schedule::parse("monthly on 2 @ 03:00 Europe/Paris").unwrap();
        let iv = m.latest_due(utc("2024-06-10T00:00:00Z"));
        assert_eq!(iv.run_date, d("2024-05-01"));
        assert_eq!(iv.fire_at, utc("2024-06-02T01:00:00Z"));
        let q = Schedule::parse("quarterly").unwrap();
        let iv = q.latest_due(utc("2024-05-10T00:00:00Z"));
        assert_eq!(
            (iv.start, iv.end),
            (utc("2024-01-01T00:00:00Z"), utc("2024-04-01T00:00:00Z"))
        );
        assert_eq!(
            q.intervals_for_dates(d("2024-02-15"), d("2024-02-15"))[0].run_date,
            d("2024-01-01")
        );
        let y = Schedule::parse("yearly @ 04:00 UTC").unwrap();
        assert_eq!(
            y.next_fire(utc("2024-06-01T00:00:00Z")),
            utc("2025-01-01T04:00:00Z")
        );
    }
}
