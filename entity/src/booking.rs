//! A customer's booking. Holds customer data: never exposed on public endpoints.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub service_id: Uuid,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub status: Status,
    pub customer_name: String,
    pub customer_email: String,
    /// SHA-256 (hex) of the booking token; the token itself is shown once.
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Who cancelled it (`customer`, `provider`, `admin`, `system`), once cancelled.
    pub cancelled_by: Option<String>,
    /// Why, when the one who cancelled said so (the provider, to the customer).
    pub cancellation_reason: Option<String>,
}

/// A booking's status, stored and on the wire alike (the API's and the
/// webhooks' `status`); cancelling is the only change. The strings are
/// today's stored values: never rename one without a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, serde::Serialize, serde::Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[sea_orm(string_value = "confirmed")]
    Confirmed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
