//! The provider's agenda (issue 24): a person at a front desk signs in with
//! a one-time link and keeps a session cookie.
//! - `provider_sign_in_link`: a link's code, stored as its SHA-256; one use
//!   (`used_at`), a short life (`expires_at`), and the key that minted it
//!   (none when the operator did), so revoking that key ends what it began;
//! - `provider_session`: the cookie's token, stored as its SHA-256, its
//!   provider, the key behind its link, its end (`expires_at`, or
//!   `ended_at` on sign-out, deactivation or the key's revocation);
//! - `booking.cancelled_by`, `booking.cancellation_reason`: who cancelled
//!   and why, which the customer's page and the webhook carry.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProviderSignInLink {
    Table,
    Id,
    ProviderId,
    CodeHash,
    KeyId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum ProviderSession {
    Table,
    Id,
    ProviderId,
    TokenHash,
    KeyId,
    CreatedAt,
    ExpiresAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum Booking {
    Table,
    CancelledBy,
    CancellationReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderSignInLink::Table)
                    .if_not_exists()
                    .col(pk_uuid(ProviderSignInLink::Id))
                    .col(uuid(ProviderSignInLink::ProviderId))
                    .col(string_len_uniq(ProviderSignInLink::CodeHash, 64))
                    .col(uuid_null(ProviderSignInLink::KeyId))
                    .col(timestamp_with_time_zone(ProviderSignInLink::CreatedAt))
                    .col(timestamp_with_time_zone(ProviderSignInLink::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ProviderSignInLink::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderSignInLink::Table, ProviderSignInLink::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProviderSession::Table)
                    .if_not_exists()
                    .col(pk_uuid(ProviderSession::Id))
                    .col(uuid(ProviderSession::ProviderId))
                    .col(string_len_uniq(ProviderSession::TokenHash, 64))
                    .col(uuid_null(ProviderSession::KeyId))
                    .col(timestamp_with_time_zone(ProviderSession::CreatedAt))
                    .col(timestamp_with_time_zone(ProviderSession::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ProviderSession::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderSession::Table, ProviderSession::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_provider_session_provider")
                    .table(ProviderSession::Table)
                    .col(ProviderSession::ProviderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_provider_session_key")
                    .table(ProviderSession::Table)
                    .col(ProviderSession::KeyId)
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for mut column in
            [string_len_null(Booking::CancelledBy, 16).to_owned(), text_null(Booking::CancellationReason).to_owned()]
        {
            manager.alter_table(Table::alter().table(Booking::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Booking::CancellationReason, Booking::CancelledBy] {
            manager.alter_table(Table::alter().table(Booking::Table).drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(ProviderSession::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ProviderSignInLink::Table).to_owned()).await
    }
}
