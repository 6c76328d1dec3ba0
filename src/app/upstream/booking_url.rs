//! Where an `external` provider's times are booked: the provider's
//! `bookingUrl` template (checked when it is set, in
//! `catalogue::booking_url`) filled in for one time (the availability
//! document's slots, the `books-elsewhere` problem).
//!
//! The template may name `{providerId}` (the marketplace's own id of the
//! provider, which its booking pages use), `{externalSlotId}` and
//! `{startsAt}` (RFC 3339 UTC, `2026-12-03T14:30:00Z`). The values are put
//! in as they are: external ids are made of URL-unreserved characters only
//! (`check_external_id`), and an instant so written holds nothing but
//! digits, `-`, `:` and letters, all allowed in a path or a query.

use chrono::{DateTime, Utc};
use entity::{availability_slot, provider};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::app::{AppError, UnitOfWork};
use crate::domain::to_local;

/// `template` filled in for one time of the provider `external_id`.
pub fn fill(template: &str, provider_external_id: &str, external_slot_id: &str, starts_at: DateTime<Utc>) -> String {
    template
        .replace("{providerId}", provider_external_id)
        .replace("{externalSlotId}", external_slot_id)
        .replace("{startsAt}", &starts_at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A booking or hold at `starts_at` asked of the unit of work's provider:
/// refused with `books-elsewhere` if the marketplace's booking system owns
/// its slots, naming the URL of the slot starting then (or of the time
/// alone, if none does). Read under the provider lock, like activity.
pub async fn refuse_if_booked_elsewhere(uow: &UnitOfWork, starts_at: DateTime<Utc>) -> Result<(), AppError> {
    let provider = uow.provider();
    if provider.slot_source == provider::SlotSource::Schedule {
        return Ok(());
    }
    let booking_url = match (&provider.booking_url, uow.timezone()) {
        (Some(template), Some(tz)) => {
            let (date, start_time) = to_local(tz, starts_at);
            let slot = availability_slot::Entity::find()
                .filter(availability_slot::Column::ProviderId.eq(provider.id))
                .filter(availability_slot::Column::Date.eq(date))
                .filter(availability_slot::Column::StartTime.eq(start_time))
                .one(&uow.tx)
                .await?;
            let slot_id = slot.and_then(|s| s.external_slot_id).unwrap_or_default();
            Some(fill(template, provider.external_id.as_deref().unwrap_or_default(), &slot_id, starts_at))
        }
        _ => None,
    };
    let detail = match &booking_url {
        Some(url) => format!("this provider's times are booked in the marketplace's booking system, at {url}"),
        None => "this provider's times are booked in the marketplace's booking system, not here".to_owned(),
    };
    Err(AppError::BooksElsewhere { detail, booking_url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filling_puts_each_value_in_place() {
        let at: DateTime<Utc> = "2026-12-03T14:30:00Z".parse().unwrap();
        assert_eq!(
            fill("https://m.example/p/{providerId}/s/{externalSlotId}?at={startsAt}", "kasia-1", "av-9", at),
            "https://m.example/p/kasia-1/s/av-9?at=2026-12-03T14:30:00Z"
        );
    }
}
