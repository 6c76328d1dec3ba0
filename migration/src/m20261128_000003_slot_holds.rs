//! Slot holds: `availability_slot.hold_id` (which hold holds a `held` slot)
//! and the `slot_hold` table, indexed for the expiry sweep (due active holds)
//! and for the per-client cap (a client's active holds).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AvailabilitySlot {
    Table,
    HoldId,
}

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SlotHold {
    Table,
    Id,
    ProviderId,
    ServiceId,
    StartsAt,
    EndsAt,
    TokenHash,
    ClientScope,
    Status,
    CreatedAt,
    ExpiresAt,
    MaxExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AvailabilitySlot::Table)
                    .add_column(uuid_null(AvailabilitySlot::HoldId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_hold_id")
                    .table(AvailabilitySlot::Table)
                    .col(AvailabilitySlot::HoldId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlotHold::Table)
                    .if_not_exists()
                    .col(pk_uuid(SlotHold::Id))
                    .col(uuid(SlotHold::ProviderId))
                    .col(uuid(SlotHold::ServiceId))
                    .col(timestamp_with_time_zone(SlotHold::StartsAt))
                    .col(timestamp_with_time_zone(SlotHold::EndsAt))
                    .col(string_len(SlotHold::TokenHash, 64))
                    .col(string_len(SlotHold::ClientScope, 64))
                    .col(string_len(SlotHold::Status, 16))
                    .col(timestamp_with_time_zone(SlotHold::CreatedAt))
                    .col(timestamp_with_time_zone(SlotHold::ExpiresAt))
                    .col(timestamp_with_time_zone(SlotHold::MaxExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SlotHold::Table, SlotHold::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The expiry sweep: active holds whose time is up.
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_hold_status_expires")
                    .table(SlotHold::Table)
                    .col(SlotHold::Status)
                    .col(SlotHold::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // The per-client cap: a client's active holds.
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_hold_scope_status")
                    .table(SlotHold::Table)
                    .col(SlotHold::ClientScope)
                    .col(SlotHold::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SlotHold::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("ix_slot_hold_id").table(AvailabilitySlot::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(AvailabilitySlot::Table).drop_column(AvailabilitySlot::HoldId).to_owned())
            .await
    }
}
