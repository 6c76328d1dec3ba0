//! The `ProviderAvailability` aggregate: **one availability slot** of a
//! provider (a local date, start and end, and its status), and the
//! transitions that change it, each raising an
//! [`AvailabilitySlotChangedEvent`] (`event`).
//!
//! The name is the seed design's, kept because the aggregate is named so
//! throughout the crate (the application's working set, the planner, the
//! slot commands) and in the README; read it as "a slot".
//!
//! Transitions, as in the seed design:
//! - `mark_as_booked`: available → booked
//! - `release`: booked → available
//! - `block`: available → blocked; `unblock`: blocked → available
//! - `withdraw`: available or blocked → removed (the row is deleted)
//! - the hold transitions (`hold`): available → held, and back, or on to
//!   booked, only by the hold that holds the slot;
//! - `follow_upstream`: any status → the one the marketplace's booking
//!   system published, for the slots it owns (`domain::upstream`).
//!
//! Anything else is a [`TransitionError`] (`status`): a booked slot cannot
//! be booked again, a free slot cannot be released, and a refused
//! transition changes nothing. Every transition ends a hold. The caller
//! supplies `now`, so the aggregate stays pure and its events are
//! reproducible in tests.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use super::actor::Actor;

mod event;
mod hold;
mod status;

pub use event::AvailabilitySlotChangedEvent;
pub use status::{SlotStatus, TransitionError};

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
        ProviderAvailability::open_as(SlotStatus::Available, id, provider_id, date, start_time, end_time, by, now)
    }

    /// A new slot already in `status` (a slot the marketplace's booking
    /// system publishes taken or blocked), and the one event announcing it.
    /// Never held or removed: the caller passes a stored, unheld status.
    #[allow(clippy::too_many_arguments)]
    pub fn open_as(
        status: SlotStatus,
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
            status,
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

    /// Any status → `status`, because the marketplace's booking system,
    /// which owns this slot, says so; `None` (no event) if it already is.
    /// Only for an `external` provider's slots, which hold no booking or
    /// hold of slotstream's.
    pub fn follow_upstream(
        &mut self,
        status: SlotStatus,
        by: Actor,
        now: DateTime<Utc>,
    ) -> Option<AvailabilitySlotChangedEvent> {
        (self.status != status).then(|| self.transition(status, None, None, by, now))
    }

    fn require(&self, status: SlotStatus) -> Result<(), TransitionError> {
        if self.status == status {
            Ok(())
        } else {
            Err(TransitionError::NotAvailable {
                slot: self.id,
                date: self.date,
                start: self.start_time,
                status: self.status,
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

    pub(super) fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
    }

    pub(super) fn free_slot() -> ProviderAvailability {
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
            Err(TransitionError::NotAvailable { status: SlotStatus::Booked, .. })
        ));
        assert_eq!(booked, before);

        let mut blocked = free_slot();
        blocked.block(Actor::Customer, at(1)).unwrap();
        assert!(matches!(
            blocked.mark_as_booked(Uuid::from_u128(10), Actor::Customer, at(2)),
            Err(TransitionError::NotAvailable { status: SlotStatus::Blocked, .. })
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
    fn following_the_upstream_goes_anywhere_once_and_a_repeat_is_silent() {
        let mut slot = free_slot();
        let taken = slot.follow_upstream(SlotStatus::Booked, Actor::Upstream, at(1)).unwrap();
        assert_eq!((taken.previous_status, taken.new_status), (Some(SlotStatus::Available), SlotStatus::Booked));
        assert_eq!((slot.booking_id, taken.booking_id), (None, None), "no booking here, no customer");
        assert_eq!(slot.follow_upstream(SlotStatus::Booked, Actor::Upstream, at(2)), None);
        let removed = slot.follow_upstream(SlotStatus::Removed, Actor::Upstream, at(3)).unwrap();
        assert_eq!(removed.previous_status, Some(SlotStatus::Booked), "a taken slot may be removed upstream");
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
}
