//! A customer waiting for a time of one service of one provider, between two
//! dates and optionally within times of day. Its token and its client's
//! identity are stored only as SHA-256.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    /// First and last local date of the window (the provider's zone).
    pub from_date: Date,
    pub to_date: Date,
    /// The times of day, as JSON `[["14:00","18:00"], …]`; whole days when absent.
    pub times: Option<String>,
    pub customer_name: String,
    pub customer_email: String,
    /// SHA-256 (hex) of the entry's token (which also reaches its offers' holds).
    #[sea_orm(unique)]
    pub token_hash: String,
    /// SHA-256 (hex) of the client identity that joined (the per-client cap).
    pub client_scope: String,
    pub status: Status,
    /// Its place in its provider's line: one more than the last entry's,
    /// taken under the provider's lock (two joins in one millisecond still
    /// have an order; `created_at` alone would tie).
    pub place: i64,
    pub created_at: DateTimeUtc,
    /// The end of the window: after it the entry waits for nothing.
    pub expires_at: DateTimeUtc,
    /// The hold of the current offer, while `offered`.
    pub offer_hold_id: Option<Uuid>,
    /// The starts it declined, as a JSON array of RFC 3339 instants: never offered to it again.
    pub declined: Option<String>,
    /// When it stopped waiting (fulfilled, left, expired, notified).
    pub ended_at: Option<DateTimeUtc>,
}

/// An entry's life: `waiting` in line; `offered` while a time is held for it
/// (a decline puts it back to `waiting`); then `fulfilled` (it booked the
/// offer), `left`, `expired` (an offer ran out unclaimed) or `notified` (told
/// of a time at a provider whose slots another system books, which
/// slotstream cannot hold). The strings are stored: never rename one without a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[sea_orm(string_value = "waiting")]
    Waiting,
    #[sea_orm(string_value = "offered")]
    Offered,
    #[sea_orm(string_value = "fulfilled")]
    Fulfilled,
    #[sea_orm(string_value = "left")]
    Left,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "notified")]
    Notified,
}

impl Status {
    /// Still in line (waiting, or holding an offer).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Waiting | Status::Offered)
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
