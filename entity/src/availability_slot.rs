//! One availability slot: the persisted state of the `ProviderAvailability` aggregate.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "availability_slot")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub date: Date,
    pub start_time: Time,
    pub end_time: Time,
    /// `available`, `booked`, `blocked` or `held`.
    pub status: String,
    pub booking_id: Option<Uuid>,
    /// The `slot_hold` holding the slot while it is `held`.
    pub hold_id: Option<Uuid>,
    pub last_modified_at: DateTimeUtc,
    pub last_modified_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
