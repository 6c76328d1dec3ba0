//! `slot_event.starts_at`, `ends_at` and `changed_by`: the real instants of
//! the changed slot (so the autumn's repeated hour is unambiguous on the
//! stream and in webhooks) and who made the change (`customer`, `provider`,
//! `admin`, `system`). Null in events logged before them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_null, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SlotEvent {
    Table,
    StartsAt,
    EndsAt,
    ChangedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            timestamp_with_time_zone_null(SlotEvent::StartsAt),
            timestamp_with_time_zone_null(SlotEvent::EndsAt),
            string_null(SlotEvent::ChangedBy),
        ] {
            let mut column = column;
            manager.alter_table(Table::alter().table(SlotEvent::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [SlotEvent::StartsAt, SlotEvent::EndsAt, SlotEvent::ChangedBy] {
            manager.alter_table(Table::alter().table(SlotEvent::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
