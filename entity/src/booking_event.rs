//! Booking events for webhooks (`booking.created`, `booking.cancelled`,
//! `booking.rescheduled`), written in the booking's own transaction and keyed
//! by the provider version that transaction committed at, so that they sit in
//! one order with the slot events of `slot_event`: after the slot events of
//! their transaction, before those of the next.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// The event type, e.g. `booking.created`.
    pub kind: String,
    pub booking_id: Uuid,
    /// The webhook's `data` object, as JSON text.
    pub data: String,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
