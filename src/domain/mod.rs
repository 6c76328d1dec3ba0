//! The domain: the `ProviderAvailability` aggregate, its events and the rules
//! for fitting a booking onto slots. Plain Rust: no I/O, no clock, no database.

mod availability;
mod schedule;

pub use availability::{
    AvailabilitySlotChangedEvent, ProviderAvailability, SlotStatus, TransitionError,
};
pub use schedule::{
    BookingStatus, ScheduleError, SkipReason, check_new_slot, covering_slots, local_instant, overlaps_locally,
    slot_grid, slot_span, to_local,
};
