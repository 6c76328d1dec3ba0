//! Queries: what clients read, and the caches that make reading cheap. No
//! query writes to the database.
//!
//! - `availability_document`: one provider's slots over a date range, with
//!   its strong ETag (`etags`) and the render cache (`render_cache`);
//! - `batch` and `next_free`: many providers' documents at once, or a
//!   summary of their next free times, under one ETag;
//! - `changes` and `many_changes`: the change streams of one provider and
//!   of many, the door the SSE handlers read through;
//! - `providers`: the public provider list, and the provider directory
//!   (names, zones, active flags) that commands and queries alike read
//!   instead of the database.
//!
//! Invariants: equal tags mean byte-equal bodies, and any committed change
//! means a new tag (a document carries the version it was rendered at). The
//! 304 path reads versions from the bus and touches no database; a render
//! reads the version and the slots from one snapshot, so writers never make
//! a read fail or retry. A stream is subscribed before it is returned, so
//! every change committed afterwards reaches it. Why a folder of its own:
//! reads have their own concerns (tags, caches, snapshots) that no command
//! shares, and a reader of a command should not have to step over them.

mod availability_document;
mod batch;
mod changes;
mod etags;
mod many_changes;
mod next_free;
mod providers;
mod render_cache;

pub(in crate::app) use availability_document::group_by_day;
pub use availability_document::{
    AvailabilityBody, AvailabilityDocument, AvailabilityQuery, Conditional, DAYS_MAX, DayBody, HeldCopy, SlotBody,
    resolve_range,
};
pub use batch::{BatchBody, BatchConditional, BatchDocument, BatchQuery, BatchView, PROVIDERS_MAX};
pub use many_changes::ManyChanges;
pub use next_free::{FreeTime, NextFreeBody};
pub use providers::{ProviderDirectory, ProviderInfo, ProviderView, ServiceView};
pub(super) use render_cache::RenderCache;

/// A read of several tables from one snapshot: a read-only repeatable-read
/// transaction on PostgreSQL; a read transaction on SQLite, whose WAL gives
/// it a snapshot. Writers never make it fail or retry.
pub(in crate::app) async fn read_snapshot(
    db: &sea_orm::DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{AccessMode, DbBackend, IsolationLevel, TransactionTrait};
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
        }
        _ => db.begin().await,
    }
}

/// The provider's row and its slots on the local dates `[start, end)`, by
/// date and start, read in `snapshot` (from `read_snapshot`): the one read
/// of the public document and the private agenda.
pub(in crate::app) async fn provider_and_slots(
    snapshot: &sea_orm::DatabaseTransaction,
    provider_id: uuid::Uuid,
    start: chrono::NaiveDate,
    end: chrono::NaiveDate,
) -> Result<(entity::provider::Model, Vec<entity::availability_slot::Model>), crate::app::AppError> {
    use entity::{availability_slot, provider};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let row = provider::Entity::find_by_id(provider_id)
        .one(snapshot)
        .await?
        .ok_or_else(|| crate::app::AppError::NotFound(format!("provider {provider_id} does not exist")))?;
    let slots = availability_slot::Entity::find()
        .filter(availability_slot::Column::ProviderId.eq(provider_id))
        .filter(availability_slot::Column::Date.gte(start))
        .filter(availability_slot::Column::Date.lt(end))
        .order_by_asc(availability_slot::Column::Date)
        .order_by_asc(availability_slot::Column::StartTime)
        .all(snapshot)
        .await?;
    Ok((row, slots))
}
