//! Admission: which accepted sockets become connections. The caps (in total
//! and per client, counted by `http::limits::Occupancy` on the rate
//! limiter's client identity) are checked as each socket is accepted, before
//! any byte is read; a refused socket is closed at once. Accept errors and
//! refusals are logged at a bounded rate ([`Throttled`]), since under the
//! load that causes them a line per occurrence would flood the log.
//!
//! Invariant: an admitted connection holds its place (and its count in the
//! `slotstream_open_connections` gauge) until its task ends, whatever ends it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::ConnectionPolicy;
use crate::http::limits::{ClientIdentity, Full, Occupancy, Place};

/// How long the accept loop pauses after an error that is not about one
/// connection (out of descriptors, most often), so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// An admitted connection: its socket, its peer and its place under the caps.
pub(super) struct Admitted {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) place: OpenConnection,
}

/// A place among the open connections, counted in
/// `slotstream_open_connections` while it lives: with HTTP/2 many streams
/// share one, and this shows how many sockets they take.
pub(super) struct OpenConnection {
    _place: Place,
}

impl OpenConnection {
    fn new(place: Place) -> OpenConnection {
        metrics::gauge!("slotstream_open_connections").increment(1.0);
        OpenConnection { _place: place }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("slotstream_open_connections").decrement(1.0);
    }
}

/// The accept loop's side of admission: accept errors and refusals, each
/// logged at a bounded rate.
pub(super) struct Gate {
    places: Occupancy,
    identity: ClientIdentity,
    accept_errors: Throttled,
    refusals: Throttled,
}

impl Gate {
    pub(super) fn new(policy: &ConnectionPolicy, identity: ClientIdentity) -> Gate {
        Gate {
            places: Occupancy::new(policy.max_per_client, policy.max_total),
            identity,
            accept_errors: Throttled::default(),
            refusals: Throttled::default(),
        }
    }

    /// The next connection the caps admit. Refused ones are closed here.
    pub(super) async fn accept(&mut self, listener: &TcpListener) -> Admitted {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // That connection is gone already: nothing to wait for.
                Err(error) if is_about_one_connection(&error) => continue,
                Err(error) => {
                    metrics::counter!("slotstream_accept_errors_total").increment(1);
                    if let Some(held_back) = self.accept_errors.allow(Instant::now()) {
                        tracing::warn!(%error, since_last_logged = held_back, "accept failed; pausing accepts briefly");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let client = self.identity.of_peer(peer.ip());
            match self.places.acquire(client) {
                Ok(place) => return Admitted { stream, peer, place: OpenConnection::new(place) },
                Err(full) => self.refuse(full, peer.ip()),
            }
        }
    }

    fn refuse(&mut self, full: Full, peer: IpAddr) {
        let reason = match full {
            Full::Total => "total",
            Full::Client => "per_client",
        };
        metrics::counter!("slotstream_connections_refused_total", "reason" => reason).increment(1);
        if let Some(held_back) = self.refusals.allow(Instant::now()) {
            let (per_client, total) = self.places.caps();
            let open = self.places.open_total();
            match full {
                Full::Total => tracing::warn!(
                    %peer, open, cap = total, since_last_logged = held_back,
                    "connection refused: the server holds --max-connections connections"
                ),
                Full::Client => tracing::warn!(
                    %peer, open, cap = per_client, since_last_logged = held_back,
                    "connection refused: this client holds --max-connections-per-client connections"
                ),
            }
        }
    }
}

/// Errors of `accept` that concern only the connection being accepted.
fn is_about_one_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

/// A warning that repeats under load, logged at most once a second with
/// how many occurrences were held back meanwhile.
#[derive(Debug, Default)]
struct Throttled {
    last_logged: Option<Instant>,
    held_back: u64,
}

impl Throttled {
    const EVERY: Duration = Duration::from_secs(1);

    /// `Some(held back since the last line)` if this occurrence is to be logged.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last_logged {
            Some(last) if now.saturating_duration_since(last) < Self::EVERY => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_logged_once_a_second_with_the_count_held_back() {
        let start = Instant::now();
        let mut throttled = Throttled::default();
        assert_eq!(throttled.allow(start), Some(0));
        for ms in [1, 200, 999] {
            assert_eq!(throttled.allow(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(throttled.allow(start + Duration::from_millis(1_000)), Some(3));
        assert_eq!(throttled.allow(start + Duration::from_millis(1_001)), None);
        assert_eq!(throttled.allow(start + Duration::from_secs(5)), Some(1));
    }
}
