//! Providers in the catalogue: upsert one by the marketplace's external id
//! (created, changed or left as it was), deactivate and reactivate it, and
//! show it whole (services, weekly schedule, keys without secrets).
//!
//! Invariants: a timezone change is refused while the provider has slots
//! from today on (they are stored in local time: moving them under a new
//! zone would move every booking's instant), and so is a change of
//! `slotSource` (slots made here would sit among the upstream's, or the
//! upstream's would be booked here); a switch to `external` drops the
//! weekly schedule, which no longer plans anything. An allowed zone,
//! source or booking URL change, like
//! deactivation and reactivation, advances the provider's version with no
//! event of its own, so cached documents and tags change and streams get a
//! reset. Two upserts creating one provider at once never meet a unique
//! violation (`insert_new_provider`).

use chrono::{DateTime, Utc};
use entity::{availability_slot, provider, provider_schedule, service};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TryInsertResult,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::booking_url::check_booking_url;
use super::keys::keys_of;
use super::schedule_input::schedule_of;
use super::services::service_view;
use super::{AdminService, KeyView, ScheduleInput, Upserted, check_currency, check_external_id, check_text};
use super::{existing_provider, provider_by_external_id};
use crate::app::storage::sessions::{SessionsOf, end_sessions};
use crate::app::storage::unit_of_work::{CatalogueWrite, advance_version};
use crate::app::{App, AppError};
use crate::events::relay::{CatalogueChange, notify_catalogue};

/// A provider as the marketplace describes it (`PUT /api/v1/admin/providers/{externalId}`).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderFields {
    pub name: String,
    /// IANA timezone, e.g. `Europe/Warsaw`.
    pub timezone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    /// ISO 4217 code, e.g. `PLN`.
    pub currency: String,
    /// `schedule` (weekly schedules, bookings and holds here; a new
    /// provider's default) or `external` (the marketplace's booking system
    /// owns the slots and publishes their changes; bookings and holds here
    /// answer `books-elsewhere`). Absent: left as it is, so a sync or an
    /// import that does not know it never resets it.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "external")]
    pub slot_source: Option<provider::SlotSource>,
    /// Where an `external` provider's times are booked: an absolute URL
    /// template with `{providerId}` (the marketplace's id), `{externalSlotId}`
    /// and `{startsAt}` (RFC 3339 UTC). Absent: left as it is; `""`: none.
    #[serde(default)]
    pub booking_url: Option<String>,
}

/// A provider as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminProvider {
    pub id: Uuid,
    pub external_id: String,
    pub name: String,
    pub timezone: String,
    pub address: Option<String>,
    pub description: Option<String>,
    pub currency: String,
    pub active: bool,
    pub deactivated_at: Option<DateTime<Utc>>,
    /// `schedule` or `external`.
    #[schema(value_type = String)]
    pub slot_source: provider::SlotSource,
    pub booking_url: Option<String>,
    /// The last sequence of slot changes applied from the booking system (`external`), if any.
    pub sequence: Option<i64>,
}

/// A provider as the admin API shows it whole
/// (`GET /api/v1/admin/providers/{externalId}`): never a key's secret nor its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminProviderDetail {
    #[serde(flatten)]
    pub provider: AdminProvider,
    /// The version its documents and ETags are at (deactivation and
    /// reactivation advance it too).
    pub version: i64,
    /// By external id.
    pub services: Vec<AdminService>,
    /// The weekly schedule as set, or `null` if none was.
    pub schedule: Option<ScheduleInput>,
    /// Oldest first, revoked ones too.
    pub keys: Vec<KeyView>,
}

impl ProviderFields {
    pub(in crate::app) fn check(&self) -> Result<chrono_tz::Tz, AppError> {
        check_text("name", &self.name, 200)?;
        if let Some(address) = &self.address {
            check_text("address", address, 500)?;
        }
        if let Some(description) = &self.description
            && description.chars().count() > 2000
        {
            return Err(AppError::Invalid("description must be at most 2000 characters".into()));
        }
        check_currency(&self.currency)?;
        if let Some(template) = self.booking_url.as_deref().filter(|t| !t.is_empty()) {
            check_booking_url(template)?;
        }
        self.timezone
            .parse()
            .map_err(|_| AppError::Invalid(format!("timezone must be an IANA timezone, got {:?}", self.timezone)))
    }

    fn same_as(&self, row: &provider::Model) -> bool {
        self.name == row.name
            && self.timezone == row.timezone
            && self.address == row.address
            && self.description == row.description
            && self.currency == row.currency
            && self.slot_source_for(Some(row)) == row.slot_source
            && self.booking_url_for(Some(row)) == row.booking_url
    }

    /// The source these fields give a provider that is `row` now (or new).
    fn slot_source_for(&self, row: Option<&provider::Model>) -> provider::SlotSource {
        self.slot_source.or(row.map(|row| row.slot_source)).unwrap_or_default()
    }

    /// The booking URL these fields give a provider that is `row` now (or new).
    fn booking_url_for(&self, row: Option<&provider::Model>) -> Option<String> {
        match self.booking_url.as_deref() {
            Some("") => None,
            Some(template) => Some(template.to_owned()),
            None => row.and_then(|row| row.booking_url.clone()),
        }
    }
}

