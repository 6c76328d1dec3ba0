//! Events after they are committed:
//! - `event_log`: the durable log (outbox) in `slot_event`; `versions`: the
//!   providers' committed versions as the database has them;
//! - `bus`: the in-process fan-out per provider, in version order;
//! - `subscription` + `catch_up`: each subscriber's gap-free view (live bus,
//!   and pages of the log shared by subscribers that lag from the same point);
//! - `relay`: PostgreSQL LISTEN/NOTIFY between instances (the one owner of
//!   the NOTIFY payload); `reconcile`: the one place that brings the bus
//!   level with the log;
//! - `stored_status`: a slot's stored status to the domain's and back;
//! - `sse`: the one owner of the SSE wire format; `cursor`: the one owner of
//!   the many-providers stream's cursor;
//! - `webhook_event`: what a webhook carries (event types, the booking
//!   change), recorded by `app` and sent by `crate::webhooks`.
//!
//! Where a commit becomes a published event: `app::storage::unit_of_work`.

mod bus;
mod catch_up;
pub mod cursor;
pub mod event_log;
pub mod reconcile;
pub mod relay;
pub mod sse;
mod stored_status;
mod subscription;
pub mod versions;
pub mod webhook_event;

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use uuid::Uuid;

use crate::domain::{AvailabilitySlotChangedEvent, SlotStatus};

pub use bus::{Bus, SubscriberGuard, Tap, Tapped};
pub use subscription::{Delivery, Resume, subscribe};
pub use webhook_event::{BookingChange, EventType, Lane, WaitlistChange, event_types};

/// A committed event with its provider version, rendered once to its SSE frame
/// so that fan-out to many subscribers shares the same bytes.
#[derive(Debug)]
pub struct PublishedEvent {
    pub provider_id: Uuid,
    pub version: i64,
    pub date: NaiveDate,
    /// The `slot-changed` frame (see `sse`).
    pub frame: Bytes,
    /// When the change was made, in microseconds since the Unix epoch: the
    /// delivery-lag metric subtracts it from the clock once per delivery, as
    /// one integer subtraction rather than calendar arithmetic.
    pub changed_at_micros: i64,
    /// The slot and its new status, for the bus's tap (the search index):
    /// the frame carries them too, but as text.
    pub availability_id: Uuid,
    pub new_status: SlotStatus,
    /// The slot's instants `[start, end)`, seconds since the epoch, when it has them.
    pub span_seconds: Option<(i64, i64)>,
}

impl PublishedEvent {
    pub fn new(version: i64, event: &AvailabilitySlotChangedEvent) -> Arc<PublishedEvent> {
        Arc::new(PublishedEvent {
            provider_id: event.provider_id,
            version,
            date: event.date,
            frame: sse::slot_changed(version, event),
            changed_at_micros: event.changed_at.timestamp_micros(),
            availability_id: event.availability_id,
            new_status: event.new_status,
            span_seconds: event.span.map(|(start, end)| (start.timestamp(), end.timestamp())),
        })
    }
}
