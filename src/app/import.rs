//! `slotstream import FILE`: a whole catalogue in one run, through the very
//! functions behind the admin API (`upsert_provider`, `upsert_service`,
//! `set_schedule`), so an import and a sync by API leave the same state, and
//! a second import of the same file changes nothing.
//!
//! JSON: `{ "providers": [ { "externalId", "name", "timezone", "address"?,
//! "description"?, "currency", "services": [ { "externalId", "name",
//! "durationMinutes", "priceMinor", "currency" } ], "schedule"?: { … as
//! `PUT …/schedule` } } ] }`. CSV, for the flat parts: a providers file
//! (`externalId,name,timezone,address,description,currency`) or a services
//! file (`providerExternalId,externalId,name,durationMinutes,priceMinor,currency`),
//! told apart by their header.
//!
//! Each upsert is its own transaction, and several providers' entries are
//! applied at once: an entry that fails stops the run with its external id;
//! fix it and run again (what was done is unchanged).

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalogue::{ProviderFields, ServiceFields, Upserted};
use super::planner::{Replanned, ScheduleInput};
use super::{App, AppError};

/// A catalogue file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalogue {
    pub providers: Vec<CatalogueProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueProvider {
    pub external_id: String,
    #[serde(flatten)]
    pub fields: ProviderFields,
    #[serde(default)]
    pub services: Vec<CatalogueService>,
    pub schedule: Option<ScheduleInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogueService {
    pub external_id: String,
    #[serde(flatten)]
    pub fields: ServiceFields,
}

/// One row of a services CSV file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRow {
    provider_external_id: String,
    external_id: String,
    #[serde(flatten)]
    fields: ServiceFields,
}

/// One row of a providers CSV file (empty cells are absent fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderRow {
    external_id: String,
    name: String,
    timezone: String,
    address: Option<String>,
    description: Option<String>,
    currency: String,
}

/// Created, changed and unchanged counts of one kind of thing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Tally {
    fn add(&mut self, outcome: Upserted) {
        match outcome {
            Upserted::Created => self.created += 1,
            Upserted::Changed => self.changed += 1,
            Upserted::Unchanged => self.unchanged += 1,
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub providers: Tally,
    pub services: Tally,
    pub schedules: Tally,
    pub slots_opened: usize,
    pub slots_removed: usize,
    /// Booked or held slots a changed schedule no longer has (left as they are).
    pub conflicts: usize,
    /// The providers' ids, in file order.
    #[serde(skip)]
    pub provider_ids: Vec<Uuid>,
}

impl Catalogue {
    /// A catalogue file's text: JSON, or one of the two CSV files.
    pub fn parse(text: &str) -> Result<Catalogue, AppError> {
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| AppError::Invalid(format!("catalogue JSON: {e}")));
        }
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| AppError::Invalid(format!("catalogue CSV: {e}")))?.clone();
        if headers.iter().any(|h| h == "providerExternalId") {
            let mut by_provider: Vec<CatalogueProvider> = Vec::new();
            for row in reader.deserialize::<ServiceRow>() {
                let row = row.map_err(|e| AppError::Invalid(format!("services CSV: {e}")))?;
                let service = CatalogueService { external_id: row.external_id, fields: row.fields };
                match by_provider.iter_mut().find(|p| p.external_id == row.provider_external_id) {
                    Some(provider) => provider.services.push(service),
                    None => by_provider.push(CatalogueProvider {
                        external_id: row.provider_external_id,
                        // Services only: the provider must exist already.
                        fields: ProviderFields {
                            name: String::new(),
                            timezone: String::new(),
                            address: None,
                            description: None,
                            currency: String::new(),
                        },
                        services: vec![service],
                        schedule: None,
                    }),
                }
            }
            return Ok(Catalogue { providers: by_provider });
        }
        let mut providers = Vec::new();
        for row in reader.deserialize::<ProviderRow>() {
            let row = row.map_err(|e| AppError::Invalid(format!("providers CSV: {e}")))?;
            let blank_is_none = |v: Option<String>| v.filter(|s| !s.is_empty());
            providers.push(CatalogueProvider {
                external_id: row.external_id,
                fields: ProviderFields {
                    name: row.name,
                    timezone: row.timezone,
                    address: blank_is_none(row.address),
                    description: blank_is_none(row.description),
                    currency: row.currency,
                },
                services: Vec::new(),
                schedule: None,
            });
        }
        Ok(Catalogue { providers })
    }
}

/// Provider entries applied at once: on PostgreSQL each locks only its own
/// provider, so a big file goes several times faster; on SQLite the single
/// writer takes them one at a time anyway.
const IMPORT_CONCURRENCY: usize = 8;

/// What one provider entry did.
#[derive(Default)]
struct EntryReport {
    provider: Option<(Uuid, Upserted)>,
    services: Vec<Upserted>,
    schedule: Option<Replanned>,
}

impl App {
    /// Apply a catalogue; schedules are planned from `now`.
    pub async fn import_catalogue(&self, catalogue: Catalogue, now: DateTime<Utc>) -> Result<ImportReport, AppError> {
        let mut entries = futures_util::stream::iter(catalogue.providers)
            .map(|entry| self.import_entry(entry, now))
            .buffered(IMPORT_CONCURRENCY);
        let mut report = ImportReport::default();
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            if let Some((id, outcome)) = entry.provider {
                report.providers.add(outcome);
                report.provider_ids.push(id);
            }
            for outcome in entry.services {
                report.services.add(outcome);
            }
            if let Some(replanned) = entry.schedule {
                report.schedules.add(replanned.schedule.unwrap_or(Upserted::Unchanged));
                report.slots_opened += replanned.opened;
                report.slots_removed += replanned.removed;
                report.conflicts += replanned.conflicts.len();
            }
        }
        Ok(report)
    }

    async fn import_entry(&self, entry: CatalogueProvider, now: DateTime<Utc>) -> Result<EntryReport, AppError> {
        let id = entry.external_id.clone();
        let failed = |error: AppError| prefixed(&id, error);
        let mut report = EntryReport::default();
        // A services-only entry (from a services CSV) names a provider
        // that must already exist.
        if !entry.fields.name.is_empty() {
            let (provider, outcome) = self.upsert_provider(&id, entry.fields).await.map_err(failed)?;
            report.provider = Some((provider.id, outcome));
        }
        for service in entry.services {
            let (_, outcome) = self.upsert_service(&id, &service.external_id, service.fields).await.map_err(failed)?;
            report.services.push(outcome);
        }
        if let Some(schedule) = &entry.schedule {
            report.schedule = Some(self.set_schedule(&id, schedule, now).await.map_err(failed)?);
        }
        Ok(report)
    }
}

/// The error, saying which provider entry it is about.
fn prefixed(external_id: &str, error: AppError) -> AppError {
    match error {
        AppError::Invalid(m) => AppError::Invalid(format!("provider {external_id:?}: {m}")),
        AppError::NotFound(m) => AppError::NotFound(format!("provider {external_id:?}: {m}")),
        AppError::Conflict(m) => AppError::Conflict(format!("provider {external_id:?}: {m}")),
        other => other,
    }
}
