//! What a customer sees about a provider before booking: its address, a short
//! description and the currency its prices are in (`provider.address`,
//! `provider.description`, `provider.currency`, `service.currency`).
//! Existing rows get no address or description and the currency `EUR`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Provider {
    Table,
    Address,
    Description,
    Currency,
}

#[derive(DeriveIden)]
enum Service {
    Table,
    Currency,
}

fn currency<T: IntoIden>(column: T) -> ColumnDef {
    string(column).string_len(3).default("EUR").to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = [
            (Provider::Table.into_iden(), text_null(Provider::Address)),
            (Provider::Table.into_iden(), text_null(Provider::Description)),
            (Provider::Table.into_iden(), currency(Provider::Currency)),
            (Service::Table.into_iden(), currency(Service::Currency)),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            (Provider::Table.into_iden(), Provider::Address.into_iden()),
            (Provider::Table.into_iden(), Provider::Description.into_iden()),
            (Provider::Table.into_iden(), Provider::Currency.into_iden()),
            (Service::Table.into_iden(), Service::Currency.into_iden()),
        ];
        for (table, column) in columns {
            manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