fn provider_view(row: provider::Model) -> AdminProvider {
    AdminProvider {
        id: row.id,
        external_id: row.external_id.unwrap_or_default(),
        name: row.name,
        timezone: row.timezone,
        address: row.address,
        description: row.description,
        currency: row.currency,
        active: row.active,
        deactivated_at: row.deactivated_at,
        slot_source: row.slot_source,
        booking_url: row.booking_url,
        sequence: row.external_sequence,
    }
}

/// Insert `row` unless its external id exists; whether it was inserted.
/// Two upserts creating one provider at once never meet a unique violation:
/// on PostgreSQL the second waits for the first's commit and inserts nothing
/// (`ON CONFLICT DO NOTHING`), then finds and locks the first's row. On
/// SQLite the write transaction (`BEGIN IMMEDIATE`, the single writer)
/// excludes any other writer, so the row was looked for just before; and
/// an upsert target there is resolved against the connection's cached
/// schema, which a pooled connection may hold from before the index existed.
async fn insert_new_provider(tx: &DatabaseTransaction, row: &provider::Model) -> Result<bool, DbErr> {
    let insert = provider::Entity::insert(provider::ActiveModel::from(row.clone()).reset_all());
    if tx.get_database_backend() != DbBackend::Postgres {
        insert.exec_without_returning(tx).await?;
        return Ok(true);
    }
    let inserted = insert.on_conflict_do_nothing_on([provider::Column::ExternalId]).exec_without_returning(tx).await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(rows) if rows > 0))
}

impl App {
    /// Create or update the provider with `external_id`. A timezone change
    /// is refused (409 `conflict`) while the provider has slots from today
    /// on: they are stored in local time, and moving them under a new zone
    /// would move every booking's instant. An allowed one advances the
    /// provider's version.
    #[tracing::instrument(skip(self, fields))]
    pub async fn upsert_provider(
        &self,
        external_id: &str,
        fields: ProviderFields,
    ) -> Result<(AdminProvider, Upserted), AppError> {
        check_external_id("externalId", external_id)?;
        fields.check()?;
        // A sync mostly finds things as they are: say so without a write.
        if let Some(row) = provider::Entity::find()
            .filter(provider::Column::ExternalId.eq(external_id))
            .one(&self.db)
            .await?
            .filter(|row| fields.same_as(row))
        {
            return Ok((provider_view(row), Upserted::Unchanged));
        }
        let write = CatalogueWrite::begin(self).await?;
        let now = Utc::now();
        let created = provider::Model {
            id: Uuid::new_v4(),
            name: fields.name.clone(),
            timezone: fields.timezone.clone(),
            address: fields.address.clone(),
            description: fields.description.clone(),
            currency: fields.currency.clone(),
            version: 0,
            updated_at: now,
            previous_updated_at: None,
            external_id: Some(external_id.to_owned()),
            active: true,
            deactivated_at: None,
            slot_source: fields.slot_source_for(None),
            booking_url: fields.booking_url_for(None),
            external_sequence: None,
        };
        let existing = match provider_by_external_id(&write.tx, external_id).await? {
            Some(row) => Some(row),
            None if insert_new_provider(&write.tx, &created).await? => None,
            // Another upsert created it meanwhile (PostgreSQL): change that one.
            None => Some(existing_provider(&write.tx, external_id).await?),
        };
        let mut advanced = None;
        let (row, outcome) = match existing {
            None => (created, Upserted::Created),
            Some(row) if fields.same_as(&row) => (row, Upserted::Unchanged),
            Some(row) => {
                let moves_zone = fields.timezone != row.timezone;
                let (slot_source, booking_url) =
                    (fields.slot_source_for(Some(&row)), fields.booking_url_for(Some(&row)));
                let moves_source = slot_source != row.slot_source;
                if moves_zone {
                    refuse_with_slots_ahead(&write.tx, &row, now, "the timezone", "they are kept in local time")
                        .await?;
                }
                if moves_source {
                    refuse_with_slots_ahead(&write.tx, &row, now, "slotSource", "they belong to the old source")
                        .await?;
                    if slot_source == provider::SlotSource::External {
                        provider_schedule::Entity::delete_by_id(row.id).exec(&write.tx).await?;
                    }
                }
                if moves_zone || moves_source || booking_url != row.booking_url {
                    // Every document shows the zone and its instants, and an
                    // external provider's slots their booking URL: a new
                    // version (with no event of its own) gives cached
                    // documents and tags a new one, and streams a reset.
                    advance_version(&write.tx, row.id, row.version + 1, row.updated_at).await?;
                    advanced = Some((row.id, row.version + 1));
                }
                let changed = provider::Model {
                    name: fields.name,
                    timezone: fields.timezone,
                    address: fields.address,
                    description: fields.description,
                    currency: fields.currency,
                    slot_source,
                    booking_url,
                    version: advanced.map_or(row.version, |(_, version)| version),
                    ..row
                };
                provider::Entity::update_many()
                    .col_expr(provider::Column::Name, Expr::value(changed.name.clone()))
                    .col_expr(provider::Column::Timezone, Expr::value(changed.timezone.clone()))
                    .col_expr(provider::Column::Address, Expr::value(changed.address.clone()))
                    .col_expr(provider::Column::Description, Expr::value(changed.description.clone()))
                    .col_expr(provider::Column::Currency, Expr::value(changed.currency.clone()))
                    .col_expr(provider::Column::SlotSource, Expr::value(changed.slot_source))
                    .col_expr(provider::Column::BookingUrl, Expr::value(changed.booking_url.clone()))
                    .filter(provider::Column::Id.eq(changed.id))
                    .exec(&write.tx)
                    .await?;
                notify_catalogue(&write.tx, &CatalogueChange::Provider(changed.id)).await?;
                (changed, Upserted::Changed)
            }
        };
        let app = self.clone();
        let id = row.id;
        write
            .commit_then(move || {
                if let Some((id, version)) = advanced {
                    app.bus.observe_version(id, version);
                }
                app.catalogue_changed(&CatalogueChange::Provider(id));
            })
            .await?;
        Ok((provider_view(row), outcome))
    }

