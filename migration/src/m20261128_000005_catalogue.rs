//! The marketplace's catalogue (issue 13): external ids on providers and
//! services (the marketplace's own ids, unique, what its syncs upsert by),
//! a provider's active flag and deactivation time, a provider key's label and
//! revocation time, and `provider_schedule` (one weekly schedule with its
//! exceptions per provider, kept as JSON since it is always read and written
//! whole, and the last local date the planner has generated slots for).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Id,
    ExternalId,
    Active,
    DeactivatedAt,
}

#[derive(DeriveIden)]
enum Service {
    Table,
    ProviderId,
    ExternalId,
}

#[derive(DeriveIden)]
enum ProviderKey {
    Table,
    Label,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ProviderSchedule {
    Table,
    ProviderId,
    SlotMinutes,
    Weekly,
    Exceptions,
    PlannedThrough,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            (Provider::Table.into_iden(), string_len_null(Provider::ExternalId, 128)),
            (Provider::Table.into_iden(), boolean(Provider::Active).default(true).to_owned()),
            (Provider::Table.into_iden(), timestamp_with_time_zone_null(Provider::DeactivatedAt)),
            (Service::Table.into_iden(), string_len_null(Service::ExternalId, 128)),
            (ProviderKey::Table.into_iden(), string_len_null(ProviderKey::Label, 128)),
            (ProviderKey::Table.into_iden(), timestamp_with_time_zone_null(ProviderKey::RevokedAt)),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await?;
        }
        // NULLs are distinct in a unique index on both engines: providers
        // made before external ids (or by hand) need none.
        manager
            .create_index(
                Index::create()
                    .name("ux_provider_external_id")
                    .table(Provider::Table)
                    .col(Provider::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_service_external_id")
                    .table(Service::Table)
                    .col(Service::ProviderId)
                    .col(Service::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProviderSchedule::Table)
                    .if_not_exists()
                    .col(pk_uuid(ProviderSchedule::ProviderId))
                    .col(integer(ProviderSchedule::SlotMinutes))
                    .col(text(ProviderSchedule::Weekly))
                    .col(text(ProviderSchedule::Exceptions))
                    .col(date_null(ProviderSchedule::PlannedThrough))
                    .col(timestamp_with_time_zone(ProviderSchedule::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProviderSchedule::Table, ProviderSchedule::ProviderId)
                            .to(Provider::Table, Provider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ProviderSchedule::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("ux_service_external_id").table(Service::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("ux_provider_external_id").table(Provider::Table).to_owned()).await?;
        let columns = [
            (Provider::Table.into_iden(), Provider::ExternalId.into_iden()),
            (Provider::Table.into_iden(), Provider::Active.into_iden()),
            (Provider::Table.into_iden(), Provider::DeactivatedAt.into_iden()),
            (Service::Table.into_iden(), Service::ExternalId.into_iden()),
            (ProviderKey::Table.into_iden(), ProviderKey::Label.into_iden()),
            (ProviderKey::Table.into_iden(), ProviderKey::RevokedAt.into_iden()),
        ];
        for (table, column) in columns {
            manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
