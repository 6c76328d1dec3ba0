//! The dates and instants the API and imports accept: from yesterday to
//! `days_ahead` days from today (UTC dates; yesterday covers every zone
//! behind UTC). Everything a client or a file can send is checked against it
//! before any arithmetic, so no date near chrono's limits (year ±262142)
//! reaches a time-zone conversion or a `+ TimeDelta` that would panic.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};

/// The accepted range of dates, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookableRange {
    first: NaiveDate,
    last: NaiveDate,
    days_ahead: u32,
}

/// A date or instant outside the [`BookableRange`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {first} and {last} (yesterday to {days_ahead} days ahead), got {got}")]
pub struct OutOfRange {
    pub field: String,
    pub got: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub days_ahead: u32,
}

impl BookableRange {
    /// Yesterday to `days_ahead` days after `today`, both included. Near
    /// chrono's limits the range is clamped instead of overflowing.
    pub fn around(today: NaiveDate, days_ahead: u32) -> BookableRange {
        BookableRange {
            first: today.checked_sub_days(Days::new(1)).unwrap_or(NaiveDate::MIN),
            last: today.checked_add_days(Days::new(u64::from(days_ahead))).unwrap_or(NaiveDate::MAX),
            days_ahead,
        }
    }

    /// The first and last accepted dates.
    pub fn dates(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.last)
    }

    /// `date` (the value of `field`) if it is in the range.
    pub fn date(&self, field: &str, date: NaiveDate) -> Result<NaiveDate, OutOfRange> {
        if (self.first..=self.last).contains(&date) { Ok(date) } else { Err(self.refuse(field, date.to_string())) }
    }

    /// `instant` (the value of `field`, any offset) in UTC, if it falls on
    /// an accepted date in UTC. Compared without converting to any zone.
    pub fn instant<Tz: TimeZone>(&self, field: &str, instant: &DateTime<Tz>) -> Result<DateTime<Utc>, OutOfRange> {
        let utc = instant.naive_utc();
        if (self.first..=self.last).contains(&utc.date()) {
            Ok(Utc.from_utc_datetime(&utc))
        } else {
            Err(self.refuse(field, utc.and_utc().to_rfc3339()))
        }
    }

    /// The start of the day after the last accepted date, in UTC: later
    /// than every accepted instant.
    pub fn end(&self) -> DateTime<Utc> {
        self.last.succ_opt().unwrap_or(self.last).and_time(NaiveTime::MIN).and_utc()
    }

    fn refuse(&self, field: &str, got: String) -> OutOfRange {
        OutOfRange { field: field.to_owned(), got, first: self.first, last: self.last, days_ahead: self.days_ahead }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_from_yesterday_to_the_horizon_pass_and_nothing_else() {
        let range = BookableRange::around(date(2026, 12, 3), 730);
        assert_eq!(range.dates(), (date(2026, 12, 2), date(2028, 12, 2)));
        for ok in [date(2026, 12, 2), date(2026, 12, 3), date(2028, 12, 2)] {
            assert_eq!(range.date("d", ok), Ok(ok));
        }
        for bad in [date(2026, 12, 1), date(2028, 12, 3), NaiveDate::MAX, NaiveDate::MIN] {
            let error = range.date("startDate", bad).unwrap_err();
            assert!(error.to_string().starts_with("startDate must be between 2026-12-02 and 2028-12-02"), "{error}");
            assert_eq!(error.days_ahead, 730);
        }
    }

    #[test]
    fn instants_at_chronos_limits_are_refused_without_panicking() {
        let range = BookableRange::around(date(2026, 12, 3), 730);
        let extreme = "+262142-12-31T23:45:00Z".parse::<DateTime<FixedOffset>>().unwrap();
        assert!(range.instant("startTime", &extreme).is_err());
        let least = DateTime::<FixedOffset>::MIN_UTC.fixed_offset();
        assert!(range.instant("startTime", &least).is_err());
        let far_offset = DateTime::parse_from_rfc3339("2026-12-03T23:30:00-23:59").unwrap();
        assert_eq!(range.instant("startTime", &far_offset).unwrap().to_rfc3339(), "2026-12-04T23:29:00+00:00");
        assert!(range.instant("t", &DateTime::parse_from_rfc3339("2028-12-03T00:00:00Z").unwrap()).is_err());
        assert!(range.instant("t", &DateTime::parse_from_rfc3339("2028-12-02T23:59:59Z").unwrap()).is_ok());
        assert_eq!(range.end().to_rfc3339(), "2028-12-03T00:00:00+00:00");
        // Clamped, not overflowing, at the calendar's ends.
        assert_eq!(BookableRange::around(NaiveDate::MAX, 730).dates().1, NaiveDate::MAX);
        assert_eq!(BookableRange::around(NaiveDate::MIN, 1).dates().0, NaiveDate::MIN);
    }
}
