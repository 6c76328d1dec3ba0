//! Storage: how the commands read and write the database, below every
//! capability and shared by them.
//!
//! - `write_transaction`: where every write transaction begins (the single
//!   writer and `BEGIN IMMEDIATE` on SQLite, the row lock on PostgreSQL).
//! - `unit_of_work`: one write transaction on one provider, begun under the
//!   provider lock, and the one place where a commit becomes a published event.
//! - `slot_set`: the working set of a provider's slots inside a unit of
//!   work, changed only through the `ProviderAvailability` aggregate and
//!   saved with conditional updates (the status as loaded guards the row).
//! - `idempotency`: `Idempotency-Key` records, claimed in the booking's own
//!   transaction.
//! - `secrets`: tokens and keys, generated here, stored only as hashes.
//! - `sessions`: ending the agenda's sign-in sessions in the transaction of
//!   a key's revocation or a provider's deactivation.
//!
//! Invariant: a slot changes only in a unit of work, through a slot set, so
//! every change is recorded as an event and announced once committed. Why a
//! folder of its own: the capabilities (`bookings`, `catalogue`) say what
//! changes; how it is locked, saved and announced is said once, here.

pub mod idempotency;
pub mod secrets;
pub mod sessions;
pub mod slot_set;
pub mod unit_of_work;
pub mod write_transaction;
