//! The marketplace's catalogue, as the admin API and `slotstream import`
//! change it (one function per change, behind both): upsert a provider or a
//! service by the marketplace's own id (created, changed or left as it was,
//! so a sync can run again and again), deactivate and reactivate a
//! provider, show one whole (services, schedule, keys without secrets), and
//! the provider keys (issue, list, rotate, revoke). Weekly schedules are in
//! `planner`.
//!
//! Every change drops what instances cache about the provider or key: here
//! at once, elsewhere through the relay's catalogue notifications (sent in
//! the same transaction, so only a committed change is announced).

use chrono::{DateTime, Utc};
use entity::{availability_slot, provider, provider_key, service};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    TryInsertResult,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::planner::{ScheduleInput, schedule_of};
use super::storage::unit_of_work::advance_version;
use super::{App, AppError, secrets};
use crate::domain::SLOT_MINUTES_RANGE;
use crate::events::Bus;
use crate::events::relay::{CatalogueChange, notify_catalogue};

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Upserted {
    Created,
    Changed,
    Unchanged,
}

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
}

/// A service as the marketplace describes it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceFields {
    pub name: String,
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: i32,
    /// Price in the currency's minor unit (`4000` with `PLN` is 40.00 zł).
    pub price_minor: i64,
    pub currency: String,
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
}

/// A service as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminService {
    pub id: Uuid,
    pub external_id: String,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub price_minor: i64,
    pub currency: String,
}

/// A provider key as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: Uuid,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
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

/// A key just issued: the secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub id: Uuid,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `pk_…`: send it as `Authorization: Bearer`. Stored only as a hash.
    pub key: String,
}

/// `POST …/keys` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    pub label: Option<String>,
}

/// A write transaction outside a unit of work (the catalogue changes no
/// slots), taken like one: the single writer on SQLite, `BEGIN IMMEDIATE`.
pub(super) struct CatalogueWrite {
    pub tx: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl CatalogueWrite {
    pub async fn begin(app: &App) -> Result<CatalogueWrite, AppError> {
        let writer = app.write_lock().await;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let tx = app.db.begin_with_options(options).await?;
        Ok(CatalogueWrite { tx, _writer: writer })
    }

    pub async fn commit(self) -> Result<(), AppError> {
        self.tx.commit().await.map_err(conflict_on_duplicate)
    }

    /// Commit a change that advanced `provider_id` to `version` without an
    /// event (`advance_version`), and bring this instance's bus level with
    /// it before the writer is released (other instances hear the NOTIFY):
    /// in a task of its own, so a dropped request cannot cut between the
    /// two and leave the 304 path on the old version.
    pub async fn commit_advanced(self, bus: Bus, provider_id: Uuid, version: i64) -> Result<(), AppError> {
        let CatalogueWrite { tx, _writer: writer } = self;
        let commit = tokio::spawn(async move {
            tx.commit().await.map_err(conflict_on_duplicate)?;
            bus.observe_version(provider_id, version);
            drop(writer);
            Ok(())
        });
        commit.await.map_err(|error| AppError::Internal(format!("commit task failed: {error}")))?
    }
}

/// A unique violation a catalogue write could not avoid: the caller may
/// retry (and then finds what the other write made).
fn conflict_on_duplicate(error: DbErr) -> AppError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::StateConflict("the same external id was created concurrently; retry".into())
        }
        _ => AppError::from(error),
    }
}

/// An external id: 1 to 128 of `A-Z a-z 0-9 . _ ~ -` (it is a path segment).
pub fn check_external_id(field: &str, id: &str) -> Result<(), AppError> {
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-');
    if (1..=128).contains(&id.len()) && id.chars().all(fits) {
        Ok(())
    } else {
        Err(AppError::Invalid(format!("{field} must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -, got {id:?}")))
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!("{field} must be 1 to {max} characters with no control characters")));
    }
    Ok(())
}

