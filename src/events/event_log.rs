//! The event log (`slot_event`): appended in the writer's transaction, read
//! by subscribers that resume or catch up, pruned by age and count.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{provider, slot_event};
use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoIden, Query, QueryStatementBuilder};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::Lane;

use super::PublishedEvent;
use crate::domain::{Actor, AvailabilitySlotChangedEvent};

/// Events per INSERT. Each row binds 13 values, so a statement binds at most
/// 13,000: under SQLite's limit of 32,766 and PostgreSQL's of 65,535. One
/// unchunked INSERT failed above 3,276 events on SQLite.
const EVENTS_PER_INSERT: usize = 1_000;

/// Append `events` as versions `base_version + 1 ..` (in chunks of
/// [`EVENTS_PER_INSERT`] rows, all in the caller's transaction), returning
/// them ready to publish.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    base_version: i64,
    events: &[AvailabilitySlotChangedEvent],
) -> Result<Vec<Arc<PublishedEvent>>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut next_version = base_version + 1;
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let rows = chunk.iter().zip(next_version..).map(|(e, version)| slot_event::ActiveModel {
            provider_id: Set(e.provider_id),
            version: Set(version),
            availability_id: Set(e.availability_id),
            date: Set(e.date),
            start_time: Set(e.start_time),
            end_time: Set(e.end_time),
            previous_status: Set(e.previous_status.map(Into::into)),
            new_status: Set(e.new_status.into()),
            booking_id: Set(e.booking_id),
            changed_at: Set(e.changed_at),
            starts_at: Set(e.span.map(|(from, _)| from)),
            ends_at: Set(e.span.map(|(_, to)| to)),
            changed_by: Set(e.changed_by.map(|by| by.as_str().to_owned())),
        });
        slot_event::Entity::insert_many(rows).exec_without_returning(conn).await?;
        next_version += chunk.len() as i64;
    }
    Ok(events.iter().zip(base_version + 1..).map(|(e, version)| PublishedEvent::new(version, e)).collect())
}

/// Up to `limit` events of a provider after `after`, oldest first. Each call
/// counts in `slotstream_log_reads_total` (catch-up and relay reads alike).
pub async fn after<C: ConnectionTrait>(
    conn: &C,
    provider_id: Uuid,
    after: i64,
    limit: u64,
) -> Result<Vec<Arc<PublishedEvent>>, DbErr> {
    metrics::counter!("slotstream_log_reads_total").increment(1);
    let rows = slot_event::Entity::find()
        .filter(slot_event::Column::ProviderId.eq(provider_id))
        .filter(slot_event::Column::Version.gt(after))
        .order_by_asc(slot_event::Column::Version)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows.iter().map(|row| PublishedEvent::new(row.version, &to_domain(row))).collect())
}

/// The oldest version still kept for a provider, if any.
pub async fn oldest_kept<C: ConnectionTrait>(conn: &C, provider_id: Uuid) -> Result<Option<i64>, DbErr> {
    let row = slot_event::Entity::find()
        .filter(slot_event::Column::ProviderId.eq(provider_id))
        .order_by_asc(slot_event::Column::Version)
        .one(conn)
        .await?;
    Ok(row.map(|r| r.version))
}

/// Delete events older than `older_than` and beyond the newest `keep` of
/// each provider. The newest event of a provider is never deleted, so a
/// resume point can always be told apart from "pruned"; nor is an event an
/// active webhook subscription has yet to deliver (at least once, however
/// long its receiver is down before the subscription is marked failing).
pub async fn prune<C: ConnectionTrait>(conn: &C, older_than: DateTime<Utc>, keep: i64) -> Result<u64, DbErr> {
    let newest = || provider_version_of(slot_event::Entity, slot_event::Column::ProviderId);
    let version = || Expr::col((slot_event::Entity, slot_event::Column::Version));
    let keep = Ord::max(keep, 1);
    let aged = slot_event::Entity::delete_many()
        .filter(slot_event::Column::ChangedAt.lt(older_than))
        .filter(version().lt(newest()))
        .filter(delivered_to_webhooks(slot_event::Entity, slot_event::Column::ProviderId, version().mul(Lane::COUNT)))
        .exec(conn)
        .await?
        .rows_affected;
    let counted = slot_event::Entity::delete_many()
        .filter(version().lte(newest().sub(keep)))
        .filter(delivered_to_webhooks(slot_event::Entity, slot_event::Column::ProviderId, version().mul(Lane::COUNT)))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(aged + counted)
}

/// The version of the provider of the row being looked at in `table` (a
/// correlated subquery on `provider_column`).
pub fn provider_version_of(table: impl IntoIden + 'static, provider_column: impl IntoIden + 'static) -> Expr {
    Expr::SubQuery(
        None,
        Box::new(
            Query::select()
                .column((provider::Entity, provider::Column::Version))
                .from(provider::Entity)
                .and_where(Expr::col((provider::Entity, provider::Column::Id)).equals((table, provider_column)))
                .to_owned()
                .into_sub_query_statement(),
        ),
    )
}

/// A condition on a row of `table` at webhook log `position` (`2 × version`
/// for a slot event, `2 × version + 1` for a booking event): every active
/// webhook subscription of the row's provider has delivered it (its cursor
/// is at or past it), or there is none.
pub fn delivered_to_webhooks(
    table: impl IntoIden + Copy + 'static,
    provider_column: impl IntoIden + Copy + 'static,
    position: Expr,
) -> Expr {
    use entity::webhook_subscription::{Column, Entity, Status};
    let lowest_cursor = Query::select()
        .expr(Expr::col((Entity, Column::Cursor)).min())
        .from(Entity)
        .and_where(Expr::col((Entity, Column::ProviderId)).equals((table, provider_column)))
        .and_where(Expr::col((Entity, Column::Status)).eq(Status::Active))
        .to_owned()
        .into_sub_query_statement();
    let lowest_cursor: Expr = Func::coalesce([Expr::SubQuery(None, Box::new(lowest_cursor)), position.clone()]).into();
    position.lte(lowest_cursor)
}

fn to_domain(row: &slot_event::Model) -> AvailabilitySlotChangedEvent {
    AvailabilitySlotChangedEvent {
        availability_id: row.availability_id,
        provider_id: row.provider_id,
        date: row.date,
        start_time: row.start_time,
        end_time: row.end_time,
        previous_status: row.previous_status.map(Into::into),
        new_status: row.new_status.into(),
        booking_id: row.booking_id,
        changed_at: row.changed_at,
        changed_by: row.changed_by.as_deref().and_then(Actor::parse),
        span: row.starts_at.zip(row.ends_at),
    }
}
