//! Places held at once, per client and in total: the caps on concurrent
//! streams ([`StreamCaps`]) and, through [`Occupancy`] itself, the caps on
//! open connections (`crate::connections`).
//!
//! Invariants: a place is counted from [`Occupancy::acquire`] until its
//! [`Place`] is dropped, whatever path drops it; a refused acquire leaves
//! every count as it was; a client's entry is removed when its count falls
//! to 0, so the map holds only clients with a place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::ClientId;

/// Places held at once, per client and in total, each under its cap: what
/// the stream caps (below) and the connection caps (`crate::connections`)
/// count. One `Arc`: every held stream keeps a [`Place`], which holds it.
#[derive(Clone)]
pub struct Occupancy(Arc<Counts>);

struct Counts {
    per_client: usize,
    total: usize,
    open: DashMap<ClientId, usize>,
    open_total: AtomicUsize,
}

/// Which cap refused a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The server holds as many as it allows.
    Total,
    /// This client holds as many as it may.
    Client,
}

/// A place held in an [`Occupancy`]; freed on drop.
pub struct Place {
    occupancy: Occupancy,
    /// `None`: counted in the total only.
    client: Option<ClientId>,
}

impl Occupancy {
    pub fn new(per_client: usize, total: usize) -> Occupancy {
        Occupancy(Arc::new(Counts { per_client, total, open: DashMap::new(), open_total: AtomicUsize::new(0) }))
    }

    /// A place for `client`, or the cap that refuses it. `None` takes a
    /// place in the total only (a trusted proxy speaks for many clients).
    pub fn acquire(&self, client: Option<ClientId>) -> Result<Place, Full> {
        let counts = &self.0;
        if counts.open_total.fetch_add(1, Ordering::AcqRel) >= counts.total {
            counts.open_total.fetch_sub(1, Ordering::AcqRel);
            return Err(Full::Total);
        }
        if let Some(client) = &client {
            let mut count = counts.open.entry(client.clone()).or_insert(0);
            if *count >= counts.per_client {
                drop(count);
                counts.open_total.fetch_sub(1, Ordering::AcqRel);
                return Err(Full::Client);
            }
            *count += 1;
        }
        Ok(Place { occupancy: self.clone(), client })
    }

    /// Places held by everyone.
    pub fn open_total(&self) -> usize {
        self.0.open_total.load(Ordering::Acquire)
    }

    /// The caps: (per client, total).
    pub fn caps(&self) -> (usize, usize) {
        (self.0.per_client, self.0.total)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.occupancy.0.open_total.fetch_sub(1, Ordering::AcqRel);
        if let Some(client) = &self.client {
            self.occupancy.0.open.remove_if_mut(client, |_, count| {
                *count -= 1;
                *count == 0
            });
        }
    }
}

/// Caps on concurrently open streams, per client and in total.
#[derive(Clone)]
pub struct StreamCaps(Occupancy);

/// A place among the open streams; freed on drop.
pub struct StreamPermit {
    _place: Place,
}

impl StreamCaps {
    pub fn new(per_client: usize, total: usize) -> StreamCaps {
        StreamCaps(Occupancy::new(per_client, total))
    }

    /// A permit, or the reason there is none.
    pub fn acquire(&self, client: ClientId) -> Result<StreamPermit, &'static str> {
        self.0.acquire(Some(client)).map(|place| StreamPermit { _place: place }).map_err(|full| match full {
            Full::Total => "the server holds as many streams as it allows; retry later",
            Full::Client => "this client has as many streams open as it may; close one first",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_caps_hold_per_client_and_in_total() {
        let caps = StreamCaps::new(2, 3);
        let a = ClientId::Address("127.0.0.2".parse().unwrap());
        let b = ClientId::Address("127.0.0.3".parse().unwrap());
        let a1 = caps.acquire(a.clone()).unwrap();
        let _a2 = caps.acquire(a.clone()).unwrap();
        assert!(caps.acquire(a.clone()).is_err(), "third for one client");
        let _b1 = caps.acquire(b.clone()).unwrap();
        assert!(caps.acquire(b.clone()).is_err(), "total reached");
        drop(a1);
        assert!(caps.acquire(a).is_ok(), "a closed stream frees its place");
    }

    #[test]
    fn a_place_without_a_client_counts_in_the_total_only() {
        let places = Occupancy::new(1, 2);
        let a = ClientId::Address("127.0.0.2".parse().unwrap());
        let proxied = places.acquire(None).unwrap();
        let _also = places.acquire(None).expect("no per-client cap without a client");
        assert_eq!(places.acquire(Some(a.clone())).err(), Some(Full::Total));
        drop(proxied);
        let held = places.acquire(Some(a.clone())).unwrap();
        assert_eq!(places.open_total(), 2);
        drop(held);
        assert_eq!(places.open_total(), 1);
        assert!(places.acquire(Some(a)).is_ok(), "the client's count went back to 0");
    }
}
