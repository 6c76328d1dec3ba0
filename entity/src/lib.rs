//! SeaORM entities for slotstream's tables.
//!
//! These are plain row types; the rules that govern them live in the
//! `slotstream` crate's `domain` module. Status columns are stored as short
//! lower-case strings (`available`, `booked`, `blocked`, `held`,
//! `confirmed`, `cancelled`) so the same schema works on SQLite and PostgreSQL.

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
