//! A provider's weekly schedule and its date exceptions (JSON, always read and
//! written whole), and how far ahead the planner has generated slots from it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_schedule")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    pub slot_minutes: i32,
    /// `{"monday": [["09:00","12:00"], …], …}` in the provider's local time.
    #[sea_orm(column_type = "Text")]
    pub weekly: String,
    /// `[{"date": "2026-12-24", "closed": true} | {"date": …, "intervals": […]}]`.
    #[sea_orm(column_type = "Text")]
    pub exceptions: String,
    /// The last local date slots were generated for (the rolling window's edge).
    pub planned_through: Option<Date>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
