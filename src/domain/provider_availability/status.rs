//! A slot's status, and why a transition between statuses was refused.
//!
//! `removed` exists only in events (a slot taken off the calendar for good);
//! no stored slot has it. The lower-case names (`serde`'s) are the wire's;
//! the database stores `entity::availability_slot::Status`, converted in
//! `events::stored_status`. The domain imports no entity, so the two enums
//! stay apart.

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Status of a slot; serialised lower-case on the wire and in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlotStatus {
    Available,
    Booked,
    Blocked,
    /// Held for a customer who is filling in the booking form.
    Held,
    /// Only in events: the slot was taken off the calendar for good (a
    /// changed weekly schedule no longer has it); no stored slot has it.
    Removed,
}

/// The wire form (`serde`'s lower-case name), also in error messages.
impl std::fmt::Display for SlotStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serialize(f)
    }
}

/// Why a transition was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("slot {slot} at {date} {start} is {status}, not available")]
    NotAvailable { slot: Uuid, date: NaiveDate, start: NaiveTime, status: SlotStatus },
    #[error("slot {slot} is not booked by booking {booking}")]
    NotBookedBy { slot: Uuid, booking: Uuid },
    #[error("slot {slot} is not blocked")]
    NotBlocked { slot: Uuid },
    #[error("slot {slot} is not held by hold {hold}")]
    NotHeldBy { slot: Uuid, hold: Uuid },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_wire_form() {
        for s in [SlotStatus::Available, SlotStatus::Booked, SlotStatus::Blocked, SlotStatus::Held, SlotStatus::Removed]
        {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }
}
