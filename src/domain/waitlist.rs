//! The waitlist's rules: the window a customer waits in (dates and times of
//! day) and which freed time fits a waiting entry. Plain Rust: no I/O, no clock.
//!
//! A time fits an entry's window when its local date is within the dates and
//! the whole appointment (start to the service's end) lies inside one of the
//! times of day (`14:00`–`18:00` takes 17:30 for 30 minutes, not for 45).
//! Whole days when no times are given.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::{ProviderAvailability, SlotStatus, covering_slots, slot_span, to_local};

/// The longest window, in days, first and last included.
pub const WINDOW_DAYS_MAX: i64 = 31;
/// The most times of day one entry may give.
pub const TIMES_MAX: usize = 8;

/// A span of the day in minutes from midnight, `start < end <= 1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    pub start: u32,
    pub end: u32,
}

/// Why a window was refused (the caller says which field).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaitWindowError {
    #[error("to must not be before from")]
    Inverted,
    #[error("a window may cover at most {WINDOW_DAYS_MAX} days")]
    TooLong,
    #[error("times may hold at most {TIMES_MAX} spans")]
    TooManyTimes,
    #[error("each of times is [\"HH:MM\", \"HH:MM\"] with the start before the end (\"24:00\" ends the day): {0}")]
    BadTime(String),
}

/// The dates and times of day one entry waits for, in its provider's zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Empty: the whole of each day.
    pub times: Vec<TimeOfDay>,
}

