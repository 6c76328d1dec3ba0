//! The PostgreSQL relay: every instance `LISTEN`s on `slot_events`; each
//! committing transaction `NOTIFY`s `<provider>:<version>` (delivered only on
//! commit), with its events when they fit in the payload. On a notification
//! the relay publishes the carried events on the local bus, or else reads the
//! provider's new rows from the log (when someone here watches it). After any reconnect it catches up
//! every provider from the log, so a lost notification costs latency, never an
//! event. While disconnected the bus's versions are marked untrusted and the
//! 304 path reads versions from the database. It runs until the server
//! drops it when stopping (see `server`).
//!
//! A second channel, `catalogue_changes`, carries changes to the catalogue
//! that instances cache: a provider changed, was deactivated or reactivated, a key was
//! revoked ([`CatalogueChange`]; this module encodes and decodes it). After a
//! reconnect, when such a notification may have been lost, the relay reports
//! `Everything` and the caches start over.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use super::{Bus, PublishedEvent, reconcile};
use crate::domain::{Actor, AvailabilitySlotChangedEvent, SlotStatus};
use crate::health::DatabaseHealth;

/// The NOTIFY channel.
pub const CHANNEL: &str = "slot_events";

/// The NOTIFY channel of catalogue changes.
pub const CATALOGUE_CHANNEL: &str = "catalogue_changes";

/// A change to what instances cache about the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogueChange {
    /// The provider's name, timezone or profile changed.
    Provider(Uuid),
    /// The provider was deactivated: its streams end.
    Deactivated(Uuid),
    /// The provider was reactivated: its streams may open again.
    Reactivated(Uuid),
    /// The provider key with this hash was revoked.
    KeyRevoked(String),
    /// A person signed out of this provider's agenda: its open agenda
    /// streams check their sessions again.
    SessionEnded(Uuid),
    /// Notifications may have been lost: forget everything cached.
    Everything,
}

impl CatalogueChange {
    /// The NOTIFY payload: `provider:<id>`, `deactivated:<id>`, `reactivated:<id>`, `key:<hash>`, `session-ended:<id>`.
    pub fn payload(&self) -> String {
        match self {
            CatalogueChange::Provider(id) => format!("provider:{id}"),
            CatalogueChange::Deactivated(id) => format!("deactivated:{id}"),
            CatalogueChange::Reactivated(id) => format!("reactivated:{id}"),
            CatalogueChange::KeyRevoked(hash) => format!("key:{hash}"),
            CatalogueChange::SessionEnded(id) => format!("session-ended:{id}"),
            CatalogueChange::Everything => "everything".to_owned(),
        }
    }

    fn parse(payload: &str) -> Option<CatalogueChange> {
        match payload.split_once(':') {
            Some(("provider", id)) => Some(CatalogueChange::Provider(id.parse().ok()?)),
            Some(("deactivated", id)) => Some(CatalogueChange::Deactivated(id.parse().ok()?)),
            Some(("reactivated", id)) => Some(CatalogueChange::Reactivated(id.parse().ok()?)),
            Some(("session-ended", id)) => Some(CatalogueChange::SessionEnded(id.parse().ok()?)),
            Some(("key", hash)) if !hash.is_empty() => Some(CatalogueChange::KeyRevoked(hash.to_owned())),
            None if payload == "everything" => Some(CatalogueChange::Everything),
            _ => None,
        }
    }
}

/// Tell every instance (this one too) about `change` when `conn`'s
/// transaction commits. PostgreSQL only: on SQLite there is one instance,
/// which applies the change itself.
pub async fn notify_catalogue(conn: &impl ConnectionTrait, change: &CatalogueChange) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CATALOGUE_CHANNEL.into(), change.payload().into()],
        ))
        .await?;
    }
    Ok(())
}

/// The bus's versions are trusted exactly while the relay listens and has
/// caught up; `slotstream_relay_listening` tells operators (and tests) which.
fn trust_versions(bus: &Bus, trusted: bool) {
    bus.set_versions_trusted(trusted);
    metrics::gauge!("slotstream_relay_listening").set(if trusted { 1.0 } else { 0.0 });
}

