//! Fitting bookings onto a provider's slots, and the local-time arithmetic
//! that goes with it (slots are stored in the provider's local time; clients
//! speak RFC 3339 instants).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::ProviderAvailability;

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

/// The slots (indexes into `day`, which holds one local date's slots in any
/// order) that together cover the instants `[start, start + duration)`
/// exactly, back to back, compared as instants in `tz` (see [`slot_span`]).
/// A slot without instants (a legacy row in a DST gap) is never used.
/// Their statuses are not checked here: that is the aggregate's job.
pub fn covering_slots(
    tz: Tz,
    day: &[ProviderAvailability],
    start: DateTime<Utc>,
    duration: TimeDelta,
) -> Result<Vec<usize>, ScheduleError> {
    let in_zone = |t: DateTime<Utc>| t.with_timezone(&tz).fixed_offset();
    let end = start.checked_add_signed(duration).ok_or(ScheduleError::NoSlotAt(in_zone(start)))?;
    let (date, _) = to_local(tz, start);
    let (end_date, end_time) = to_local(tz, end);
    let ends_at_midnight = date.succ_opt() == Some(end_date) && end_time == NaiveTime::MIN;
    if end_date != date && !ends_at_midnight {
        return Err(ScheduleError::CrossesMidnight);
    }
    let mut timed: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = day
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| {
            let (from, to) = slot_span(tz, slot.date, slot.start_time, slot.end_time).ok()?;
            Some((i, from.to_utc(), to.to_utc()))
        })
        .collect();
    timed.sort_by_key(|&(_, from, _)| from);

    let first = timed.iter().position(|&(_, from, _)| from == start).ok_or(ScheduleError::NoSlotAt(in_zone(start)))?;
    let mut covered = Vec::new();
    let mut cursor = start;
    for &(i, from, to) in &timed[first..] {
        if from != cursor {
            break;
        }
        covered.push(i);
        cursor = to;
        if cursor >= end {
            break;
        }
    }
    if cursor == end {
        Ok(covered)
    } else {
        Err(ScheduleError::NotCovered { start: in_zone(start), end: in_zone(end) })
    }
}