fn minutes(text: &str) -> Option<u32> {
    if text == "24:00" {
        return Some(24 * 60);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
    // Exactly "HH:MM": chrono also takes "9:05".
    (text.len() == 5).then_some(time.hour() * 60 + time.minute())
}

impl TimeOfDay {
    /// The whole day.
    pub const WHOLE_DAY: TimeOfDay = TimeOfDay { start: 0, end: 24 * 60 };

    /// `"HH:MM"` to `"HH:MM"` (`"24:00"` ends the day), the start before the end.
    pub fn parse(start: &str, end: &str) -> Option<TimeOfDay> {
        match (minutes(start), minutes(end)) {
            (Some(start), Some(end)) if start < end => Some(TimeOfDay { start, end }),
            _ => None,
        }
    }
}

fn hh_mm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl WaitWindow {
    /// A window from `from` to `to` (both included) within `times`.
    pub fn new(from: NaiveDate, to: NaiveDate, times: &[[String; 2]]) -> Result<WaitWindow, WaitWindowError> {
        if to < from {
            return Err(WaitWindowError::Inverted);
        }
        if (to - from).num_days() >= WINDOW_DAYS_MAX {
            return Err(WaitWindowError::TooLong);
        }
        if times.len() > TIMES_MAX {
            return Err(WaitWindowError::TooManyTimes);
        }
        let times = times
            .iter()
            .map(|[start, end]| {
                TimeOfDay::parse(start, end).ok_or_else(|| WaitWindowError::BadTime(format!("[{start:?}, {end:?}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WaitWindow { from, to, times })
    }

    /// The times of day as given (`[["14:00","18:00"]]`), `None` for whole days.
    pub fn times_text(&self) -> Option<Vec<[String; 2]>> {
        (!self.times.is_empty()).then(|| self.times.iter().map(|t| [hh_mm(t.start), hh_mm(t.end)]).collect())
    }

    /// Whether an appointment from `start` to `end` (instants) in `tz` lies
    /// inside the window: its date within the dates, and from start to end
    /// inside one of the times of day (an end at midnight is 24:00).
    pub fn admits(&self, tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let (date, start_time) = to_local(tz, start);
        let (end_date, end_time) = to_local(tz, end);
        if date < self.from || date > self.to {
            return false;
        }
        let from = start_time.hour() * 60 + start_time.minute();
        let to = match (end_date - date).num_days() {
            0 => end_time.hour() * 60 + end_time.minute(),
            1 if end_time == NaiveTime::MIN => 24 * 60,
            _ => return false,
        };
        self.times.is_empty() || self.times.iter().any(|t| t.start <= from && to <= t.end)
    }
}

/// The slots (indexes into `day`, one local date's slots) of the earliest
/// start after `now`, not in `declined`, at which a service of `duration`
/// fits `window`, every slot it needs is available, and at least one of them
/// is in `freed` (the time was freed just now: an entry is offered what
/// opened, not what stood free all along). `None` when nothing fits.
pub fn first_fitting(
    tz: Tz,
    day: &[ProviderAvailability],
    freed: &HashSet<Uuid>,
    duration: TimeDelta,
    window: &WaitWindow,
    declined: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Option<Vec<usize>> {
    let mut starts: Vec<DateTime<Utc>> = day
        .iter()
        .filter(|slot| slot.status == SlotStatus::Available)
        .filter_map(|slot| slot_span(tz, slot.date, slot.start_time, slot.end_time).ok())
        .map(|(start, _)| start.to_utc())
        .filter(|start| *start > now && !declined.contains(start))
        .collect();
    starts.sort();
    starts.into_iter().find_map(|start| {
        let end = start.checked_add_signed(duration)?;
        if !window.admits(tz, start, end) {
            return None;
        }
        let covering = covering_slots(tz, day, start, duration).ok()?;
        let free = covering.iter().all(|&i| day[i].status == SlotStatus::Available);
        let opened = covering.iter().any(|&i| freed.contains(&day[i].id));
        (free && opened).then_some(covering)
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::Actor;

    const WARSAW: Tz = chrono_tz::Europe::Warsaw;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2030, 3, d).unwrap()
    }

    fn times(spans: &[(&str, &str)]) -> Vec<[String; 2]> {
        spans.iter().map(|(a, b)| [(*a).to_owned(), (*b).to_owned()]).collect()
    }

    /// Half-hour slots from 09:00 to 12:00 on 2030-03-04, all available.
    fn morning() -> Vec<ProviderAvailability> {
        (0..6)
            .map(|i| {
                let start = NaiveTime::from_hms_opt(9, 0, 0).unwrap() + TimeDelta::minutes(30 * i);
                let id = Uuid::from_u128(i as u128 + 1);
                let end = start + TimeDelta::minutes(30);
                ProviderAvailability::open(id, Uuid::nil(), date(4), start, end, Actor::System, at(0, 0)).0
            })
            .collect()
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        WARSAW.with_ymd_and_hms(2030, 3, 4, hour, minute, 0).unwrap().to_utc()
    }

    #[test]
    fn a_window_is_checked_for_order_length_and_times() {
        assert_eq!(WaitWindow::new(date(5), date(4), &[]), Err(WaitWindowError::Inverted));
        assert!(WaitWindow::new(date(1), date(31), &[]).is_ok(), "31 days, both ends included");
        let april = NaiveDate::from_ymd_opt(2030, 4, 1).unwrap();
        assert_eq!(WaitWindow::new(date(1), april, &[]), Err(WaitWindowError::TooLong));
        for bad in [("18:00", "14:00"), ("14:00", "14:00"), ("9:00", "10:00"), ("25:00", "26:00"), ("", "x")] {
            assert!(matches!(WaitWindow::new(date(1), date(2), &times(&[bad])), Err(WaitWindowError::BadTime(_))));
        }
        let window = WaitWindow::new(date(1), date(2), &times(&[("14:00", "24:00")])).unwrap();
        assert_eq!(window.times_text(), Some(times(&[("14:00", "24:00")])));
        assert_eq!(
            WaitWindow::new(date(1), date(2), &vec![times(&[("01:00", "02:00")])[0].clone(); 9]),
            Err(WaitWindowError::TooManyTimes)
        );
    }

    #[test]
    fn an_appointment_fits_when_it_lies_wholly_inside_one_time_of_day() {
        let window = WaitWindow::new(date(4), date(4), &times(&[("09:30", "10:30")])).unwrap();
        assert!(window.admits(WARSAW, at(9, 30), at(10, 30)));
        assert!(!window.admits(WARSAW, at(10, 0), at(10, 45)), "ends after the span");
        assert!(!window.admits(WARSAW, at(9, 0), at(9, 30)), "starts before it");
        let whole = WaitWindow::new(date(4), date(4), &[]).unwrap();
        assert!(whole.admits(WARSAW, at(23, 30), at(23, 30) + TimeDelta::minutes(30)), "ends at midnight");
        assert!(!whole.admits(WARSAW, at(9, 0) + TimeDelta::days(1), at(9, 30) + TimeDelta::days(1)), "the next day");
    }

    #[test]
    fn the_earliest_fitting_start_that_uses_a_freed_slot_is_chosen() {
        let mut day = morning();
        let whole = WaitWindow::new(date(4), date(4), &[]).unwrap();
        let before = at(8, 0);
        // 10:00 was freed; everything else stood free: 09:30 (for an hour) is the earliest that takes it.
        let freed = HashSet::from([day[2].id]);
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(60), &whole, &[], before), Some(vec![1, 2]));
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(30), &whole, &[], before), Some(vec![2]));
        // A 45-minute service at 09:30 takes 09:30 and 10:00 whole.
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(45), &whole, &[], before), Some(vec![1, 2]));
        // 09:30 booked: the hour must start at 10:00.
        day[1].status = SlotStatus::Booked;
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(60), &whole, &[], before), Some(vec![2, 3]));
        // Nothing freed: nothing offered, though times stand free.
        assert_eq!(first_fitting(WARSAW, &day, &HashSet::new(), TimeDelta::minutes(30), &whole, &[], before), None);
        // Times of day that exclude it, and a start already past.
        let late = WaitWindow::new(date(4), date(4), &times(&[("11:00", "12:00")])).unwrap();
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(30), &late, &[], before), None);
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(30), &whole, &[], at(10, 0)), None);
        // A start the entry declined is not offered to it again.
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(30), &whole, &[at(10, 0)], before), None);
        // A service longer than what is free around the freed slot.
        day[3].status = SlotStatus::Held;
        assert_eq!(first_fitting(WARSAW, &day, &freed, TimeDelta::minutes(60), &whole, &[], before), None);
    }
}
