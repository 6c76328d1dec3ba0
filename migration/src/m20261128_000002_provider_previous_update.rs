//! `provider.previous_updated_at`: when the provider's calendar changed the
//! time before last. `Last-Modified` has one-second resolution; a date-based
//! `304` is safe only when the last two changes fall in different seconds,
//! and this column is how the availability query knows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    PreviousUpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Provider::Table)
                    .add_column(timestamp_with_time_zone_null(Provider::PreviousUpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Provider::Table).drop_column(Provider::PreviousUpdatedAt).to_owned())
            .await
    }
}