/// Whether `slots` (a hold's, say), all of them and nothing else, cover the
/// instants `[start, start + duration)` back to back: a booking through a
/// hold must take exactly what the hold holds, so a service lengthened or
/// shortened since the hold was taken never books fewer or more slots than
/// its time.
pub fn covers_exactly(tz: Tz, slots: &[ProviderAvailability], start: DateTime<Utc>, duration: TimeDelta) -> bool {
    covering_slots(tz, slots, start, duration).is_ok_and(|covered| covered.len() == slots.len())
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
    use crate::domain::SlotStatus;
    use uuid::Uuid;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn warsaw() -> Tz {
        chrono_tz::Europe::Warsaw
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// 30-minute slots on `on`, starting at the given local times.
    fn slots_on(on: NaiveDate, starts: &[(u32, u32)]) -> Vec<ProviderAvailability> {
        let spans: Vec<_> = starts.iter().map(|&(h, m)| (t(h, m), t(h, m) + TimeDelta::minutes(30))).collect();
        slots_spanning(on, &spans)
    }

    /// Slots on `on` with the given local starts and ends.
    fn slots_spanning(on: NaiveDate, spans: &[(NaiveTime, NaiveTime)]) -> Vec<ProviderAvailability> {
        spans
            .iter()
            .enumerate()
            .map(|(n, &(start_time, end_time))| ProviderAvailability {
                id: Uuid::from_u128(n as u128),
                provider_id: Uuid::nil(),
                date: on,
                start_time,
                end_time,
                status: SlotStatus::Available,
                booking_id: None,
                hold_id: None,
                last_modified_at: Utc::now(),
                last_modified_by: None,
            })
            .collect()
    }

    fn day(starts: &[(u32, u32)]) -> Vec<ProviderAvailability> {
        slots_on(date(2026, 11, 30), starts)
    }

    /// An RFC 3339 instant, as a client sends it.
    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn minutes(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    #[test]
    fn one_slot_covers_a_thirty_minute_service() {
        let slots = day(&[(9, 0), (9, 30), (10, 0)]);
        assert_eq!(covering_slots(warsaw(), &slots, at("2026-11-30T09:30:00+01:00"), minutes(30)), Ok(vec![1]));
    }

    #[test]
    fn sixty_minutes_take_two_back_to_back_slots_in_any_input_order() {
        let slots = day(&[(10, 0), (9, 0), (9, 30)]);
        assert_eq!(covering_slots(warsaw(), &slots, at("2026-11-30T08:30:00Z"), minutes(60)), Ok(vec![2, 0]));
    }

    #[test]
    fn forty_five_minutes_over_thirty_minute_slots_do_not_fit() {
        let slots = day(&[(9, 0), (9, 30)]);
        assert!(matches!(
            covering_slots(warsaw(), &slots, at("2026-11-30T09:00:00+01:00"), minutes(45)),
            Err(ScheduleError::NotCovered { .. })
        ));
    }

    #[test]
    fn a_gap_or_a_missing_start_is_refused() {
        let slots = day(&[(9, 0), (10, 0)]);
        assert!(covering_slots(warsaw(), &slots, at("2026-11-30T09:00:00+01:00"), minutes(60)).is_err());
        let missing = DateTime::parse_from_rfc3339("2026-11-30T09:15:00+01:00").unwrap();
        assert_eq!(
            covering_slots(warsaw(), &slots, missing.to_utc(), minutes(30)),
            Err(ScheduleError::NoSlotAt(missing))
        );
    }

    #[test]
    fn a_service_past_midnight_is_refused_but_one_ending_at_midnight_fits() {
        let slots = day(&[(23, 0), (23, 30)]);
        assert_eq!(
            covering_slots(warsaw(), &slots, at("2026-11-30T23:30:00+01:00"), minutes(60)),
            Err(ScheduleError::CrossesMidnight)
        );
        assert_eq!(covering_slots(warsaw(), &slots, at("2026-11-30T23:00:00+01:00"), minutes(60)), Ok(vec![0, 1]));
    }

    #[test]
    fn spring_gap_slots_have_no_instants_and_are_never_covered() {
        // Warsaw, 2027-03-28: 02:00 CET jumps to 03:00 CEST.
        let on = date(2027, 3, 28);
        let slots = slots_on(on, &[(1, 0), (1, 30), (2, 0), (2, 30), (3, 0)]);
        assert_eq!(slot_span(warsaw(), on, t(1, 30), t(2, 0)), Err(ScheduleError::NonexistentLocalTime(t(2, 0))));
        assert!(slot_span(warsaw(), on, t(2, 30), t(3, 0)).is_err());
        // 60 minutes from 01:30+01:00 end at 03:30+02:00; the wall-clock
        // chain 01:30, 02:00 must not be taken for them.
        assert!(covering_slots(warsaw(), &slots, at("2027-03-28T01:30:00+01:00"), minutes(60)).is_err());
        assert!(covering_slots(warsaw(), &slots, at("2027-03-28T01:00:00+01:00"), minutes(60)).is_err());
        // 03:00+02:00 is the slot after the gap, and only that one.
        assert_eq!(covering_slots(warsaw(), &slots, at("2027-03-28T03:00:00+02:00"), minutes(30)), Ok(vec![4]));
    }

    #[test]
    fn spring_night_keeps_every_slot_that_starts_and_lasts_its_real_length() {
        // Warsaw, 2027-03-28: 02:00 CET jumps to 03:00 CEST. Four real half
        // hours between 01:00 and 04:00 local: 01:00, 01:30, 03:00, 03:30;
        // the 01:30 one ends at 03:00 on the wall clock.
        let on = date(2027, 3, 28);
        let (kept, skipped) = fit_new_slots(warsaw(), on, slot_grid(t(1, 0), t(4, 0), 30), 30);
        assert_eq!(kept, [(t(1, 0), t(1, 30)), (t(1, 30), t(3, 0)), (t(3, 0), t(3, 30)), (t(3, 30), t(4, 0))]);
        assert_eq!(
            skipped,
            [
                ((t(2, 0), t(2, 30)), SkipReason::LocalTimeDoesNotExist),
                ((t(2, 30), t(3, 0)), SkipReason::LocalTimeDoesNotExist)
            ]
        );
        for &(start, end) in &kept {
            let (from, to) = slot_span(warsaw(), on, start, end).unwrap();
            assert_eq!(to - from, minutes(30), "{start}-{end} lasts 30 real minutes");
        }
        // The stretched slot is booked by its instants like any other, alone or with the next.
        let slots = slots_spanning(on, &kept);
        assert_eq!(covering_slots(warsaw(), &slots, at("2027-03-28T01:30:00+01:00"), minutes(30)), Ok(vec![1]));
        assert_eq!(covering_slots(warsaw(), &slots, at("2027-03-28T01:30:00+01:00"), minutes(60)), Ok(vec![1, 2]));
        // 45-minute slots: the one from 01:30 ends at 03:15 local, so the
        // grid's 03:00 would share its instants and is left out.
        let (kept, _) = fit_new_slots(warsaw(), on, slot_grid(t(0, 45), t(5, 0), 45), 45);
        assert_eq!(kept, [(t(0, 45), t(1, 30)), (t(1, 30), t(3, 15)), (t(3, 45), t(4, 30))]);
        // An hour-long slot over the gap, and one that would end exactly at midnight.
        assert_eq!(fit_new_slot(warsaw(), on, t(1, 0), 60), Ok(t(3, 0)));
        assert_eq!(fit_new_slot(warsaw(), date(2027, 3, 27), t(23, 0), 60), Ok(t(0, 0)));
    }

    #[test]
    fn autumn_overlap_takes_the_earlier_instant_and_matches_by_instant() {
        // Warsaw, 2027-10-31: 03:00 CEST falls back to 02:00 CET.
        let on = date(2027, 10, 31);
        let slots = slots_on(on, &[(1, 30), (2, 0), (3, 0)]);
        let (from, to) = slot_span(warsaw(), on, t(2, 0), t(2, 30)).unwrap();
        assert_eq!(
            (from.to_rfc3339().as_str(), to.to_rfc3339().as_str()),
            ("2027-10-31T02:00:00+02:00", "2027-10-31T02:30:00+02:00")
        );
        // The first 02:00 is that slot; the second (+01:00) is an hour later and has none.
        assert_eq!(covering_slots(warsaw(), &slots, at("2027-10-31T02:00:00+02:00"), minutes(30)), Ok(vec![1]));
        assert!(matches!(
            covering_slots(warsaw(), &slots, at("2027-10-31T02:00:00+01:00"), minutes(30)),
            Err(ScheduleError::NoSlotAt(_))
        ));
        assert_eq!(covering_slots(warsaw(), &slots, at("2027-10-31T01:30:00+02:00"), minutes(60)), Ok(vec![0, 1]));
        // 02:30 (+02:00) to 03:00 (+01:00) is 90 real minutes: not created,
        // and a legacy slot like it never covers 30 minutes.
        assert_eq!(fit_new_slot(warsaw(), on, t(2, 30), 30), Err(SkipReason::ClockChangeAltersLength));
        let (kept, skipped) = fit_new_slots(warsaw(), on, slot_grid(t(1, 0), t(4, 0), 30), 30);
        let starts: Vec<NaiveTime> = kept.iter().map(|&(start, _)| start).collect();
        assert_eq!(starts, [t(1, 0), t(1, 30), t(2, 0), t(3, 0), t(3, 30)], "the repeated hour's second pass has none");
        assert_eq!(skipped, [((t(2, 30), t(3, 0)), SkipReason::ClockChangeAltersLength)]);
        let legacy = slots_on(on, &[(2, 30)]);
        assert!(covering_slots(warsaw(), &legacy, at("2027-10-31T02:30:00+02:00"), minutes(30)).is_err());
    }

    #[test]
    fn a_hold_covers_exactly_only_the_span_its_slots_make() {
        let on = date(2026, 11, 30);
        let held = slots_on(on, &[(10, 0), (10, 30)]);
        let ten = at("2026-11-30T10:00:00+01:00");
        assert!(covers_exactly(warsaw(), &held, ten, minutes(60)));
        assert!(!covers_exactly(warsaw(), &held, ten, minutes(30)), "shorter: a slot would be booked for nothing");
        assert!(!covers_exactly(warsaw(), &held, ten, minutes(90)), "longer: the last half hour is not held");
        assert!(!covers_exactly(warsaw(), &held, at("2026-11-30T10:30:00+01:00"), minutes(30)));
        assert!(!covers_exactly(warsaw(), &[], ten, minutes(30)), "no slots cover nothing");
    }

    #[test]
    fn local_overlap_treats_a_midnight_end_as_the_end_of_the_day() {
        assert!(overlaps_locally((t(23, 30), t(0, 0)), (t(23, 45), t(0, 0))));
        assert!(!overlaps_locally((t(23, 0), t(23, 30)), (t(23, 30), t(0, 0))));
        assert!(overlaps_locally((t(9, 0), t(10, 0)), (t(9, 30), t(10, 30))));
    }

    #[test]
    fn grid_fills_opening_hours() {
        let grid = slot_grid(t(9, 0), t(10, 45), 30);
        assert_eq!(grid, vec![(t(9, 0), t(9, 30)), (t(9, 30), t(10, 0)), (t(10, 0), t(10, 30))]);
        let whole_day = slot_grid(t(0, 0), t(0, 0), 5);
        assert_eq!(whole_day.len(), 288);
        assert_eq!(whole_day.last(), Some(&(t(23, 55), t(0, 0))));
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
