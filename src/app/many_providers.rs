//! Many providers at once, for a marketplace's results page: the batch
//! availability document (every listed provider's document, or a "next free
//! times" summary of it) with one strong ETag, and the changes of all of
//! them as one stream, resumable from one cursor (`events::cursor`).
//!
//! The batch is made of the single GET's documents, from the same render
//! path and cache (`availability_document`): the full view splices their
//! bytes in unchanged, the summary is computed from them. Its ETag is a
//! digest of the query and every (provider, version), so the 304 path, like
//! the single one, reads versions from the bus and touches no database.
//!
//! A deactivated provider stays in both: the batch answers it as gone
//! (`GoneEntry`), the stream leaves it out (or drops it once its final
//! event is sent) and goes on with the others; a stream none of whose
//! providers can ever serve is refused (`AppError::Gone`).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use chrono::{DateTime, DurationRound, FixedOffset, NaiveDate, TimeDelta, Utc};
use etag::EntityTag;
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::availability_document::AvailabilityDocument;
use super::{App, AppError, HeldCopy, ProviderInfo, resolve_range};
use crate::events::{self, Delivery, Resume, cursor, versions};

/// Most providers one request may list.
pub const PROVIDERS_MAX: usize = 50;
/// Most free times per provider in the summary view.
pub const NEXT_LIMIT_MAX: u32 = 20;
/// Longest service length the summary view looks for, in minutes.
pub const NEXT_MINUTES_MAX: u32 = 24 * 60;
/// Documents rendered at once when several are missing from the cache.
const RENDERS_AT_ONCE: usize = 4;

/// What the batch GET returns for each provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchView {
    /// The provider's availability document, as the single GET has it.
    Documents,
    /// The first `limit` times a service of `minutes` could start, from now on.
    NextFree { limit: u32, minutes: u32 },
}

#[derive(Clone, Debug)]
pub struct BatchQuery {
    pub provider_ids: Vec<Uuid>,
    pub start_date: Option<NaiveDate>,
    pub days: Option<u32>,
    pub view: BatchView,
}

/// A rendered batch and its tag.
pub struct BatchDocument {
    pub etag: EntityTag,
    pub body: Bytes,
}

pub enum BatchConditional {
    NotModified(EntityTag),
    Document(BatchDocument),
}

/// The batch document's shape (for the OpenAPI document; the full view's
/// `providers` are the single GET's documents, spliced in as rendered).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchBody {
    /// First day of every provider's range.
    start_date: NaiveDate,
    /// Opaque resume point of the many-providers stream for exactly these
    /// documents (`lastEventId` or `Last-Event-ID`).
    cursor: String,
    /// In the order asked: availability documents, or with `view=next` the
    /// next free times; a deactivated provider as `{ providerId, gone: true }`.
    #[schema(value_type = Vec<BatchEntry>)]
    providers: Vec<serde_json::Value>,
}

/// One provider's entry in the batch (for the OpenAPI document: each is one
/// of these, told apart by their required fields).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BatchEntry {
    /// The provider's availability document, as the single GET has it (the default view).
    Document(super::AvailabilityBody<'static>),
    /// The provider's next free times (`view=next`).
    Next(NextFreeBody),
    /// The provider was deactivated: it has no availability any more (the
    /// single GET answers 410).
    Gone(GoneEntry),
}

/// A deactivated provider in the batch.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoneEntry {
    provider_id: Uuid,
    /// Always `true`.
    gone: bool,
}

/// One provider in the summary view.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextFreeBody {
    provider_id: Uuid,
    timezone: String,
    version: i64,
    /// The first times a service of `minutes` can start, soonest first.
    next: Vec<FreeTime>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreeTime {
    date: NaiveDate,
    /// Local `HH:MM`.
    start_time: String,
    /// RFC 3339 instant with the provider's offset (a booking's `startTime`).
    starts_at: String,
}

/// The part of a rendered availability document the summary reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenderedDocument {
    days: Vec<RenderedDay>,
}

