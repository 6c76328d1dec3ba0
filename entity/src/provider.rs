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
    /// Where the provider's slots come from (see [`SlotSource`]).
    pub slot_source: SlotSource,
    /// Where an `external` provider's times are booked: a URL template with
    /// `{providerId}` (the marketplace's id), `{externalSlotId}`, `{startsAt}`.
    pub booking_url: Option<String>,
    /// The upstream's number of the last batch of slot changes applied
    /// (`external` providers): a batch not above it changes nothing.
    pub external_sequence: Option<i64>,
}

/// Where a provider's slots come from.
/// Stored and on the wire (`slotSource`) alike.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize, serde::Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum SlotSource {
    /// Opened here, from a weekly schedule or by a provider key; booked and held here.
    #[default]
    #[sea_orm(string_value = "schedule")]
    Schedule,
    /// Owned by the marketplace's own booking engine, which publishes their
    /// changes; slotstream mirrors and serves them, and books nothing.
    #[sea_orm(string_value = "external")]
    External,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
