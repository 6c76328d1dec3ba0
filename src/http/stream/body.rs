//! The response body of an event stream, written by hand, and its state table.
//!
//! Written by hand rather than as a generator with `select!`, because it is
//! polled at least twice per delivered event (the frame, then "nothing
//! more"): a `select!` polls the heartbeat timer, the shutdown token and the
//! whole chain of frames (subscription, broadcast receiver) on every one of
//! those polls. Here each of the two sources is polled with its own waker
//! (`crate::wakeups`), and only after that waker was woken (the source is then
//! *due*): the timers only when a tick or the shutdown came, the frames only
//! when something was published or they may have more ready (so the
//! "nothing more" poll that follows every write costs a flag, not a walk
//! down the chain).
//!
//! The price of polling a source only when it is due is that every
//! transition must be right, or a stream hangs: the tests below walk the
//! table (ended right after a frame, ended while pending, heartbeats beside
//! frames, shut down while idle and while busy, a long catch-up then the
//! end), each checking that a `Pending` is followed by a wake-up before
//! anything new is ready.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::body::HttpBody;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hyper::body::Frame;

use super::coalesce::{Coalesce, WRITE_BOUND};
use crate::events::sse;
use crate::wakeups::DueSources;

/// When a heartbeat is due. A source of its own (the process's
/// `heartbeat_clock` in service) so that the state tests can tick by hand.
pub trait Ticks: Send + Unpin {
    /// Ready once per tick; registers `cx`'s waker for the next when pending.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Tick>;
}

/// What the clock says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// A heartbeat is due.
    Beat,
    /// The server is stopping: the stream ends. (The clock says it, rather
    /// than a wait on the stop token in every stream: that wait was a boxed
    /// future of its own per held stream.)
    Stop,
}

/// The body of an event stream: the `retry:` line, then `frames` (runs of
/// frames ready at once as one write, see `coalesce`), a heartbeat after
/// each tick of `ticks`, the end when `frames` end or `ticks` say stop.
/// Keeps `held` (the stream's place among the caps, say) until
/// it is dropped.
pub struct EventStream<F, T, H> {
    /// The `retry:` line, sent first.
    retry: Option<Bytes>,
    frames: Coalesce<F>,
    /// The frames may have something: their waker was woken, or their last poll
    /// gave a frame and did not see them empty (more frames, or their end).
    frames_due: bool,
    frames_waker: Waker,
    /// A tick came: a heartbeat goes out before the next frames.
    heartbeat_due: bool,
    /// What a heartbeat writes: a comment ([`sse::HEARTBEAT`]) unless
    /// [`EventStream::with_heartbeat`] says otherwise.
    heartbeat: Bytes,
    ticks: T,
    timers_waker: Waker,
    /// Which sources are due since the last poll, and the task their wakers wake.
    due: Arc<DueSources>,
    ended: bool,
    _held: H,
}

impl<F, T, H> EventStream<F, T, H> {
    pub fn new(frames: F, retry: Bytes, ticks: T, held: H) -> EventStream<F, T, H> {
        // Both sources start due, so that the first poll registers every waker.
        let due = DueSources::new(TIMERS | FRAMES);
        EventStream {
            retry: Some(retry),
            frames: Coalesce::new(frames, WRITE_BOUND),
            frames_due: false,
            frames_waker: due.waker(FRAMES),
            heartbeat_due: false,
            heartbeat: sse::HEARTBEAT,
            ticks,
            timers_waker: due.waker(TIMERS),
            due,
            ended: false,
            _held: held,
        }
    }

    /// The same stream writing `frame` as its heartbeat: a visible event
    /// where the client must notice a connection gone silent (`EventSource`
    /// never shows a comment to the page).
    pub fn with_heartbeat(mut self, frame: Bytes) -> EventStream<F, T, H> {
        self.heartbeat = frame;
        self
    }
}

// A `Body` itself rather than a `Stream` behind `Body::from_stream`: one
// adapter less per delivery.
impl<F: Stream<Item = Bytes> + Unpin, T: Ticks, H: Unpin> HttpBody for EventStream<F, T, H> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut().poll_bytes(cx).map(|bytes| bytes.map(|bytes| Ok(Frame::data(bytes))))
    }
}

