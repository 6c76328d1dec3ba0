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
//! The whole file is checked first: every row's fields, duplicate external
//! ids (a provider twice, or a provider's service twice) and, for a services
//! file, that its providers exist. Any problem refuses the file with every
//! problem's place (`providers[3].services[1]` in JSON, `line 7` in CSV) and
//! nothing is applied. Then the entries are applied one by one in file order,
//! each upsert its own transaction, so a run is deterministic. An entry that
//! fails while applying (a timezone change refused, say) stops the run, and
//! the failure says exactly what was applied: the entries before it in full,
//! which parts of it, none after it. Fix it and run again: what was applied
//! is unchanged.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use entity::provider;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalogue::{ProviderFields, ServiceFields, Upserted, check_external_id};
use super::planner::ScheduleInput;
use super::{App, AppError};

/// A catalogue file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Catalogue {
    pub providers: Vec<CatalogueProvider>,
    /// Where each entry came from, for messages.
    #[serde(skip)]
    source: Source,
    /// CSV rows that could not be read: (line, why).
    #[serde(skip)]
    unreadable: Vec<(u64, String)>,
}

/// The readable rows of a CSV file, each with its line; the others go to
/// `unreadable`, so that every bad row is reported at once.
fn csv_rows<T: serde::de::DeserializeOwned>(
    reader: &mut csv::Reader<&[u8]>,
    headers: &csv::StringRecord,
    unreadable: &mut Vec<(u64, String)>,
) -> Vec<(u64, T)> {
    let mut rows = Vec::new();
    for record in reader.records() {
        let read = record.and_then(|record| {
            let line = record.position().map_or(0, csv::Position::line);
            record.deserialize::<T>(Some(headers)).map(|row| (line, row))
        });
        match read {
            Ok(row) => rows.push(row),
            Err(error) => {
                let line = error.position().map_or(0, csv::Position::line);
                unreadable.push((line, format!("unreadable row: {error}")));
            }
        }
    }
    rows
}

/// Where a catalogue's entries came from: they are named by their index
/// (JSON, or built in code) or by their line (CSV).
#[derive(Debug, Default)]
enum Source {
    #[default]
    Entries,
    /// A providers CSV file: each entry's line.
    ProvidersCsv(Vec<u64>),
    /// A services CSV file: each provider entry's services' lines. Its
    /// entries carry no provider fields: the providers must exist.
    ServicesCsv(Vec<Vec<u64>>),
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

/// The most problems a refused file lists (the count says how many more).
const PROBLEMS_LISTED: usize = 50;

impl Catalogue {
    /// A catalogue of `providers` built in code, named by index in messages.
    pub fn new(providers: Vec<CatalogueProvider>) -> Catalogue {
        Catalogue { providers, source: Source::Entries, unreadable: Vec::new() }
    }

    /// A catalogue file's text: JSON, or one of the two CSV files (an
    /// unreadable CSV row is kept for `check` to report with the rest).
    pub fn parse(text: &str) -> Result<Catalogue, AppError> {
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| AppError::Invalid(format!("catalogue JSON: {e}")));
        }
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| AppError::Invalid(format!("catalogue CSV: {e}")))?.clone();
        let mut unreadable = Vec::new();
        if headers.iter().any(|h| h == "providerExternalId") {
            let (mut providers, mut lines): (Vec<CatalogueProvider>, Vec<Vec<u64>>) = (Vec::new(), Vec::new());
            for (line, row) in csv_rows::<ServiceRow>(&mut reader, &headers, &mut unreadable) {
                let service = CatalogueService { external_id: row.external_id, fields: row.fields };
                match providers.iter().position(|p| p.external_id == row.provider_external_id) {
                    Some(i) => {
                        providers[i].services.push(service);
                        lines[i].push(line);
                    }
                    None => {
                        providers.push(CatalogueProvider {
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
                        });
                        lines.push(vec![line]);
                    }
                }
            }
            return Ok(Catalogue { providers, source: Source::ServicesCsv(lines), unreadable });
        }
        let (mut providers, mut lines) = (Vec::new(), Vec::new());
        for (line, row) in csv_rows::<ProviderRow>(&mut reader, &headers, &mut unreadable) {
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
            lines.push(line);
        }
        Ok(Catalogue { providers, source: Source::ProvidersCsv(lines), unreadable })
    }

    /// Does this catalogue add services to existing providers only?
    fn services_only(&self) -> bool {
        matches!(self.source, Source::ServicesCsv(_))
    }

    /// Where provider entry `i` is in the file.
    fn provider_place(&self, i: usize) -> String {
        match &self.source {
            Source::Entries => format!("providers[{i}]"),
            Source::ProvidersCsv(lines) => format!("line {}", lines[i]),
            Source::ServicesCsv(lines) => format!("line {}", lines[i][0]),
        }
    }

    /// Where service `j` of provider entry `i` is in the file.
    fn service_place(&self, i: usize, j: usize) -> String {
        match &self.source {
            Source::ServicesCsv(lines) => format!("line {}", lines[i][j]),
            _ => format!("{}.services[{j}]", self.provider_place(i)),
        }
    }

    /// Check the whole catalogue without applying anything: every field,
    /// and no external id twice. `Invalid` (422) lists every problem with
    /// its place.
    pub fn check(&self) -> Result<(), AppError> {
        let mut problems = Problems::default();
        for (line, why) in &self.unreadable {
            problems.add(&format!("line {line}"), why);
        }
        let mut providers_seen: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in self.providers.iter().enumerate() {
            let place = self.provider_place(i);
            let id = entry.external_id.as_str();
            if !self.services_only() {
                if let Err(error) = check_external_id("externalId", id) {
                    problems.add(&place, &error.to_string());
                }
                if let Some(&first) = providers_seen.get(id) {
                    let first = self.provider_place(first);
                    problems.add(&place, &format!("duplicate provider externalId {id:?} (first at {first})"));
                } else {
                    providers_seen.insert(id, i);
                }
                if let Err(error) = entry.fields.check() {
                    problems.add(&place, &error.to_string());
                }
            }
            let mut services_seen: HashMap<&str, usize> = HashMap::new();
            for (j, service) in entry.services.iter().enumerate() {
                let place = self.service_place(i, j);
                let service_id = service.external_id.as_str();
                if let Err(error) = check_external_id("externalId", service_id) {
                    problems.add(&place, &error.to_string());
                }
                if let Some(&first) = services_seen.get(service_id) {
                    let first = self.service_place(i, first);
                    problems.add(
                        &place,
                        &format!("duplicate service externalId {service_id:?} of provider {id:?} (first at {first})"),
                    );
                } else {
                    services_seen.insert(service_id, j);
                }
                if let Err(error) = service.fields.check() {
                    problems.add(&place, &error.to_string());
                }
            }
            if let Some(schedule) = &entry.schedule
                && let Err(error) = schedule.to_schedule()
            {
                problems.add(&format!("{place}.schedule"), &error.to_string());
            }
        }
        problems.refuse_any()
    }
}

