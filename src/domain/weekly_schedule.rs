//! A provider's weekly schedule: opening intervals per weekday (several a
//! day, e.g. 09:00–12:00 and 13:00–18:00), a slot length, and date
//! exceptions (closed, or other hours). From it, the slots a local date
//! should have, with the daylight-saving rules of `schedule`: a slot is
//! planned if its start exists and it lasts `slot_minutes` of real time,
//! whatever its local end reads ([`fit_new_slots`]); the others are skipped
//! with their reason.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use super::local_time::{SkipReason, fit_new_slots, slot_grid};

/// Shortest and longest slot, in minutes (as for slots opened by hand).
pub const SLOT_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 5..=480;

/// A local opening interval `[open, close)`; a `close` of 00:00 is the
/// midnight ending the day.
pub type Interval = (NaiveTime, NaiveTime);

/// Why a schedule is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeeklyScheduleError {
    #[error("slotMinutes must be between 5 and 480, got {0}")]
    SlotMinutes(u32),
    #[error("{0}: an interval must open before it closes")]
    Empty(String),
    #[error("{0}: intervals overlap")]
    Overlap(String),
    #[error("{0} is listed twice in exceptions")]
    DuplicateException(NaiveDate),
}

/// A validated weekly schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklySchedule {
    pub slot_minutes: u32,
    /// Intervals per weekday, Monday first, each day's sorted by opening.
    weekly: [Vec<Interval>; 7],
    /// A date's own intervals (empty: closed), replacing its weekday's.
    exceptions: BTreeMap<NaiveDate, Vec<Interval>>,
}

/// One slot a date should have, or one a clock change leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedSlot {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl WeeklySchedule {
    /// Validate intervals (each opens before it closes; a day's do not
    /// overlap) and exceptions (one per date).
    pub fn new(
        slot_minutes: u32,
        weekly: impl IntoIterator<Item = (Weekday, Vec<Interval>)>,
        exceptions: Vec<(NaiveDate, Vec<Interval>)>,
    ) -> Result<WeeklySchedule, WeeklyScheduleError> {
        if !SLOT_MINUTES_RANGE.contains(&slot_minutes) {
            return Err(WeeklyScheduleError::SlotMinutes(slot_minutes));
        }
        let mut days: [Vec<Interval>; 7] = Default::default();
        for (weekday, intervals) in weekly {
            days[weekday.num_days_from_monday() as usize] = checked(weekday.to_string(), intervals)?;
        }
        let mut by_date = BTreeMap::new();
        for (date, intervals) in exceptions {
            let intervals = checked(date.to_string(), intervals)?;
            if by_date.insert(date, intervals).is_some() {
                return Err(WeeklyScheduleError::DuplicateException(date));
            }
        }
        Ok(WeeklySchedule { slot_minutes, weekly: days, exceptions: by_date })
    }

    /// The intervals of one weekday.
    pub fn weekday(&self, weekday: Weekday) -> &[Interval] {
        &self.weekly[weekday.num_days_from_monday() as usize]
    }

    /// The exceptions, by date.
    pub fn exceptions(&self) -> &BTreeMap<NaiveDate, Vec<Interval>> {
        &self.exceptions
    }

    /// The opening intervals of a local date: its exception's, else its weekday's.
    pub fn intervals_on(&self, date: NaiveDate) -> &[Interval] {
        self.exceptions.get(&date).map_or_else(|| self.weekday(date.weekday()), Vec::as_slice)
    }

    /// The slots `date` should have in `tz`, and those a clock change leaves out.
    pub fn slots_on(&self, tz: Tz, date: NaiveDate) -> (Vec<PlannedSlot>, Vec<(PlannedSlot, SkipReason)>) {
        // One grid over the day's intervals, so that a slot stretched over a
        // spring gap is checked against the next interval's first slot too.
        let grid = self.intervals_on(date).iter().flat_map(|&(open, close)| slot_grid(open, close, self.slot_minutes));
        let (kept, skipped) = fit_new_slots(tz, date, grid, self.slot_minutes);
        let slot = |(start, end)| PlannedSlot { start, end };
        (kept.into_iter().map(slot).collect(), skipped.into_iter().map(|(s, reason)| (slot(s), reason)).collect())
    }
}

/// Minutes from midnight of an interval's ends, a 00:00 close being 24:00.
fn span((open, close): Interval) -> (u32, u32) {
    let minutes = |t: NaiveTime| (t - NaiveTime::MIN).num_minutes() as u32;
    let to = if close == NaiveTime::MIN { 24 * 60 } else { minutes(close) };
    (minutes(open), to)
}

