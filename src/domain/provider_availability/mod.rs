//! The `ProviderAvailability` aggregate (one availability slot) and the
//! `AvailabilitySlotChangedEvent` each of its transitions raises.
//!
//! Transitions, as in the seed design:
//! - `mark_as_booked`: available → booked
//! - `release`: booked → available
//! - `block`: available → blocked; `unblock`: blocked → available
//! - `hold`: available → held (a customer filling in the booking form);
//!   `release_hold`: held → available and `book_held`: held → booked, both
//!   only by the hold that holds the slot. A held slot is neither bookable
//!   nor blockable by anyone else.
//!
//! Anything else is a [`TransitionError`]: a booked slot cannot be booked again,
//! a free slot cannot be released. The caller supplies `now`, so the aggregate
//! stays pure and its events are reproducible in tests.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;

use super::actor::Actor;
use super::local_time::slot_span;

/// Status of a slot; serialised lower-case on the wire and in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlotStatus {
    Available,
    Booked,
    Blocked,
    /// Held for a customer who is filling in the booking form.
    Held,
    /// Only in events: the slot was taken off the calendar for good (a
    /// changed weekly schedule no longer has it); no stored slot has it.
    Removed,
}

impl SlotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Available => "available",
            SlotStatus::Booked => "booked",
            SlotStatus::Blocked => "blocked",
            SlotStatus::Held => "held",
            SlotStatus::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<SlotStatus> {
        match s {
            "available" => Some(SlotStatus::Available),
            "booked" => Some(SlotStatus::Booked),
            "blocked" => Some(SlotStatus::Blocked),
            "held" => Some(SlotStatus::Held),
            "removed" => Some(SlotStatus::Removed),
            _ => None,
        }
    }
}

/// Why a transition was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("slot {slot} at {date} {start} is {status}, not available")]
    NotAvailable { slot: Uuid, date: NaiveDate, start: NaiveTime, status: &'static str },
    #[error("slot {slot} is not booked by booking {booking}")]
    NotBookedBy { slot: Uuid, booking: Uuid },
    #[error("slot {slot} is not blocked")]
    NotBlocked { slot: Uuid },
    #[error("slot {slot} is not held by hold {hold}")]
    NotHeldBy { slot: Uuid, hold: Uuid },
}

/// Raised by every status change of a slot (and by opening a new slot, with no
/// previous status). Carries the booking id for the audit trail; the public
/// stream drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailabilitySlotChangedEvent {
    pub availability_id: Uuid,
    pub provider_id: Uuid,
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub previous_status: Option<SlotStatus>,
    pub new_status: SlotStatus,
    pub booking_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
    /// Who made the change; `None` only for events logged before actors were.
    pub changed_by: Option<Actor>,
    /// The real instants `[start, end)` the slot denotes in its provider's
    /// zone (see [`slot_span`]): set by [`located`](Self::located), where
    /// the zone is known; `None` for a slot without instants (a legacy row in
    /// a DST gap) and for events logged before instants were.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl AvailabilitySlotChangedEvent {
    /// The event with the instants its slot denotes in `tz`: the two 02:00s
    /// of an autumn night are told apart by them, not by the local times.
    pub fn located(self, tz: Tz) -> AvailabilitySlotChangedEvent {
        let span = slot_span(tz, self.date, self.start_time, self.end_time)
            .ok()
            .map(|(from, to)| (from.to_utc(), to.to_utc()));
        AvailabilitySlotChangedEvent { span, ..self }
    }
}

/// One availability slot of a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderAvailability {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub status: SlotStatus,
    pub booking_id: Option<Uuid>,
    /// The hold holding the slot while it is `held`; never shown publicly.
    pub hold_id: Option<Uuid>,
    pub last_modified_at: DateTime<Utc>,
    pub last_modified_by: Option<String>,
}

impl ProviderAvailability {
    /// A new, available slot, and the event announcing it.
    pub fn open(
        id: Uuid,
        provider_id: Uuid,
        date: NaiveDate,
        start_time: NaiveTime,
        end_time: NaiveTime,
        by: Actor,
        now: DateTime<Utc>,
    ) -> (ProviderAvailability, AvailabilitySlotChangedEvent) {
        let slot = ProviderAvailability {
            id,
            provider_id,
            date,
            start_time,
            end_time,
            status: SlotStatus::Available,
            booking_id: None,
            hold_id: None,
            last_modified_at: now,
            last_modified_by: Some(by.as_str().to_owned()),
        };
        let event = slot.event(None, None, by);
        (slot, event)
    }

