//! The one conversion between a slot's status as stored
//! (`entity::availability_slot::Status`, also `slot_event`'s) and as the
//! domain has it (`SlotStatus`), one `From` each way.
//!
//! Two enums because the domain imports no entity and no SeaORM; the
//! conversion lives here, in the lowest layer that stores slot statuses (the
//! event log), so the application layer above uses the same one.

use entity::availability_slot::Status;

use crate::domain::SlotStatus;

impl From<Status> for SlotStatus {
    fn from(stored: Status) -> SlotStatus {
        match stored {
            Status::Available => SlotStatus::Available,
            Status::Booked => SlotStatus::Booked,
            Status::Blocked => SlotStatus::Blocked,
            Status::Held => SlotStatus::Held,
            Status::Removed => SlotStatus::Removed,
        }
    }
}

impl From<SlotStatus> for Status {
    fn from(status: SlotStatus) -> Status {
        match status {
            SlotStatus::Available => Status::Available,
            SlotStatus::Booked => Status::Booked,
            SlotStatus::Blocked => Status::Blocked,
            SlotStatus::Held => Status::Held,
            SlotStatus::Removed => Status::Removed,
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn stored_strings_are_the_wire_names_and_round_trip() {
        for stored in Status::iter() {
            let status = SlotStatus::from(stored);
            assert_eq!(Status::from(status), stored);
            assert_eq!(stored.to_value(), status.to_string(), "the database and the wire spell it alike");
        }
    }
}
