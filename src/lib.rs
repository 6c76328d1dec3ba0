//! slotstream: live slot availability for a booking marketplace.
//!
//! - [`domain`]: the `ProviderAvailability` aggregate and its events (no I/O)
//! - [`app`]: commands and queries, one transaction each, by capability
//!   (`bookings`, `catalogue`, `queries`, `storage`); authorization; where a
//!   commit becomes a published event (`storage::unit_of_work`)
//! - [`cli`]: what the command line does besides serving: the demo seed and
//!   the demo's traffic
//! - [`events`]: the event log, the in-process bus, the PostgreSQL relay,
//!   the SSE wire format
//! - [`http`]: the axum API, the SSE stream, rate limits, the page
//! - [`webhooks`]: signed deliveries to a marketplace's back end: the sender,
//!   its HTTP client and SSRF guard, the webhook wire format
//! - [`ingest`]: slot changes from the marketplace's booking system through
//!   a broker (NATS JetStream), applied as the admin API applies them
//! - [`health`]: is the database reachable (a prober and the requests' own
//!   failures), and which errors say it is not
//! - [`server`]: wiring: database, migrations, background tasks, serving, stopping
//! - [`connections`]: accepting and serving sockets: connection caps, the
//!   greeting, idle and TLS handshake deadlines, accept errors
//! - [`tls`]: the TLS acceptor (rustls, ALPN h2/http1.1) for `--tls-cert`
//! - [`config`]: command-line flags and environment
//! - [`wakeups`]: polling each of a task's sources only when its own waker was woken

pub mod app;
pub mod cli;
pub mod config;
pub mod connections;
pub mod domain;
pub mod events;
pub mod health;
pub mod http;
pub mod ingest;
pub mod server;
pub mod tls;
pub mod wakeups;
pub mod webhooks;

pub use http::{HttpState, router as app};
