//! Reading a schedule's text: the calendar forms (`daily @ 02:00 Europe/Paris`, `weekly on mon`, …),
//! `hourly`, and five cron fields with an optional zone.

use std::str::FromStr;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;

use super::cron::Cron;
use super::{Kind, Period, Schedule, ScheduleError};

/// A parse error of the schedule `schedule`.
pub(super) fn err(schedule: &str, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        schedule: schedule.to_string(),
        message: message.into(),
    }
}

const FORMS: &str = "use hourly, daily @ HH:MM ZONE, weekly on mon @ HH:MM ZONE, monthly on 1 @ HH:MM ZONE, \
                     quarterly, yearly, or five cron fields optionally followed by a zone";

fn parse_tz(s: &str, text: &str) -> Result<Tz, ScheduleError> {
    let s = if s.eq_ignore_ascii_case("utc") { "UTC" } else { s };
    Tz::from_str(s).map_err(|_| {
        err(
            text,
            format!(
                "unknown time zone '{s}': use an IANA name such as UTC, Europe/Paris or America/New_York"
            ),
        )
    })
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    match s.to_ascii_lowercase().as_str() {
        "mon" | "monday" | "1" => Some(Weekday::Mon),
        "tue" | "tuesday" | "2" => Some(Weekday::Tue),
        "wed" | "wednesday" | "3" => Some(Weekday::Wed),
        "thu" | "thursday" | "4" => Some(Weekday::Thu),
        "fri" | "friday" | "5" => Some(Weekday::Fri),
        "sat" | "saturday" | "6" => Some(Weekday::Sat),
        "sun" | "sunday" | "0" | "7" => Some(Weekday::Sun),
        _ => None,
    }
}

impl Schedule {
    /// Parses a schedule: `hourly`, `daily @ HH:MM ZONE`, `weekly on DAY @ HH:MM ZONE`,
    /// `monthly on N @ HH:MM ZONE` (N from 1 to 28), `quarterly` and `yearly` (optionally with `on N` and
    /// `@ HH:MM ZONE`), five cron fields, and five cron fields followed by a zone or preceded by
    /// `CRON_TZ=ZONE`. The zone defaults to UTC.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some(first) = words.first() else {
            return Err(err(text, format!("the schedule is empty; {FORMS}")));
        };
        let period = match first.to_ascii_lowercase().as_str() {
            "hourly" => {
                let tz = match words.get(1..) {
                    Some([]) | None => Tz::UTC,
                    Some([zone]) => parse_tz(zone, text)?,
                    Some(_) => return Err(err(text, "write 'hourly' or 'hourly ZONE'")),
                };
                return Ok(Schedule {
                    text: text.trim().to_string(),
                    kind: Kind::Cron(Box::new(Cron::parse("0 * * * *", text)?)),
                    tz,
                });
            }
            "daily" => Period::Day,
            "weekly" => Period::Week(Weekday::Mon),
            "monthly" => Period::Month,
            "quarterly" => Period::Quarter,
            "yearly" | "annually" => Period::Year,
            _ => return Self::parse_cron(text, &words),
        };
        let mut period = period;
        let mut day = 0u32;
        let mut at = NaiveTime::MIN;
        let mut tz = Tz::UTC;
        let mut rest = &words[1..];
        if let [on, value, tail @ ..] = rest
            && on.eq_ignore_ascii_case("on")
        {
            match period {
                Period::Day => {
                    return Err(err(
                        text,
                        "a daily schedule has no 'on'; write daily @ HH:MM ZONE",
                    ));
                }
                Period::Week(_) => {
                    let wd = parse_weekday(value).ok_or_else(|| {
                        err(
                            text,
                            format!("'{value}' is not a weekday; write mon, tue, wed, thu, fri, sat or sun"),
                        )
                    })?;
                    period = Period::Week(wd);
                }
                _ => {
                    let n: u32 = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=28).contains(n))
                        .ok_or_else(|| {
                            err(
                                text,
                                format!(
                                    "'{value}' is not a day of the month from 1 to 28 (every month has those)"
                                ),
                            )
                        })?;
                    day = n - 1;
                }
            }
            rest = tail;
        } else if let [on] = rest
            && on.eq_ignore_ascii_case("on")
        {
            return Err(err(text, "'on' needs a day after it"));
        }
        if let [atword, time, tail @ ..] = rest
            && *atword == "@"
        {
            at = NaiveTime::parse_from_str(time, "%H:%M")
                .map_err(|_| err(text, format!("'{time}' is not a time HH:MM (00:00 to 23:59)")))?;
            rest = tail;
        } else if let Some(word) = rest.first()
            && word.starts_with('@')
        {
            return Err(err(text, "write '@ HH:MM' with a space after '@'"));
        }
        match rest {
            [] => {}
            [zone] => tz = parse_tz(zone, text)?,
            _ => return Err(err(text, format!("unexpected '{}'; {FORMS}", rest.join(" ")))),
        }
        Ok(Schedule {
            text: text.trim().to_string(),
            kind: Kind::Calendar { period, day, at },
            tz,
        })
    }

    fn parse_cron(text: &str, words: &[&str]) -> Result<Self, ScheduleError> {
        let mut words = words.to_vec();
        let mut tz = Tz::UTC;
        if let Some(first) = words.first()
            && let Some(zone) = first
                .strip_prefix("CRON_TZ=")
                .or_else(|| first.strip_prefix("TZ="))
        {
            tz = parse_tz(zone, text)?;
            words.remove(0);
        }
        if words.len() == 6 {
            tz = parse_tz(words[5], text)?;
            words.pop();
        }
        if words.len() != 5 {
            return Err(err(text, FORMS));
        }
        Ok(Schedule {
            text: text.trim().to_string(),
            kind: Kind::Cron(Box::new(Cron::parse(&words.join(" "), text)?)),
            tz,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_schedules_say_what_to_write() {
        for (text, needle) in [
            ("", "empty"),
            ("daily @ 25:00 UTC", "not a time"),
            ("daily @ 02:00 Mars/Olympus", "unknown time zone"),
            ("weekly on funday @ 02:00 UTC", "not a weekday"),
            ("monthly on 31 @ 02:00 UTC", "1 to 28"),
            ("daily at 02:00", "unexpected"),
            ("61 * * * *", "outside 0-59"),
            ("* * * *", "five cron fields"),
            ("0 0 * * mon-sun-", "day of week"),
            ("*/0 * * * *", "positive step"),
            (
                "5/4294967295 * * * *",
                "step 4294967295 is larger than the field's range 0-59",
            ),
            ("0 */24 * * *", "step 24 is larger than the field's range 0-23"),
            ("0 0 1/99999999999 * *", "not a positive step"),
            ("5-1 * * * *", "backwards"),
            ("0 0 30 feb *", "never occurs"),
        ] {
            let e = Schedule::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
