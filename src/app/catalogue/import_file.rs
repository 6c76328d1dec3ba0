//! A catalogue file for `slotstream import`: its formats, how it is read,
//! and the check of the whole file before anything is applied (`import`
//! applies it).
//!
//! JSON: `{ "providers": [ { "externalId", "name", "timezone", "address"?,
//! "description"?, "currency", "services": [ { "externalId", "name",
//! "durationMinutes", "priceMinor", "currency" } ], "schedule"?: { … as
//! `PUT …/schedule` } } ] }`. CSV, for the flat parts: a providers file
//! (`externalId,name,timezone,address,description,currency`) or a services
//! file (`providerExternalId,externalId,name,durationMinutes,priceMinor,currency`),
//! told apart by their header.
//!
//! The check covers every row's fields and duplicate external ids (a
//! provider twice, or a provider's service twice). Any problem refuses the
//! file with every problem's place (`providers[3].services[1]` in JSON,
//! `line 7` in CSV), so one run names everything to fix; an unreadable CSV
//! row is kept for the check to report with the rest.

use std::collections::HashMap;

use serde::Deserialize;

use super::{ProviderFields, ScheduleInput, ServiceFields, check_external_id};
use crate::app::AppError;

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
                                slot_source: None,
                                booking_url: None,
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
                    slot_source: None,
                    booking_url: None,
                },
                services: Vec::new(),
                schedule: None,
            });
            lines.push(line);
        }
        Ok(Catalogue { providers, source: Source::ProvidersCsv(lines), unreadable })
    }

    /// Does this catalogue add services to existing providers only?
    pub(super) fn services_only(&self) -> bool {
        matches!(self.source, Source::ServicesCsv(_))
    }

    /// Where provider entry `i` is in the file.
    pub(super) fn provider_place(&self, i: usize) -> String {
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
pub(super) struct Problems {
    listed: Vec<String>,
    count: usize,
}

impl Problems {
    pub(super) fn add(&mut self, place: &str, problem: &str) {
        self.count += 1;
        if self.listed.len() < PROBLEMS_LISTED {
            self.listed.push(format!("{place}: {problem}"));
        }
    }

    /// `Invalid` naming every problem, if there is any.
    pub(super) fn refuse_any(self) -> Result<(), AppError> {
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
