//! Providers: the public list (active providers only), and a small in-memory
//! directory of provider names, timezones and active flags so the 304 path
//! needs no database round trip.

use std::sync::Arc;

use chrono_tz::Tz;
use entity::{provider, service};
use quick_cache::sync::Cache;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::app::{App, AppError};

/// Providers the directory keeps at most (the least used go first; one
/// evicted is read again on its next use).
const DIRECTORY_CAPACITY: u64 = 100_000;
/// Providers it is sized for at first (it grows as needed).
const DIRECTORY_ESTIMATE: usize = 1_024;

#[derive(Clone, Debug)]
pub struct ProviderInfo {
    pub id: Uuid,
    pub name: String,
    pub timezone: Tz,
    /// False once deactivated.
    pub active: bool,
}

/// Entries are dropped whenever the catalogue changes a provider (`forget`):
/// by the admin API or an import on this instance at once, on other
/// instances through the relay's catalogue notifications (PostgreSQL), and
/// all of them whenever the relay reconnects (a notification may be lost).
///
/// A miss is read once however many requests want it at the same time: after
/// a restart every subscriber of a provider reconnects within the `retry:`
/// window, and each would otherwise read the same row
/// (`slotstream_directory_reads_total` counts the reads). The single flight
/// is `quick_cache`'s placeholder, as for the shared catch-up's log pages:
/// the reader holds a guard, and a read that fails or is cancelled (its
/// client hung up) drops it, leaving nothing behind; a waiter then reads
/// instead. Only providers that exist are kept, so random ids cannot grow it.
#[derive(Clone)]
pub struct ProviderDirectory {
    db: DatabaseConnection,
    known: Arc<Cache<Uuid, Arc<ProviderInfo>>>,
}

impl ProviderDirectory {
    pub fn new(db: DatabaseConnection) -> ProviderDirectory {
        let known = Cache::with(
            DIRECTORY_ESTIMATE,
            DIRECTORY_CAPACITY,
            Default::default(),
            Default::default(),
            Default::default(),
        );
        ProviderDirectory { db, known: Arc::new(known) }
    }

    /// The provider, or `NotFound`.
    pub async fn get(&self, id: Uuid) -> Result<Arc<ProviderInfo>, AppError> {
        let guard = match self.known.get_value_or_guard_async(&id).await {
            Ok(info) => return Ok(info),
            Err(guard) => guard,
        };
        let info = self.read(id).await?;
        // Refused when `forget` ran during the read: served, not kept.
        let _ = guard.insert(info.clone());
        Ok(info)
    }

    /// The provider if it is held now and active; never a read (the
    /// in-memory 304, `App::not_modified_in_memory`).
    pub fn cached_active(&self, id: Uuid) -> Option<Arc<ProviderInfo>> {
        self.known.get(&id).filter(|info| info.active)
    }

    /// Providers held now (reported as `slotstream_directory_entries`).
    pub fn entries(&self) -> usize {
        self.known.len()
    }

    async fn read(&self, id: Uuid) -> Result<Arc<ProviderInfo>, AppError> {
        metrics::counter!("slotstream_directory_reads_total").increment(1);
        let row = provider::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("provider {id} does not exist")))?;
        Ok(Arc::new(info_of(&row)?))
    }

    /// The provider, or `NotFound`, or `Gone` once deactivated.
    pub async fn get_active(&self, id: Uuid) -> Result<Arc<ProviderInfo>, AppError> {
        let info = self.get(id).await?;
        if info.active { Ok(info) } else { Err(AppError::Gone(format!("provider {id} is deactivated"))) }
    }

    /// Drop a provider's entry (or a read of it in flight, which is then
    /// not kept): it is read again on next use.
    pub fn forget(&self, id: Uuid) {
        self.known.remove(&id);
    }

    /// Drop every entry.
    pub fn forget_all(&self) {
        self.known.clear();
    }
}

fn info_of(row: &provider::Model) -> Result<ProviderInfo, AppError> {
    let timezone = row
        .timezone
        .parse::<Tz>()
        .map_err(|_| AppError::Internal(format!("provider {} has an unknown timezone {:?}", row.id, row.timezone)))?;
    Ok(ProviderInfo { id: row.id, name: row.name.clone(), timezone, active: row.active })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// ISO 4217 code of the provider's prices.
    pub currency: String,
    pub version: i64,
    pub services: Vec<ServiceView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    /// Price in the currency's minor unit (`4000` with `PLN` is 40.00 zł).
    pub price_cents: i64,
    /// ISO 4217 code of `priceCents`.
    pub currency: String,
}

impl App {
    /// Every active provider with its services, by name.
    pub async fn list_providers(&self) -> Result<Vec<ProviderView>, AppError> {
        let providers = provider::Entity::find()
            .filter(provider::Column::Active.eq(true))
            .order_by_asc(provider::Column::Name)
            .all(&self.db)
            .await?;
        let services = service::Entity::find()
            .order_by_asc(service::Column::DurationMinutes)
            .order_by_asc(service::Column::Name)
            .all(&self.db)
            .await?;
        Ok(providers
            .into_iter()
            .map(|p| ProviderView {
                services: services
                    .iter()
                    .filter(|s| s.provider_id == p.id)
                    .map(|s| ServiceView {
                        id: s.id,
                        name: s.name.clone(),
                        duration_minutes: s.duration_minutes,
                        price_cents: s.price_cents,
                        currency: s.currency.clone(),
                    })
                    .collect(),
                id: p.id,
                name: p.name,
                timezone: p.timezone,
                address: p.address,
                description: p.description,
                currency: p.currency,
                version: p.version,
            })
            .collect())
    }
}
