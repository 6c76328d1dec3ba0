//! The HTTP/2 greeting, read off a connection's first bytes: the preface,
//! then a whole SETTINGS frame (RFC 9113 §3.4). [`Greeting`] is plain logic
//! over the bytes read; [`Watched`] feeds it from the socket and marks the
//! connection greeted when it completes, for the greeting deadline
//! (`deadlines`). HTTP/1.1 is greeted by its first request instead.
//!
//! Why the socket is watched rather than hyper asked: hyper reports no
//! event for a preface or a SETTINGS frame, and a connection that sent only
//! a partial preface, or a preface without SETTINGS, must not count as
//! greeted. Once the greeting settles (complete, or not HTTP/2), [`Watched`]
//! is a plain pass-through.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::activity::Activity;

/// The HTTP/2 client preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The SETTINGS frame type (RFC 9113 §6.5).
const SETTINGS: u8 = 0x4;

/// How far a connection's first bytes went towards HTTP/2's greeting: the
/// preface, then a SETTINGS frame, which must come first (RFC 9113 §3.4).
/// Plain logic over the bytes read; [`Watched`] feeds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Greeting {
    /// `matched` bytes of the preface seen so far.
    Preface { matched: usize },
    /// The preface, and the first `seen` bytes of the first frame's header.
    FrameHeader { seen: usize, header: [u8; 9] },
    /// A SETTINGS frame's header, `left` bytes of its payload still to come.
    SettingsPayload { left: usize },
    /// The preface and a whole SETTINGS frame.
    Complete,
    /// Not HTTP/2's greeting (HTTP/1.1, or another first frame): only a
    /// request (HTTP/1.1) greets such a connection.
    Other,
}

impl Greeting {
    const START: Greeting = Greeting::Preface { matched: 0 };

    /// Has it reached an end (complete or not HTTP/2)?
    fn settled(self) -> bool {
        matches!(self, Greeting::Complete | Greeting::Other)
    }

    /// The state after `bytes`, read next.
    fn advance(mut self, mut bytes: &[u8]) -> Greeting {
        while !bytes.is_empty() && !self.settled() {
            self = match self {
                Greeting::Preface { matched } => {
                    let take = bytes.len().min(H2_PREFACE.len() - matched);
                    if bytes[..take] != H2_PREFACE[matched..matched + take] {
                        return Greeting::Other;
                    }
                    bytes = &bytes[take..];
                    if matched + take == H2_PREFACE.len() {
                        Greeting::FrameHeader { seen: 0, header: [0; 9] }
                    } else {
                        Greeting::Preface { matched: matched + take }
                    }
                }
                Greeting::FrameHeader { seen, mut header } => {
                    let take = bytes.len().min(header.len() - seen);
                    header[seen..seen + take].copy_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if seen + take < header.len() {
                        Greeting::FrameHeader { seen: seen + take, header }
                    } else if header[3] != SETTINGS {
                        Greeting::Other
                    } else {
                        let length =
                            (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
                        Greeting::SettingsPayload { left: length }
                    }
                }
                Greeting::SettingsPayload { left } => {
                    let take = bytes.len().min(left);
                    bytes = &bytes[take..];
                    Greeting::SettingsPayload { left: left - take }
                }
                settled => settled,
            };
            if self == (Greeting::SettingsPayload { left: 0 }) {
                self = Greeting::Complete;
            }
        }
        self
    }
}

pin_project! {
    /// A connection's socket, whose first bytes are read by [`Greeting`]
    /// until it settles; then a plain pass-through.
    pub(super) struct Watched<I> {
        #[pin]
        io: I,
        greeting: Greeting,
        activity: Arc<Activity>,
    }
}

impl<I> Watched<I> {
    pub(super) fn new(io: I, activity: Arc<Activity>) -> Watched<I> {
        Watched { io, greeting: Greeting::START, activity }
    }
}

impl<I: AsyncRead> AsyncRead for Watched<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if this.greeting.settled() {
            return this.io.poll_read(cx, buf);
        }
        let before = buf.filled().len();
        ready!(this.io.poll_read(cx, buf))?;
        *this.greeting = this.greeting.advance(&buf.filled()[before..]);
        if *this.greeting == Greeting::Complete {
            this.activity.mark_greeted();
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SETTINGS frame with `payload` bytes of settings (6 per setting).
    fn settings(payload: usize) -> Vec<u8> {
        let mut frame = vec![(payload >> 16) as u8, (payload >> 8) as u8, payload as u8, SETTINGS, 0, 0, 0, 0, 0];
        frame.extend(std::iter::repeat_n(0u8, payload));
        frame
    }

    fn greeting_after(chunks: &[&[u8]]) -> Greeting {
        chunks.iter().fold(Greeting::START, |greeting, chunk| greeting.advance(chunk))
    }

    #[test]
    fn the_preface_and_a_whole_settings_frame_complete_the_greeting_however_they_are_cut() {
        let mut bytes = H2_PREFACE.to_vec();
        bytes.extend(settings(12));
        bytes.extend(b"HEADERS and more");
        assert_eq!(greeting_after(&[&bytes]), Greeting::Complete);
        // One byte at a time: complete exactly at the SETTINGS frame's last byte.
        let greeting_len = H2_PREFACE.len() + 9 + 12;
        let mut greeting = Greeting::START;
        for (i, byte) in bytes.iter().enumerate() {
            greeting = greeting.advance(std::slice::from_ref(byte));
            assert_eq!(greeting == Greeting::Complete, i + 1 >= greeting_len, "after {} bytes", i + 1);
        }
        // An empty SETTINGS frame (no settings changed) is a greeting too.
        assert_eq!(greeting_after(&[H2_PREFACE, &settings(0)]), Greeting::Complete);
    }

    #[test]
    fn a_partial_preface_or_a_preface_without_settings_is_not_a_greeting() {
        assert_eq!(greeting_after(&[]), Greeting::START);
        assert_eq!(greeting_after(&[b"PRI * HTTP/2"]), Greeting::Preface { matched: 12 });
        assert!(!greeting_after(&[H2_PREFACE]).settled(), "the preface alone");
        let settings = settings(12);
        assert_eq!(greeting_after(&[H2_PREFACE, &settings[..15]]), Greeting::SettingsPayload { left: 6 });
        // A first frame other than SETTINGS (here PING) is a protocol error: never greeted.
        let ping = [0, 0, 8, 0x6, 0, 0, 0, 0, 0];
        assert_eq!(greeting_after(&[H2_PREFACE, &ping]), Greeting::Other);
    }

    #[test]
    fn http1_is_told_apart_at_its_first_differing_byte() {
        assert_eq!(greeting_after(&[b"GET / HTTP/1.1\r\n"]), Greeting::Other);
        assert_eq!(greeting_after(&[b"PRI * HTTP/1.1"]), Greeting::Other);
        assert_eq!(greeting_after(&[b"PRI", b" * HTTP/1"]), Greeting::Other);
    }
}
