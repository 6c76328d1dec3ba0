//! SeaORM entities for slotstream's tables.
//!
//! These are plain row types; the rules that govern them live in the
//! `slotstream` crate's `domain` module. Each status column is a `Status`
//! enum next to its table (`availability_slot`, `booking`, `slot_hold`,
//! `webhook_subscription`; `slot_event` reuses the slot's), mapped by
//! SeaORM to a short lower-case string column, so the same schema works on
//! SQLite and PostgreSQL and nothing compares statuses as strings.

pub mod availability_slot;
pub mod booking;
pub mod booking_event;
pub mod idempotency_key;
pub mod provider;
pub mod provider_key;
pub mod provider_schedule;
pub mod provider_session;
pub mod provider_sign_in_link;
pub mod service;
pub mod slot_event;
pub mod slot_hold;
pub mod waitlist_entry;
pub mod waitlist_event;
pub mod webhook_subscription;

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    /// Where a status is also on the wire (serde), both spell it alike.
    fn the_wire_spells_it_as_stored<S: ActiveEnum<Value = String> + serde::Serialize>() {
        for status in S::iter() {
            assert_eq!(serde_json::to_value(&status).unwrap(), status.to_value());
        }
    }

    #[test]
    fn statuses_on_the_wire_are_spelled_as_stored() {
        the_wire_spells_it_as_stored::<booking::Status>();
        the_wire_spells_it_as_stored::<webhook_subscription::Status>();
        the_wire_spells_it_as_stored::<provider::SlotSource>();
        the_wire_spells_it_as_stored::<waitlist_entry::Status>();
    }
}
