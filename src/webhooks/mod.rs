//! Webhooks for a marketplace's back end (DESIGN 4b): signed deliveries of
//! booking and slot events, at least once, in version order per provider,
//! surviving restarts.
//!
//! - `target`: the SSRF guard (which addresses a webhook may reach);
//! - `message`: the one owner of a webhook's wire format (body, id, signature);
//! - `client`: the outgoing HTTP(S) client, whose resolver applies the guard;
//! - `sender`: follows the event log per subscription from its stored cursor,
//!   under a lease (one sender per subscription across instances), with
//!   back-off and the `failing` state.
//!
//! Subscriptions themselves are managed in `app::webhooks`; booking events
//! are recorded by the booking commands through the unit of work.

mod client;
pub mod message;
pub mod sender;
pub mod target;

pub use sender::SenderSettings;
