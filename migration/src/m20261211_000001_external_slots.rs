//! Slots published by the marketplace's own booking system (issue 23):
//! - `provider.slot_source`: `schedule` (slots opened here from a weekly
//!   schedule or by a provider key; bookings and holds here) or `external`
//!   (the marketplace's engine owns the slots; slotstream mirrors them);
//! - `provider.booking_url`: where an `external` provider's times are
//!   booked, a template with `{providerId}`, `{externalSlotId}`, `{startsAt}`;
//! - `provider.external_sequence`: the upstream's own number of the last
//!   batch applied (its outbox id), so an older or repeated batch changes
//!   nothing;
//! - `availability_slot.external_slot_id`: the upstream's id of a mirrored
//!   slot, unique per provider (a slot made here has none).
//!
//! SQLite alters one column per statement, so each is its own.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, string_len, string_len_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    SlotSource,
    BookingUrl,
    ExternalSequence,
}

#[derive(DeriveIden)]
enum AvailabilitySlot {
    Table,
    ProviderId,
    ExternalSlotId,
}

const SLOT_INDEX: &str = "ux_availability_slot_external_slot_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            string_len(Provider::SlotSource, 16).default("schedule").to_owned(),
            text_null(Provider::BookingUrl).to_owned(),
            big_integer_null(Provider::ExternalSequence).to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Provider::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AvailabilitySlot::Table)
                    .add_column(string_len_null(AvailabilitySlot::ExternalSlotId, 128))
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in a unique index on both engines: slots made
        // here (no external id) never collide.
        manager
            .create_index(
                Index::create()
                    .name(SLOT_INDEX)
                    .table(AvailabilitySlot::Table)
                    .col(AvailabilitySlot::ProviderId)
                    .col(AvailabilitySlot::ExternalSlotId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(SLOT_INDEX).table(AvailabilitySlot::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(AvailabilitySlot::Table).drop_column(AvailabilitySlot::ExternalSlotId).to_owned(),
            )
            .await?;
        for column in [Provider::ExternalSequence, Provider::BookingUrl, Provider::SlotSource] {
            manager.alter_table(Table::alter().table(Provider::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
