//! The availability query: a provider's slots over `days` days from
//! `startDate`, with its strong ETag.
//!
//! The ETag is derived from (provider, version, query), and the document
//! carries the version, so equal tags mean byte-equal bodies and any change
//! means a new tag. The 304 path reads the version from the bus (kept current
//! by the events) and touches no database; the 200 path serves a rendered
//! document from a cache keyed by query and checked against the version,
//! bounded in bytes (`render_cache`); tags are written and read in
//! `etags`. A render reads the version and the slots from one
//! snapshot, so a read never fails or retries because writers are busy.
//! While the database is unreachable, the cache answers what it can: the
//! last document of the query this instance rendered, with its own tag.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Days, DurationRound, FixedOffset, NaiveDate, TimeDelta, Utc};
use entity::{availability_slot, provider};
use etag::EntityTag;
use serde::Serialize;
use uuid::Uuid;

use super::etags::{entity_tag, tag_version};
use super::{provider_and_slots, read_snapshot};
use crate::app::upstream::booking_url::fill;
use crate::app::{App, AppError, ProviderInfo};
use crate::domain::{BookableRange, SlotStatus, slot_span};

/// A query as the render cache keys it: provider, start date, days.
pub(super) type CacheKey = (Uuid, NaiveDate, u32);

/// Largest `days` accepted.
pub const DAYS_MAX: u32 = 31;
#[derive(Clone, Copy, Debug)]
pub struct AvailabilityQuery {
    pub provider_id: Uuid,
    pub start_date: Option<NaiveDate>,
    pub days: Option<u32>,
}

/// A rendered document and its validators.
#[derive(Debug)]
pub struct AvailabilityDocument {
    pub version: i64,
    pub etag: EntityTag,
    /// When the provider's calendar last changed (sub-second precision).
    pub modified_at: DateTime<Utc>,
    /// When it changed the time before; `None` if unknown.
    pub previously_modified_at: Option<DateTime<Utc>>,
    pub body: Bytes,
}

impl AvailabilityDocument {
    /// `Last-Modified`: the time of the change rounded *up* to the second, so
    /// it is never earlier than the data it describes; `None` while that
    /// second has not passed (RFC 9110 forbids a date later than the answer's).
    pub fn last_modified(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let rounded = ceil_to_second(self.modified_at);
        (rounded <= now).then_some(rounded)
    }

    /// May a client whose copy is as of `since` (`If-Modified-Since`) be
    /// told 304? Only when `Last-Modified` is not later than `since` and no
    /// earlier version shares its second: a copy of that version would carry
    /// the same date, and a date-based 304 must never be stale.
    pub fn unmodified_since(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let Some(last_modified) = self.last_modified(now) else { return false };
        let alone_in_its_second = match self.previously_modified_at {
            Some(previous) => ceil_to_second(previous) < last_modified,
            None => self.version == 0,
        };
        alone_in_its_second && last_modified <= since
    }
}

fn ceil_to_second(instant: DateTime<Utc>) -> DateTime<Utc> {
    let whole = instant.duration_trunc(TimeDelta::seconds(1)).unwrap_or(instant);
    if whole == instant { whole } else { whole + TimeDelta::seconds(1) }
}

/// What a conditional request says the client already holds.
pub struct HeldCopy<'a> {
    /// Does the client hold the representation with this tag (`If-None-Match`)?
    pub has_tag: &'a (dyn Fn(&EntityTag) -> bool + Send + Sync),
    /// The tags it listed (their versions may be newer than this instance knows).
    pub tags: &'a [EntityTag],
    /// `If-Modified-Since`; the caller leaves it out when `If-None-Match` is
    /// present, which takes precedence (RFC 9110 section 13.2.2).
    pub modified_since: Option<DateTime<Utc>>,
}

impl HeldCopy<'_> {
    fn compare(&self, document: Arc<AvailabilityDocument>, now: DateTime<Utc>) -> Conditional {
        let unmodified = self.modified_since.is_some_and(|since| document.unmodified_since(since, now));
        if (self.has_tag)(&document.etag) || unmodified {
            Conditional::NotModified(document.etag.clone())
        } else {
            Conditional::Document(document)
        }
    }
}

