//! Search by time: which free slots of a provider make room for a service
//! inside a customer's window ("a haircut tomorrow between 17:00 and 20:00").
//! Plain Rust: no I/O, no clock (the caller says what `now` is).
//!
//! A provider's free slots are kept as instants (seconds since the epoch),
//! sorted by start. A time fits when back-to-back free slots from its start
//! cover the service's length (the last may end after the service, as a
//! booking takes them, see `covering_slots`), the whole appointment lies
//! inside the window, and it starts after `now`.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::TimeOfDay;

/// One available slot, as the search keeps it: 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeSlot {
    /// Start and end, seconds since the Unix epoch.
    pub start: i64,
    pub end: i64,
    pub id: Uuid,
}

/// Where a slot belongs in a list sorted by (start, id).
fn position(free: &[FreeSlot], start: i64, id: Uuid) -> Result<usize, usize> {
    free.binary_search_by(|slot| (slot.start, slot.id).cmp(&(start, id)))
}

/// Add or move `slot` (by id) in `free`, kept sorted. Returns false when it
/// was already there as it is.
pub fn set_free(free: &mut Vec<FreeSlot>, slot: FreeSlot) -> bool {
    if let Some(at) = free.iter().position(|s| s.id == slot.id) {
        if free[at] == slot {
            return false;
        }
        free.remove(at);
    }
    let at = position(free, slot.start, slot.id).unwrap_or_else(|at| at);
    free.insert(at, slot);
    true
}

/// Take the slot `id` (whose start was `start`, when known) out of `free`.
/// Returns whether it was there.
pub fn set_not_free(free: &mut Vec<FreeSlot>, id: Uuid, start: Option<i64>) -> bool {
    let at = match start.map(|start| position(free, start, id)) {
        Some(Ok(at)) => Some(at),
        // Not where its start says (it moved, or no start was given): look it up.
        _ => free.iter().position(|s| s.id == id),
    };
    at.map(|at| free.remove(at)).is_some()
}

/// The instants `[start, end)` a local date's times of day cover in `tz`:
/// from the first instant whose local time is at or after `span.start` to
/// the first at or after `span.end` (`24:00` is the next midnight). A bound
/// in a daylight-saving gap moves to the end of the gap; an ambiguous one
/// takes its earlier instant for the start and its later one for the end.
pub fn day_window(tz: Tz, date: NaiveDate, span: TimeOfDay) -> Option<(i64, i64)> {
    let start = local_bound(tz, date, span.start, false)?;
    let end = local_bound(tz, date, span.end, true)?;
    (start < end).then_some((start, end))
}

fn local_bound(tz: Tz, date: NaiveDate, minutes: u32, latest: bool) -> Option<i64> {
    let (date, minutes) = if minutes >= 24 * 60 { (date.succ_opt()?, 0) } else { (date, minutes) };
    let midnight = date.and_time(NaiveTime::MIN);
    // Gaps last at most a few hours: step past one a minute at a time.
    for late in 0..=240 {
        let local = midnight + TimeDelta::minutes(i64::from(minutes + late));
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return Some(t.timestamp()),
            LocalResult::Ambiguous(early, late) => return Some(if latest { late } else { early }.timestamp()),
            LocalResult::None => continue,
        }
    }
    None
}

/// The first `limit` starts (with the service's end) in `free` where a
/// service of `duration` seconds fits inside `[window.0, window.1)` after
/// `now`, soonest first.
pub fn fitting_times(free: &[FreeSlot], window: (i64, i64), duration: i64, now: i64, limit: usize) -> Vec<(i64, i64)> {
    let (window_start, window_end) = window;
    let first = free.partition_point(|slot| slot.start < window_start.max(now.saturating_add(1)));
    let mut times = Vec::new();
    for (i, slot) in free.iter().enumerate().skip(first) {
        if times.len() >= limit {
            break;
        }
        let end = slot.start.saturating_add(duration);
        if end > window_end {
            // Later starts end later still.
            break;
        }
        if covered_until(free, i, end) >= end {
            times.push((slot.start, end));
        }
    }
    times
}

/// How far back-to-back free slots from `free[i]` reach, stopping once past `needed`.
fn covered_until(free: &[FreeSlot], i: usize, needed: i64) -> i64 {
    let mut reach = free[i].end;
    let mut next = i + 1;
    while reach < needed {
        // The slot starting where the cover ends, if any (overlapping slots
        // of a booking system that publishes them are skipped over).
        let Some(offset) = free[next..].iter().take_while(|s| s.start <= reach).position(|s| s.start == reach) else {
            break;
        };
        next += offset;
        reach = free[next].end;
        next += 1;
    }
    reach
}

