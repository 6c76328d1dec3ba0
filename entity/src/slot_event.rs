//! The event log (outbox): one row per `AvailabilitySlotChangedEvent`, keyed by
//! `(provider_id, version)` and written in the same transaction as the change.
use sea_orm::entity::prelude::*;

pub use crate::availability_slot::Status;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "slot_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    pub availability_id: Uuid,
    pub date: Date,
    pub start_time: Time,
    pub end_time: Time,
    /// `None` when the event opened a new slot.
    pub previous_status: Option<Status>,
    pub new_status: Status,
    pub booking_id: Option<Uuid>,
    pub changed_at: DateTimeUtc,
    /// The slot's real start and end (`None` in events logged before them,
    /// and for a legacy slot in a DST gap).
    pub starts_at: Option<DateTimeUtc>,
    pub ends_at: Option<DateTimeUtc>,
    /// Who made the change (`customer`, `provider`, `admin`, `system`).
    pub changed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
