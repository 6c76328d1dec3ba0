//! Fitting bookings onto a provider's slots, and the local-time arithmetic
//! that goes with it (slots are stored in the provider's local time; clients
//! speak RFC 3339 instants).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::ProviderAvailability;

/// Status of a booking; serialised lower-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Confirmed,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<BookingStatus> {
        match s {
            "confirmed" => Some(BookingStatus::Confirmed),
            "cancelled" => Some(BookingStatus::Cancelled),
            _ => None,
        }
    }
}

/// Why a booking does not fit the provider's schedule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("no slot starts at {0} on that day")]
    NoSlotAt(NaiveTime),
    #[error("the slots from {start} do not cover the service up to {end}")]
    NotCovered { start: NaiveTime, end: NaiveTime },
    #[error("the service would run past midnight")]
    CrossesMidnight,
    #[error("{0} does not exist in the provider's timezone")]
    NonexistentLocalTime(NaiveTime),
}

/// The slots (indexes into `day`, which holds one date's slots in any order)
/// that together cover `[start, start + duration)` exactly, back to back.
/// Their statuses are not checked here: that is the aggregate's job.
pub fn covering_slots(
    day: &[ProviderAvailability],
    start: NaiveTime,
    duration: TimeDelta,
) -> Result<Vec<usize>, ScheduleError> {
    let (end, wrapped) = start.overflowing_add_signed(duration);
    if wrapped != 0 && end != NaiveTime::MIN {
        return Err(ScheduleError::CrossesMidnight);
    }
    let mut order: Vec<usize> = (0..day.len()).collect();
    order.sort_by_key(|&i| day[i].start_time);

    let first = order
        .iter()
        .position(|&i| day[i].start_time == start)
        .ok_or(ScheduleError::NoSlotAt(start))?;
    let mut covered = Vec::new();
    let mut cursor = start;
    for &i in &order[first..] {
        if day[i].start_time != cursor {
            break;
        }
        covered.push(i);
        cursor = day[i].end_time;
        // A slot ending at midnight stores 00:00 as its end.
        let reached_end = cursor == end || (end == NaiveTime::MIN && cursor == NaiveTime::MIN);
        if reached_end {
            return Ok(covered);
        }
        if cursor > end && end != NaiveTime::MIN {
            break;
        }
    }
    Err(ScheduleError::NotCovered { start, end })
}

/// The instant a provider-local date and time denote. In a DST gap there is
/// no such instant; in a DST overlap the earlier one is taken.
pub fn local_instant(
    tz: Tz,
    date: NaiveDate,
    time: NaiveTime,
) -> Result<DateTime<FixedOffset>, ScheduleError> {
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

/// Back-to-back slots of `minutes` from `open` up to `close` (a last slot that
/// would end after `close` is left out).
pub fn slot_grid(open: NaiveTime, close: NaiveTime, minutes: u32) -> Vec<(NaiveTime, NaiveTime)> {
    let step = TimeDelta::minutes(i64::from(minutes.max(1)));
    let mut grid = Vec::new();
    let mut start = open;
    while start < close {
        let (end, wrapped) = start.overflowing_add_signed(step);
        if wrapped != 0 || end > close {
            break;
        }
        grid.push((start, end));
        start = end;
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

    fn day(starts: &[(u32, u32)]) -> Vec<ProviderAvailability> {
        starts
            .iter()
            .enumerate()
            .map(|(n, &(h, m))| ProviderAvailability {
                id: Uuid::from_u128(n as u128),
                provider_id: Uuid::nil(),
                date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
                start_time: t(h, m),
                end_time: t(h, m) + TimeDelta::minutes(30),
                status: SlotStatus::Available,
                booking_id: None,
                last_modified_at: Utc::now(),
                last_modified_by: None,
            })
            .collect()
    }

    #[test]
    fn one_slot_covers_a_thirty_minute_service() {
        let slots = day(&[(9, 0), (9, 30), (10, 0)]);
        assert_eq!(covering_slots(&slots, t(9, 30), TimeDelta::minutes(30)), Ok(vec![1]));
    }

    #[test]
    fn sixty_minutes_take_two_back_to_back_slots_in_any_input_order() {
        let slots = day(&[(10, 0), (9, 0), (9, 30)]);
        assert_eq!(covering_slots(&slots, t(9, 30), TimeDelta::minutes(60)), Ok(vec![2, 0]));
    }

    #[test]
    fn forty_five_minutes_over_thirty_minute_slots_do_not_fit() {
        let slots = day(&[(9, 0), (9, 30)]);
        assert!(matches!(
            covering_slots(&slots, t(9, 0), TimeDelta::minutes(45)),
            Err(ScheduleError::NotCovered { .. })
        ));
    }

    #[test]
    fn a_gap_or_a_missing_start_is_refused() {
        let slots = day(&[(9, 0), (10, 0)]);
        assert!(covering_slots(&slots, t(9, 0), TimeDelta::minutes(60)).is_err());
        assert_eq!(
            covering_slots(&slots, t(9, 15), TimeDelta::minutes(30)),
            Err(ScheduleError::NoSlotAt(t(9, 15)))
        );
    }

    #[test]
    fn a_service_past_midnight_is_refused() {
        let slots = day(&[(23, 30)]);
        assert_eq!(
            covering_slots(&slots, t(23, 30), TimeDelta::minutes(60)),
            Err(ScheduleError::CrossesMidnight)
        );
    }

    #[test]
    fn grid_fills_opening_hours() {
        let grid = slot_grid(t(9, 0), t(10, 45), 30);
        assert_eq!(grid, vec![(t(9, 0), t(9, 30)), (t(9, 30), t(10, 0)), (t(10, 0), t(10, 30))]);
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