/// What the bus vouches for about a client's copy of a range.
struct Vouched {
    /// The newest version the client's tags for this range name.
    claimed: Option<i64>,
    /// The newest committed version, as the bus knows it, unless the client claims a newer one.
    trusted: Option<i64>,
    /// The tag of a 304, when the client holds the trusted version.
    not_modified: Option<EntityTag>,
}

pub enum Conditional {
    NotModified(EntityTag),
    Document(Arc<AvailabilityDocument>),
}

/// The availability document.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityBody<'a> {
    provider_id: Uuid,
    /// IANA timezone of the provider; dates and times are local to it.
    timezone: &'a str,
    start_date: NaiveDate,
    days: Vec<DayBody>,
    /// The provider's version: the ETag's basis and the stream's resume point.
    version: i64,
    /// `external` when the marketplace's booking system owns the slots:
    /// nothing is booked or held here (follow each slot's `bookingUrl`).
    /// Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    slot_source: Option<provider::SlotSource>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DayBody {
    date: NaiveDate,
    slots: Vec<SlotBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotBody {
    availability_id: Uuid,
    /// Local `HH:MM`.
    start_time: String,
    end_time: String,
    /// RFC 3339 instant with the provider's offset.
    starts_at: String,
    ends_at: String,
    status: SlotStatus,
    /// Where this time is booked, for a provider whose slots come from the
    /// marketplace's booking system with a booking URL; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    booking_url: Option<String>,
}

/// The date range a query asks for: `days` (default 7) within 1..=31, and a
/// start (the query's `field`; default today in the provider's timezone)
/// within `bookable`.
pub fn resolve_range(
    provider: &ProviderInfo,
    field: &str,
    start_date: Option<NaiveDate>,
    days: Option<u32>,
    bookable: &BookableRange,
) -> Result<(NaiveDate, u32), AppError> {
    let days = days.unwrap_or(7);
    if !(1..=DAYS_MAX).contains(&days) {
        return Err(AppError::Invalid(format!("days must be between 1 and {DAYS_MAX}, got {days}")));
    }
    let today = Utc::now().with_timezone(&provider.timezone).date_naive();
    let start = bookable.date(field, start_date.unwrap_or(today))?;
    Ok((start, days))
}

impl App {
    /// The availability document, or `NotModified` when what the client
    /// holds (`held`) is current.
    pub async fn availability(&self, query: AvailabilityQuery, held: &HeldCopy<'_>) -> Result<Conditional, AppError> {
        let provider = self.directory.get_active(query.provider_id).await?;
        let (start, days) =
            resolve_range(&provider, "startDate", query.start_date, query.days, &self.bookable_range())?;
        let now = Utc::now();
        let Vouched { claimed, trusted, not_modified } = self.vouched(&provider, start, days, held);
        if let Some(tag) = not_modified {
            return Ok(Conditional::NotModified(tag));
        }
        // The database unreachable: the last document this instance knows
        // of the query answers (and validates), unless the client holds a
        // newer one, which only the database can answer.
        let key = (provider.id, start, days);
        if !self.health.is_reachable()
            && let Some(document) = self.last_known(&key, claimed)
        {
            return Ok(held.compare(document, now));
        }
        let document = match self.current_document(&provider, start, days, trusted).await {
            Err(AppError::DatabaseUnavailable(why)) => {
                self.last_known(&key, claimed).ok_or(AppError::DatabaseUnavailable(why))?
            }
            rendered => rendered?,
        };
        Ok(held.compare(document, now))
    }

    /// The 304 of `query` when it needs no I/O at all: the provider in the
    /// directory (active), the range valid, and a version the bus vouches
    /// for that the client holds. `None` whenever anything is missing (a
    /// provider not yet read, a version not trusted, an invalid range, a
    /// tag that does not match): the caller then takes `availability`, which
    /// answers the same 304 when there is one, and everything else.
    pub fn not_modified_in_memory(&self, query: AvailabilityQuery, held: &HeldCopy<'_>) -> Option<EntityTag> {
        let provider = self.directory.cached_active(query.provider_id)?;
        let (start, days) =
            resolve_range(&provider, "startDate", query.start_date, query.days, &self.bookable_range()).ok()?;
        self.vouched(&provider, start, days, held).not_modified
    }

