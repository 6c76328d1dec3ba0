//! The provider's side, live: a person at the front desk signs in with a
//! one-time link (`sign_in`: links and sessions), reads the private agenda
//! (`document`: the days with each booking's customer and service, and the
//! holds in progress) and follows it (`stream`: the public stream's slot
//! changes with each transaction's booking event).
//!
//! Invariants: nothing here is on a public surface; every read and every
//! stream authorizes with the provider's key or a live session of that
//! provider (`authorization`); a session ends at sign-out, at its key's
//! revocation, at the provider's deactivation or when its time is up, and
//! its open streams end with it.

mod document;
mod sign_in;
mod stream;

pub use document::{AgendaBody, AgendaBooking, AgendaCustomer, AgendaDay, AgendaHold, AgendaService, AgendaSlot};
pub use sign_in::{SessionPolicy, SessionView, SignInCode, StartedSession};
pub use stream::AgendaDelivery;
