//! Polling a source only when its own waker was woken.
//!
//! A task that waits on several sources (a response body on its frames and
//! its timers; a connection on its socket and its deadlines) is woken by any
//! of them, and a `select!` then polls every source on every wake-up: the
//! timers' polls are paid once per delivered event. Here each source is
//! polled with a waker of its own, which marks the source *due* and wakes
//! the task; the task polls only the sources that are due.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

/// Which sources of one task are due (their waker was woken since the task
/// last looked, one bit each), and the task their wakers wake.
pub struct DueSources {
    bits: AtomicU8,
    task: AtomicWaker,
}

impl DueSources {
    /// Sources named by `initially` start due: polled at the first look, which
    /// registers their wakers.
    pub fn new(initially: u8) -> Arc<DueSources> {
        Arc::new(DueSources { bits: AtomicU8::new(initially), task: AtomicWaker::new() })
    }

    /// The waker to poll the source `bit` with.
    pub fn waker(self: &Arc<DueSources>, bit: u8) -> Waker {
        Waker::from(Arc::new(SourceWaker { due: self.clone(), bit }))
    }

    /// The sources due since the last look, now not due; `task` is what
    /// their wakers wake from here on. It is registered before the bits are
    /// read, so a source woken after the read wakes it.
    pub fn take(&self, task: &Waker) -> u8 {
        self.task.register(task);
        self.bits.swap(0, Ordering::AcqRel)
    }
}

/// The waker one source is polled with: it marks that source due, and wakes
/// the task.
struct SourceWaker {
    due: Arc<DueSources>,
    bit: u8,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.bits.fetch_or(self.bit, Ordering::AcqRel);
        self.due.task.wake();
    }
}

/// A task waker for tests that counts how often it was woken.
#[cfg(test)]
#[derive(Default)]
pub struct CountWakes(std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl CountWakes {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_due_once_per_wake_and_wakes_the_task_last_registered_once_until_it_looks() {
        let due = DueSources::new(1);
        let (first, second) = (Arc::new(CountWakes::default()), Arc::new(CountWakes::default()));
        assert_eq!(due.take(&Waker::from(first.clone())), 1, "starts due");
        assert_eq!(due.take(&Waker::from(first.clone())), 0, "then not");
        let (one, two) = (due.waker(1), due.waker(2));
        two.wake_by_ref();
        assert_eq!(first.count(), 1);
        assert_eq!(due.take(&Waker::from(second.clone())), 2);
        // Both marked due; the task is woken by the first (it is polled, and
        // looks, before it needs waking again).
        one.wake();
        two.wake();
        assert_eq!((first.count(), second.count()), (1, 1));
        assert_eq!(due.take(&Waker::from(second)), 3);
    }
}
