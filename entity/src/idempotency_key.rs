//! A booking made with an `Idempotency-Key`, so a retry from the same client
//! books nothing twice and gets its answer again. Nothing here lets a reader
//! of the database act on the booking: the key and the client are only
//! hashed, and the booking token is sealed under a key derived from them.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    /// SHA-256 (hex) over the client's scope and its key; neither is stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// Keyed SHA-256 (hex) of the request, to refuse a reused key with another
    /// request; keyed so it confirms no guess of the customer's details.
    pub request_hash: String,
    pub booking_id: Uuid,
    /// The booking token, ChaCha20-Poly1305-sealed (base64 of nonce and
    /// ciphertext) under a key only the retrying client can derive again.
    pub sealed_token: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