/// The problems found in a catalogue file, each with its place.
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    count: usize,
}

impl Problems {
    fn add(&mut self, place: &str, problem: &str) {
        self.count += 1;
        if self.listed.len() < PROBLEMS_LISTED {
            self.listed.push(format!("{place}: {problem}"));
        }
    }

    /// `Invalid` naming every problem, if there is any.
    fn refuse_any(self) -> Result<(), AppError> {
        if self.count == 0 {
            return Ok(());
        }
        let more = match self.count - self.listed.len() {
            0 => String::new(),
            more => format!("; and {more} more"),
        };
        Err(AppError::Invalid(format!(
            "catalogue refused, nothing applied ({} problems): {}{more}",
            self.count,
            self.listed.join("; ")
        )))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match Catalogue::parse(text).and_then(|catalogue| catalogue.check()) {
            Err(AppError::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn duplicates_and_bad_rows_are_all_named_by_their_place() {
        let entry = |id: &str, currency: &str| {
            serde_json::json!({ "externalId": id, "name": "N", "timezone": "UTC", "currency": currency,
                "services": [ { "externalId": "s", "name": "S", "durationMinutes": 30, "priceMinor": 1, "currency": "EUR" },
                              { "externalId": "s", "name": "S", "durationMinutes": 3, "priceMinor": 1, "currency": "EUR" } ] })
        };
        let file = serde_json::json!({ "providers": [entry("a", "EUR"), entry("b", "eur"), entry("a", "EUR")] });
        let message = refused(&file.to_string());
        assert!(
            message.contains("providers[2]: duplicate provider externalId \"a\" (first at providers[0])"),
            "{message}"
        );
        assert!(message.contains("providers[1]: currency"), "{message}");
        assert!(message.contains("providers[0].services[1]: duplicate service externalId \"s\""), "{message}");
        assert!(message.contains("providers[0].services[1]: durationMinutes"), "{message}");
        assert!(message.contains("nothing applied"), "{message}");
    }

    #[test]
    fn csv_rows_are_named_by_their_line_and_every_unreadable_row_is_reported() {
        let services = "providerExternalId,externalId,name,durationMinutes,priceMinor,currency\n\
            p,a,A,30,100,EUR\nq,b,B,30,100,EUR\np,a,A,45,100,EUR\n";
        let message = refused(services);
        assert!(
            message.contains("line 4: duplicate service externalId \"a\" of provider \"p\" (first at line 2)"),
            "{message}"
        );
        let providers = "externalId,name,timezone,address,description,currency\n\
            p,P,UTC,,,EUR\nq,Q,Nowhere/City,,,EUR\nr,R,UTC,,,EUR,extra\ns,S,UTC,,,EUR\n";
        let message = refused(providers);
        assert!(message.contains("line 3: timezone"), "{message}");
        assert!(message.contains("line 4"), "{message}");
    }

    #[test]
    fn a_clean_file_passes_the_check() {
        let providers = "externalId,name,timezone,address,description,currency\np,P,UTC,,,EUR\nq,Q,UTC,,,EUR\n";
        Catalogue::parse(providers).unwrap().check().unwrap();
    }
}
