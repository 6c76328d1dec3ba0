//! Idempotency records scoped by client, with the booking token sealed.
//!
//! The old table kept each first answer, booking token included, in clear,
//! under a hash of the bare key. Records live only 24 hours, so the table is
//! dropped and recreated rather than converted: a retry of a booking made
//! before the upgrade books nothing twice (the slot is taken: 409) but is no
//! longer replayed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    KeyHash,
    RequestHash,
    BookingId,
    ResponseBody,
    SealedToken,
    CreatedAt,
}

const CREATED_AT_INDEX: &str = "idx_idempotency_key_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKey::Table).if_exists().to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(string_len(IdempotencyKey::KeyHash, 64).primary_key())
                    .col(string_len(IdempotencyKey::RequestHash, 64))
                    .col(uuid(IdempotencyKey::BookingId))
                    .col(text(IdempotencyKey::SealedToken))
                    .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The periodic prune deletes by age.
        manager
            .create_index(
                Index::create()
                    .name(CREATED_AT_INDEX)
                    .table(IdempotencyKey::Table)
                    .col(IdempotencyKey::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKey::Table).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(string_len(IdempotencyKey::KeyHash, 64).primary_key())
                    .col(string_len(IdempotencyKey::RequestHash, 64))
                    .col(uuid(IdempotencyKey::BookingId))
                    .col(text(IdempotencyKey::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                    .to_owned(),
            )
            .await
    }
}
