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
    pub status: Status,
    pub booking_id: Option<Uuid>,
    /// The `slot_hold` holding the slot while it is `held`.
    pub hold_id: Option<Uuid>,
    pub last_modified_at: DateTimeUtc,
    pub last_modified_by: Option<String>,
    /// Opened by the planner from the weekly schedule (false: created by
    /// hand with a provider key). Such a slot that the current schedule no
    /// longer opens is withdrawn when its last booking or hold ends.
    pub from_schedule: bool,
    /// The upstream's id of a slot mirrored from the marketplace's booking
    /// system (`external` providers); unique per provider; `None` for a slot made here.
    pub external_slot_id: Option<String>,
}

/// A slot's status as stored (in `availability_slot.status` and in
/// `slot_event`'s statuses); the domain's `SlotStatus` is the same set, and
/// one `From` each way converts. The strings are today's stored values:
/// never rename one without a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "available")]
    Available,
    #[sea_orm(string_value = "booked")]
    Booked,
    #[sea_orm(string_value = "blocked")]
    Blocked,
    /// Held for a customer filling in the booking form (see `hold_id`).
    #[sea_orm(string_value = "held")]
    Held,
    /// Only in `slot_event`: the slot was taken off the calendar for good.
    /// No stored slot has it.
    #[sea_orm(string_value = "removed")]
    Removed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
