//! The search itself: providers with a free time that fits a matching
//! service inside the customer's window on a date (each provider's own
//! zone), soonest first, paged by an opaque cursor, answered from the index
//! with a strong tag over the body.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use etag::EntityTag;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::index::{IndexedProvider, IndexedService, NotCurrent};
use crate::app::{App, AppError};
use crate::domain::{TimeOfDay, day_window, fitting_times, rfc3339_in, to_local};

/// Results per page: default and most.
pub const LIMIT_DEFAULT: usize = 20;
pub const LIMIT_MAX: usize = 50;
/// Times shown per provider.
pub const TIMES_PER_PROVIDER: usize = 5;
/// The longest service text searched for, in characters.
pub const SERVICE_TEXT_MAX: usize = 100;
/// How long a search waits for the index to apply what was announced
/// before it began, before answering 503.
const PATIENCE: Duration = Duration::from_secs(2);

/// A search as asked.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// Matched against service names, case-insensitively (any service when `None`).
    pub service: Option<String>,
    /// The date in each provider's zone (each provider's today when `None`).
    pub date: Option<NaiveDate>,
    pub times: TimeOfDay,
    pub limit: usize,
    /// Where the previous page ended (`SearchCursor::decode`).
    pub after: Option<SearchCursor>,
}

/// A page's end: the last result's first time and provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SearchCursor {
    start: i64,
    provider_id: Uuid,
}