    /// Deactivate the provider: its streams end with a final event, new
    /// bookings and holds are refused (410), its history stays. Harmless twice.
    #[tracing::instrument(skip(self))]
    pub async fn deactivate_provider(&self, external_id: &str) -> Result<AdminProvider, AppError> {
        self.set_active(external_id, false).await
    }

    /// Reactivate a deactivated provider: its streams open again (200, not
    /// 204), its documents answer 200 (not 410), it takes bookings and holds
    /// again, on every instance. Harmless on an active provider.
    #[tracing::instrument(skip(self))]
    pub async fn reactivate_provider(&self, external_id: &str) -> Result<AdminProvider, AppError> {
        self.set_active(external_id, true).await
    }

    /// Deactivate or reactivate. A change advances the provider's version
    /// with no event (`advance_version`), so cached documents and ETags from
    /// before it no longer match and a stream resuming across it gets a
    /// reset; the catalogue change tells every instance's bus and directory.
    async fn set_active(&self, external_id: &str, active: bool) -> Result<AdminProvider, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let row = existing_provider(&write.tx, external_id).await?;
        if row.active == active {
            write.commit().await?;
            return Ok(provider_view(row));
        }
        let deactivated_at = (!active).then(Utc::now);
        provider::Entity::update_many()
            .col_expr(provider::Column::Active, Expr::value(active))
            .col_expr(provider::Column::DeactivatedAt, Expr::value(deactivated_at))
            .filter(provider::Column::Id.eq(row.id))
            .exec(&write.tx)
            .await?;
        if !active {
            end_sessions(&write.tx, SessionsOf::Provider(row.id)).await?;
        }
        let version = row.version + 1;
        advance_version(&write.tx, row.id, version, row.updated_at).await?;
        let change = if active { CatalogueChange::Reactivated(row.id) } else { CatalogueChange::Deactivated(row.id) };
        notify_catalogue(&write.tx, &change).await?;
        let app = self.clone();
        let id = row.id;
        write
            .commit_then(move || {
                app.bus.observe_version(id, version);
                app.catalogue_changed(&change);
            })
            .await?;
        Ok(provider_view(provider::Model { active, deactivated_at, version, ..row }))
    }

    /// The provider whole: its services, weekly schedule and keys (never a
    /// secret nor a hash), deactivated or not.
    pub async fn admin_provider(&self, external_id: &str) -> Result<AdminProviderDetail, AppError> {
        let row = existing_provider(&self.db, external_id).await?;
        let services = service::Entity::find()
            .filter(service::Column::ProviderId.eq(row.id))
            .order_by_asc(service::Column::ExternalId)
            .order_by_asc(service::Column::Id)
            .all(&self.db)
            .await?;
        let schedule = schedule_of(&self.db, row.id).await?;
        let keys = keys_of(&self.db, row.id).await?;
        Ok(AdminProviderDetail {
            version: row.version,
            provider: provider_view(row),
            services: services.into_iter().map(service_view).collect(),
            schedule,
            keys,
        })
    }
}

/// 409 if the provider has slots on or after today (in its current zone):
/// `what` cannot change while they exist, `because`.
async fn refuse_with_slots_ahead(
    conn: &impl ConnectionTrait,
    row: &provider::Model,
    now: DateTime<Utc>,
    what: &str,
    because: &str,
) -> Result<(), AppError> {
    let Ok(tz) = row.timezone.parse::<chrono_tz::Tz>() else { return Ok(()) };
    let today = now.with_timezone(&tz).date_naive();
    let future = availability_slot::Entity::find()
        .filter(availability_slot::Column::ProviderId.eq(row.id))
        .filter(availability_slot::Column::Date.gte(today))
        .count(conn)
        .await?;
    if future > 0 {
        return Err(AppError::StateConflict(format!(
            "{what} cannot change while the provider has {future} slots from {today} on ({because})"
        )));
    }
    Ok(())
}
