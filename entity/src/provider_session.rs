//! A signed-in person's session on one provider's agenda (the cookie). The
//! cookie's token is stored only as its SHA-256.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    /// SHA-256 (hex) of the cookie's token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The key that minted the sign-in link; its revocation ends the session.
    pub key_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set on sign-out, on the provider's deactivation, or when the key behind it was revoked.
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
