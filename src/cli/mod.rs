//! What the command line does besides serving: seeding demo data into an
//! empty database (`slotstream seed`, and `serve` on an empty database) and
//! the demo's life (booked weeks, `--demo-traffic`).
//!
//! Kept out of `app` because none of it is a command a client sends: it is
//! a caller of the application layer, like `http`, and goes through the
//! same public functions (`App::import_catalogue`, `App::create_booking`),
//! so everything it changes is a real, announced change.

pub mod demo;
pub mod seed;
