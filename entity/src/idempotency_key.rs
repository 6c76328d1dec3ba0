//! A remembered response for an `Idempotency-Key`, so a retried booking books nothing twice.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    /// SHA-256 (hex) of the client's key; the key itself is not stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// SHA-256 (hex) of the request body, to refuse a reused key with another request.
    pub request_hash: String,
    pub booking_id: Uuid,
    pub response_body: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