/// An ISO 4217 code's shape: three upper-case letters.
fn check_currency(value: &str) -> Result<(), AppError> {
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(AppError::Invalid(format!("currency must be an ISO 4217 code like PLN, got {value:?}")))
    }
}

impl ProviderFields {
    pub(super) fn check(&self) -> Result<chrono_tz::Tz, AppError> {
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
    }
}

impl ServiceFields {
    pub(super) fn check(&self) -> Result<(), AppError> {
        check_text("name", &self.name, 200)?;
        let minutes = u32::try_from(self.duration_minutes).unwrap_or(0);
        if !SLOT_MINUTES_RANGE.contains(&minutes) {
            return Err(AppError::Invalid("durationMinutes must be between 5 and 480".into()));
        }
        if !(0..=1_000_000_000_000).contains(&self.price_minor) {
            return Err(AppError::Invalid("priceMinor must be between 0 and 10^12".into()));
        }
        check_currency(&self.currency)
    }

    fn same_as(&self, row: &service::Model) -> bool {
        self.name == row.name
            && self.duration_minutes == row.duration_minutes
            && self.price_minor == row.price_cents
            && self.currency == row.currency
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
    }
}

fn service_view(row: service::Model) -> AdminService {
    AdminService {
        id: row.id,
        external_id: row.external_id.unwrap_or_default(),
        provider_id: row.provider_id,
        name: row.name,
        duration_minutes: row.duration_minutes,
        price_minor: row.price_cents,
        currency: row.currency,
    }
}

fn key_view(row: &provider_key::Model) -> KeyView {
    KeyView { id: row.id, label: row.label.clone(), created_at: row.created_at, revoked_at: row.revoked_at }
}

