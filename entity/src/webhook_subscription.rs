//! A provider's webhook receiver: where to send which events, the secret that
//! signs them (kept so that it can sign; shown to the provider only once),
//! how far delivery has got (`cursor`), its retry state, and the lease that
//! lets one sender at a time deliver for it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscription")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub url: String,
    /// Comma-separated event types (`booking.created`, `slot.changed`, …).
    pub events: String,
    /// The Standard Webhooks secret, `whsec_<base64>`.
    pub secret: String,
    pub status: Status,
    /// The log position delivered up to (inclusive): `3 × version` for the
    /// slot event of that version, `+ 1` for the booking event and `+ 2`
    /// for the waitlist event committed at that version (`events::Lane`).
    pub cursor: i64,
    /// Failed attempts at the event after the cursor.
    pub attempts: i32,
    /// No attempt before this (back-off after a failure).
    pub next_attempt_at: Option<DateTimeUtc>,
    /// The first failure of the current run of failures.
    pub failing_since: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// The sender (instance) delivering for it, until `lease_until`.
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

/// Whether a subscription is delivered to: `Active`, or `Failing` (retries
/// gave up; nothing is sent until the provider re-enables it). Stored and on
/// the wire (the API's `status`) alike; the strings are today's stored
/// values: never rename one without a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "failing")]
    Failing,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
