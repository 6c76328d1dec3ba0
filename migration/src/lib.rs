//! Schema migrations, applied at start-up (`slotstream migrate` applies them alone).
//! The same migrations run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261128_000001_idempotency_scope;
mod m20261128_000002_provider_previous_update;
mod m20261128_000003_slot_holds;
mod m20261128_000004_provider_profile;
mod m20261128_000005_catalogue;
mod m20261128_000006_webhooks;
mod m20261203_000002_token_hash_indexes;
mod m20261203_000003_slot_event_instants_and_actor;
mod m20261210_000001_slot_from_schedule;
mod m20261211_000001_external_slots;
mod m20261212_000001_provider_sessions;
mod m20261213_000001_waitlist;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261128_000001_idempotency_scope::Migration),
            Box::new(m20261128_000002_provider_previous_update::Migration),
            Box::new(m20261128_000003_slot_holds::Migration),
            Box::new(m20261128_000004_provider_profile::Migration),
            Box::new(m20261128_000005_catalogue::Migration),
            Box::new(m20261128_000006_webhooks::Migration),
            Box::new(m20261203_000002_token_hash_indexes::Migration),
            Box::new(m20261203_000003_slot_event_instants_and_actor::Migration),
            Box::new(m20261210_000001_slot_from_schedule::Migration),
            Box::new(m20261211_000001_external_slots::Migration),
            Box::new(m20261212_000001_provider_sessions::Migration),
            Box::new(m20261213_000001_waitlist::Migration),
        ]
    }
}