fn checked(what: String, mut intervals: Vec<Interval>) -> Result<Vec<Interval>, WeeklyScheduleError> {
    intervals.sort();
    for &interval in &intervals {
        let (from, to) = span(interval);
        if from >= to {
            return Err(WeeklyScheduleError::Empty(what));
        }
    }
    if intervals.windows(2).any(|pair| span(pair[0]).1 > span(pair[1]).0) {
        return Err(WeeklyScheduleError::Overlap(what));
    }
    Ok(intervals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::slot_span;
    use chrono::TimeDelta;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Every day 01:00–04:00 in 30-minute slots: the hours DST changes hit.
    fn night_schedule() -> WeeklySchedule {
        let every_day =
            [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        WeeklySchedule::new(30, every_day.into_iter().map(|d| (d, vec![(t(1, 0), t(4, 0))])), vec![]).unwrap()
    }

    /// Instants (UTC, RFC 3339) of the slots planned over `days` from `from`.
    fn instants(schedule: &WeeklySchedule, tz: Tz, from: NaiveDate, days: u64) -> Vec<String> {
        from.iter_days()
            .take(days as usize)
            .flat_map(|d| {
                let (planned, _) = schedule.slots_on(tz, d);
                planned.into_iter().map(move |s| {
                    let (a, b) = slot_span(tz, d, s.start, s.end).unwrap();
                    assert_eq!(b - a, TimeDelta::minutes(30), "every planned slot lasts its 30 real minutes");
                    a.to_utc().to_rfc3339()
                })
            })
            .collect()
    }

    #[test]
    fn split_days_and_exceptions() {
        let weekly = [(Weekday::Mon, vec![(t(13, 0), t(15, 0)), (t(9, 0), t(10, 0))])].into_iter();
        let closed = date(2026, 12, 7); // a Monday
        let short = date(2026, 12, 14);
        let schedule =
            WeeklySchedule::new(60, weekly, vec![(closed, vec![]), (short, vec![(t(8, 0), t(9, 0))])]).unwrap();
        let tz = chrono_tz::Europe::Warsaw;
        let starts = |d| schedule.slots_on(tz, d).0.iter().map(|s| s.start).collect::<Vec<_>>();
        assert_eq!(starts(date(2026, 11, 30)), [t(9, 0), t(13, 0), t(14, 0)]);
        assert!(starts(date(2026, 12, 1)).is_empty(), "Tuesday has no hours");
        assert!(starts(closed).is_empty());
        assert_eq!(starts(short), [t(8, 0)]);
    }

    #[test]
    fn bad_schedules_are_refused() {
        let day = |intervals: Vec<Interval>| [(Weekday::Tue, intervals)];
        assert_eq!(WeeklySchedule::new(3, day(vec![]), vec![]), Err(WeeklyScheduleError::SlotMinutes(3)));
        assert!(matches!(
            WeeklySchedule::new(30, day(vec![(t(10, 0), t(9, 0))]), vec![]),
            Err(WeeklyScheduleError::Empty(_))
        ));
        assert!(matches!(
            WeeklySchedule::new(30, day(vec![(t(9, 0), t(12, 0)), (t(11, 0), t(13, 0))]), vec![]),
            Err(WeeklyScheduleError::Overlap(_))
        ));
        let d = date(2026, 12, 24);
        assert_eq!(
            WeeklySchedule::new(30, day(vec![]), vec![(d, vec![]), (d, vec![])]),
            Err(WeeklyScheduleError::DuplicateException(d))
        );
        // Up to midnight is fine; touching intervals are too.
        assert!(WeeklySchedule::new(30, day(vec![(t(9, 0), t(12, 0)), (t(12, 0), t(0, 0))]), vec![]).is_ok());
    }

    /// Instants in UTC, as `instants` gives them.
    fn utc(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| format!("{s}+00:00")).collect()
    }

    #[test]
    fn warsaw_dst_nights_plan_only_slots_that_exist_and_last_their_length() {
        let tz = chrono_tz::Europe::Warsaw;
        let schedule = night_schedule();
        // 2027-03-28: 02:00 CET jumps to 03:00 CEST; the 02:xx slots start
        // in the gap, and 01:30 lasts its 30 minutes to 03:00 local: 4 slots
        // that night (every real half hour of the opening), 6 others.
        let spring = instants(&schedule, tz, date(2027, 3, 27), 3);
        assert_eq!(spring.len(), 6 + 4 + 6);
        assert_eq!(
            spring[6..10],
            utc(&["2027-03-28T00:00:00", "2027-03-28T00:30:00", "2027-03-28T01:00:00", "2027-03-28T01:30:00"])[..]
        );
        let (planned, _) = schedule.slots_on(tz, date(2027, 3, 28));
        assert_eq!(planned[1], PlannedSlot { start: t(1, 30), end: t(3, 0) });
        // 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30–03:00 would
        // last 90 minutes: 5 slots that night.
        let autumn = instants(&schedule, tz, date(2027, 10, 30), 3);
        assert_eq!(autumn.len(), 6 + 5 + 6);
        assert_eq!(
            autumn[6..11],
            utc(&[
                "2027-10-30T23:00:00",
                "2027-10-30T23:30:00",
                "2027-10-31T00:00:00",
                "2027-10-31T02:00:00",
                "2027-10-31T02:30:00"
            ])[..]
        );
        let (_, skipped) = schedule.slots_on(tz, date(2027, 10, 31));
        assert_eq!(skipped, [(PlannedSlot { start: t(2, 30), end: t(3, 0) }, SkipReason::ClockChangeAltersLength)]);
    }

    #[test]
    fn new_york_dst_nights_plan_only_slots_that_exist_and_last_their_length() {
        let tz = chrono_tz::America::New_York;
        let schedule = night_schedule();
        // 2027-03-14: 02:00 EST jumps to 03:00 EDT.
        let spring = instants(&schedule, tz, date(2027, 3, 13), 3);
        assert_eq!(spring.len(), 6 + 4 + 6);
        assert_eq!(
            spring[6..10],
            utc(&["2027-03-14T06:00:00", "2027-03-14T06:30:00", "2027-03-14T07:00:00", "2027-03-14T07:30:00"])[..]
        );
        // 2027-11-07: 02:00 EDT falls back to 01:00 EST; 01:30–02:00 would
        // last 90 minutes.
        let autumn = instants(&schedule, tz, date(2027, 11, 6), 3);
        assert_eq!(autumn.len(), 6 + 5 + 6);
        assert_eq!(
            autumn[6..11],
            utc(&[
                "2027-11-07T05:00:00",
                "2027-11-07T07:00:00",
                "2027-11-07T07:30:00",
                "2027-11-07T08:00:00",
                "2027-11-07T08:30:00"
            ])[..]
        );
    }
}
