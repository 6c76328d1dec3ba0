//! The catalogue: what a provider offers, as the marketplace's admin API,
//! `slotstream import` and the provider's own key change it. One function
//! per change, behind every door, so an import and a sync by API leave the
//! same state:
//!
//! - `providers`: upsert by the marketplace's own id, deactivate and
//!   reactivate, show one whole; `booking_url`: an external provider's
//!   booking URL template, checked;
//! - `services`: upsert a provider's service;
//! - `keys`: a provider's API keys (issue, list, rotate, revoke);
//! - `schedule_input`: a provider's weekly opening hours and their
//!   exceptions, as given and as stored; `set_schedule`: the command that
//!   sets them;
//! - `planner`: the rolling window of slots a weekly schedule opens, re-planned
//!   when the schedule changes and extended day by day;
//! - `slots`: the provider's own slot commands (open, block, unblock);
//! - `import_file` and `import`: a whole catalogue file, checked whole, then
//!   applied entry by entry through the functions above.
//!
//! Invariants: an upsert is created, changed or left as it was (`Upserted`),
//! so a sync can run again and again and writes only what differs. Every
//! change drops what instances cache about the provider or key: here at
//! once (`App::catalogue_changed`), elsewhere through the relay's catalogue
//! notifications, sent in the same transaction so only a committed change is
//! announced. A change that alters what a provider's documents show
//! advances its version, so no cached document or ETag outlives it.

mod booking_url;
mod import;
mod import_file;
mod keys;
mod planner;
mod providers;
mod schedule_input;
mod services;
mod set_schedule;
mod slots;

use entity::provider;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

pub use import::{ImportFailure, ImportReport, StoppedAt, Tally};
pub use import_file::{Catalogue, CatalogueProvider, CatalogueService};
pub use keys::{IssuedKey, KeyView, NewKey};
pub(in crate::app) use planner::withdraw_closed;
pub use planner::{HorizonRun, PlanConflict, PlannerPolicy, Replanned};
pub use providers::{AdminProvider, AdminProviderDetail, ProviderFields};
pub use schedule_input::{ScheduleException, ScheduleInput};
pub use services::{AdminService, ServiceFields};
pub use slots::{NewSlots, RangeChanged, RangeSkipped, SkippedSlot, SlotRange, SlotsCreated};

use super::{App, AppError};
use crate::events::relay::CatalogueChange;

/// What an upsert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Upserted {
    Created,
    Changed,
    Unchanged,
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

pub(super) fn check_text(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!("{field} must be 1 to {max} characters with no control characters")));
    }
    Ok(())
}

/// An ISO 4217 code's shape: three upper-case letters.
pub(super) fn check_currency(value: &str) -> Result<(), AppError> {
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(AppError::Invalid(format!("currency must be an ISO 4217 code like PLN, got {value:?}")))
    }
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

/// The provider with `external_id`, or 404.
pub(in crate::app) async fn existing_provider(
    conn: &impl ConnectionTrait,
    external_id: &str,
) -> Result<provider::Model, AppError> {
    provider_by_external_id(conn, external_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("provider {external_id:?} does not exist")))
}

impl App {
    /// Drop what this instance caches about a changed provider or key; the
    /// relay calls it for every instance's changes (PostgreSQL).
    pub fn catalogue_changed(&self, change: &CatalogueChange) {
        match change {
            CatalogueChange::Provider(id) | CatalogueChange::Deactivated(id) | CatalogueChange::Reactivated(id) => {
                self.search.catalogue_changed(Some(*id));
            }
            CatalogueChange::Everything => self.search.catalogue_changed(None),
            CatalogueChange::KeyRevoked(_) | CatalogueChange::SessionEnded(_) => {}
        }
        match change {
            CatalogueChange::Provider(id) => self.directory.forget(*id),
            CatalogueChange::Deactivated(id) => {
                self.directory.forget(*id);
                self.bus.end_provider(*id);
                self.sessions.some_ended(Some(*id));
            }
            // The bus first: a stream opened once the directory reads the
            // provider as active must find its channel open.
            CatalogueChange::Reactivated(id) => {
                self.bus.reopen_provider(*id);
                self.directory.forget(*id);
            }
            CatalogueChange::KeyRevoked(hash) => {
                self.verified_keys.forget(hash);
                self.sessions.some_ended(None);
            }
            CatalogueChange::SessionEnded(provider) => self.sessions.some_ended(Some(*provider)),
            CatalogueChange::Everything => {
                self.directory.forget_all();
                self.verified_keys.forget_all();
                self.sessions.some_ended(None);
            }
        }
    }
}