/// The provider with `external_id`, locked for the transaction on PostgreSQL.
pub(super) async fn provider_by_external_id(
    conn: &impl ConnectionTrait,
    external_id: &str,
) -> Result<Option<provider::Model>, DbErr> {
    let mut find = provider::Entity::find().filter(provider::Column::ExternalId.eq(external_id));
    if conn.get_database_backend() == DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    find.one(conn).await
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

async fn existing_provider(conn: &impl ConnectionTrait, external_id: &str) -> Result<provider::Model, AppError> {
    provider_by_external_id(conn, external_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("provider {external_id:?} does not exist")))
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
                if moves_zone {
                    refuse_timezone_change(&write.tx, &row, now).await?;
                    // Every document shows the zone and its instants: a new
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
                    version: advanced.map_or(row.version, |(_, version)| version),
                    ..row
                };
                provider::Entity::update_many()
                    .col_expr(provider::Column::Name, Expr::value(changed.name.clone()))
                    .col_expr(provider::Column::Timezone, Expr::value(changed.timezone.clone()))
                    .col_expr(provider::Column::Address, Expr::value(changed.address.clone()))
                    .col_expr(provider::Column::Description, Expr::value(changed.description.clone()))
                    .col_expr(provider::Column::Currency, Expr::value(changed.currency.clone()))
                    .filter(provider::Column::Id.eq(changed.id))
                    .exec(&write.tx)
                    .await?;
                notify_catalogue(&write.tx, &CatalogueChange::Provider(changed.id)).await?;
                (changed, Upserted::Changed)
            }
        };
        match advanced {
            Some((id, version)) => write.commit_advanced(self.bus.clone(), id, version).await?,
            None => write.commit().await?,
        }
        self.catalogue_changed(&CatalogueChange::Provider(row.id));
        Ok((provider_view(row), outcome))
    }

    /// Create or update the service `external_service_id` of the provider `external_id`.
    #[tracing::instrument(skip(self, fields))]
    pub async fn upsert_service(
        &self,
        external_id: &str,
        external_service_id: &str,
        fields: ServiceFields,
    ) -> Result<(AdminService, Upserted), AppError> {
        check_external_id("externalServiceId", external_service_id)?;
        fields.check()?;
        if let Some(row) = unchanged_service(&self.db, external_id, external_service_id, &fields).await? {
            return Ok((service_view(row), Upserted::Unchanged));
        }
        let write = CatalogueWrite::begin(self).await?;
        let provider = existing_provider(&write.tx, external_id).await?;
        let existing = service::Entity::find()
            .filter(service::Column::ProviderId.eq(provider.id))
            .filter(service::Column::ExternalId.eq(external_service_id))
            .one(&write.tx)
            .await?;
        let (row, outcome) = match existing {
            None => {
                let row = service::Model {
                    id: Uuid::new_v4(),
                    provider_id: provider.id,
                    name: fields.name,
                    duration_minutes: fields.duration_minutes,
                    price_cents: fields.price_minor,
                    currency: fields.currency,
                    external_id: Some(external_service_id.to_owned()),
                };
                service::Entity::insert(service::ActiveModel::from(row.clone()).reset_all())
                    .exec_without_returning(&write.tx)
                    .await
                    .map_err(conflict_on_duplicate)?;
                (row, Upserted::Created)
            }
            Some(row) if fields.same_as(&row) => (row, Upserted::Unchanged),
            Some(row) => {
                let changed = service::Model {
                    name: fields.name,
                    duration_minutes: fields.duration_minutes,
                    price_cents: fields.price_minor,
                    currency: fields.currency,
                    ..row
                };
                service::Entity::update(service::ActiveModel::from(changed.clone()).reset_all())
                    .exec(&write.tx)
                    .await?;
                (changed, Upserted::Changed)
            }
        };
        write.commit().await?;
        Ok((service_view(row), outcome))
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
        let version = row.version + 1;
        advance_version(&write.tx, row.id, version, row.updated_at).await?;
        let change = if active { CatalogueChange::Reactivated(row.id) } else { CatalogueChange::Deactivated(row.id) };
        notify_catalogue(&write.tx, &change).await?;
        write.commit_advanced(self.bus.clone(), row.id, version).await?;
        self.catalogue_changed(&change);
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

    /// Issue a new key for the provider (the secret is in the answer only).
    #[tracing::instrument(skip(self, request))]
    pub async fn issue_key(&self, external_id: &str, request: NewKey) -> Result<IssuedKey, AppError> {
        if let Some(label) = &request.label {
            check_text("label", label, 128)?;
        }
        let write = CatalogueWrite::begin(self).await?;
        let provider = existing_provider(&write.tx, external_id).await?;
        let issued = insert_key(&write.tx, provider.id, request.label).await?;
        write.commit().await?;
        Ok(issued)
    }

    /// The provider's keys, oldest first, revoked ones too; never a secret.
    pub async fn list_keys(&self, external_id: &str) -> Result<Vec<KeyView>, AppError> {
        let provider = existing_provider(&self.db, external_id).await?;
        keys_of(&self.db, provider.id).await
    }

    /// Revoke a key at once, on every instance (keys are checked against
    /// the database on every request). Harmless twice.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_key(&self, external_id: &str, key_id: Uuid) -> Result<KeyView, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let (key, change) = revoke(&write.tx, external_id, key_id).await?;
        write.commit().await?;
        if let Some(change) = change {
            self.catalogue_changed(&change);
        }
        Ok(key_view(&key))
    }

    /// Replace a live key by a new one with the same label, in one
    /// transaction: the old key stops working as the new one starts.
    #[tracing::instrument(skip(self))]
    pub async fn rotate_key(&self, external_id: &str, key_id: Uuid) -> Result<IssuedKey, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let (old, change) = revoke(&write.tx, external_id, key_id).await?;
        let Some(change) = change else {
            return Err(AppError::Conflict(format!("key {key_id} is already revoked")));
        };
        let issued = insert_key(&write.tx, old.provider_id, old.label).await?;
        write.commit().await?;
        self.catalogue_changed(&change);
        Ok(issued)
    }

    /// Drop what this instance caches about a changed provider or key; the
    /// relay calls it for every instance's changes (PostgreSQL).
    pub fn catalogue_changed(&self, change: &CatalogueChange) {
        match change {
            CatalogueChange::Provider(id) => self.directory.forget(*id),
            CatalogueChange::Deactivated(id) => {
                self.directory.forget(*id);
                self.bus.end_provider(*id);
            }
            // The bus first: a stream opened once the directory reads the
            // provider as active must find its channel open.
            CatalogueChange::Reactivated(id) => {
                self.bus.reopen_provider(*id);
                self.directory.forget(*id);
            }
            CatalogueChange::KeyRevoked(hash) => self.verified_keys.forget(hash),
            CatalogueChange::Everything => {
                self.directory.forget_all();
                self.verified_keys.forget_all();
            }
        }
    }
}

