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
pub mod service;
pub mod slot_event;
pub mod slot_hold;
pub mod webhook_subscription;