    /// What the bus can vouch for about the client's copy of the range.
    fn vouched(&self, provider: &ProviderInfo, start: NaiveDate, days: u32, held: &HeldCopy<'_>) -> Vouched {
        let newest = self.bus.trusted_version(provider.id);
        // The usual poll: one tag (or `*`), naming the newest version. Then
        // it claims exactly that version, and its parts need no reading.
        if let Some(version) = newest
            && held.tags.len() <= 1
        {
            let tag = entity_tag(provider.id, version, start, days);
            if (held.has_tag)(&tag) {
                let claimed = held.tags.first().map(|_| version);
                return Vouched { claimed, trusted: newest, not_modified: Some(tag) };
            }
        }
        // A tag newer than this instance has seen (another instance answered
        // it) sends the read to the database: never an older state than the
        // client already saw.
        let claimed = held.tags.iter().filter_map(|t| tag_version(t, provider.id, start, days)).max();
        let trusted = newest.filter(|v| claimed.is_none_or(|c| c <= *v));
        let not_modified =
            trusted.map(|version| entity_tag(provider.id, version, start, days)).filter(|tag| (held.has_tag)(tag));
        Vouched { claimed, trusted, not_modified }
    }

    /// The newest document of `key` this instance rendered, if the client
    /// claims no newer version; counted in
    /// `slotstream_availability_last_known_answers_total`.
    fn last_known(&self, key: &CacheKey, claimed: Option<i64>) -> Option<Arc<AvailabilityDocument>> {
        let document = self.rendered.get(key).filter(|d| claimed.is_none_or(|c| c <= d.version))?;
        metrics::counter!("slotstream_availability_last_known_answers_total").increment(1);
        Some(document)
    }

    /// The provider's document over the range: the cached one when it is
    /// of `current` (a version known to be the newest committed), else a
    /// fresh render (of `current` or newer), which is then cached. The one
    /// render path of the single and the many-providers GETs.
    pub(in crate::app) async fn current_document(
        &self,
        provider: &ProviderInfo,
        start: NaiveDate,
        days: u32,
        current: Option<i64>,
    ) -> Result<Arc<AvailabilityDocument>, AppError> {
        let key = (provider.id, start, days);
        if let Some(cached) = current.and_then(|version| self.rendered.get(&key).filter(|d| d.version == version)) {
            return Ok(cached);
        }
        let document = Arc::new(self.render(provider, start, days).await?);
        self.rendered.insert(key, document.clone());
        metrics::gauge!("slotstream_render_cache_bytes").set(self.rendered.weight() as f64);
        Ok(document)
    }

    /// Read the provider's version and its slots from one snapshot (a
    /// read-only repeatable-read transaction on PostgreSQL; a read
    /// transaction on SQLite, whose WAL gives it a snapshot) and render the
    /// document. Writers never make it fail or retry.
    async fn render(
        &self,
        provider: &ProviderInfo,
        start: NaiveDate,
        days: u32,
    ) -> Result<AvailabilityDocument, AppError> {
        let end = start + Days::new(u64::from(days));
        let snapshot = read_snapshot(&self.db).await?;
        let (row, slots) = provider_and_slots(&snapshot, provider.id, start, end).await?;
        snapshot.commit().await?;
        let external = row.slot_source == provider::SlotSource::External;
        let booking_url = |slot: &availability_slot::Model, starts_at: DateTime<Utc>| {
            let template = row.booking_url.as_deref().filter(|_| external)?;
            // A slot made here before the source changed is not the booking system's to book.
            let slot_id = slot.external_slot_id.as_deref()?;
            Some(fill(template, row.external_id.as_deref().unwrap_or_default(), slot_id, starts_at))
        };
        let body = AvailabilityBody {
            provider_id: provider.id,
            timezone: provider.timezone.name(),
            start_date: start,
            days: public_days(provider, start, days, slots, booking_url),
            version: row.version,
            slot_source: external.then_some(row.slot_source),
        };
        let mut body = serde_json::to_vec(&body).map_err(|e| AppError::Internal(format!("render: {e}")))?;
        // The buffer grew by doubling: up to twice the body's length is
        // allocated, and the cache counts the length. Kept as long as it is.
        body.shrink_to_fit();
        Ok(AvailabilityDocument {
            version: row.version,
            etag: entity_tag(provider.id, row.version, start, days),
            modified_at: row.updated_at,
            previously_modified_at: row.previous_updated_at,
            body: Bytes::from(body),
        })
    }
}

