//! Events after they are committed: the durable log (outbox) in `slot_event`,
//! the in-process bus that fans them out per provider, each subscriber's
//! gap-free view (live bus + catch-up from the log, shared between
//! subscribers that lag from the same point), and the PostgreSQL
//! LISTEN/NOTIFY relay that carries them between instances.

mod bus;
mod catch_up;
pub mod log;
pub mod reconcile;
pub mod relay;
mod subscription;

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{AvailabilitySlotChangedEvent, SlotStatus};

pub use bus::{Bus, SubscriberGuard};
pub use subscription::{Delivery, Resume, subscribe};

/// A committed event with its provider version, rendered once to its SSE frame
/// so that fan-out to many subscribers shares the same bytes.
#[derive(Debug)]
pub struct PublishedEvent {
    pub provider_id: Uuid,
    pub version: i64,
    pub date: NaiveDate,
    /// `id: …\nevent: slot-changed\ndata: …\n\n`
    pub frame: Bytes,
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

/// The public JSON of a slot change: no customer data, no booking id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicSlotChange<'a> {
    availability_id: Uuid,
    provider_id: Uuid,
    date: NaiveDate,
    start_time: String,
    end_time: String,
    previous_status: Option<SlotStatus>,
    new_status: SlotStatus,
    changed_at: &'a str,
}

impl PublishedEvent {
    pub fn new(version: i64, event: &AvailabilitySlotChangedEvent) -> Arc<PublishedEvent> {
        let changed_at = event.changed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let payload = PublicSlotChange {
            availability_id: event.availability_id,
            provider_id: event.provider_id,
            date: event.date,
            start_time: event.start_time.format("%H:%M").to_string(),
            end_time: event.end_time.format("%H:%M").to_string(),
            previous_status: event.previous_status,
            new_status: event.new_status,
            changed_at: &changed_at,
        };
        // Serialising a struct of plain fields cannot fail.
        let json = serde_json::to_string(&payload).unwrap_or_default();
        let frame = format!("id: {version}\nevent: slot-changed\ndata: {json}\n\n");
        Arc::new(PublishedEvent {
            provider_id: event.provider_id,
            version,
            date: event.date,
            frame: Bytes::from(frame),
            changed_at: event.changed_at,
        })
    }
}
