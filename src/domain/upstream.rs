//! Slots published by the marketplace's own booking system (an `external`
//! provider's "upstream"): what it may say about a slot, how its instants
//! become a slot's local date and times, and what one published state
//! means for the slot slotstream keeps (a new slot, a status change, a move,
//! nothing). Plain Rust, no I/O.
//!
//! Invariants:
//! - the upstream is the truth: any stored status may become any other,
//!   unlike the customer-facing transitions of the aggregate, but a slot
//!   already in the published state raises nothing, so a repeated batch is
//!   silent;
//! - `taken` is stored and shown as `booked` (with no booking here, so no
//!   customer data exists to leak);
//! - a published slot must be one stored slot exactly: it starts and ends
//!   on one local date (or at the midnight ending it) and its local times
//!   denote its instants again, which a slot in the second pass of an
//!   autumn hour could not; such a slot is refused, never shifted by an hour.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::local_time::{slot_span, to_local};
use super::provider_availability::{ProviderAvailability, SlotStatus};

/// A slot's status as the upstream publishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamStatus {
    Available,
    /// Booked in the upstream: `booked` to the public, with no customer data.
    Taken,
    Blocked,
    /// Taken off the calendar (the row is deleted; a `removed` event says so).
    Removed,
}

impl UpstreamStatus {
    /// The status slotstream stores and shows for it.
    pub fn slot_status(self) -> SlotStatus {
        match self {
            UpstreamStatus::Available => SlotStatus::Available,
            UpstreamStatus::Taken => SlotStatus::Booked,
            UpstreamStatus::Blocked => SlotStatus::Blocked,
            UpstreamStatus::Removed => SlotStatus::Removed,
        }
    }
}

/// A published slot's place on the provider's local calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalSlot {
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    /// 00:00 for a slot ending at the midnight ending its date.
    pub end_time: NaiveTime,
}

/// Why a published slot cannot be kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamSlotError {
    #[error("endsAt must be after startsAt")]
    EndNotAfterStart,
    #[error("a slot must start and end on one local date in the provider's timezone (or end at its midnight)")]
    SpansDates,
    #[error(
        "the slot's local times do not denote its instants in the provider's timezone (it starts or ends in the repeated hour of a clock change)"
    )]
    NotRepresentable,
}

/// Where `[starts_at, ends_at)` lies on `tz`'s local calendar, if it is one
/// stored slot exactly (module header).
pub fn place(tz: Tz, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<LocalSlot, UpstreamSlotError> {
    if ends_at <= starts_at {
        return Err(UpstreamSlotError::EndNotAfterStart);
    }
    let (date, start_time) = to_local(tz, starts_at);
    let (end_date, end_time) = to_local(tz, ends_at);
    let same_date = end_date == date && end_time > start_time;
    let at_midnight = end_time == NaiveTime::MIN && date.succ_opt() == Some(end_date);
    if !same_date && !at_midnight {
        return Err(UpstreamSlotError::SpansDates);
    }
    let denoted = slot_span(tz, date, start_time, end_time).map_err(|_| UpstreamSlotError::NotRepresentable)?;
    if (denoted.0.to_utc(), denoted.1.to_utc()) != (starts_at, ends_at) {
        return Err(UpstreamSlotError::NotRepresentable);
    }
    Ok(LocalSlot { date, start_time, end_time })
}

/// What one published state means for the slot slotstream keeps under the
/// same upstream id (`None`: it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mirroring {
    /// Already so (or removed and never kept): nothing to write, no event.
    Unchanged,
    /// A new slot, opened in the published status (an event each).
    Open,
    /// The same times, another status: one transition.
    Change,
    /// Other times: the kept slot is removed and a new one opened at the
    /// new times, so every viewer's copy moves (two events).
    Move,
    /// Removed upstream: the kept slot is removed.
    Remove,
}

/// The one decision on a published slot (module header).
pub fn mirroring(kept: Option<&ProviderAvailability>, published: &LocalSlot, status: UpstreamStatus) -> Mirroring {
    let Some(kept) = kept else {
        return if status == UpstreamStatus::Removed { Mirroring::Unchanged } else { Mirroring::Open };
    };
    if status == UpstreamStatus::Removed {
        return Mirroring::Remove;
    }
    let same_times =
        (kept.date, kept.start_time, kept.end_time) == (published.date, published.start_time, published.end_time);
    match (same_times, kept.status == status.slot_status()) {
        (false, _) => Mirroring::Move,
        (true, true) => Mirroring::Unchanged,
        (true, false) => Mirroring::Change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Actor;
    use uuid::Uuid;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    const WARSAW: Tz = chrono_tz::Europe::Warsaw;

    #[test]
    fn instants_become_the_local_date_and_times() {
        let placed = place(WARSAW, utc("2026-12-03T13:30:00Z"), utc("2026-12-03T14:00:00Z")).unwrap();
        assert_eq!(
            placed,
            LocalSlot {
                date: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
                start_time: hm(14, 30),
                end_time: hm(15, 0)
            }
        );
        let to_midnight = place(WARSAW, utc("2026-12-03T22:30:00Z"), utc("2026-12-03T23:00:00Z")).unwrap();
        assert_eq!((to_midnight.start_time, to_midnight.end_time), (hm(23, 30), NaiveTime::MIN));
    }

    #[test]
    fn inverted_overnight_and_repeated_hour_slots_are_refused() {
        assert_eq!(
            place(WARSAW, utc("2026-12-03T14:00:00Z"), utc("2026-12-03T14:00:00Z")),
            Err(UpstreamSlotError::EndNotAfterStart)
        );
        assert_eq!(
            place(WARSAW, utc("2026-12-03T22:30:00Z"), utc("2026-12-03T23:30:00Z")),
            Err(UpstreamSlotError::SpansDates)
        );
        // 2026-10-25 in Warsaw: 02:00-03:00 is lived twice. The second pass
        // (01:00Z-02:00Z) reads as the first: refused, not moved an hour.
        assert_eq!(
            place(WARSAW, utc("2026-10-25T01:00:00Z"), utc("2026-10-25T01:30:00Z")),
            Err(UpstreamSlotError::NotRepresentable)
        );
        assert!(place(WARSAW, utc("2026-10-25T00:00:00Z"), utc("2026-10-25T00:30:00Z")).is_ok(), "the first pass");
    }

    #[test]
    fn a_published_state_is_one_decision_and_a_repeat_is_silent() {
        let placed = place(WARSAW, utc("2026-12-03T13:30:00Z"), utc("2026-12-03T14:00:00Z")).unwrap();
        let (kept, _) = ProviderAvailability::open(
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            placed.date,
            placed.start_time,
            placed.end_time,
            Actor::Upstream,
            utc("2026-12-01T00:00:00Z"),
        );
        assert_eq!(mirroring(None, &placed, UpstreamStatus::Taken), Mirroring::Open);
        assert_eq!(mirroring(None, &placed, UpstreamStatus::Removed), Mirroring::Unchanged);
        assert_eq!(mirroring(Some(&kept), &placed, UpstreamStatus::Available), Mirroring::Unchanged);
        assert_eq!(mirroring(Some(&kept), &placed, UpstreamStatus::Taken), Mirroring::Change);
        assert_eq!(mirroring(Some(&kept), &placed, UpstreamStatus::Removed), Mirroring::Remove);
        let later = LocalSlot { start_time: hm(15, 0), end_time: hm(15, 30), ..placed };
        assert_eq!(mirroring(Some(&kept), &later, UpstreamStatus::Available), Mirroring::Move);
        assert_eq!(UpstreamStatus::Taken.slot_status(), SlotStatus::Booked);
    }
}