impl<F: Stream<Item = Bytes> + Unpin, T: Ticks, H> EventStream<F, T, H> {
    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(retry) = self.retry.take() {
            return Poll::Ready(Some(retry));
        }
        let due = self.due.take(cx.waker());
        self.frames_due |= due & FRAMES != 0;
        if due & TIMERS != 0 {
            let mut timers = Context::from_waker(&self.timers_waker);
            // Ticks missed while the task was busy make one heartbeat; the
            // last poll leaves the clock's waker registered for the next.
            while let Poll::Ready(tick) = self.ticks.poll_tick(&mut timers) {
                if tick == Tick::Stop {
                    self.ended = true;
                    return Poll::Ready(None);
                }
                self.heartbeat_due = true;
            }
        }
        if std::mem::take(&mut self.heartbeat_due) {
            return Poll::Ready(Some(self.heartbeat.clone()));
        }
        if !std::mem::take(&mut self.frames_due) {
            return Poll::Pending;
        }
        match self.frames.poll_next_unpin(&mut Context::from_waker(&self.frames_waker)) {
            Poll::Ready(Some(frames)) => {
                // A run that stopped at the bound leaves frames ready; one
                // that met the end leaves the end ready. Either way nothing
                // will wake the frames' waker for it: poll again unasked.
                self.frames_due = !self.frames.saw_empty();
                Poll::Ready(Some(frames))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A source of the body's [`DueSources`]: the frames (a publication, or more ready).
const FRAMES: u8 = 1;
/// A source of the body's [`DueSources`]: the timers (a heartbeat tick, or the shutdown).
const TIMERS: u8 = 2;

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::wakeups::CountWakes;

    /// Ticks sent by the test.
    struct ManualTicks(mpsc::UnboundedReceiver<Tick>);

    impl Ticks for ManualTicks {
        fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Tick> {
            match self.0.poll_recv(cx) {
                Poll::Ready(Some(tick)) => Poll::Ready(tick),
                Poll::Ready(None) | Poll::Pending => Poll::Pending,
            }
        }
    }

    /// Frames sent by the test, ending when the sender is dropped (as a
    /// subscription that yields its last delivery and returns).
    type Frames = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

    /// What a step of the table does, or expects of the next poll.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// The source has this frame ready.
        Publish(&'static str),
        /// So many frames of 1 KiB ready at once (a subscriber catching up).
        PublishMany(usize),
        /// The source ends (after what was sent).
        End,
        /// A heartbeat tick.
        Beat,
        /// The server stops.
        Stop,
        /// The next poll gives exactly these bytes.
        Gives(&'static str),
        /// The next poll gives `n` bytes (a run of `PublishMany`'s frames).
        GivesBytes(usize),
        Heartbeat,
        Pending,
        /// The next poll ends the body.
        Ends,
    }

    use Step::*;

    const RETRY: &str = "retry: 1000\n\n";
    const KIB: usize = 1024;

    /// Each case: its name and steps, all after the `retry:` line was polled.
    const TABLE: &[(&str, &[Step])] = &[
        ("a frame, then nothing more", &[Pending, Publish("a"), Gives("a"), Pending]),
        ("frames one by one", &[Publish("a"), Gives("a"), Pending, Publish("b"), Gives("b"), Pending]),
        ("frames ready at once leave as one write", &[Publish("a"), Publish("b"), Publish("c"), Gives("abc"), Pending]),
        // The provider-deactivated frame and the end of its subscription
        // arrive in one batch: the end must follow at once.
        ("ended right after a frame", &[Pending, Publish("last"), End, Gives("last"), Ends, Ends]),
        ("ended right after several frames", &[Publish("a"), Publish("b"), End, Gives("ab"), Ends]),
        ("ended while pending", &[Publish("a"), Gives("a"), Pending, End, Ends]),
        ("ended before anything", &[End, Ends]),
        ("a heartbeat while idle", &[Pending, Beat, Heartbeat, Pending]),
        ("ticks missed while busy make one heartbeat", &[Beat, Beat, Beat, Heartbeat, Pending]),
        ("a heartbeat beside frames goes first", &[Pending, Publish("a"), Beat, Heartbeat, Gives("a"), Pending]),
        ("a heartbeat between frames", &[Publish("a"), Gives("a"), Beat, Publish("b"), Heartbeat, Gives("b"), Pending]),
        ("a heartbeat, then the end", &[Pending, Beat, Publish("last"), End, Heartbeat, Gives("last"), Ends]),
        ("shut down while idle", &[Pending, Stop, Ends, Ends]),
        ("shut down while busy: frames pending are not sent", &[Publish("a"), Publish("b"), Stop, Ends]),
        ("shut down right after a frame", &[Publish("a"), Gives("a"), Stop, Ends]),
        ("shut down beside a tick", &[Pending, Beat, Stop, Ends]),
        (
            "a long catch-up leaves in bounded writes, then the end",
            &[Pending, PublishMany(100), End, GivesBytes(64 * KIB), GivesBytes(36 * KIB), Ends],
        ),
        (
            "a long catch-up, then live frames",
            &[
                PublishMany(70),
                GivesBytes(64 * KIB),
                GivesBytes(6 * KIB),
                Pending,
                Publish("live"),
                Gives("live"),
                Pending,
            ],
        ),
    ];

    /// The body under test, its sources' other ends, and how often it woke
    /// its task.
    struct Harness {
        body: EventStream<Frames, ManualTicks, ()>,
        frames: Option<mpsc::UnboundedSender<Bytes>>,
        ticks: mpsc::UnboundedSender<Tick>,
        wakes: Arc<CountWakes>,
        /// Wake-ups counted when the last poll returned `Pending`.
        pending_at: Option<usize>,
    }

    impl Harness {
        fn new() -> Harness {
            let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<Bytes>();
            let frames: Frames = Box::pin(futures_util::stream::poll_fn(move |cx| frames_rx.poll_recv(cx)));
            let (ticks_tx, ticks_rx) = mpsc::unbounded_channel();
            let body = EventStream::new(frames, Bytes::from(RETRY), ManualTicks(ticks_rx), ());
            Harness { body, frames: Some(frames_tx), ticks: ticks_tx, wakes: Arc::default(), pending_at: None }
        }

        fn poll(&mut self) -> Poll<Option<Bytes>> {
            let waker = Waker::from(self.wakes.clone());
            let polled = self.body.poll_bytes(&mut Context::from_waker(&waker));
            self.pending_at = polled.is_pending().then(|| self.wakes.count());
            polled
        }

        fn run(&mut self, case: &str, steps: &[Step]) {
            assert_eq!(self.poll(), Poll::Ready(Some(Bytes::from(RETRY))), "{case}: the retry line first");
            for (n, step) in steps.iter().enumerate() {
                let at = format!("{case}, step {n} ({step:?})");
                match *step {
                    Publish(frame) => {
                        self.frames.as_ref().expect("not ended").send(Bytes::from(frame)).unwrap();
                        continue;
                    }
                    PublishMany(count) => {
                        for _ in 0..count {
                            self.frames.as_ref().expect("not ended").send(Bytes::from(vec![b'x'; KIB])).unwrap();
                        }
                        continue;
                    }
                    End => {
                        self.frames = None;
                        continue;
                    }
                    Beat => {
                        self.ticks.send(Tick::Beat).unwrap();
                        continue;
                    }
                    Stop => {
                        self.ticks.send(Tick::Stop).unwrap();
                        continue;
                    }
                    Gives(_) | GivesBytes(_) | Heartbeat | Pending | Ends => {}
                }
                // Anything new after a `Pending` must have woken the task: a
                // server polls again only when woken.
                if !matches!(step, Pending)
                    && let Some(at_pending) = self.pending_at
                {
                    assert!(self.wakes.count() > at_pending, "{at}: not woken after Pending");
                }
                match (*step, self.poll()) {
                    (Pending, polled) => assert!(polled.is_pending(), "{at}: expected Pending, got {polled:?}"),
                    (_, Poll::Pending) => panic!("{at}: got Pending"),
                    (Gives(frame), Poll::Ready(Some(bytes))) => assert_eq!(bytes, frame.as_bytes(), "{at}"),
                    (GivesBytes(len), Poll::Ready(Some(bytes))) => assert_eq!(bytes.len(), len, "{at}"),
                    (Heartbeat, Poll::Ready(Some(bytes))) => assert_eq!(bytes, sse::HEARTBEAT, "{at}"),
                    (Ends, Poll::Ready(None)) => {}
                    (_, Poll::Ready(got)) => panic!("{at}: got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn every_transition_of_the_state_table() {
        // Every case runs, and every failing one is named.
        let failed: Vec<&str> = TABLE
            .iter()
            .filter(|(case, steps)| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Harness::new().run(case, steps))).is_err()
            })
            .map(|(case, _)| *case)
            .collect();
        assert!(failed.is_empty(), "failing cases: {failed:#?}");
    }
}
