//! A bookable service of a provider (a haircut, a consultation).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    /// Price in the currency's minor unit (grosze, pence, cents).
    pub price_cents: i64,
    /// ISO 4217 code of `price_cents`.
    pub currency: String,
    /// The marketplace's own id for the service, unique within its provider.
    pub external_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
