//! When jobs run: `@once`, `@every <duration>`, or a cron expression in UTC — five fields
//! (minute hour day-of-month month day-of-week) or six with seconds first. Fields take `*`,
//! numbers, ranges `a-b`, steps `*/n` or `a-b/n`, and lists `a,b`; day-of-week 0 and 7 are
//! Sunday; when both day fields are restricted, either may match (as cron).

/// How far ahead a cron expression is searched for its next time (a Feb 29 runs at most every
/// four years; anything rarer is refused when parsed).
const SEARCH_MINUTES: u64 = 5 * 366 * 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Once,
    Every(u64),
    Cron(Cron),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "@once" {
            return Ok(Self::Once);
        }
        if let Some(every) = text.strip_prefix("@every ") {
            return crate::spec::parse_duration_ms(every).map(Self::Every);
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            _ => return Err(format!("{text:?} is not @once, @every <duration>, or a cron expression of 5 or 6 fields")),
        };
        let cron = Cron {
            seconds: field(seconds, 0, 59, "seconds")?,
            minutes: field(rest[0], 0, 59, "minute")?,
            hours: field(rest[1], 0, 23, "hour")?,
            days: field(rest[2], 1, 31, "day of month")?,
            months: field(rest[3], 1, 12, "month")?,
            weekdays: {
                let mut weekdays = field(rest[4], 0, 7, "day of week")?;
                weekdays[0] |= weekdays[7];
                weekdays
            },
            days_restricted: rest[2] != "*",
            weekdays_restricted: rest[4] != "*",
        };
        if cron.next_after(0).is_none() {
            return Err(format!("{text:?} never comes round"));
        }
        Ok(Self::Cron(cron))
    }

    /// The first run at or after `now_ms` for a new job.
    pub fn first(&self, now_ms: u64) -> Option<u64> {
        match self {
            Self::Once | Self::Every(_) => Some(now_ms),
            Self::Cron(cron) => cron.next_after(now_ms),
        }
    }

    /// The run after one that started at `started_ms` (none: the job is done).
    pub fn next(&self, started_ms: u64, now_ms: u64) -> Option<u64> {
        match self {
            Self::Once => None,
            Self::Every(interval) => Some((started_ms + interval).max(now_ms)),
            Self::Cron(cron) => cron.next_after(now_ms.max(started_ms)),
        }
    }
}

fn field(text: &str, low: u32, high: u32, name: &str) -> Result<Vec<bool>, String> {
    let mut set = vec![false; high as usize + 1];
    for part in text.split(',') {
        let bad = || format!("{name} {part:?} is not *, a number, a range or a step within {low}-{high}");
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok().filter(|step| *step > 0).ok_or_else(bad)?),
            None => (part, 1),
        };
        let (first, last) = if range == "*" {
            (low, high)
        } else if let Some((first, last)) = range.split_once('-') {
            (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?)
        } else {
            let single: u32 = range.parse().map_err(|_| bad())?;
            (single, if part.contains('/') { high } else { single })
        };
        if first < low || last > high || first > last || step > high - low + 1 {
            return Err(bad());
        }
        for value in (first..=last).step_by(step as usize) {
            set[value as usize] = true;
        }
    }
    Ok(set)
}

impl Cron {
    /// The first time strictly after `after_ms` that matches (whole seconds).
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let start = after_ms / 1_000 + 1;
        let mut minute = start / 60;
        for _ in 0..SEARCH_MINUTES {
            if self.minute_matches(minute) {
                let from = if minute == start / 60 { start % 60 } else { 0 };
                if let Some(second) = (from..60).find(|second| self.seconds[*second as usize]) {
                    return Some((minute * 60 + second) * 1_000);
                }
            }
            minute += 1;
        }
        None
    }

    fn minute_matches(&self, minute: u64) -> bool {
        let days = (minute / (24 * 60)) as i64;
        let (_, month, day) = civil_from_days(days);
        let weekday = ((days + 4).rem_euclid(7)) as usize; // 1970-01-01 was a Thursday
        let day_matches = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => self.days[day as usize] || self.weekdays[weekday],
            _ => self.days[day as usize] && self.weekdays[weekday],
        };
        self.minutes[(minute % 60) as usize] && self.hours[(minute / 60 % 24) as usize] && self.months[month as usize] && day_matches
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// A proleptic Gregorian date to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    #[test]
    fn every_ten_minutes() {
        let Schedule::Cron(cron) = Schedule::parse("*/10 * * * *").unwrap() else { panic!() };
        assert_eq!(cron.next_after(0), Some(10 * MINUTE));
        assert_eq!(cron.next_after(10 * MINUTE), Some(20 * MINUTE));
        assert_eq!(cron.next_after(10 * MINUTE - 1), Some(10 * MINUTE));
    }

    #[test]
    fn seconds_and_weekdays() {
        let Schedule::Cron(cron) = Schedule::parse("*/3 * * * * *").unwrap() else { panic!() };
        assert_eq!(cron.next_after(1_000), Some(3_000));
        // Mondays at 09:30: 1970-01-05 was the first Monday.
        let Schedule::Cron(cron) = Schedule::parse("30 9 * * 1").unwrap() else { panic!() };
        assert_eq!(cron.next_after(0), Some((4 * 24 * 60 + 9 * 60 + 30) * MINUTE));
    }

    #[test]
    fn bad_expressions() {
        for text in ["*/61 * * * *", "* * *", "0 0 31 2 *", "1-0 * * * *", "@hourly"] {
            assert!(Schedule::parse(text).is_err(), "{text}");
        }
        assert_eq!(Schedule::parse("@every 5s"), Ok(Schedule::Every(5_000)));
    }

    #[test]
    fn dates_round_trip() {
        for days in [-1, 0, 59, 365, 20_781, 2_932_896] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