/// Listen, catch up and relay, reconnecting forever; catalogue changes go
/// to `on_catalogue`. While the database is down the retries back off (to
/// one every 5 s: one instance, one connection attempt), and the moment
/// `health` sees it back the relay reconnects and catches up, so that open
/// streams resume at once, from the log.
pub async fn run(
    db: DatabaseConnection,
    bus: Bus,
    health: DatabaseHealth,
    on_catalogue: impl Fn(CatalogueChange) + Send + 'static,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        trust_versions(&bus, false);
        let mut listener = match connect(&db).await {
            Ok(listener) => listener,
            Err(error) => {
                if health.is_reachable() {
                    tracing::warn!(%error, ?backoff, "event relay: cannot listen; retrying");
                }
                retry_after(&health, &mut backoff).await;
                continue;
            }
        };
        if let Err(error) = async {
            reconcile::all(&db, &bus).await?;
            reconcile::deactivations(&db, &bus).await
        }
        .await
        {
            tracing::warn!(%error, "event relay: catch-up failed; reconnecting");
            retry_after(&health, &mut backoff).await;
            continue;
        }
        // Anything may have changed while nobody listened.
        on_catalogue(CatalogueChange::Everything);
        trust_versions(&bus, true);
        backoff = Duration::from_millis(100);
        tracing::info!("event relay: listening on {CHANNEL}");
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.channel() == CATALOGUE_CHANNEL => {
                    match CatalogueChange::parse(notification.payload()) {
                        Some(change) => on_catalogue(change),
                        None => {
                            tracing::warn!(payload = notification.payload(), "event relay: unreadable catalogue change")
                        }
                    }
                }
                Ok(Some(notification)) => match parse_payload(notification.payload()) {
                    // The events came with it and follow what the bus has
                    // published: publish them, no read (watched or not: the
                    // search index keeps every provider).
                    Some(Notified { provider_id, version, events: Some(events) })
                        if events
                            .first()
                            .is_some_and(|(first, _)| *first <= bus.published_version(provider_id) + 1) =>
                    {
                        metrics::counter!("slotstream_relay_notifications_total", "carried" => "events").increment(1);
                        bus.note_committed(provider_id, version);
                        let published: Vec<_> =
                            events.iter().map(|(version, event)| PublishedEvent::new(*version, event)).collect();
                        bus.publish(&published);
                    }
                    // Nobody here watches that provider: the payload's
                    // version is all the 304 path needs, and the log is
                    // not read (every instance reading it for every
                    // event would grow with events × instances).
                    Some(Notified { provider_id, version, .. }) if !bus.has_subscribers(provider_id) => {
                        metrics::counter!("slotstream_relay_notifications_total", "carried" => "version").increment(1);
                        bus.observe_version(provider_id, version);
                    }
                    Some(Notified { provider_id, version, .. }) => {
                        metrics::counter!("slotstream_relay_notifications_total", "carried" => "version").increment(1);
                        bus.note_committed(provider_id, version);
                        if let Err(error) = reconcile::provider(&db, &bus, provider_id).await {
                            tracing::warn!(%error, "event relay: read failed; reconnecting");
                            break;
                        }
                    }
                    None => tracing::warn!(payload = notification.payload(), "event relay: unreadable notification"),
                },
                // `None`: the connection dropped; notifications may be lost.
                Ok(None) | Err(_) => {
                    tracing::warn!("event relay: listener connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Wait `backoff` (doubled for next time, up to 5 s), or less if the
/// database comes back meanwhile.
async fn retry_after(health: &DatabaseHealth, backoff: &mut Duration) {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = health.recovered() => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
}

async fn connect(db: &DatabaseConnection) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    // Reconnects are ours to make, after which we catch up. Not eager: a
    // lost connection must say so at once (the versions stop being trusted
    // then), not after the pool's acquire timeout spent reconnecting to a
    // database that is down.
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen_all([CHANNEL, CATALOGUE_CHANNEL]).await?;
    Ok(listener)
}

/// PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more.
const PAYLOAD_MAX: usize = 7_999;

/// The notification a commit sends: `<provider>:<version>`, then, when they
/// fit, `:` and the commit's events as JSON (versions `version - n + 1` to
/// `version`), so that other instances publish them without reading the log
/// (issue 27 item 2: reads grew with events × instances). Too many to fit
/// (a schedule opening a month of slots), or none: the short form, and
/// instances read the log as before.
pub fn payload(provider_id: Uuid, version: i64, events: &[AvailabilitySlotChangedEvent]) -> String {
    let short = format!("{provider_id}:{version}");
    if events.is_empty() {
        return short;
    }
    let carried: Vec<CarriedEvent> = events.iter().map(CarriedEvent::from).collect();
    match serde_json::to_string(&carried) {
        Ok(json) if short.len() + 1 + json.len() <= PAYLOAD_MAX => format!("{short}:{json}"),
        _ => short,
    }
}

/// A notification as read: the provider, its new version, and the events
/// up to it when the payload carries them, each with its version.
#[derive(Debug, PartialEq)]
struct Notified {
    provider_id: Uuid,
    version: i64,
    events: Option<Vec<(i64, AvailabilitySlotChangedEvent)>>,
}

fn parse_payload(payload: &str) -> Option<Notified> {
    let (provider, rest) = payload.split_once(':')?;
    let (version, carried) = match rest.split_once(':') {
        Some((version, json)) => (version, Some(json)),
        None => (rest, None),
    };
    let (provider_id, version): (Uuid, i64) = (provider.parse().ok()?, version.parse().ok()?);
    // Unreadable events are not fatal: the version alone is what the old form says.
    let events = carried
        .and_then(|json| serde_json::from_str::<Vec<CarriedEvent>>(json).ok())
        .filter(|carried| !carried.is_empty())
        .and_then(|carried| {
            let first = version.checked_sub(carried.len() as i64 - 1)?;
            Some((first..).zip(carried.into_iter().map(|c| c.into_event(provider_id))).collect())
        });
    Some(Notified { provider_id, version, events })
}

/// One event as a notification carries it: short keys, instants as
/// microseconds (every field the log keeps, so that the event published from
/// it is the one published from the log).
#[derive(serde::Serialize, serde::Deserialize)]
struct CarriedEvent {
    a: Uuid,
    d: chrono::NaiveDate,
    s: chrono::NaiveTime,
    e: chrono::NaiveTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<SlotStatus>,
    n: SlotStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<Uuid>,
    t: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sp: Option<(i64, i64)>,
}

impl From<&AvailabilitySlotChangedEvent> for CarriedEvent {
    fn from(event: &AvailabilitySlotChangedEvent) -> CarriedEvent {
        CarriedEvent {
            a: event.availability_id,
            d: event.date,
            s: event.start_time,
            e: event.end_time,
            p: event.previous_status,
            n: event.new_status,
            b: event.booking_id,
            t: event.changed_at.timestamp_micros(),
            by: event.changed_by.map(|actor| actor.as_str().to_owned()),
            sp: event.span.map(|(from, to)| (from.timestamp_micros(), to.timestamp_micros())),
        }
    }
}

impl CarriedEvent {
    fn into_event(self, provider_id: Uuid) -> AvailabilitySlotChangedEvent {
        let at = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
        AvailabilitySlotChangedEvent {
            availability_id: self.a,
            provider_id,
            date: self.d,
            start_time: self.s,
            end_time: self.e,
            previous_status: self.p,
            new_status: self.n,
            booking_id: self.b,
            changed_at: at(self.t),
            changed_by: self.by.as_deref().and_then(Actor::parse),
            span: self.sp.map(|(from, to)| (at(from), at(to))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(provider_id: Uuid, n: u32) -> AvailabilitySlotChangedEvent {
        let date = chrono::NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
        let start = chrono::NaiveTime::from_hms_opt(9, n % 60, 0).unwrap();
        let at = chrono::DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap();
        AvailabilitySlotChangedEvent {
            availability_id: Uuid::new_v4(),
            provider_id,
            date,
            start_time: start,
            end_time: start + chrono::TimeDelta::minutes(30),
            previous_status: n.is_multiple_of(2).then_some(SlotStatus::Available),
            new_status: SlotStatus::Booked,
            booking_id: Some(Uuid::new_v4()),
            changed_at: at,
            changed_by: Some(Actor::Customer),
            span: Some((at, at + chrono::TimeDelta::minutes(30))),
        }
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let id = Uuid::new_v4();
        assert_eq!(parse_payload(&payload(id, 42, &[])), Some(Notified { provider_id: id, version: 42, events: None }));
        assert_eq!(parse_payload("nope"), None);
        assert_eq!(parse_payload(&format!("{id}:x")), None);
        let unreadable = parse_payload(&format!("{id}:7:[{{\"garbage\":1}}]")).unwrap();
        assert_eq!((unreadable.version, unreadable.events), (7, None), "the version still counts");
    }

    #[test]
    fn a_commits_events_ride_in_its_notification_when_they_fit() {
        let id = Uuid::new_v4();
        let events: Vec<_> = (0..3).map(|n| event(id, n)).collect();
        let text = payload(id, 12, &events);
        let read = parse_payload(&text).unwrap();
        let expected: Vec<_> = (10..).zip(events).collect();
        assert_eq!(read, Notified { provider_id: id, version: 12, events: Some(expected) }, "versions 10 to 12");

        let many: Vec<_> = (0..200).map(|n| event(id, n)).collect();
        let text = payload(id, 500, &many);
        assert!(text.len() <= PAYLOAD_MAX);
        assert_eq!(parse_payload(&text).unwrap().events, None, "too many: the short form, and a read");
    }

    #[test]
    fn catalogue_changes_round_trip_and_reject_garbage() {
        let id = Uuid::new_v4();
        for change in [
            CatalogueChange::Provider(id),
            CatalogueChange::Deactivated(id),
            CatalogueChange::Reactivated(id),
            CatalogueChange::KeyRevoked("ab12".into()),
            CatalogueChange::SessionEnded(id),
            CatalogueChange::Everything,
        ] {
            assert_eq!(CatalogueChange::parse(&change.payload()), Some(change));
        }
        assert_eq!(CatalogueChange::parse("provider:nope"), None);
        assert_eq!(CatalogueChange::parse("key:"), None);
        assert_eq!(CatalogueChange::parse("whatever"), None);
    }
}
