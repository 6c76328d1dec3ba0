//! What a connection's requests tell its deadlines (`deadlines`): whether
//! it has greeted (marked by `greeting::Watched` from the socket, or by a
//! first request) and how many requests are in flight. Apart from both, so
//! that the socket watcher and the deadlines each import it and neither
//! imports the other back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

// tokio's clock, which the timer the idle watch sleeps on follows.
use tokio::time::Instant;

/// What a connection's requests tell its deadlines: whether it has greeted,
/// how many requests are in flight (an HTTP/2 connection carries many), and
/// when the last one ended.
///
/// Requests only touch atomics (and read the clock as one ends): the idle
/// watch wakes on its own timer and looks. It used to be woken at every
/// request's start and end and to arm a new timer each time, which cost a
/// tenth of a 304 (BENCHMARKS.md, "The 304 at the edge").
pub(super) struct Activity {
    greeted: AtomicBool,
    in_flight: AtomicUsize,
    /// When the last request in flight ended (or the connection began), in
    /// nanoseconds since `began`.
    last_end: AtomicU64,
    began: Instant,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity {
            greeted: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            began: Instant::now(),
        }
    }
}

impl Activity {
    pub(super) fn greeted(&self) -> bool {
        self.greeted.load(Ordering::Acquire)
    }

    pub(super) fn mark_greeted(&self) {
        self.greeted.store(true, Ordering::Release);
    }

    /// Resolves once no request has been in flight for the whole of `idle`
    /// (counted from the connection's start when there was none yet). It
    /// is never early; it may be late by up to `idle` when a request was
    /// in flight at its last look.
    pub(super) async fn idle_for(&self, idle: Duration) {
        let mut look_at = self.began + idle;
        loop {
            tokio::time::sleep_until(look_at).await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                look_at = Instant::now() + idle;
                continue;
            }
            let quiet_since = self.began + Duration::from_nanos(self.last_end.load(Ordering::Acquire));
            // A request that began and ended since the last look moved it on.
            if self.in_flight.load(Ordering::Acquire) == 0 && quiet_since + idle <= Instant::now() {
                return;
            }
            look_at = quiet_since + idle;
        }
    }
}

/// A request in flight on its connection, until dropped (with its response
/// body).
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn begin(activity: Arc<Activity>) -> InFlight {
        activity.mark_greeted();
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        // Stamped before the count drops: a look that sees none in flight
        // sees this end (or a later one).
        let ended = activity.began.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        activity.last_end.fetch_max(ended, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
