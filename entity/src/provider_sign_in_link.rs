//! A one-time sign-in link for a person at a provider's front desk. The code
//! in the link is stored only as its SHA-256; it works once, for a short time.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_sign_in_link")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    /// SHA-256 (hex) of the link's code.
    #[sea_orm(unique)]
    pub code_hash: String,
    /// The provider key that minted the link; `None` when the operator did.
    pub key_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set when the link was exchanged for a session: it never works again.
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
