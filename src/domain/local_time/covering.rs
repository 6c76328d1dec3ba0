//! Which stored slots cover a booking: the slots of one local date that
//! together cover the booking's instants, back to back from its start,
//! compared as instants in the provider's zone (never as wall-clock times).
//! A service that ends inside a slot takes that slot whole (a 45-minute
//! haircut at 10:00 on a 30-minute grid takes 10:00 and 10:30: nobody else
//! can be served from 10:30 to 10:45).
//!
//! Invariants: a slot without instants (a legacy row in a DST gap) is never
//! used; a booking never crosses midnight (one ending at midnight fits);
//! statuses are not checked here, that is the aggregate's job
//! (`ProviderAvailability`). A booking through a hold takes exactly the held
//! slots ([`covers_exactly`]).

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::{ScheduleError, slot_span, to_local};
use crate::domain::ProviderAvailability;

/// The slots (indexes into `day`, which holds one local date's slots in any
/// order) that together cover the instants `[start, start + duration)`,
/// back to back from `start` (the last one may end after the service),
/// compared as instants in `tz` (see [`slot_span`]).
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
    if cursor >= end {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SlotStatus;
    use crate::domain::local_time::{SkipReason, fit_new_slot, fit_new_slots, slot_grid};
    use chrono::NaiveDate;
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
    fn forty_five_minutes_take_two_thirty_minute_slots_whole() {
        let slots = day(&[(9, 0), (9, 30)]);
        assert_eq!(covering_slots(warsaw(), &slots, at("2026-11-30T09:00:00+01:00"), minutes(45)), Ok(vec![0, 1]));
        // The second slot is missing: not covered.
        assert!(matches!(
            covering_slots(warsaw(), &day(&[(9, 0)]), at("2026-11-30T09:00:00+01:00"), minutes(45)),
            Err(ScheduleError::NotCovered { .. })
        ));
        // A hold of both slots is exactly what a 45-minute booking takes; one slot is not.
        assert!(covers_exactly(warsaw(), &slots, at("2026-11-30T09:00:00+01:00"), minutes(45)));
        assert!(!covers_exactly(warsaw(), &slots[..1], at("2026-11-30T09:00:00+01:00"), minutes(45)));
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
        // 02:30 (+02:00) to 03:00 (+01:00) is 90 real minutes: not created;
        // a legacy slot like it is taken whole, as any slot a service ends in.
        assert_eq!(fit_new_slot(warsaw(), on, t(2, 30), 30), Err(SkipReason::ClockChangeAltersLength));
        let (kept, skipped) = fit_new_slots(warsaw(), on, slot_grid(t(1, 0), t(4, 0), 30), 30);
        let starts: Vec<NaiveTime> = kept.iter().map(|&(start, _)| start).collect();
        assert_eq!(starts, [t(1, 0), t(1, 30), t(2, 0), t(3, 0), t(3, 30)], "the repeated hour's second pass has none");
        assert_eq!(skipped, [((t(2, 30), t(3, 0)), SkipReason::ClockChangeAltersLength)]);
        let legacy = slots_on(on, &[(2, 30)]);
        assert_eq!(covering_slots(warsaw(), &legacy, at("2027-10-31T02:30:00+02:00"), minutes(30)), Ok(vec![0]));
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
}
