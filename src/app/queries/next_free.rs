//! The batch's summary view ("next free times"): for one provider, the
//! first starts from now on where back-to-back available slots cover a
//! service's length, computed from the provider's rendered availability
//! document (the bytes the full view serves), so both views agree on every
//! slot by construction.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::availability_document::AvailabilityDocument;
use crate::app::{AppError, ProviderInfo};
use crate::domain::SlotStatus;

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
    status: SlotStatus,
}

/// The summary of one provider's document: the first `limit` free starts
/// from `from` on where back-to-back available slots cover `minutes`.
pub(super) fn next_free_entry(
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
        if slot.status != SlotStatus::Available || *starts_at < from {
            continue;
        }
        // Extend over back-to-back available slots until the service fits.
        let mut covered_until = slots[i].3;
        for (_, following, following_start, following_end) in &slots[i + 1..] {
            if covered_until - *starts_at >= needed {
                break;
            }
            if following.status != SlotStatus::Available || *following_start != covered_until {
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
    use etag::EntityTag;

    use super::*;

    fn document(slots: &[(&str, SlotStatus)]) -> AvailabilityDocument {
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

    fn next(slots: &[(&str, SlotStatus)], limit: u32, minutes: u32, from: &str) -> Vec<String> {
        let provider = ProviderInfo { id: Uuid::nil(), name: "p".into(), timezone: chrono_tz::UTC, active: true };
        let from = format!("2026-12-01T{from}:00Z").parse().unwrap();
        let entry = next_free_entry(&provider, &document(slots), limit, minutes, from).unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&entry).unwrap();
        assert_eq!(entry["version"], 7);
        entry["next"].as_array().unwrap().iter().map(|t| t["startTime"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn next_free_times_need_back_to_back_free_slots_from_now_on() {
        use SlotStatus::{Available, Booked, Held};
        let day = [
            ("09:00", Available),
            ("09:30", Available),
            ("10:00", Booked),
            ("10:30", Available),
            ("11:00", Held),
            ("11:30", Available),
            ("12:00", Available),
            ("12:30", Available),
            ("14:00", Available),
        ];
        assert_eq!(next(&day, 10, 30, "00:00"), ["09:00", "09:30", "10:30", "11:30", "12:00", "12:30", "14:00"]);
        assert_eq!(next(&day, 10, 60, "00:00"), ["09:00", "11:30", "12:00"], "an hour needs two slots in a row");
        assert_eq!(next(&day, 2, 30, "09:10"), ["09:30", "10:30"], "past starts left out; at most the limit");
        assert_eq!(next(&day, 3, 90, "00:00"), ["11:30"]);
        assert!(next(&day, 3, 30, "15:00").is_empty());
    }
}
