//! One heartbeat clock for every stream of the process, ticking in phases.
//!
//! Each stream used to arm a timer of its own. At a million streams that is
//! a million timer entries, and 66,000 heartbeats a second that each wake
//! their connection's task and leave in a write of their own, because the
//! streams of one connection opened at different instants. Here the streams
//! of one connection share a *phase* (their peer's socket address picks it),
//! so their heartbeats are due at the same instant: an HTTP/2 connection's
//! task is woken once and writes all of them in one go. The phases are
//! spread evenly over the period, so the heartbeats of a million streams
//! never come due at once; one task ticks them in turn.
//!
//! The clock also tells every stream when the server stops (each stream
//! used to hold a boxed wait on the stop token: 80 bytes a stream).
//!
//! The period stays the same on every protocol (the intermediaries' idle
//! timeouts and the `everySecs` a visible heartbeat promises do not change
//! with it); only who is woken with whom does.

use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio_util::sync::CancellationToken;

use super::body::{Tick, Ticks};

/// Phases per period: at a million streams over HTTP/2 (1,000 per
/// connection) about four connections share each, and one comes due every
/// period / 256 (59 ms at 15 s).
const PHASES: usize = 256;

/// The process's heartbeat clock (cheap to clone). [`HeartbeatClock::run`]
/// ticks it; [`HeartbeatClock::ticks`] gives a stream its phase's ticks.
#[derive(Clone)]
pub struct HeartbeatClock {
    phases: Arc<[Arc<Notify>]>,
    period: Duration,
    /// Cancelled when the server stops: every stream then ends.
    stopping: CancellationToken,
    /// Where streams with no peer address go, one after the other.
    next_unaddressed: Arc<AtomicUsize>,
    /// Picks a peer's phase; the same for every stream of one connection.
    hasher: std::hash::RandomState,
}

impl HeartbeatClock {
    pub fn new(period: Duration, stopping: CancellationToken) -> HeartbeatClock {
        HeartbeatClock {
            phases: (0..PHASES).map(|_| Arc::new(Notify::new())).collect(),
            period,
            stopping,
            next_unaddressed: Arc::default(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Tick every phase once per period, one after the other, until the
    /// server stops; then wake every stream, to end. A tick that comes late
    /// (the runtime was busy) is not made up: a stream writes one heartbeat
    /// however many it missed.
    pub async fn run(self) {
        let step = (self.period / PHASES as u32).max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval(step);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let tick_in_turn = async {
            for phase in self.phases.iter().cycle() {
                ticks.tick().await;
                phase.notify_waiters();
            }
        };
        tokio::select! {
            () = tick_in_turn => {}
            () = self.stopping.cancelled() => {}
        }
        // After the cancellation, which each stream woken here then sees.
        for phase in self.phases.iter() {
            phase.notify_waiters();
        }
    }

    /// The ticks of the stream from `peer`'s connection: its phase's, the
    /// first at most one period away.
    pub fn ticks(&self, peer: Option<SocketAddr>) -> PhaseTicks {
        let phase = match peer {
            Some(peer) => self.hasher.hash_one(peer) as usize % PHASES,
            None => self.next_unaddressed.fetch_add(1, Ordering::Relaxed) % PHASES,
        };
        let notify = self.phases[phase].clone();
        PhaseTicks { next: Box::pin(notify.clone().notified_owned()), notify, stopping: self.stopping.clone() }
    }
}

/// One stream's heartbeat ticks: its phase's notifications. Created before
/// it is first polled, a wait still sees every tick from its creation on.
pub struct PhaseTicks {
    notify: Arc<Notify>,
    next: Pin<Box<OwnedNotified>>,
    stopping: CancellationToken,
}

impl Ticks for PhaseTicks {
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Tick> {
        // Looked at whenever the stream looks at its clock: at its first
        // poll (a stream opened as the server stops), and when woken by
        // the clock's last notification.
        if self.stopping.is_cancelled() {
            return Poll::Ready(Tick::Stop);
        }
        if self.next.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // In place, no allocation; the body polls again at once, which
        // registers the wait for the next tick.
        self.next.set(self.notify.clone().notified_owned());
        Poll::Ready(Tick::Beat)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::task::Waker;

    use super::*;
    use crate::wakeups::CountWakes;

    fn peer(port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    /// Which phase `ticks` waits on.
    fn phase_of(clock: &HeartbeatClock, ticks: &PhaseTicks) -> usize {
        clock.phases.iter().position(|phase| Arc::ptr_eq(phase, &ticks.notify)).unwrap()
    }

    #[test]
    fn streams_of_one_connection_share_a_phase_and_connections_spread() {
        let clock = HeartbeatClock::new(Duration::from_secs(15), CancellationToken::new());
        let first = clock.ticks(peer(40_000));
        assert_eq!(phase_of(&clock, &first), phase_of(&clock, &clock.ticks(peer(40_000))));
        let used: std::collections::HashSet<usize> =
            (0..2_000).map(|port| phase_of(&clock, &clock.ticks(peer(41_000 + port)))).collect();
        assert!(used.len() > PHASES * 3 / 4, "2,000 connections used {} of {PHASES} phases", used.len());
        let unaddressed: Vec<usize> = (0..3).map(|_| phase_of(&clock, &clock.ticks(None))).collect();
        assert_eq!(unaddressed, [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_stream_ticks_once_per_period_however_many_ticks_it_missed() {
        let period = Duration::from_millis(2_560);
        let stopping = CancellationToken::new();
        let clock = HeartbeatClock::new(period, stopping.clone());
        let mut streams: Vec<PhaseTicks> = (0..20).map(|port| clock.ticks(peer(50_000 + port))).collect();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut ticked = |streams: &mut Vec<PhaseTicks>| -> Vec<usize> {
            streams
                .iter_mut()
                .map(|ticks| {
                    let mut count = 0;
                    while ticks.poll_tick(&mut cx).is_ready() {
                        count += 1;
                    }
                    count
                })
                .collect()
        };
        assert!(ticked(&mut streams).iter().all(|&count| count == 0), "no tick before the clock runs");
        tokio::spawn(clock.clone().run());
        tokio::time::sleep(period + period / 2).await;
        // Every phase ticked once or twice in a period and a half; each stream
        // sees one tick (missed ones make one).
        assert_eq!(ticked(&mut streams), vec![1; 20]);
        tokio::time::sleep(period).await;
        assert_eq!(ticked(&mut streams), vec![1; 20], "and one in the next period");
        assert_eq!(ticked(&mut streams), vec![0; 20], "nothing more until the next tick");
        // The stop wakes every stream, which then reads `Stop`.
        let woken = Arc::new(CountWakes::default());
        let waker = Waker::from(woken.clone());
        for ticks in &mut streams {
            assert!(ticks.poll_tick(&mut Context::from_waker(&waker)).is_pending());
        }
        stopping.cancel();
        tokio::time::timeout(Duration::from_secs(60), async {
            while woken.count() < 20 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every stream woken at the stop");
        for ticks in &mut streams {
            assert_eq!(ticks.poll_tick(&mut Context::from_waker(&waker)), Poll::Ready(Tick::Stop));
        }
    }
}