impl SearchCursor {
    fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&self.start.to_be_bytes());
        raw.extend_from_slice(self.provider_id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The cursor a previous page gave, or `None` for anything else.
    pub fn decode(text: &str) -> Option<SearchCursor> {
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (start, provider_id) = raw.split_first_chunk::<8>()?;
        Some(SearchCursor { start: i64::from_be_bytes(*start), provider_id: Uuid::from_slice(provider_id).ok()? })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    results: Vec<SearchResult>,
    /// The next page's `cursor`, when there are more results.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    provider_id: Uuid,
    name: String,
    address: Option<String>,
    timezone: String,
    service: SearchService,
    /// The first fitting times, soonest first (at most 5).
    times: Vec<SearchTime>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchService {
    id: Uuid,
    name: String,
    duration_minutes: u32,
    /// Price in the currency's minor unit (ISO 4217: ¥4500 is `4500` JPY, 40.00 zł is `4000` PLN).
    price_minor: i64,
    currency: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchTime {
    /// RFC 3339 with the provider's offset (a hold's or booking's `startTime`).
    starts_at: String,
    /// When the service ends.
    ends_at: String,
}

/// A search's answer: the body and its strong tag.
pub struct SearchPage {
    pub etag: EntityTag,
    pub body: Bytes,
}

/// One provider's best match, before rendering: its soonest time and the
/// window it was found in.
struct Hit<'a> {
    key: SearchCursor,
    provider: &'a IndexedProvider,
    service: &'a IndexedService,
    window: (i64, i64),
}

impl App {
    /// Search the index (never the database). `Unavailable` when the index
    /// is loading or cannot catch up with what was announced before the
    /// search began.
    pub async fn search(&self, query: &SearchQuery) -> Result<SearchPage, AppError> {
        let range = self.bookable_range();
        if let Some(date) = query.date {
            range.date("date", date)?;
        }
        let providers = self.search.current(PATIENCE).await.map_err(unavailable)?;
        let now = Utc::now().timestamp();
        // A hold takes instants up to the bookable range's end (UTC dates):
        // a local date's evening west of UTC may lie past it.
        let bookable_end = range.end().timestamp();
        let folded = query.service.as_deref().map(str::to_lowercase);
        // Providers share a handful of zones: each zone's window is worked out once.
        let mut windows: HashMap<Tz, Option<(i64, i64)>> = HashMap::new();
        let mut window_in = |tz: Tz| {
            *windows.entry(tz).or_insert_with(|| {
                let date = query.date.unwrap_or_else(|| to_local(tz, Utc::now()).0);
                let (start, end) = day_window(tz, date, query.times)?;
                (start < bookable_end).then_some((start, end.min(bookable_end)))
            })
        };
        // First each provider's soonest time only; the page's five times
        // are worked out for the page's providers alone.
        let mut hits: Vec<Hit> = providers
            .values()
            .filter_map(|provider| {
                let window = window_in(provider.timezone)?;
                best_match(provider, window, folded.as_deref(), now)
            })
            .filter(|hit| query.after.is_none_or(|after| hit.key > after))
            .collect();
        let more = hits.len() > query.limit;
        if more {
            hits.select_nth_unstable_by_key(query.limit, |hit| hit.key);
            hits.truncate(query.limit);
        }
        hits.sort_unstable_by_key(|hit| hit.key);
        let cursor = more.then(|| hits.last().map(|hit| hit.key.encode())).flatten();
        let results = hits.iter().filter_map(|hit| render(hit, now)).collect();
        let body = SearchBody { results, cursor };
        drop(providers);
        let body = serde_json::to_vec(&body).map_err(|e| AppError::Internal(format!("search: {e}")))?;
        // Strong: equal tags mean byte-equal bodies.
        let digest = Sha256::digest(&body);
        let etag = EntityTag::strong(&format!("s-{}", URL_SAFE_NO_PAD.encode(&digest[..18])));
        Ok(SearchPage { etag, body: Bytes::from(body) })
    }
}

/// Names offered to a customer typing a service.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSuggestions {
    services: Vec<ServiceSuggestion>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSuggestion {
    name: String,
    /// Providers offering a service of that name.
    providers: usize,
}

/// Suggestions given at most.
pub const SUGGESTIONS_MAX: usize = 10;

impl App {
    /// Service names containing `text` (case-insensitively), the most
    /// offered first, from the index.
    pub async fn suggest_services(&self, text: &str) -> Result<ServiceSuggestions, AppError> {
        let providers = self.search.current(PATIENCE).await.map_err(unavailable)?;
        let folded = text.to_lowercase();
        // By folded name: the spelling shown is the first one met.
        let mut counts: HashMap<&str, (&str, usize)> = HashMap::new();
        for provider in providers.values() {
            let mut names: Vec<&IndexedService> =
                provider.services.iter().filter(|service| service.folded.contains(&folded)).collect();
            // One provider counts once per name, however it spells it.
            names.sort_unstable_by(|a, b| a.folded.cmp(&b.folded));
            names.dedup_by(|a, b| a.folded == b.folded);
            for service in names {
                counts.entry(&service.folded).or_insert((&service.name, 0)).1 += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_values().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.truncate(SUGGESTIONS_MAX);
        let services = ranked
            .into_iter()
            .map(|(name, providers)| ServiceSuggestion { name: name.to_owned(), providers })
            .collect();
        Ok(ServiceSuggestions { services })
    }
}

fn unavailable(reason: NotCurrent) -> AppError {
    match reason {
        NotCurrent::Loading => AppError::SearchUnavailable("the search index is loading".into()),
        NotCurrent::Behind => AppError::SearchUnavailable("the search index is catching up".into()),
    }
}

/// The provider's matching service with the soonest fitting time, if any
/// (a tie goes to the shorter service, then the name).
fn best_match<'a>(
    provider: &'a IndexedProvider,
    window: (i64, i64),
    folded: Option<&str>,
    now: i64,
) -> Option<Hit<'a>> {
    provider
        .services
        .iter()
        .filter(|service| folded.is_none_or(|text| service.folded.contains(text)))
        .filter_map(|service| {
            let (start, _) = *fitting_times(&provider.free, window, duration_of(service), now, 1).first()?;
            Some(Hit { key: SearchCursor { start, provider_id: provider.id }, provider, service, window })
        })
        .min_by(|a, b| {
            (a.key.start, a.service.duration_minutes, &a.service.name).cmp(&(
                b.key.start,
                b.service.duration_minutes,
                &b.service.name,
            ))
        })
}

fn duration_of(service: &IndexedService) -> i64 {
    i64::from(service.duration_minutes) * 60
}

fn render(hit: &Hit, now: i64) -> Option<SearchResult> {
    let tz = hit.provider.timezone;
    let times = fitting_times(&hit.provider.free, hit.window, duration_of(hit.service), now, TIMES_PER_PROVIDER);
    let times = times
        .iter()
        .map(|&(start, end)| Some(SearchTime { starts_at: rfc3339_in(tz, start)?, ends_at: rfc3339_in(tz, end)? }))
        .collect::<Option<Vec<_>>>()?;
    Some(SearchResult {
        provider_id: hit.provider.id,
        name: hit.provider.name.clone(),
        address: hit.provider.address.clone(),
        timezone: tz.name().to_owned(),
        service: SearchService {
            id: hit.service.id,
            name: hit.service.name.clone(),
            duration_minutes: hit.service.duration_minutes,
            price_minor: hit.service.price_minor,
            currency: hit.service.currency.clone(),
        },
        times,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = SearchCursor { start: 1_900_000_000, provider_id: Uuid::new_v4() };
        assert_eq!(SearchCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "x", "!!!!", &URL_SAFE_NO_PAD.encode([0u8; 23]), &URL_SAFE_NO_PAD.encode([0u8; 25])] {
            assert_eq!(SearchCursor::decode(bad), None, "{bad:?}");
        }
    }
}
