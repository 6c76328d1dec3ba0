//! Which slots of a wall-clock grid may be created on a date, and where
//! each ends, when a clock change falls on it (README, "Daylight saving").
//!
//! Invariants: a created slot's start exists (in a repeated hour, the
//! earlier instant) and it lasts exactly its minutes in real time, whatever
//! its local end reads; its local end reads later the same date (or the
//! midnight ending it); no two created slots share an instant. The grid
//! itself ([`slot_grid`]) is plain wall-clock arithmetic.

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use super::{LocalSpan, local_instant, overlaps_locally, slot_span, to_local};

/// Why a slot of a requested grid is not created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Its start falls in a daylight-saving gap.
    LocalTimeDoesNotExist,
    /// Its start exists, but its real end cannot be stored as a local end
    /// after it (it falls in a repeated hour's second pass), or it would
    /// start inside a slot stretched over a gap just before it.
    ClockChangeAltersLength,
}

impl SkipReason {
    /// The reason as a stable, kebab-case code for answers.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::LocalTimeDoesNotExist => "local-time-does-not-exist",
            SkipReason::ClockChangeAltersLength => "clock-change-alters-length",
        }
    }
}

/// The local end of a new slot of `minutes` starting at local `date`
/// `start`, if it may be created. The rule (README, "Daylight saving"):
/// keep every slot whose start exists (in a repeated hour, the earlier
/// instant) and whose real length is `minutes`, whatever its local end reads.
/// So on a spring-forward night the slot before the gap ends, on the wall
/// clock, after it (Warsaw: 01:30–03:00 lasts 30 real minutes). The end must
/// still read later the same date (or the midnight ending it) and denote that
/// very instant: in a fall-back night, a slot whose real end falls in the
/// repeated hour's second pass reads an end before its start (Warsaw:
/// 02:30+02:00 plus 30 minutes is 02:00+01:00), which a local slot cannot
/// store, so it is skipped, and the second pass has no slots of its own.
pub fn fit_new_slot(tz: Tz, date: NaiveDate, start: NaiveTime, minutes: u32) -> Result<NaiveTime, SkipReason> {
    let starts_at = local_instant(tz, date, start).map_err(|_| SkipReason::LocalTimeDoesNotExist)?;
    let ends_at = starts_at
        .checked_add_signed(TimeDelta::minutes(i64::from(minutes)))
        .ok_or(SkipReason::LocalTimeDoesNotExist)?;
    let (end_date, end) = to_local(tz, ends_at.to_utc());
    let same_day = end_date == date && end > start;
    let at_midnight = date.succ_opt() == Some(end_date) && end == NaiveTime::MIN;
    if (same_day || at_midnight) && slot_span(tz, date, start, end) == Ok((starts_at, ends_at)) {
        Ok(end)
    } else {
        Err(SkipReason::ClockChangeAltersLength)
    }
}

/// The slots of a wall-clock `grid` (back-to-back `(start, end)` pairs in
/// local order, as [`slot_grid`] makes them) that may be created on `date`,
/// each with its fitted local end ([`fit_new_slot`]), and those left out with
/// their reason. A slot stretched over a spring gap may reach past the next
/// grid start (45-minute slots from 01:30 end at 03:15): a slot starting
/// inside an earlier kept one is left out, so no two share an instant.
pub fn fit_new_slots(
    tz: Tz,
    date: NaiveDate,
    grid: impl IntoIterator<Item = (NaiveTime, NaiveTime)>,
    minutes: u32,
) -> (Vec<LocalSpan>, Vec<(LocalSpan, SkipReason)>) {
    let mut kept: Vec<LocalSpan> = Vec::new();
    let mut skipped = Vec::new();
    for (start, end) in grid {
        match fit_new_slot(tz, date, start, minutes) {
            Ok(_) if kept.last().is_some_and(|&last| overlaps_locally(last, (start, end))) => {
                skipped.push(((start, end), SkipReason::ClockChangeAltersLength));
            }
            Ok(fitted) => kept.push((start, fitted)),
            Err(reason) => skipped.push(((start, end), reason)),
        }
    }
    (kept, skipped)
}

/// Back-to-back local slots of `minutes` from `open` up to `close` (a last
/// slot that would end after `close` is left out). A `close` of 00:00 is the
/// midnight ending the day; the slot ending there stores 00:00 as its end.
/// These are wall-clock times: [`fit_new_slots`] says which exist, and where they end.
pub fn slot_grid(open: NaiveTime, close: NaiveTime, minutes: u32) -> Vec<(NaiveTime, NaiveTime)> {
    let step = TimeDelta::minutes(i64::from(minutes.max(1)));
    let day_end = if close == NaiveTime::MIN { TimeDelta::days(1) } else { close - NaiveTime::MIN };
    let mut grid = Vec::new();
    let mut offset = open - NaiveTime::MIN;
    while offset + step <= day_end {
        // `NaiveTime + TimeDelta` wraps at midnight: 24:00 becomes 00:00.
        grid.push((NaiveTime::MIN + offset, NaiveTime::MIN + offset + step));
        offset += step;
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn grid_fills_opening_hours() {
        let grid = slot_grid(t(9, 0), t(10, 45), 30);
        assert_eq!(grid, vec![(t(9, 0), t(9, 30)), (t(9, 30), t(10, 0)), (t(10, 0), t(10, 30))]);
        let whole_day = slot_grid(t(0, 0), t(0, 0), 5);
        assert_eq!(whole_day.len(), 288);
        assert_eq!(whole_day.last(), Some(&(t(23, 55), t(0, 0))));
    }
}
