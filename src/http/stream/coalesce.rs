//! One write for a subscriber that is behind: the frames that are ready at
//! once (a catch-up page, a burst published together, a connection that was
//! blocked while events piled up) leave as one `Bytes`, so the connection
//! makes one chunk and one write of them instead of one per frame.
//!
//! Only frames already ready are merged: the adapter never waits for a next
//! frame, so no frame is delayed. A single ready frame passes through as it
//! is, without a copy (the common case: a live subscriber that keeps up gets
//! each event's shared bytes).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Merging stops once a write reaches this many bytes: past it, one write
/// saves nothing more, and a bounded write keeps a burst from holding a
/// large buffer per subscriber.
pub const WRITE_BOUND: usize = 64 * 1024;

/// `frames`, with every run of frames ready at once concatenated (up to
/// `bound` bytes; the frame that crosses it ends the run).
pub struct Coalesce<S> {
    frames: S,
    bound: usize,
    /// `frames` ended while a run was being merged: the run went out, and
    /// the end comes next without polling `frames` again.
    ended: bool,
    /// The last poll found `frames` with nothing more ready: pending, or
    /// ended and the end already returned. (An end met while merging is
    /// ready, not empty: it is the next thing to return.)
    saw_empty: bool,
}

impl<S> Coalesce<S> {
    pub fn new(frames: S, bound: usize) -> Coalesce<S> {
        Coalesce { frames, bound, ended: false, saw_empty: false }
    }

    /// Did the last poll find nothing more ready? Then, until `frames` wake
    /// the task, polling again would only find the same. False after a run
    /// that met the end of `frames`: the end is ready, and a caller that
    /// waits for a wake-up before polling again would never see it (no
    /// source wakes anyone after it ended).
    pub fn saw_empty(&self) -> bool {
        self.saw_empty
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for Coalesce<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        this.saw_empty = true;
        if this.ended {
            return Poll::Ready(None);
        }
        let Some(first) = ready!(this.frames.poll_next_unpin(cx)) else {
            this.ended = true;
            return Poll::Ready(None);
        };
        this.saw_empty = false;
        // Copied only once a second frame is ready.
        let mut run: Option<BytesMut> = None;
        while run.as_ref().map_or(first.len(), BytesMut::len) < this.bound {
            match this.frames.poll_next_unpin(cx) {
                Poll::Ready(Some(next)) => {
                    let run = run.get_or_insert_with(|| {
                        let mut run = BytesMut::with_capacity((first.len() + next.len()) * 4);
                        run.extend_from_slice(&first);
                        run
                    });
                    run.extend_from_slice(&next);
                }
                // The end is ready too: it is returned by the next poll.
                Poll::Ready(None) => {
                    this.ended = true;
                    break;
                }
                // Nothing more ready now: what is ready leaves at once (the
                // frames' waker is registered for the next one).
                Poll::Pending => {
                    this.saw_empty = true;
                    break;
                }
            }
        }
        Poll::Ready(Some(run.map_or(first, BytesMut::freeze)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use futures_util::FutureExt;
    use futures_util::stream;

    use super::*;

    fn frame(n: usize, len: usize) -> Bytes {
        Bytes::from(vec![b'a' + (n % 26) as u8; len])
    }

    /// Polls once with a no-op waker: `None` when the adapter is pending.
    fn poll_once<S: Stream<Item = Bytes> + Unpin>(s: &mut Coalesce<S>) -> Option<Option<Bytes>> {
        s.next().now_or_never()
    }

    /// A stream that answers the scripted polls in order (Pending wakes the
    /// task, as a real source would once it has something).
    fn scripted(script: Vec<Poll<Option<Bytes>>>) -> impl Stream<Item = Bytes> + Unpin {
        let mut script = VecDeque::from(script);
        stream::poll_fn(move |cx| match script.pop_front().unwrap_or(Poll::Ready(None)) {
            Poll::Pending => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ready => ready,
        })
    }

    #[test]
    fn a_single_ready_frame_passes_through_without_a_copy() {
        let one = frame(0, 100);
        let address = one.as_ptr();
        let mut s = Coalesce::new(scripted(vec![Poll::Ready(Some(one)), Poll::Pending, Poll::Pending]), WRITE_BOUND);
        let out = poll_once(&mut s).flatten().expect("the frame, at once");
        assert_eq!(out.as_ptr(), address, "the same bytes, not a copy");
        assert!(s.saw_empty(), "and it knows nothing more is ready");
        assert_eq!(poll_once(&mut s), None, "then pending, as the source");
    }

    #[test]
    fn frames_ready_at_once_leave_as_one_in_order() {
        let frames: Vec<Bytes> = (0..10).map(|n| frame(n, 50 + n)).collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let mut s = Coalesce::new(stream::iter(frames), WRITE_BOUND);
        assert_eq!(poll_once(&mut s).flatten().as_deref(), Some(&expected[..]));
        assert!(!s.saw_empty(), "the end met while merging is ready: polling again is due");
        assert_eq!(poll_once(&mut s), Some(None), "the end follows the last run");
    }

    #[test]
    fn never_waits_for_a_frame_that_is_not_ready() {
        let (a, b, c) = (frame(0, 10), frame(1, 10), frame(2, 10));
        let mut s = Coalesce::new(
            scripted(vec![
                Poll::Ready(Some(a.clone())),
                Poll::Ready(Some(b.clone())),
                Poll::Pending,
                Poll::Ready(Some(c.clone())),
                Poll::Ready(None),
            ]),
            WRITE_BOUND,
        );
        assert_eq!(poll_once(&mut s).flatten(), Some([a, b].concat().into()), "what was ready, without waiting");
        assert_eq!(poll_once(&mut s).flatten(), Some(c), "the later frame alone");
        assert_eq!(poll_once(&mut s), Some(None));
    }

    #[test]
    fn a_run_stops_at_the_bound() {
        let frames: Vec<Bytes> = (0..10).map(|n| frame(n, 400)).collect();
        let total: usize = frames.iter().map(Bytes::len).sum();
        let mut s = Coalesce::new(stream::iter(frames), 1000);
        let mut sizes = Vec::new();
        while let Some(Some(run)) = poll_once(&mut s) {
            sizes.push(run.len());
            assert!(!s.saw_empty(), "a run that stopped at the bound, or met the end, leaves something ready");
        }
        assert!(s.saw_empty(), "the end returned: nothing more");
        // 400 + 400 < 1000, so a third frame joins and the run crosses the bound.
        assert_eq!(sizes, vec![1200, 1200, 1200, 400]);
        assert_eq!(sizes.iter().sum::<usize>(), total, "nothing lost");
    }

    #[test]
    fn the_end_is_not_polled_twice() {
        let mut polls = 0;
        let source = stream::poll_fn(move |_| {
            polls += 1;
            assert!(polls <= 2, "polled after its end");
            Poll::Ready(if polls == 1 { Some(frame(0, 5)) } else { None })
        });
        let mut s = Coalesce::new(source, WRITE_BOUND);
        assert_eq!(poll_once(&mut s).flatten(), Some(frame(0, 5)));
        assert_eq!(poll_once(&mut s), Some(None));
        assert_eq!(poll_once(&mut s), Some(None));
    }
}
