//! The event every status change of a slot raises (and opening a new
//! slot, with no previous status): what the stream, the log and the
//! webhooks carry, each in its own wire format elsewhere.
//!
//! Invariant: an event names its slot by local date and times and, once
//! [`located`](AvailabilitySlotChangedEvent::located) in the provider's zone,
//! by the instants they denote, which tell the two 02:00s of an autumn
//! night apart.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::SlotStatus;
use crate::domain::Actor;
use crate::domain::local_time::slot_span;

/// Raised by every status change of a slot (and by opening a new slot, with no
/// previous status). Carries the booking id for the audit trail; the public
/// stream drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailabilitySlotChangedEvent {
    pub availability_id: Uuid,
    pub provider_id: Uuid,
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub previous_status: Option<SlotStatus>,
    pub new_status: SlotStatus,
    pub booking_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
    /// Who made the change; `None` only for events logged before actors were.
    pub changed_by: Option<Actor>,
    /// The real instants `[start, end)` the slot denotes in its provider's
    /// zone (see [`slot_span`]): set by [`located`](Self::located), where
    /// the zone is known; `None` for a slot without instants (a legacy row in
    /// a DST gap) and for events logged before instants were.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl AvailabilitySlotChangedEvent {
    /// The event with the instants its slot denotes in `tz`: the two 02:00s
    /// of an autumn night are told apart by them, not by the local times.
    pub fn located(self, tz: Tz) -> AvailabilitySlotChangedEvent {
        let span = slot_span(tz, self.date, self.start_time, self.end_time)
            .ok()
            .map(|(from, to)| (from.to_utc(), to.to_utc()));
        AvailabilitySlotChangedEvent { span, ..self }
    }
}
