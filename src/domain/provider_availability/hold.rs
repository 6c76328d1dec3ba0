//! The hold transitions of a slot (DESIGN 4b): a customer filling in the
//! booking form holds the slots; the hold is released (or expires) or
//! becomes a booking.
//!
//! Invariants: a held slot is neither bookable nor blockable nor holdable by
//! anyone else; only the hold that holds a slot may release it or book it
//! (a stale release or a converted hold frees nothing); `hold_id` is set
//! exactly while the slot is `held`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AvailabilitySlotChangedEvent, ProviderAvailability, SlotStatus, TransitionError};
use crate::domain::Actor;

impl ProviderAvailability {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::provider_availability::tests::{at, free_slot};

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
            Err(TransitionError::NotAvailable { status: SlotStatus::Held, .. })
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
}
