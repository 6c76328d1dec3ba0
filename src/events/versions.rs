//! Providers' committed versions as the database has them: what the bus is
//! primed with at start-up, and what a subscriber or the reconciler compares
//! the bus against. (The in-memory, published versions are the bus's.)

use entity::provider;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// The provider's committed version, from the database.
pub async fn committed<C: ConnectionTrait>(conn: &C, provider_id: Uuid) -> Result<Option<i64>, DbErr> {
    let row = provider::Entity::find_by_id(provider_id).one(conn).await?;
    Ok(row.map(|p| p.version))
}

/// Every provider's committed version (start-up and relay catch-up).
pub async fn all_committed<C: ConnectionTrait>(conn: &C) -> Result<Vec<(Uuid, i64)>, DbErr> {
    let rows = provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .column(provider::Column::Version)
        .into_tuple::<(Uuid, i64)>()
        .all(conn)
        .await?;
    Ok(rows)
}

/// The committed versions of `provider_ids`, in their order (one query);
/// `None` for an id with no provider.
pub async fn committed_many<C: ConnectionTrait>(conn: &C, provider_ids: &[Uuid]) -> Result<Vec<Option<i64>>, DbErr> {
    let rows: std::collections::HashMap<Uuid, i64> = provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .column(provider::Column::Version)
        .filter(provider::Column::Id.is_in(provider_ids.iter().copied()))
        .into_tuple::<(Uuid, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    Ok(provider_ids.iter().map(|id| rows.get(id).copied()).collect())
}