    /// available → booked, for `booking_id`.
    pub fn mark_as_booked(
        &mut self,
        booking_id: Uuid,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        self.require(SlotStatus::Available)?;
        Ok(self.transition(SlotStatus::Booked, Some(booking_id), Some(booking_id), by, now))
    }

    /// booked → available. `booking_id` must be the booking holding the slot,
    /// so a stale cancel can never free a slot someone else has since booked.
    pub fn release(
        &mut self,
        booking_id: Uuid,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        if self.status != SlotStatus::Booked || self.booking_id != Some(booking_id) {
            return Err(TransitionError::NotBookedBy { slot: self.id, booking: booking_id });
        }
        Ok(self.transition(SlotStatus::Available, None, Some(booking_id), by, now))
    }

    /// available → blocked (the provider takes the slot off the calendar).
    pub fn block(&mut self, by: Actor, now: DateTime<Utc>) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        self.require(SlotStatus::Available)?;
        Ok(self.transition(SlotStatus::Blocked, None, None, by, now))
    }

    /// blocked → available.
    pub fn unblock(&mut self, by: Actor, now: DateTime<Utc>) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        if self.status != SlotStatus::Blocked {
            return Err(TransitionError::NotBlocked { slot: self.id });
        }
        Ok(self.transition(SlotStatus::Available, None, None, by, now))
    }

    /// available or blocked → removed: the slot leaves the calendar (its row
    /// is deleted by the caller). A booked or held slot never does.
    pub fn withdraw(&mut self, by: Actor, now: DateTime<Utc>) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        if self.status != SlotStatus::Blocked {
            self.require(SlotStatus::Available)?;
        }
        Ok(self.transition(SlotStatus::Removed, None, None, by, now))
    }

    /// available → held, for `hold_id`.
    pub fn hold(
        &mut self,
        hold_id: Uuid,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        self.require(SlotStatus::Available)?;
        let event = self.transition(SlotStatus::Held, None, None, by, now);
        self.hold_id = Some(hold_id);
        Ok(event)
    }

    /// held → available (released, or expired). Only `hold_id`'s own slots:
    /// a stale release can never free a slot another hold or a booking has since taken.
    pub fn release_hold(
        &mut self,
        hold_id: Uuid,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        self.require_held_by(hold_id)?;
        Ok(self.transition(SlotStatus::Available, None, None, by, now))
    }

    /// held → booked: the holder books the slot it holds, for `booking_id`.
    pub fn book_held(
        &mut self,
        hold_id: Uuid,
        booking_id: Uuid,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Result<AvailabilitySlotChangedEvent, TransitionError> {
        self.require_held_by(hold_id)?;
        Ok(self.transition(SlotStatus::Booked, Some(booking_id), Some(booking_id), by, now))
    }

    fn require_held_by(&self, hold_id: Uuid) -> Result<(), TransitionError> {
        if self.status == SlotStatus::Held && self.hold_id == Some(hold_id) {
            Ok(())
        } else {
            Err(TransitionError::NotHeldBy { slot: self.id, hold: hold_id })
        }
    }

    fn require(&self, status: SlotStatus) -> Result<(), TransitionError> {
        if self.status == status {
            Ok(())
        } else {
            Err(TransitionError::NotAvailable {
                slot: self.id,
                date: self.date,
                start: self.start_time,
                status: self.status.as_str(),
            })
        }
    }

    fn transition(
        &mut self,
        new_status: SlotStatus,
        new_booking: Option<Uuid>,
        event_booking: Option<Uuid>,
        by: Actor,
        now: DateTime<Utc>,
    ) -> AvailabilitySlotChangedEvent {
        let previous = self.status;
        self.status = new_status;
        self.booking_id = new_booking;
        // Every transition ends a hold; `hold` sets its own after this.
        self.hold_id = None;
        self.last_modified_at = now;
        self.last_modified_by = Some(by.as_str().to_owned());
        self.event(Some(previous), event_booking, by)
    }

    fn event(
        &self,
        previous_status: Option<SlotStatus>,
        booking_id: Option<Uuid>,
        by: Actor,
    ) -> AvailabilitySlotChangedEvent {
        AvailabilitySlotChangedEvent {
            availability_id: self.id,
            provider_id: self.provider_id,
            date: self.date,
            start_time: self.start_time,
            end_time: self.end_time,
            previous_status,
            new_status: self.status,
            booking_id,
            changed_at: self.last_modified_at,
            changed_by: Some(by),
            span: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
    }

    fn free_slot() -> ProviderAvailability {
        ProviderAvailability::open(
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            Actor::System,
            at(0),
        )
        .0
    }

    #[test]
    fn open_raises_event_without_previous_status() {
        let (slot, event) = ProviderAvailability::open(
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            Actor::Provider,
            at(0),
        );
        assert_eq!(slot.status, SlotStatus::Available);
        assert_eq!(event.previous_status, None);
        assert_eq!(event.new_status, SlotStatus::Available);
    }

    #[test]
    fn mark_as_booked_moves_available_to_booked_and_raises_event() {
        let mut slot = free_slot();
        let booking = Uuid::from_u128(9);
        let event = slot.mark_as_booked(booking, Actor::Customer, at(5)).unwrap();
        assert_eq!(slot.status, SlotStatus::Booked);
        assert_eq!(slot.booking_id, Some(booking));
        assert_eq!(slot.last_modified_at, at(5));
        assert_eq!(slot.last_modified_by.as_deref(), Some("customer"));
        assert_eq!(
            event,
            AvailabilitySlotChangedEvent {
                availability_id: slot.id,
                provider_id: slot.provider_id,
                date: slot.date,
                start_time: slot.start_time,
                end_time: slot.end_time,
                previous_status: Some(SlotStatus::Available),
                new_status: SlotStatus::Booked,
                booking_id: Some(booking),
                changed_at: at(5),
                changed_by: Some(Actor::Customer),
                span: None,
            }
        );
    }

    #[test]
    fn booking_a_booked_or_blocked_slot_is_refused_and_changes_nothing() {
        let mut booked = free_slot();
        booked.mark_as_booked(Uuid::from_u128(9), Actor::Customer, at(1)).unwrap();
        let before = booked.clone();
        assert!(matches!(
            booked.mark_as_booked(Uuid::from_u128(10), Actor::Customer, at(2)),
            Err(TransitionError::NotAvailable { status: "booked", .. })
        ));
        assert_eq!(booked, before);

        let mut blocked = free_slot();
        blocked.block(Actor::Customer, at(1)).unwrap();
        assert!(matches!(
            blocked.mark_as_booked(Uuid::from_u128(10), Actor::Customer, at(2)),
            Err(TransitionError::NotAvailable { status: "blocked", .. })
        ));
    }

    #[test]
    fn release_frees_the_slot_and_keeps_the_booking_in_the_event() {
        let mut slot = free_slot();
        let booking = Uuid::from_u128(9);
        slot.mark_as_booked(booking, Actor::Customer, at(1)).unwrap();
        let event = slot.release(booking, Actor::Customer, at(2)).unwrap();
        assert_eq!(slot.status, SlotStatus::Available);
        assert_eq!(slot.booking_id, None);
        assert_eq!(event.previous_status, Some(SlotStatus::Booked));
        assert_eq!(event.new_status, SlotStatus::Available);
        assert_eq!(event.booking_id, Some(booking));
        assert_eq!(event.changed_at, at(2));
    }

    #[test]
    fn releasing_a_free_slot_or_another_bookings_slot_is_refused() {
        let mut slot = free_slot();
        assert!(matches!(
            slot.release(Uuid::from_u128(9), Actor::Customer, at(1)),
            Err(TransitionError::NotBookedBy { .. })
        ));
        slot.mark_as_booked(Uuid::from_u128(9), Actor::Customer, at(1)).unwrap();
        assert!(slot.release(Uuid::from_u128(10), Actor::Customer, at(2)).is_err());
        assert_eq!(slot.status, SlotStatus::Booked);
    }

    #[test]
    fn block_and_unblock_round_trip() {
        let mut slot = free_slot();
        let blocked = slot.block(Actor::Provider, at(1)).unwrap();
        assert_eq!(blocked.previous_status, Some(SlotStatus::Available));
        assert_eq!(blocked.new_status, SlotStatus::Blocked);
        assert!(slot.block(Actor::Customer, at(2)).is_err(), "blocking twice is refused");
        let freed = slot.unblock(Actor::Provider, at(3)).unwrap();
        assert_eq!(freed.previous_status, Some(SlotStatus::Blocked));
        assert_eq!(freed.new_status, SlotStatus::Available);
        assert!(slot.unblock(Actor::Customer, at(4)).is_err(), "unblocking a free slot is refused");
    }

    #[test]
    fn hold_then_release_by_the_same_hold_round_trips_with_events() {
        let mut slot = free_slot();
        let hold = Uuid::from_u128(7);
        let held = slot.hold(hold, Actor::Customer, at(1)).unwrap();
        assert_eq!((slot.status, slot.hold_id, slot.booking_id), (SlotStatus::Held, Some(hold), None));
        assert_eq!((held.previous_status, held.new_status), (Some(SlotStatus::Available), SlotStatus::Held));
        assert_eq!(held.booking_id, None, "a hold event names no booking");
        let freed = slot.release_hold(hold, Actor::System, at(2)).unwrap();
        assert_eq!((slot.status, slot.hold_id), (SlotStatus::Available, None));
        assert_eq!((freed.previous_status, freed.new_status), (Some(SlotStatus::Held), SlotStatus::Available));
        assert!(slot.release_hold(hold, Actor::Customer, at(3)).is_err(), "releasing twice is refused");
    }

    #[test]
    fn a_held_slot_is_not_bookable_blockable_or_holdable_by_others() {
        let mut slot = free_slot();
        let hold = Uuid::from_u128(7);
        slot.hold(hold, Actor::Customer, at(1)).unwrap();
        let before = slot.clone();
        assert!(matches!(
            slot.mark_as_booked(Uuid::from_u128(9), Actor::Customer, at(2)),
            Err(TransitionError::NotAvailable { status: "held", .. })
        ));
        assert!(slot.block(Actor::Customer, at(2)).is_err());
        assert!(slot.hold(Uuid::from_u128(8), Actor::Customer, at(2)).is_err());
        assert!(matches!(
            slot.release_hold(Uuid::from_u128(8), Actor::Customer, at(2)),
            Err(TransitionError::NotHeldBy { .. })
        ));
        assert!(slot.book_held(Uuid::from_u128(8), Uuid::from_u128(9), Actor::Customer, at(2)).is_err());
        assert_eq!(slot, before, "refusals change nothing");
    }

    #[test]
    fn book_held_moves_held_to_booked_only_for_its_hold() {
        let mut slot = free_slot();
        let (hold, booking) = (Uuid::from_u128(7), Uuid::from_u128(9));
        assert!(
            slot.book_held(hold, booking, Actor::Customer, at(1)).is_err(),
            "an unheld slot is not booked through a hold"
        );
        slot.hold(hold, Actor::Customer, at(1)).unwrap();
        let event = slot.book_held(hold, booking, Actor::Customer, at(2)).unwrap();
        assert_eq!((slot.status, slot.booking_id, slot.hold_id), (SlotStatus::Booked, Some(booking), None));
        assert_eq!((event.previous_status, event.new_status), (Some(SlotStatus::Held), SlotStatus::Booked));
        assert_eq!(event.booking_id, Some(booking));
        assert!(slot.release_hold(hold, Actor::Customer, at(3)).is_err(), "a converted hold frees nothing");
    }

    #[test]
    fn events_name_their_actor_and_located_gives_the_slots_instants() {
        let mut slot = free_slot();
        assert_eq!(slot.block(Actor::Provider, at(1)).unwrap().changed_by, Some(Actor::Provider));
        assert_eq!(slot.last_modified_by.as_deref(), Some("provider"));
        let freed = slot.unblock(Actor::Admin, at(2)).unwrap();
        assert_eq!((freed.changed_by, freed.span), (Some(Actor::Admin), None), "no zone, no instants");
        // Warsaw's autumn night: the first 02:00 (+02:00) and, for a slot of
        // the repeated hour, nothing local tells them apart; the instants do.
        let night = NaiveDate::from_ymd_opt(2027, 10, 31).unwrap();
        let two = NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        let (_, opened) = ProviderAvailability::open(
            Uuid::from_u128(3),
            Uuid::from_u128(2),
            night,
            two,
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            Actor::System,
            at(3),
        );
        let (from, to) = opened.located(chrono_tz::Europe::Warsaw).span.unwrap();
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            ("2027-10-31T00:00:00+00:00".into(), "2027-10-31T00:30:00+00:00".into())
        );
    }

    #[test]
    fn status_strings_round_trip() {
        for s in [SlotStatus::Available, SlotStatus::Booked, SlotStatus::Blocked, SlotStatus::Held] {
            assert_eq!(SlotStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SlotStatus::parse("Booked"), None);
    }
}
