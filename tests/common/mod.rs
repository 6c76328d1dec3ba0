//! Test support, one module per concern: `admin` (a server with an
//! operator token, admin requests), `database` (fresh SQLite or
//! PostgreSQL databases, seeding, the visible PostgreSQL-only skip, a dump of
//! every table), `cluster` (a private PostgreSQL server a test may stop and
//! start), `server` (the server in-process or as a child process, on an
//! ephemeral port), `api` (the public API as a test drives it), `sse` (an
//! SSE wire-format client) and `metrics` (`/metrics` samples and a server's
//! memory). Everything is re-exported here, so a test file says
//! `use common::*;`.
//!
//! Each test binary compiles this module on its own and uses only part of
//! it, hence the `allow`s.
#![allow(dead_code, unused_imports)]

pub mod admin;
pub mod api;
pub mod cluster;
pub mod database;
pub mod metrics;
pub mod server;
pub mod sse;

pub use admin::*;
pub use api::*;
pub use cluster::*;
pub use database::*;
pub use metrics::*;
pub use server::*;
pub use sse::*;

/// reqwest (built with rustls but no crypto provider of its own) panics on
/// building any client, TLS or not, unless a provider is installed: install
/// ring, the server's, before the test binary's `main`, so that every client
/// in every test just works.
#[ctor::ctor]
fn install_tls_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}
