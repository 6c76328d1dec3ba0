//! Slots published by the marketplace's own booking system: an `external`
//! provider's slots are owned by that system (the "upstream"), which
//! publishes their changes here, and slotstream mirrors and serves them
//! live: the availability document, ETags and 304s, the streams with exact
//! resume, the webhooks. Nothing is booked or held here for such a provider
//! (`books-elsewhere`, naming its `bookingUrl`).
//!
//! - `apply`: a batch of slot changes, or a snapshot stating the whole truth
//!   of a date range, applied in one unit of work;
//! - `booking_url`: the provider's booking URL template, filled in for a time.
//!
//! Invariants: a batch or snapshot whose `sequence` (the upstream's own
//! increasing number, its outbox id) is not above the last applied one
//! changes nothing and says `stale`, so retries, redeliveries and an older
//! state arriving late are harmless; the sequence is read and written under
//! the provider lock, so two instances applying at once apply each batch
//! once and in order. Each real change is one `slot-changed` event (a move,
//! two: the old time removed, the new one opened); a slot already as
//! published raises nothing. Within one batch the last change of a slot wins.

mod apply;
pub mod booking_url;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::UpstreamStatus;

pub use booking_url::refuse_if_booked_elsewhere;

/// Most slots in one batch or snapshot.
pub const SLOTS_PER_BATCH_MAX: usize = 5_000;

/// One slot as the upstream publishes it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishedSlot {
    /// The upstream's id of the slot (its AvailabilityId): 1 to 128 of `A-Z a-z 0-9 . _ ~ -`.
    pub external_slot_id: String,
    /// RFC 3339 instant, any offset.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: DateTime<FixedOffset>,
    pub status: UpstreamStatus,
}

/// `POST /api/v1/admin/providers/{externalId}/slot-changes`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotChanges {
    /// The upstream's own increasing number for this provider (its outbox
    /// id), at least 0: a batch not above the last applied one changes nothing.
    #[schema(minimum = 0)]
    pub sequence: i64,
    #[schema(max_items = 5000)]
    pub changes: Vec<PublishedSlot>,
}

/// `PUT /api/v1/admin/providers/{externalId}/slots?from=&to=`: every slot
/// of the range; those not listed are removed.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotSnapshot {
    #[schema(minimum = 0)]
    pub sequence: i64,
    #[schema(max_items = 5000)]
    pub slots: Vec<PublishedSlot>,
}

/// The local dates a snapshot states the whole truth of, both included.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotRange {
    /// First date, `YYYY-MM-DD`, in the provider's timezone.
    pub from: NaiveDate,
    /// Last date, included.
    pub to: NaiveDate,
}

/// What a batch or snapshot did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// False when the sequence was not above the last applied one: nothing changed.
    pub applied: bool,
    /// `stale` when not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The `slot-changed` events it raised (0 when every slot already was as published).
    pub events: usize,
    /// The provider's version after it.
    pub version: i64,
    /// The last sequence applied (this one, unless stale).
    pub sequence: i64,
}
