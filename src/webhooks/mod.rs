//! Webhooks for a marketplace's back end (DESIGN 4b): signed deliveries of
//! booking and slot events, at least once, in version order per provider,
//! surviving restarts.
//!
//! - `message`: the one owner of a webhook's wire format (body, id, signature);
//! - `client`: the outgoing HTTP(S) client, whose resolver applies the SSRF
//!   guard (`app::webhooks::target`, which also checks a subscription's URL);
//! - `sender`: follows the event log per subscription from its stored cursor,
//!   under a lease (one sender per subscription across instances), with
//!   back-off and the `failing` state.
//!
//! Subscriptions themselves are managed in `app::webhooks`; what a webhook
//! carries (`events::EventType`, `events::BookingChange`) is defined with the
//! events; booking events are recorded by the booking commands through the
//! unit of work. This module sits above `app` (it drives `App`); nothing in
//! `app` or `events` imports it.

mod client;
pub mod message;
pub mod sender;

pub use sender::SenderSettings;