#[derive(Deserialize)]
struct RenderedDay {
    date: NaiveDate,
    slots: Vec<RenderedSlot>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenderedSlot {
    start_time: String,
    starts_at: String,
    ends_at: String,
    status: String,
}

/// The changes of many providers on one stream: each delivery tagged with
/// the index of its provider in the list, and where each provider starts.
pub struct ManyChanges<S> {
    /// The position of every provider before the first delivery.
    pub positions: Vec<i64>,
    pub deliveries: S,
}

impl App {
    /// The batch document of `query`, or `NotModified` when the client holds it.
    pub async fn availability_batch(
        &self,
        query: &BatchQuery,
        held: &HeldCopy<'_>,
    ) -> Result<BatchConditional, AppError> {
        let providers = self.listed_providers(&query.provider_ids).await?;
        // One range for all: by default from the earliest "today" among
        // them, so no provider's today is left out.
        let now = Utc::now();
        let earliest_today = providers.iter().map(|p| now.with_timezone(&p.timezone).date_naive()).min();
        let start = query.start_date.or(earliest_today);
        let (start, days) = resolve_range(&providers[0], start, query.days, &self.bookable_range())?;
        let view = validate_view(query.view)?;
        // The summary leaves out times already past: its tag names the minute.
        let from = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let gone: Vec<bool> = providers.iter().map(|p| !p.active).collect();
        let tag_of = |versions: &[i64]| batch_tag(&query.provider_ids, versions, &gone, start, days, view, from);

        let trusted: Option<Vec<i64>> = providers.iter().map(|p| self.bus.trusted_version(p.id)).collect();
        if let Some(versions) = &trusted {
            let tag = tag_of(versions);
            if (held.has_tag)(&tag) {
                return Ok(BatchConditional::NotModified(tag));
            }
        }
        // A client that holds some other tag may have it from another
        // instance, newer than this one's bus: ask the database, so it is
        // never shown an older state than it saw.
        let current = match trusted {
            Some(versions) if held.tags.is_empty() => versions,
            _ => {
                let versions: Vec<i64> = versions::committed_many(&self.db, &query.provider_ids)
                    .await?
                    .into_iter()
                    .map(|v| v.unwrap_or(0))
                    .collect();
                let tag = tag_of(&versions);
                if (held.has_tag)(&tag) {
                    return Ok(BatchConditional::NotModified(tag));
                }
                versions
            }
        };
        // No document for a deactivated provider: it is answered as gone.
        let documents: Vec<Option<Arc<AvailabilityDocument>>> =
            futures_util::stream::iter(providers.iter().cloned().zip(current.iter().copied()))
                .map(|(provider, version)| async move {
                    match provider.active {
                        true => self.current_document(&provider, start, days, Some(version)).await.map(Some),
                        false => Ok(None),
                    }
                })
                .buffered(RENDERS_AT_ONCE)
                .try_collect()
                .await?;
        // Rendered documents may be newer than `current`: tag and cursor
        // name what is in the body.
        let versions: Vec<i64> = documents
            .iter()
            .zip(&current)
            .map(|(document, &version)| document.as_ref().map_or(version, |d| d.version))
            .collect();
        let etag = tag_of(&versions);
        if (held.has_tag)(&etag) {
            return Ok(BatchConditional::NotModified(etag));
        }
        let cursor = cursor::encode(&query.provider_ids, &versions);
        let entries = providers
            .iter()
            .zip(&documents)
            .map(|(provider, document)| match (document, view) {
                (None, _) => gone_entry(provider.id),
                (Some(document), BatchView::Documents) => Ok(document.body.clone()),
                (Some(document), BatchView::NextFree { limit, minutes }) => {
                    next_free_entry(provider, document, limit, minutes, from)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchConditional::Document(BatchDocument { etag, body: batch_body(start, &cursor, &entries)? }))
    }

    /// The changes of every listed provider on one stream, each from its
    /// position in `resume` (a decoded cursor) or, without one, from now.
    /// Subscribed to all of them before this returns. Deactivated providers
    /// are left out (their positions stay in the cursor), and one
    /// deactivated while the stream is open leaves it after its final
    /// `Ended`; `Gone` when every listed provider is deactivated: such a
    /// stream could never deliver anything.
    pub async fn changes_of_many(
        &self,
        provider_ids: &[Uuid],
        resume: Option<Vec<i64>>,
    ) -> Result<ManyChanges<impl Stream<Item = (usize, Delivery)> + Send + 'static>, AppError> {
        let providers = self.listed_providers(provider_ids).await?;
        if providers.iter().all(|p| !p.active) {
            return Err(AppError::Gone("every listed provider is deactivated".into()));
        }
        // From now on: each provider from its committed version, read once
        // for all, so the cursor names every position from the first event.
        let positions = match resume {
            Some(positions) => positions,
            None => {
                versions::committed_many(&self.db, provider_ids).await?.into_iter().map(|v| v.unwrap_or(0)).collect()
            }
        };
        let subscriptions = futures_util::future::try_join_all(
            providers.iter().zip(&positions).enumerate().filter(|(_, (provider, _))| provider.active).map(
                |(index, (provider, &after))| async move {
                    let deliveries = events::subscribe(
                        self.db.clone(),
                        self.bus.clone(),
                        self.health.clone(),
                        provider.id,
                        Resume::After(after),
                    )
                    .await?;
                    Ok::<_, sea_orm::DbErr>(OneOfMany {
                        index,
                        deliveries: Some(Box::pin(deliveries)),
                        deactivated: false,
                    })
                },
            ),
        )
        .await?;
        // Ends when every provider has left (deactivated), or at the first
        // `None`: one subscription failed.
        let deliveries = futures_util::stream::select_all(subscriptions)
            .take_while(|item| std::future::ready(item.is_some()))
            .filter_map(std::future::ready);
        Ok(ManyChanges { positions, deliveries })
    }

    /// The listed providers, in order: 1 to 50 distinct ids (else `Invalid`),
    /// all known (else `NotFound` naming every unknown one).
    async fn listed_providers(&self, provider_ids: &[Uuid]) -> Result<Vec<Arc<ProviderInfo>>, AppError> {
        if provider_ids.is_empty() || provider_ids.len() > PROVIDERS_MAX {
            return Err(AppError::Invalid(format!(
                "providerIds must list 1 to {PROVIDERS_MAX} providers, got {}",
                provider_ids.len()
            )));
        }
        let mut seen = HashSet::with_capacity(provider_ids.len());
        if let Some(twice) = provider_ids.iter().find(|id| !seen.insert(**id)) {
            return Err(AppError::Invalid(format!("providerIds lists {twice} more than once")));
        }
        let mut providers = Vec::with_capacity(provider_ids.len());
        let mut unknown = Vec::new();
        for &id in provider_ids {
            match self.directory.get(id).await {
                Ok(provider) => providers.push(provider),
                Err(AppError::NotFound(_)) => unknown.push(id.to_string()),
                Err(error) => return Err(error),
            }
        }
        if !unknown.is_empty() {
            return Err(AppError::NotFound(format!("no such providers: {}", unknown.join(", "))));
        }
        Ok(providers)
    }
}

/// One provider's subscription on a many-providers stream, its deliveries
/// tagged with the provider's index in the list. After a final `Ended` (the
/// provider was deactivated) it simply finishes, and the stream goes on with
/// the others. Ending without one (the database failed) it gives `None`,
/// which ends the whole stream: the client resumes from its cursor and
/// loses nothing, where carrying on would silently drop that provider.
struct OneOfMany<S> {
    index: usize,
    /// `None` once finished.
    deliveries: Option<Pin<Box<S>>>,
    /// The last delivery was `Ended`.
    deactivated: bool,
}

impl<S: Stream<Item = Delivery>> Stream for OneOfMany<S> {
    type Item = Option<(usize, Delivery)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(deliveries) = this.deliveries.as_mut() else { return Poll::Ready(None) };
        match ready!(deliveries.as_mut().poll_next(cx)) {
            Some(delivery) => {
                this.deactivated = matches!(delivery, Delivery::Ended);
                Poll::Ready(Some(Some((this.index, delivery))))
            }
            None => {
                this.deliveries = None;
                Poll::Ready((!this.deactivated).then_some(None))
            }
        }
    }
}

// The subscription is boxed; nothing else is pinned.
impl<S> Unpin for OneOfMany<S> {}

/// `{"providerId":…,"gone":true}`.
fn gone_entry(provider_id: Uuid) -> Result<Bytes, AppError> {
    serde_json::to_vec(&GoneEntry { provider_id, gone: true })
        .map(Bytes::from)
        .map_err(|e| AppError::Internal(format!("batch: {e}")))
}

fn validate_view(view: BatchView) -> Result<BatchView, AppError> {
    if let BatchView::NextFree { limit, minutes } = view {
        if !(1..=NEXT_LIMIT_MAX).contains(&limit) {
            return Err(AppError::Invalid(format!("limit must be between 1 and {NEXT_LIMIT_MAX}, got {limit}")));
        }
        if !(1..=NEXT_MINUTES_MAX).contains(&minutes) {
            return Err(AppError::Invalid(format!("minutes must be between 1 and {NEXT_MINUTES_MAX}, got {minutes}")));
        }
    }
    Ok(view)
}

/// A strong tag over the query and every (provider, version): equal tags,
/// equal bodies. (The summary's also names the minute it counts from.)
fn batch_tag(
    provider_ids: &[Uuid],
    versions: &[i64],
    gone: &[bool],
    start: NaiveDate,
    days: u32,
    view: BatchView,
    from: DateTime<Utc>,
) -> EntityTag {
    let mut hasher = Sha256::new();
    hasher.update(start.format("%Y%m%d").to_string());
    hasher.update(days.to_be_bytes());
    if let BatchView::NextFree { limit, minutes } = view {
        hasher.update(b"next");
        hasher.update(limit.to_be_bytes());
        hasher.update(minutes.to_be_bytes());
        hasher.update(from.timestamp().to_be_bytes());
    }
    for ((id, version), gone) in provider_ids.iter().zip(versions).zip(gone) {
        hasher.update(id.as_bytes());
        hasher.update(version.to_be_bytes());
        hasher.update([u8::from(*gone)]);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    EntityTag::strong(&format!("m{hex}"))
}

/// `{"startDate":…,"cursor":…,"providers":[…]}` around entries that are
/// already JSON (the documents as rendered, not parsed and written again).
fn batch_body(start: NaiveDate, cursor: &str, entries: &[Bytes]) -> Result<Bytes, AppError> {
    let head = serde_json::to_string(&serde_json::json!({ "startDate": start, "cursor": cursor }))
        .map_err(|e| AppError::Internal(format!("batch: {e}")))?;
    let mut body = Vec::with_capacity(head.len() + 16 + entries.iter().map(|e| e.len() + 1).sum::<usize>());
    // The head is an object: reopen it to add the list.
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(b",\"providers\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(entry);
    }
    body.extend_from_slice(b"]}");
    Ok(Bytes::from(body))
}

/// The summary of one provider's document: the first `limit` free starts
/// from `from` on where back-to-back available slots cover `minutes`.
fn next_free_entry(
    provider: &ProviderInfo,
    document: &AvailabilityDocument,
    limit: u32,
    minutes: u32,
    from: DateTime<Utc>,
) -> Result<Bytes, AppError> {
    let rendered: RenderedDocument =
        serde_json::from_slice(&document.body).map_err(|e| AppError::Internal(format!("summary: {e}")))?;
    let parse = |text: &str| DateTime::<FixedOffset>::parse_from_rfc3339(text).ok();
    // (date, slot, start, end) of every slot, in time order.
    let slots: Vec<(NaiveDate, &RenderedSlot, DateTime<FixedOffset>, DateTime<FixedOffset>)> = rendered
        .days
        .iter()
        .flat_map(|day| day.slots.iter().map(move |slot| (day.date, slot)))
        .filter_map(|(date, slot)| Some((date, slot, parse(&slot.starts_at)?, parse(&slot.ends_at)?)))
        .collect();
    let needed = TimeDelta::minutes(i64::from(minutes));
    let mut next = Vec::new();
    for (i, (date, slot, starts_at, _)) in slots.iter().enumerate() {
        if next.len() as u32 >= limit {
            break;
        }
        if slot.status != "available" || *starts_at < from {
            continue;
        }
        // Extend over back-to-back available slots until the service fits.
        let mut covered_until = slots[i].3;
        for (_, following, following_start, following_end) in &slots[i + 1..] {
            if covered_until - *starts_at >= needed {
                break;
            }
            if following.status != "available" || *following_start != covered_until {
                break;
            }
            covered_until = *following_end;
        }
        if covered_until - *starts_at >= needed {
            next.push(FreeTime { date: *date, start_time: slot.start_time.clone(), starts_at: slot.starts_at.clone() });
        }
    }
    let entry = NextFreeBody {
        provider_id: provider.id,
        timezone: provider.timezone.name().to_owned(),
        version: document.version,
        next,
    };
    serde_json::to_vec(&entry).map(Bytes::from).map_err(|e| AppError::Internal(format!("summary: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(slots: &[(&str, &str)]) -> AvailabilityDocument {
        // Half-hour slots on 2026-12-01 in UTC: (start HH:MM, status).
        let slots: Vec<serde_json::Value> = slots
            .iter()
            .map(|(start, status)| {
                let starts_at: DateTime<FixedOffset> = format!("2026-12-01T{start}:00+00:00").parse().unwrap();
                let ends_at = starts_at + TimeDelta::minutes(30);
                serde_json::json!({ "availabilityId": Uuid::nil(), "startTime": start, "endTime": ends_at.format("%H:%M").to_string(),
                    "startsAt": starts_at.to_rfc3339(), "endsAt": ends_at.to_rfc3339(), "status": status })
            })
            .collect();
        let body = serde_json::json!({ "providerId": Uuid::nil(), "timezone": "UTC", "startDate": "2026-12-01",
            "days": [{ "date": "2026-12-01", "slots": slots }], "version": 7 });
        AvailabilityDocument {
            version: 7,
            etag: EntityTag::strong("t"),
            modified_at: Utc::now(),
            previously_modified_at: None,
            body: Bytes::from(serde_json::to_vec(&body).unwrap()),
        }
    }

    fn next(slots: &[(&str, &str)], limit: u32, minutes: u32, from: &str) -> Vec<String> {
        let provider = ProviderInfo { id: Uuid::nil(), name: "p".into(), timezone: chrono_tz::UTC, active: true };
        let from = format!("2026-12-01T{from}:00Z").parse().unwrap();
        let entry = next_free_entry(&provider, &document(slots), limit, minutes, from).unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&entry).unwrap();
        assert_eq!(entry["version"], 7);
        entry["next"].as_array().unwrap().iter().map(|t| t["startTime"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn next_free_times_need_back_to_back_free_slots_from_now_on() {
        let day = [
            ("09:00", "available"),
            ("09:30", "available"),
            ("10:00", "booked"),
            ("10:30", "available"),
            ("11:00", "held"),
            ("11:30", "available"),
            ("12:00", "available"),
            ("12:30", "available"),
            ("14:00", "available"),
        ];
        assert_eq!(next(&day, 10, 30, "00:00"), ["09:00", "09:30", "10:30", "11:30", "12:00", "12:30", "14:00"]);
        assert_eq!(next(&day, 10, 60, "00:00"), ["09:00", "11:30", "12:00"], "an hour needs two slots in a row");
        assert_eq!(next(&day, 2, 30, "09:10"), ["09:30", "10:30"], "past starts left out; at most the limit");
        assert_eq!(next(&day, 3, 90, "00:00"), ["11:30"]);
        assert!(next(&day, 3, 30, "15:00").is_empty());
    }
}
