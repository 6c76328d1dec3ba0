//! The index's reads of the database: providers with their services and
//! their available slots from yesterday on, each batch from one snapshot so
//! a provider's slots agree with its version.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use entity::{availability_slot, provider, service};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::index::{IndexedProvider, IndexedService};
use crate::app::queries::read_snapshot;
use crate::domain::{FreeSlot, slot_span};

/// Providers read in one go (the `IN` lists stay well inside every engine's limits).
pub(super) const BATCH: usize = 500;

/// What one read found.
pub(super) struct Read {
    /// Active providers, complete.
    pub providers: Vec<IndexedProvider>,
    /// Asked for but deactivated or missing: out of the index.
    pub gone: Vec<Uuid>,
}

/// The ids of active providers after `after`, in id order, at most `BATCH`.
pub(super) async fn active_ids_after(db: &DatabaseConnection, after: Option<Uuid>) -> Result<Vec<Uuid>, DbErr> {
    let mut find = provider::Entity::find()
        .select_only()
        .column(provider::Column::Id)
        .filter(provider::Column::Active.eq(true))
        .filter(provider::Column::SlotSource.eq(provider::SlotSource::Schedule))
        .order_by_asc(provider::Column::Id)
        .limit(BATCH as u64);
    if let Some(after) = after {
        find = find.filter(provider::Column::Id.gt(after));
    }
    find.into_tuple::<Uuid>().all(db).await
}

/// Read `ids` (at most `BATCH`) whole: catalogue and free slots from `since` on.
pub(super) async fn providers(db: &DatabaseConnection, ids: &[Uuid], since: NaiveDate) -> Result<Read, DbErr> {
    let snapshot = read_snapshot(db).await?;
    let rows = provider::Entity::find().filter(provider::Column::Id.is_in(ids.iter().copied())).all(&snapshot).await?;
    let mut services = services_of(&snapshot, ids).await?;
    let slots = availability_slot::Entity::find()
        .select_only()
        .columns([
            availability_slot::Column::Id,
            availability_slot::Column::ProviderId,
            availability_slot::Column::Date,
            availability_slot::Column::StartTime,
            availability_slot::Column::EndTime,
        ])
        .filter(availability_slot::Column::ProviderId.is_in(ids.iter().copied()))
        .filter(availability_slot::Column::Status.eq(availability_slot::Status::Available))
        .filter(availability_slot::Column::Date.gte(since))
        .into_tuple::<(Uuid, Uuid, NaiveDate, chrono::NaiveTime, chrono::NaiveTime)>()
        .all(&snapshot)
        .await?;
    snapshot.commit().await?;

    let mut found: HashMap<Uuid, IndexedProvider> = HashMap::new();
    for row in rows.into_iter().filter(searchable) {
        // A zone the database holds but chrono-tz does not know cannot be
        // searched in; the provider's own pages report it.
        let Ok(timezone) = row.timezone.parse::<Tz>() else {
            tracing::warn!(provider = %row.id, zone = row.timezone, "search: unknown timezone; provider left out");
            continue;
        };
        let provider = IndexedProvider {
            id: row.id,
            name: row.name,
            address: row.address,
            timezone,
            version: row.version,
            services: services.remove(&row.id).unwrap_or_default(),
            free: Vec::new(),
        };
        found.insert(row.id, provider);
    }
    for (id, provider_id, date, start, end) in slots {
        let Some(provider) = found.get_mut(&provider_id) else { continue };
        // A legacy slot in a daylight-saving gap has no instants: not bookable.
        if let Ok((from, to)) = slot_span(provider.timezone, date, start, end) {
            provider.free.push(FreeSlot { start: from.timestamp(), end: to.timestamp(), id });
        }
    }
    for provider in found.values_mut() {
        provider.free.sort_unstable_by_key(|slot| (slot.start, slot.id));
        provider.free.shrink_to_fit();
    }
    let gone = ids.iter().copied().filter(|id| !found.contains_key(id)).collect();
    Ok(Read { providers: found.into_values().collect(), gone })
}

/// Is the provider in the search? Active, and booked here: an `external`
/// provider's times are booked in the marketplace's own system (a hold is
/// refused with `books-elsewhere`), and every time the search offers can be
/// held as it is.
pub(super) fn searchable(row: &provider::Model) -> bool {
    row.active && row.slot_source == provider::SlotSource::Schedule
}

/// Every provider's catalogue (name, address, zone, services, active) and
/// version, without slots: what "anything may have changed" compares.
pub(super) async fn catalogue(db: &DatabaseConnection) -> Result<Vec<(provider::Model, Vec<IndexedService>)>, DbErr> {
    let rows = provider::Entity::find().all(db).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut services = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        services.extend(services_of(db, chunk).await?);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let offered = services.remove(&row.id).unwrap_or_default();
            (row, offered)
        })
        .collect())
}

async fn services_of(
    conn: &impl sea_orm::ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<IndexedService>>, DbErr> {
    let rows = service::Entity::find()
        .filter(service::Column::ProviderId.is_in(ids.iter().copied()))
        .order_by_asc(service::Column::Name)
        .all(conn)
        .await?;
    let mut by_provider: HashMap<Uuid, Vec<IndexedService>> = HashMap::new();
    for row in rows {
        // A service of no length (or a negative one) fits nowhere.
        let Ok(duration_minutes) = u32::try_from(row.duration_minutes) else { continue };
        if duration_minutes == 0 {
            continue;
        }
        by_provider.entry(row.provider_id).or_default().push(IndexedService {
            id: row.id,
            folded: row.name.to_lowercase(),
            name: row.name,
            duration_minutes,
            price_minor: row.price_cents,
            currency: row.currency,
        });
    }
    Ok(by_provider)
}
