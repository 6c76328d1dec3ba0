//! Indexes on `booking.token_hash` and `slot_hold.token_hash`: a refused
//! bearer token is looked up by its hash to tell a token of someone else
//! (403) from one that exists nowhere (401 `invalid_token`), and that
//! look-up, on a path anyone can call, must not scan the tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Booking {
    Table,
    TokenHash,
}

#[derive(DeriveIden)]
enum SlotHold {
    Table,
    TokenHash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create().name("ix_booking_token_hash").table(Booking::Table).col(Booking::TokenHash).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_slot_hold_token_hash")
                    .table(SlotHold::Table)
                    .col(SlotHold::TokenHash)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_slot_hold_token_hash").table(SlotHold::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("ix_booking_token_hash").table(Booking::Table).to_owned()).await
    }
}
