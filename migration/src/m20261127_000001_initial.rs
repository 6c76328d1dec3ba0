//! The initial schema: providers, services, slots, bookings, the slot event log,
//! provider keys and idempotency keys, with the indexes the hot queries need.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
    Name,
    Timezone,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Service {
    Table,
    Id,
    ProviderId,
    Name,
    DurationMinutes,
    PriceCents,
}

#[derive(DeriveIden)]
enum AvailabilitySlot {
    Table,
    Id,
    ProviderId,
    Date,
    StartTime,
    EndTime,
    Status,
    BookingId,
    LastModifiedAt,
    LastModifiedBy,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    Id,
    ProviderId,
    ServiceId,
    StartsAt,
    EndsAt,
    Status,
    CustomerName,
    CustomerEmail,
    TokenHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SlotEvent {
    Table,
    ProviderId,
    Version,
    AvailabilityId,
    Date,
    StartTime,
    EndTime,
    PreviousStatus,
    NewStatus,
    BookingId,
    ChangedAt,
}

#[derive(DeriveIden)]
enum ProviderKey {
    Table,
    Id,
    ProviderId,
    KeyHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    KeyHash,
    RequestHash,
    BookingId,
    ResponseBody,
    CreatedAt,
}

fn provider_fk(from_table: impl IntoIden, from_col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(Provider::Table, Provider::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Provider::Table)
                    .if_not_exists()
                    .col(pk_uuid(Provider::Id))
                    .col(string(Provider::Name))
                    .col(string(Provider::Timezone))
                    .col(big_integer(Provider::Version).default(0))
                    .col(timestamp_with_time_zone(Provider::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Service::Table)
                    .if_not_exists()
                    .col(pk_uuid(Service::Id))
                    .col(uuid(Service::ProviderId))
                    .col(string(Service::Name))
                    .col(integer(Service::DurationMinutes))
                    .col(big_integer(Service::PriceCents))
                    .foreign_key(&mut provider_fk(Service::Table, Service::ProviderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AvailabilitySlot::Table)
                    .if_not_exists()
                    .col(pk_uuid(AvailabilitySlot::Id))
                    .col(uuid(AvailabilitySlot::ProviderId))
                    .col(date(AvailabilitySlot::Date))
                    .col(time(AvailabilitySlot::StartTime))
                    .col(time(AvailabilitySlot::EndTime))
                    .col(string_len(AvailabilitySlot::Status, 16))
                    .col(uuid_null(AvailabilitySlot::BookingId))
                    .col(timestamp_with_time_zone(AvailabilitySlot::LastModifiedAt))
                    .col(string_null(AvailabilitySlot::LastModifiedBy))
                    .foreign_key(&mut provider_fk(AvailabilitySlot::Table, AvailabilitySlot::ProviderId))
                    .to_owned(),
            )
            .await?;
        // One slot per provider and start; also serves the availability range query.
        manager
            .create_index(
                Index::create()
                    .name("ux_slot_provider_date_start")
                    .table(AvailabilitySlot::Table)
                    .col(AvailabilitySlot::ProviderId)
                    .col(AvailabilitySlot::Date)
                    .col(AvailabilitySlot::StartTime)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_booking")
                    .table(AvailabilitySlot::Table)
                    .col(AvailabilitySlot::BookingId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Booking::Table)
                    .if_not_exists()
                    .col(pk_uuid(Booking::Id))
                    .col(uuid(Booking::ProviderId))
                    .col(uuid(Booking::ServiceId))
                    .col(timestamp_with_time_zone(Booking::StartsAt))
                    .col(timestamp_with_time_zone(Booking::EndsAt))
                    .col(string_len(Booking::Status, 16))
                    .col(string(Booking::CustomerName))
                    .col(string(Booking::CustomerEmail))
                    .col(string_len(Booking::TokenHash, 64))
                    .col(timestamp_with_time_zone(Booking::CreatedAt))
                    .col(timestamp_with_time_zone(Booking::UpdatedAt))
                    .foreign_key(&mut provider_fk(Booking::Table, Booking::ProviderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlotEvent::Table)
                    .if_not_exists()
                    .col(uuid(SlotEvent::ProviderId))
                    .col(big_integer(SlotEvent::Version))
                    .col(uuid(SlotEvent::AvailabilityId))
                    .col(date(SlotEvent::Date))
                    .col(time(SlotEvent::StartTime))
                    .col(time(SlotEvent::EndTime))
                    .col(string_len_null(SlotEvent::PreviousStatus, 16))
                    .col(string_len(SlotEvent::NewStatus, 16))
                    .col(uuid_null(SlotEvent::BookingId))
                    .col(timestamp_with_time_zone(SlotEvent::ChangedAt))
                    // The primary key is the (provider_id, version) index the stream reads by.
                    .primary_key(Index::create().col(SlotEvent::ProviderId).col(SlotEvent::Version))
                    .foreign_key(&mut provider_fk(SlotEvent::Table, SlotEvent::ProviderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_event_changed_at")
                    .table(SlotEvent::Table)
                    .col(SlotEvent::ChangedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProviderKey::Table)
                    .if_not_exists()
                    .col(pk_uuid(ProviderKey::Id))
                    .col(uuid(ProviderKey::ProviderId))
                    .col(string_len_uniq(ProviderKey::KeyHash, 64))
                    .col(timestamp_with_time_zone(ProviderKey::CreatedAt))
                    .foreign_key(&mut provider_fk(ProviderKey::Table, ProviderKey::ProviderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .if_not_exists()
                    .col(string_len(IdempotencyKey::KeyHash, 64).primary_key())
                    .col(string_len(IdempotencyKey::RequestHash, 64))
                    .col(uuid(IdempotencyKey::BookingId))
                    .col(text(IdempotencyKey::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKey::Table.into_iden(),
            ProviderKey::Table.into_iden(),
            SlotEvent::Table.into_iden(),
            Booking::Table.into_iden(),
            AvailabilitySlot::Table.into_iden(),
            Service::Table.into_iden(),
            Provider::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