/// The service as stored, if it already has `fields` (a read, no write).
async fn unchanged_service(
    conn: &impl ConnectionTrait,
    external_id: &str,
    external_service_id: &str,
    fields: &ServiceFields,
) -> Result<Option<service::Model>, DbErr> {
    let Some(provider) =
        provider::Entity::find().filter(provider::Column::ExternalId.eq(external_id)).one(conn).await?
    else {
        return Ok(None);
    };
    Ok(service::Entity::find()
        .filter(service::Column::ProviderId.eq(provider.id))
        .filter(service::Column::ExternalId.eq(external_service_id))
        .one(conn)
        .await?
        .filter(|row| fields.same_as(row)))
}

/// 409 if the provider has slots on or after today (in its current zone).
async fn refuse_timezone_change(
    conn: &impl ConnectionTrait,
    row: &provider::Model,
    now: DateTime<Utc>,
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
            "the timezone cannot change while the provider has {future} slots from {today} on (they are kept in local time)"
        )));
    }
    Ok(())
}

/// The provider's keys, oldest first, revoked ones too; never a secret.
async fn keys_of(conn: &impl ConnectionTrait, provider_id: Uuid) -> Result<Vec<KeyView>, AppError> {
    let rows = provider_key::Entity::find()
        .filter(provider_key::Column::ProviderId.eq(provider_id))
        .order_by_asc(provider_key::Column::CreatedAt)
        .order_by_asc(provider_key::Column::Id)
        .all(conn)
        .await?;
    Ok(rows.iter().map(key_view).collect())
}

async fn insert_key(
    conn: &impl ConnectionTrait,
    provider_id: Uuid,
    label: Option<String>,
) -> Result<IssuedKey, AppError> {
    let key = secrets::generate("pk_");
    let row = provider_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        provider_id: Set(provider_id),
        key_hash: Set(secrets::hash(&key)),
        created_at: Set(Utc::now()),
        label: Set(label),
        revoked_at: NotSet,
    };
    let row = provider_key::Entity::insert(row).exec_with_returning(conn).await?;
    Ok(IssuedKey { id: row.id, label: row.label, created_at: row.created_at, key })
}

/// Revoke `key_id` of the provider `external_id`; the change to announce,
/// or `None` if it was revoked before.
async fn revoke(
    conn: &impl ConnectionTrait,
    external_id: &str,
    key_id: Uuid,
) -> Result<(provider_key::Model, Option<CatalogueChange>), AppError> {
    let provider = existing_provider(conn, external_id).await?;
    let key = provider_key::Entity::find_by_id(key_id)
        .filter(provider_key::Column::ProviderId.eq(provider.id))
        .one(conn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("key {key_id} does not exist for provider {external_id:?}")))?;
    if key.revoked_at.is_some() {
        return Ok((key, None));
    }
    let now = Utc::now();
    provider_key::Entity::update_many()
        .col_expr(provider_key::Column::RevokedAt, Expr::value(Some(now)))
        .filter(provider_key::Column::Id.eq(key.id))
        .exec(conn)
        .await?;
    let change = CatalogueChange::KeyRevoked(key.key_hash.clone());
    notify_catalogue(conn, &change).await?;
    Ok((provider_key::Model { revoked_at: Some(now), ..key }, Some(change)))
}
