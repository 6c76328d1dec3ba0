//! Many providers at once, for a marketplace's results page: the batch
//! availability document (every listed provider's document, or a "next free
//! times" summary of it, `next_free`) with one strong ETag. Their changes as
//! one stream are `many_changes`.
//!
//! The batch is made of the single GET's documents, from the same render
//! path and cache (`availability_document`): the full view splices their
//! bytes in unchanged, the summary is computed from them. Its ETag is a
//! digest of the query and every (provider, version), so the 304 path, like
//! the single one, reads versions from the bus and touches no database.
//!
//! A deactivated provider stays in the batch, answered as gone
//! (`GoneEntry`).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use etag::EntityTag;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::availability_document::AvailabilityDocument;
use super::next_free::{NextFreeBody, next_free_entry};
use crate::app::{App, AppError, HeldCopy, ProviderInfo, resolve_range};
use crate::events::{cursor, versions};

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
        let (start, days) = resolve_range(&providers[0], "startDate", start, query.days, &self.bookable_range())?;
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

    /// The listed providers, in order: 1 to 50 distinct ids (else `Invalid`),
    /// all known (else `NotFound` naming every unknown one).
    pub(super) async fn listed_providers(&self, provider_ids: &[Uuid]) -> Result<Vec<Arc<ProviderInfo>>, AppError> {
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
