//! `slotstream import FILE`: a whole catalogue in one run, through the very
//! functions behind the admin API (`upsert_provider`, `upsert_service`,
//! `set_schedule`), so an import and a sync by API leave the same state, and
//! a second import of the same file changes nothing. The file's formats and
//! its check are `import_file`.
//!
//! The whole file is checked first (and, for a services file, that its
//! providers exist); any problem refuses it and nothing is applied. Then
//! the entries are applied one by one in file order, each upsert its own
//! transaction, so a run is deterministic. An entry that fails while
//! applying (a timezone change refused, say) stops the run, and the failure
//! says exactly what was applied: the entries before it in full, which
//! parts of it, none after it. Fix it and run again: what was applied is
//! unchanged.

use std::fmt;

use chrono::{DateTime, Utc};
use entity::provider;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::Upserted;
use super::import_file::{Catalogue, CatalogueProvider, Problems};
use crate::app::{App, AppError};

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

/// What of one provider entry was applied.
#[derive(Default)]
struct EntryProgress {
    provider: bool,
    services: usize,
}

/// Where an import stopped while applying.
#[derive(Debug)]
pub struct StoppedAt {
    /// The failing entry's place in the file (`providers[3]`, `line 7`).
    pub place: String,
    pub external_id: String,
    /// What of that entry was applied before it failed, in words.
    pub partly: String,
    /// Entries after it, none of them applied.
    pub not_reached: usize,
}

/// An import that failed: refused before anything was applied (`stopped_at`
/// is `None`), or stopped while applying, with exactly what it applied.
#[derive(Debug)]
pub struct ImportFailure {
    pub error: AppError,
    /// Counts of what was applied.
    pub report: ImportReport,
    /// The external ids of the provider entries applied in full, in file order.
    pub applied: Vec<String>,
    pub stopped_at: Option<StoppedAt>,
}

impl From<AppError> for ImportFailure {
    /// Refused before applying anything.
    fn from(error: AppError) -> ImportFailure {
        ImportFailure { error, report: ImportReport::default(), applied: Vec::new(), stopped_at: None }
    }
}

impl fmt::Display for ImportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(stopped) = &self.stopped_at else { return write!(f, "{}", self.error) };
        write!(
            f,
            "{} (provider {:?}) failed: {}. Applied in full before it: {} provider entries",
            stopped.place,
            stopped.external_id,
            self.error,
            self.applied.len()
        )?;
        if !self.applied.is_empty() {
            write!(f, " ({})", self.applied.join(", "))?;
        }
        write!(
            f,
            "; of {:?}: {}; not applied: the {} entries after it. What was applied stays: fix the entry and run again.",
            stopped.external_id, stopped.partly, stopped.not_reached
        )
    }
}

impl std::error::Error for ImportFailure {}

impl EntryProgress {
    fn describe(&self, services: usize) -> String {
        match (self.provider, self.services) {
            (false, 0) => "nothing".to_owned(),
            (true, 0) => "its provider fields".to_owned(),
            (provider, done) => {
                let fields = if provider { "its provider fields and " } else { "" };
                format!("{fields}{done} of its {services} services")
            }
        }
    }
}

impl App {
    /// Check the whole catalogue, then apply it in file order; schedules
    /// are planned from `now`.
    pub async fn import_catalogue(
        &self,
        catalogue: Catalogue,
        now: DateTime<Utc>,
    ) -> Result<ImportReport, ImportFailure> {
        catalogue.check()?;
        self.check_providers_exist(&catalogue).await?;
        let mut report = ImportReport::default();
        let mut applied = Vec::new();
        let total = catalogue.providers.len();
        for (i, entry) in catalogue.providers.iter().enumerate() {
            let mut progress = EntryProgress::default();
            if let Err(error) =
                self.import_entry(entry, catalogue.services_only(), now, &mut report, &mut progress).await
            {
                let stopped_at = StoppedAt {
                    place: catalogue.provider_place(i),
                    external_id: entry.external_id.clone(),
                    partly: progress.describe(entry.services.len()),
                    not_reached: total - i - 1,
                };
                return Err(ImportFailure { error, report, applied, stopped_at: Some(stopped_at) });
            }
            applied.push(entry.external_id.clone());
        }
        Ok(report)
    }

    /// A services file adds to existing providers: refuse it whole, naming
    /// the lines, if any of its providers does not exist.
    async fn check_providers_exist(&self, catalogue: &Catalogue) -> Result<(), AppError> {
        if !catalogue.services_only() {
            return Ok(());
        }
        let mut found = std::collections::HashSet::new();
        for chunk in catalogue.providers.chunks(500) {
            let rows: Vec<Option<String>> = provider::Entity::find()
                .select_only()
                .column(provider::Column::ExternalId)
                .filter(provider::Column::ExternalId.is_in(chunk.iter().map(|p| p.external_id.as_str())))
                .into_tuple()
                .all(&self.db)
                .await?;
            found.extend(rows.into_iter().flatten());
        }
        let mut problems = Problems::default();
        for (i, entry) in catalogue.providers.iter().enumerate() {
            if !found.contains(&entry.external_id) {
                let id = &entry.external_id;
                problems.add(
                    &catalogue.provider_place(i),
                    &format!("provider {id:?} does not exist (a services file adds to existing providers)"),
                );
            }
        }
        problems.refuse_any()
    }

    /// Apply one provider entry, counting into `report` and `progress` as
    /// each part is applied.
    async fn import_entry(
        &self,
        entry: &CatalogueProvider,
        services_only: bool,
        now: DateTime<Utc>,
        report: &mut ImportReport,
        progress: &mut EntryProgress,
    ) -> Result<(), AppError> {
        let id = &entry.external_id;
        if !services_only {
            let (provider, outcome) = self.upsert_provider(id, entry.fields.clone()).await?;
            report.providers.add(outcome);
            report.provider_ids.push(provider.id);
            progress.provider = true;
        }
        for service in &entry.services {
            let (_, outcome) = self.upsert_service(id, &service.external_id, service.fields.clone()).await?;
            report.services.add(outcome);
            progress.services += 1;
        }
        if let Some(schedule) = &entry.schedule {
            let replanned = self.set_schedule(id, schedule, now).await?;
            report.schedules.add(replanned.schedule.unwrap_or(Upserted::Unchanged));
            report.slots_opened += replanned.opened;
            report.slots_removed += replanned.removed;
            report.conflicts += replanned.conflicts.len();
        }
        Ok(())
    }
}
