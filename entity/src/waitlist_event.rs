//! Waitlist events for webhooks (`waitlist.offered`, `.fulfilled`,
//! `.expired`), written in the transaction that made them and keyed by a
//! provider version of that transaction, as `booking_event` is: the
//! webhook sender puts them in one order with slot and booking events.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// The event type, e.g. `waitlist.offered`.
    pub kind: String,
    pub entry_id: Uuid,
    /// The webhook's `data` object, as JSON text.
    pub data: String,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
