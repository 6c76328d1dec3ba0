//! What a connection's requests tell its deadlines (`deadlines`): whether
//! it has greeted (marked by `greeting::Watched` from the socket, or by a
//! first request) and how many requests are in flight. Apart from both, so
//! that the socket watcher and the deadlines each import it and neither
//! imports the other back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// What a connection's requests tell its deadlines: whether it has greeted,
/// and how many requests are in flight (an HTTP/2 connection carries many).
#[derive(Default)]
pub(super) struct Activity {
    greeted: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken whenever `in_flight` changes.
    changed: Notify,
}

impl Activity {
    pub(super) fn greeted(&self) -> bool {
        self.greeted.load(Ordering::Acquire)
    }

    pub(super) fn mark_greeted(&self) {
        self.greeted.store(true, Ordering::Release);
    }

    /// Completes once no request has been in flight for `idle`.
    pub(super) async fn idle_for(&self, idle: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the count is read, so no change is missed.
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                changed.await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(idle) => {
                    if self.in_flight.load(Ordering::Acquire) == 0 {
                        return;
                    }
                }
                () = changed => {}
            }
        }
    }
}

/// One request in flight on a connection, from its head until its response
/// body has been sent or dropped.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn begin(activity: Arc<Activity>) -> InFlight {
        activity.mark_greeted();
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_waiters();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}