/// A date and instant as RFC 3339 with the provider's offset, as the
/// availability document writes them.
pub fn rfc3339_in(tz: Tz, seconds: i64) -> Option<String> {
    let instant = DateTime::<Utc>::from_timestamp(seconds, 0)?;
    Some(instant.with_timezone(&tz).fixed_offset().to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WARSAW: Tz = chrono_tz::Europe::Warsaw;

    fn at(date: (i32, u32, u32), hour: u32, minute: u32) -> i64 {
        WARSAW.with_ymd_and_hms(date.0, date.1, date.2, hour, minute, 0).earliest().unwrap().timestamp()
    }

    /// Half-hour slots on 2030-03-04 in Warsaw starting at each `HH:MM`.
    fn slots(starts: &[&str]) -> Vec<FreeSlot> {
        let mut free = Vec::new();
        for (n, start) in starts.iter().enumerate() {
            let (h, m) = start.split_once(':').unwrap();
            let start = at((2030, 3, 4), h.parse().unwrap(), m.parse().unwrap());
            set_free(&mut free, FreeSlot { start, end: start + 1800, id: Uuid::from_u128(n as u128 + 1) });
        }
        free
    }

    fn span(start: u32, end: u32) -> TimeOfDay {
        TimeOfDay { start: start * 60, end: end * 60 }
    }

    fn local(times: &[(i64, i64)]) -> Vec<String> {
        times.iter().map(|(start, _)| rfc3339_in(WARSAW, *start).unwrap()[11..16].to_owned()).collect()
    }

    #[test]
    fn a_time_fits_when_free_slots_back_to_back_cover_the_service_inside_the_window() {
        let date = NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
        let free = slots(&["09:00", "09:30", "10:30", "11:30", "12:00", "12:30", "17:30"]);
        let day = day_window(WARSAW, date, span(0, 24)).unwrap();
        assert_eq!(
            local(&fitting_times(&free, day, 1800, 0, 10)),
            ["09:00", "09:30", "10:30", "11:30", "12:00", "12:30", "17:30"]
        );
        assert_eq!(
            local(&fitting_times(&free, day, 3600, 0, 10)),
            ["09:00", "11:30", "12:00"],
            "an hour needs two in a row"
        );
        assert_eq!(local(&fitting_times(&free, day, 5400, 0, 10)), ["11:30"]);
        let morning = day_window(WARSAW, date, span(9, 12)).unwrap();
        assert_eq!(local(&fitting_times(&free, morning, 1800, 0, 10)), ["09:00", "09:30", "10:30", "11:30"]);
        assert_eq!(local(&fitting_times(&free, morning, 3600, 0, 10)), ["09:00"], "11:30 for an hour ends after noon");
        assert_eq!(local(&fitting_times(&free, day, 1800, 0, 2)), ["09:00", "09:30"], "at most the limit");
        let now = at((2030, 3, 4), 10, 30);
        assert_eq!(local(&fitting_times(&free, day, 1800, now, 2)), ["11:30", "12:00"], "only starts after now");
        let evening = day_window(WARSAW, date, span(18, 24)).unwrap();
        assert!(fitting_times(&free, evening, 1800, 0, 5).is_empty());
    }

    #[test]
    fn slots_come_and_go_by_id_and_stay_sorted() {
        let mut free = slots(&["10:00", "09:00"]);
        assert_eq!(free.iter().map(|s| s.id.as_u128()).collect::<Vec<_>>(), [2, 1]);
        let moved = FreeSlot { start: at((2030, 3, 4), 8, 0), end: at((2030, 3, 4), 8, 30), id: Uuid::from_u128(1) };
        assert!(set_free(&mut free, moved));
        assert!(!set_free(&mut free, moved), "already there as it is");
        assert_eq!(free.iter().map(|s| s.id.as_u128()).collect::<Vec<_>>(), [1, 2]);
        assert!(set_not_free(&mut free, Uuid::from_u128(2), None));
        assert!(!set_not_free(&mut free, Uuid::from_u128(2), Some(at((2030, 3, 4), 9, 0))));
        assert!(set_not_free(&mut free, Uuid::from_u128(1), Some(0)), "found by id when its start is stale");
        assert!(free.is_empty());
    }

    #[test]
    fn windows_follow_the_zone_across_daylight_saving() {
        // 2030-03-31: Warsaw springs forward from 02:00 to 03:00.
        let spring = NaiveDate::from_ymd_opt(2030, 3, 31).unwrap();
        let (start, end) = day_window(WARSAW, spring, TimeOfDay { start: 150, end: 24 * 60 }).unwrap();
        assert_eq!(start, at((2030, 3, 31), 3, 0), "02:30 does not exist: the window opens at 03:00");
        assert_eq!(end - start, 21 * 3600);
        let (start, end) = day_window(WARSAW, spring, span(0, 24)).unwrap();
        assert_eq!(end - start, 23 * 3600, "a 23-hour day");
        // 2030-10-27: 02:00-03:00 happens twice.
        let autumn = NaiveDate::from_ymd_opt(2030, 10, 27).unwrap();
        let (start, end) = day_window(WARSAW, autumn, TimeOfDay { start: 120, end: 180 }).unwrap();
        assert_eq!(end - start, 2 * 3600, "from the first 02:00 to the second 03:00");
        assert!(day_window(WARSAW, NaiveDate::MAX, span(0, 24)).is_none(), "no next day: no window, no panic");
    }

    #[test]
    fn extreme_instants_neither_panic_nor_fit() {
        let free = slots(&["09:00"]);
        assert!(fitting_times(&free, (i64::MIN, i64::MAX), i64::MAX, i64::MAX, 5).is_empty());
        assert_eq!(fitting_times(&free, (i64::MIN, i64::MAX), 60, i64::MIN, 5).len(), 1);
        assert!(rfc3339_in(WARSAW, i64::MAX).is_none());
    }
}
