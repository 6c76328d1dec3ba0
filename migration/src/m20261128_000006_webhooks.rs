//! Webhooks: `webhook_subscription` (a provider's receivers, each with its
//! signing secret, its delivery cursor, its retry state and the lease that
//! lets one instance at a time send for it) and `booking_event` (booking
//! created / cancelled / rescheduled, written in the booking's transaction
//! and stamped with the provider version that transaction committed).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookSubscription {
    Table,
    Id,
    ProviderId,
    Url,
    Events,
    Secret,
    Status,
    Cursor,
    Attempts,
    NextAttemptAt,
    FailingSince,
    LastError,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BookingEvent {
    Table,
    ProviderId,
    Version,
    Kind,
    BookingId,
    Data,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscription::Table)
                    .if_not_exists()
                    .col(pk_uuid(WebhookSubscription::Id))
                    .col(uuid(WebhookSubscription::ProviderId))
                    .col(string_len(WebhookSubscription::Url, 2048))
                    .col(string_len(WebhookSubscription::Events, 256))
                    .col(string_len(WebhookSubscription::Secret, 128))
                    .col(string_len(WebhookSubscription::Status, 16))
                    .col(big_integer(WebhookSubscription::Cursor))
                    .col(integer(WebhookSubscription::Attempts))
                    .col(timestamp_with_time_zone_null(WebhookSubscription::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(WebhookSubscription::FailingSince))
                    .col(string_len_null(WebhookSubscription::LastError, 512))
                    .col(uuid_null(WebhookSubscription::LeaseOwner))
                    .col(timestamp_with_time_zone_null(WebhookSubscription::LeaseUntil))
                    .col(timestamp_with_time_zone(WebhookSubscription::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookSubscription::Table, WebhookSubscription::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_subscription_provider")
                    .table(WebhookSubscription::Table)
                    .col(WebhookSubscription::ProviderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BookingEvent::Table)
                    .if_not_exists()
                    .col(uuid(BookingEvent::ProviderId))
                    .col(big_integer(BookingEvent::Version))
                    .col(string_len(BookingEvent::Kind, 32))
                    .col(uuid(BookingEvent::BookingId))
                    .col(text(BookingEvent::Data))
                    .col(timestamp_with_time_zone(BookingEvent::OccurredAt))
                    .primary_key(Index::create().col(BookingEvent::ProviderId).col(BookingEvent::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BookingEvent::Table, BookingEvent::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(BookingEvent::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookSubscription::Table).to_owned()).await
    }
}
