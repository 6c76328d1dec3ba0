//! A customer's hold on the slots of one service at one start time, while
//! the booking form is open. Its token is stored only as a hash; its client
//! scope only as a hash of the rate limiter's client identity.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "slot_hold")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    /// SHA-256 (hex) of the hold token; the token itself is shown once.
    pub token_hash: String,
    /// SHA-256 (hex) of the client identity that took it (the per-client cap).
    pub client_scope: String,
    pub status: Status,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// A renewal never moves `expires_at` past this.
    pub max_expires_at: DateTimeUtc,
    /// The waitlist entry this hold is an offer to (its token is the entry's).
    pub waitlist_entry_id: Option<Uuid>,
}

/// A hold's life: active until released, expired or converted into a
/// booking; an ended hold never changes again. The strings are today's stored
/// values: never rename one without a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "released")]
    Released,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "converted")]
    Converted,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
