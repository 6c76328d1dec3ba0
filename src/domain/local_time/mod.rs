//! Local-time and daylight-saving arithmetic: slots are stored in the
//! provider's local time (a date, a start and an end on the wall clock),
//! clients speak RFC 3339 instants, and this module turns one into the
//! other. Which new slots a clock change lets a grid create is in
//! `new_slots`; which stored slots cover a booking's instants, in `covering`.
//!
//! Invariants: a local time in a DST gap denotes no instant; an ambiguous
//! one (a repeated hour) denotes the earlier instant; a slot ending at or
//! before its start ends on the next day (a slot ending at midnight stores
//! 00:00). Everything that compares slots in real time goes through
//! [`slot_span`], so the two 02:00s of an autumn night are never confused.
//! Not to be confused with `weekly_schedule` (a provider's opening hours per
//! weekday) or the application's planner (which turns those into slots).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

mod covering;
mod new_slots;

pub use covering::{covering_slots, covers_exactly};
pub use new_slots::{SkipReason, fit_new_slot, fit_new_slots, slot_grid};

/// Why a booking does not fit the provider's schedule. Times are shown as
/// instants with the provider's offset, so the two 02:00s of an autumn night
/// can be told apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("no slot starts at {} on that day", .0.to_rfc3339())]
    NoSlotAt(DateTime<FixedOffset>),
    #[error("the slots from {} do not cover the service up to {}", .start.to_rfc3339(), .end.to_rfc3339())]
    NotCovered { start: DateTime<FixedOffset>, end: DateTime<FixedOffset> },
    #[error("the service would run past midnight")]
    CrossesMidnight,
    #[error("{0} does not exist in the provider's timezone")]
    NonexistentLocalTime(NaiveTime),
}

/// A slot's local start and end on its date (an end of 00:00 is the midnight ending it).
pub type LocalSpan = (NaiveTime, NaiveTime);

/// The instants a slot stored as local `date`, `start`, `end` denotes:
/// `[I(date, start), I(end date, end))`, where `I` is [`local_instant`] (the
/// earlier instant of an ambiguous local time) and a slot ending at or before
/// its start ends on the next day (a slot ending at midnight stores 00:00).
/// A slot whose start or end falls in a DST gap denotes no instants.
pub fn slot_span(
    tz: Tz,
    date: NaiveDate,
    start: NaiveTime,
    end: NaiveTime,
) -> Result<(DateTime<FixedOffset>, DateTime<FixedOffset>), ScheduleError> {
    let end_date = if end <= start { date.succ_opt().unwrap_or(date) } else { date };
    Ok((local_instant(tz, date, start)?, local_instant(tz, end_date, end)?))
}

/// Do two local intervals `[start, end)` of one date overlap? An end of
/// 00:00 is midnight at the end of the date. The earlier-instant rule keeps
/// local order, so slots apart in local time are apart in real time too.
pub fn overlaps_locally(a: (NaiveTime, NaiveTime), b: (NaiveTime, NaiveTime)) -> bool {
    let span = |(start, end): (NaiveTime, NaiveTime)| {
        let from = start - NaiveTime::MIN;
        let to = if end <= start { TimeDelta::days(1) } else { end - NaiveTime::MIN };
        (from, to)
    };
    let ((a_from, a_to), (b_from, b_to)) = (span(a), span(b));
    a_from < b_to && b_from < a_to
}

/// The instant a provider-local date and time denote. In a DST gap there is
/// no such instant; in a DST overlap (an ambiguous local time) the earlier
/// one is taken.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Result<DateTime<FixedOffset>, ScheduleError> {
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.fixed_offset())
        .ok_or(ScheduleError::NonexistentLocalTime(time))
}

/// The provider-local date and time of an instant.
pub fn to_local(tz: Tz, instant: DateTime<Utc>) -> (NaiveDate, NaiveTime) {
    let local = instant.with_timezone(&tz).naive_local();
    (local.date(), local.time())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn local_overlap_treats_a_midnight_end_as_the_end_of_the_day() {
        assert!(overlaps_locally((t(23, 30), t(0, 0)), (t(23, 45), t(0, 0))));
        assert!(!overlaps_locally((t(23, 0), t(23, 30)), (t(23, 30), t(0, 0))));
        assert!(overlaps_locally((t(9, 0), t(10, 0)), (t(9, 30), t(10, 30))));
    }

    #[test]
    fn local_times_convert_both_ways() {
        let tz: Tz = "Europe/Warsaw".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let instant = local_instant(tz, date, t(10, 0)).unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-11-30T10:00:00+01:00");
        assert_eq!(to_local(tz, instant.with_timezone(&Utc)), (date, t(10, 0)));
        // 02:30 on the spring-forward night does not exist in Warsaw.
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert!(local_instant(tz, gap, t(2, 30)).is_err());
    }
}
