//! The waitlist with fair offers (issue 25):
//! - `waitlist_entry`: a customer waiting for a time of one service of one
//!   provider, between two dates and, optionally, within times of day; its
//!   token and its client's identity stored as SHA-256; its life
//!   (`waiting`, `offered`, then `fulfilled`, `left`, `expired` or `notified`),
//!   the hold of its current offer, the starts it declined, and its place in
//!   its provider's line (one more than the last, taken under the provider's lock);
//! - `slot_hold.waitlist_entry_id`: an offer is a hold owned by an entry;
//! - `waitlist_event`: the waitlist's webhook events (`waitlist.offered`,
//!   `.fulfilled`, `.expired`), written in the transaction that made them and
//!   keyed by a provider version of that transaction, as `booking_event` is;
//! - the webhook cursor gets a third lane per version (slot, booking,
//!   waitlist: position `3 × version + lane`, was `2 × version + lane`), so
//!   every stored cursor is rescaled to the same place.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WaitlistEntry {
    Table,
    Id,
    ProviderId,
    ServiceId,
    FromDate,
    ToDate,
    Times,
    CustomerName,
    CustomerEmail,
    TokenHash,
    ClientScope,
    Status,
    Place,
    CreatedAt,
    ExpiresAt,
    OfferHoldId,
    Declined,
    EndedAt,
}

#[derive(DeriveIden)]
enum WaitlistEvent {
    Table,
    ProviderId,
    Version,
    Kind,
    EntryId,
    Data,
    OccurredAt,
}

#[derive(DeriveIden)]
enum SlotHold {
    Table,
    WaitlistEntryId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WaitlistEntry::Table)
                    .if_not_exists()
                    .col(pk_uuid(WaitlistEntry::Id))
                    .col(uuid(WaitlistEntry::ProviderId))
                    .col(uuid(WaitlistEntry::ServiceId))
                    .col(date(WaitlistEntry::FromDate))
                    .col(date(WaitlistEntry::ToDate))
                    .col(text_null(WaitlistEntry::Times))
                    .col(string_len(WaitlistEntry::CustomerName, 200))
                    .col(string_len(WaitlistEntry::CustomerEmail, 254))
                    .col(string_len_uniq(WaitlistEntry::TokenHash, 64))
                    .col(string_len(WaitlistEntry::ClientScope, 64))
                    .col(string_len(WaitlistEntry::Status, 16))
                    .col(big_integer(WaitlistEntry::Place))
                    .col(timestamp_with_time_zone(WaitlistEntry::CreatedAt))
                    .col(timestamp_with_time_zone(WaitlistEntry::ExpiresAt))
                    .col(uuid_null(WaitlistEntry::OfferHoldId))
                    .col(text_null(WaitlistEntry::Declined))
                    .col(timestamp_with_time_zone_null(WaitlistEntry::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitlistEntry::Table, WaitlistEntry::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_waitlist_entry_line")
                    .table(WaitlistEntry::Table)
                    .col(WaitlistEntry::ProviderId)
                    .col(WaitlistEntry::Status)
                    .col(WaitlistEntry::Place)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_waitlist_entry_client")
                    .table(WaitlistEntry::Table)
                    .col(WaitlistEntry::ClientScope)
                    .col(WaitlistEntry::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WaitlistEvent::Table)
                    .if_not_exists()
                    .col(uuid(WaitlistEvent::ProviderId))
                    .col(big_integer(WaitlistEvent::Version))
                    .col(string_len(WaitlistEvent::Kind, 32))
                    .col(uuid(WaitlistEvent::EntryId))
                    .col(text(WaitlistEvent::Data))
                    .col(timestamp_with_time_zone(WaitlistEvent::OccurredAt))
                    .primary_key(Index::create().col(WaitlistEvent::ProviderId).col(WaitlistEvent::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(SlotHold::Table).add_column(uuid_null(SlotHold::WaitlistEntryId)).to_owned(),
            )
            .await?;
        // Two lanes per version become three: 2v -> 3v, 2v + 1 -> 3v + 1.
        manager
            .get_connection()
            .execute_unprepared(r#"UPDATE webhook_subscription SET "cursor" = "cursor" + "cursor" / 2"#)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // 3v -> 2v, 3v + 1 -> 2v + 1, 3v + 2 (past v) -> 2v + 1.
        manager
            .get_connection()
            .execute_unprepared(
                r#"UPDATE webhook_subscription SET "cursor" = 2 * ("cursor" / 3) + CASE WHEN "cursor" % 3 = 0 THEN 0 ELSE 1 END"#,
            )
            .await?;
        manager
            .alter_table(Table::alter().table(SlotHold::Table).drop_column(SlotHold::WaitlistEntryId).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(WaitlistEvent::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WaitlistEntry::Table).to_owned()).await
    }
}
