//! A provider (barber, salon, clinic) and its availability version counter.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// IANA timezone name; slot dates and times are local to it.
    pub timezone: String,
    /// Street address, as the customer should read it.
    pub address: Option<String>,
    /// A sentence or two about the provider.
    pub description: Option<String>,
    /// ISO 4217 code of the provider's prices (`PLN`, `GBP`).
    pub currency: String,
    /// Advanced once per slot event, in the same transaction as the change.
    pub version: i64,
    /// When the calendar last changed (never earlier than the change before).
    pub updated_at: DateTimeUtc,
    /// When it changed the time before (see the migration that added it).
    pub previous_updated_at: Option<DateTimeUtc>,
    /// The marketplace's own id for the provider (admin API and import upsert by it).
    pub external_id: Option<String>,
    /// False once deactivated: no new bookings or holds, streams ended; history kept.
    pub active: bool,
    pub deactivated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
