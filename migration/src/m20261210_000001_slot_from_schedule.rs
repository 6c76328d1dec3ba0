//! `availability_slot.from_schedule`: whether the planner opened the slot
//! from the provider's weekly schedule (true) or a provider key created it
//! by hand (false). A slot from the schedule that the current schedule no
//! longer opens is withdrawn when its last booking or hold ends; a slot made
//! by hand is never. Slots stored before the column existed are taken as
//! the schedule's if their provider has one (the planner made nearly all of
//! them), and as made by hand otherwise.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AvailabilitySlot {
    Table,
    ProviderId,
    FromSchedule,
}

#[derive(DeriveIden)]
enum ProviderSchedule {
    Table,
    ProviderId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AvailabilitySlot::Table)
                    .add_column(boolean(AvailabilitySlot::FromSchedule).default(false))
                    .to_owned(),
            )
            .await?;
        let scheduled = Query::select().column(ProviderSchedule::ProviderId).from(ProviderSchedule::Table).to_owned();
        manager
            .exec_stmt(
                Query::update()
                    .table(AvailabilitySlot::Table)
                    .value(AvailabilitySlot::FromSchedule, true)
                    .and_where(Expr::col(AvailabilitySlot::ProviderId).in_subquery(scheduled))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(AvailabilitySlot::Table).drop_column(AvailabilitySlot::FromSchedule).to_owned(),
            )
            .await
    }
}