/// The public document's days: each slot with its instants, and its
/// booking URL when it has one (`group_by_day`).
fn public_days(
    provider: &ProviderInfo,
    start: NaiveDate,
    days: u32,
    slots: Vec<availability_slot::Model>,
    booking_url: impl Fn(&availability_slot::Model, DateTime<Utc>) -> Option<String>,
) -> Vec<DayBody> {
    group_by_day(provider, start, days, slots, |slot, starts_at, ends_at| SlotBody {
        booking_url: booking_url(&slot, starts_at.to_utc()),
        availability_id: slot.id,
        start_time: slot.start_time.format("%H:%M").to_string(),
        end_time: slot.end_time.format("%H:%M").to_string(),
        starts_at: starts_at.to_rfc3339(),
        ends_at: ends_at.to_rfc3339(),
        status: slot.status.into(),
    })
    .into_iter()
    .map(|(date, slots)| DayBody { date, slots })
    .collect()
}

/// The `days` local dates from `start`, each with its slots made by `make`
/// from the row and its instants: the one grouping of the public document
/// and the private agenda. A slot whose local times denote no instants (a
/// row an older build stored inside a DST gap) is left out, with a warning
/// and a metric, so one bad row never fails the whole range.
pub(in crate::app) fn group_by_day<T>(
    provider: &ProviderInfo,
    start: NaiveDate,
    days: u32,
    slots: Vec<availability_slot::Model>,
    mut make: impl FnMut(availability_slot::Model, DateTime<FixedOffset>, DateTime<FixedOffset>) -> T,
) -> Vec<(NaiveDate, Vec<T>)> {
    let mut grouped: Vec<(NaiveDate, Vec<T>)> =
        (0..days).map(|n| (start + Days::new(u64::from(n)), Vec::new())).collect();
    for slot in slots {
        let Some((_, day)) = grouped.iter_mut().find(|(date, _)| *date == slot.date) else { continue };
        let (starts_at, ends_at) = match slot_span(provider.timezone, slot.date, slot.start_time, slot.end_time) {
            Ok(span) => span,
            Err(error) => {
                tracing::warn!(
                    provider = %provider.id, slot = %slot.id, date = %slot.date, %error,
                    "slot left out: its local time does not exist"
                );
                metrics::counter!("slotstream_unrenderable_slots_total").increment(1);
                continue;
            }
        };
        day.push(make(slot, starts_at, ends_at));
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn document(version: i64, modified: &str, previous: Option<&str>) -> AvailabilityDocument {
        AvailabilityDocument {
            version,
            etag: EntityTag::strong("t"),
            modified_at: at(modified),
            previously_modified_at: previous.map(at),
            body: Bytes::new(),
        }
    }

    #[test]
    fn last_modified_rounds_up_and_is_never_in_the_future() {
        let doc = document(3, "2026-12-01T10:00:00.300Z", Some("2026-12-01T09:00:00Z"));
        assert_eq!(doc.last_modified(at("2026-12-01T10:00:05Z")), Some(at("2026-12-01T10:00:01Z")));
        assert_eq!(doc.last_modified(at("2026-12-01T10:00:00.900Z")), None, "that second has not passed");
        let whole = document(3, "2026-12-01T10:00:00Z", Some("2026-12-01T09:00:00Z"));
        assert_eq!(whole.last_modified(at("2026-12-01T10:00:05Z")), Some(at("2026-12-01T10:00:00Z")));
    }

    #[test]
    fn a_date_validates_only_a_version_alone_in_its_second() {
        let now = at("2026-12-01T12:00:00Z");
        let alone = document(3, "2026-12-01T10:00:00.300Z", Some("2026-12-01T09:00:00Z"));
        assert!(alone.unmodified_since(at("2026-12-01T10:00:01Z"), now));
        assert!(!alone.unmodified_since(at("2026-12-01T10:00:00Z"), now), "an older date");
        let shared = document(3, "2026-12-01T10:00:00.800Z", Some("2026-12-01T10:00:00.300Z"));
        assert!(!shared.unmodified_since(at("2026-12-01T10:00:01Z"), now), "a copy of version 2 carries the same date");
        assert!(!document(3, "2026-12-01T10:00:00Z", None).unmodified_since(at("2026-12-01T11:00:00Z"), now));
        assert!(document(0, "2026-12-01T10:00:00Z", None).unmodified_since(at("2026-12-01T11:00:00Z"), now));
    }
}
