//! The Server-Sent Events wire format: every byte a stream sends is written
//! here, and only here.
//!
//! - first a `retry:` line, the reconnection delay advised to `EventSource`;
//! - `event: slot-changed` frames, `id:` the provider's version, `data:` the
//!   public JSON of the change ([`PublicSlotChange`]: no customer data, no
//!   booking id; its `version` too), rendered once per event and shared by every subscriber;
//! - `event: reset` when the resume point is gone (`data: {"version":N}`);
//! - `event: provider-deactivated` (`data: {"providerId":…}`, no id), the
//!   last frame of a deactivated provider's stream: it will never have
//!   events again, and reconnecting gets 410;
//! - a comment heartbeat, which keeps proxies from closing an idle stream;
//! - on a many-providers stream, the same `slot-changed` frames with the
//!   stream's cursor (see `cursor`) as their `id:`, and a per-provider
//!   `event: reset` (`data: {"providerId":…,"version":N}`);
//! - on a provider's agenda stream, the same `slot-changed` frames (without
//!   their `id:` when a booking event of their version follows), booking
//!   events (`booking-created`, `booking-cancelled`, `booking-rescheduled`,
//!   with the customer), `event: session-ended`, and a visible
//!   `event: heartbeat` (`data: {"everySecs":N}`) in place of the comment.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Actor, AvailabilitySlotChangedEvent, SlotStatus};

/// The public JSON of a slot change.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicSlotChange<'a> {
    availability_id: Uuid,
    provider_id: Uuid,
    date: NaiveDate,
    start_time: String,
    end_time: String,
    previous_status: Option<SlotStatus>,
    new_status: SlotStatus,
    changed_at: &'a str,
    /// The slot's real start and end, RFC 3339 in UTC: unambiguous where
    /// the local `startTime` repeats (an autumn night's second 02:00).
    /// Absent only in events logged before they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    /// Who made the change; absent only in events logged before it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_by: Option<Actor>,
    /// The provider's version this change made: on a many-providers stream,
    /// whose `id:` is an opaque cursor, what tells a client whether a
    /// document it re-fetched already has the change.
    version: i64,
}

/// `id: <version>`, `event: slot-changed`, `data: <public JSON>`.
pub fn slot_changed(version: i64, event: &AvailabilitySlotChangedEvent) -> Bytes {
    let changed_at = event.changed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let payload = PublicSlotChange {
        availability_id: event.availability_id,
        provider_id: event.provider_id,
        date: event.date,
        start_time: event.start_time.format("%H:%M").to_string(),
        end_time: event.end_time.format("%H:%M").to_string(),
        previous_status: event.previous_status,
        new_status: event.new_status,
        changed_at: &changed_at,
        starts_at: event.span.map(|(from, _)| utc_instant(from)),
        ends_at: event.span.map(|(_, to)| utc_instant(to)),
        changed_by: event.changed_by,
        version,
    };
    // Serialising a struct of plain fields cannot fail.
    let json = serde_json::to_string(&payload).unwrap_or_default();
    Bytes::from(format!("id: {version}\nevent: slot-changed\ndata: {json}\n\n"))
}

/// An instant as the public JSON writes it: RFC 3339 in UTC, to the second
/// (as the availability document's `startsAt`).
pub fn utc_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The resume point is gone: re-fetch; the stream goes on after `version`.
pub fn reset(version: i64) -> Bytes {
    Bytes::from(format!("id: {version}\nevent: reset\ndata: {{\"version\":{version}}}\n\n"))
}

/// The provider was deactivated: the stream's last frame. No `id:`, so a
/// client's resume point stays that of its last change.
pub fn deactivated(provider_id: Uuid) -> Bytes {
    Bytes::from(format!("event: provider-deactivated\ndata: {{\"providerId\":\"{provider_id}\"}}\n\n"))
}

/// A `slot-changed` frame of [`slot_changed`] with `cursor` as its `id:`
/// instead of the version (a many-providers stream). The event's lines are
/// shared with every other subscriber's frame, not re-serialised.
pub fn with_cursor(frame: &Bytes, cursor: &str) -> Bytes {
    // Every frame `slot_changed` writes starts with its one `id:` line.
    let after_id = frame.iter().position(|&b| b == b'\n').map_or(0, |end| end + 1);
    let mut out = Vec::with_capacity(cursor.len() + 5 + frame.len() - after_id);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(cursor.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&frame[after_id..]);
    Bytes::from(out)
}

/// One provider's resume point on a many-providers stream is gone: re-fetch
/// that provider; the stream goes on after `version` for it.
pub fn provider_reset(provider_id: Uuid, version: i64, cursor: &str) -> Bytes {
    Bytes::from(format!(
        "id: {cursor}\nevent: reset\ndata: {{\"providerId\":\"{provider_id}\",\"version\":{version}}}\n\n"
    ))
}

/// A `slot-changed` frame of [`slot_changed`] without its `id:` line: on the
/// agenda stream, where the booking event that follows carries the version.
pub fn without_id(frame: &Bytes) -> Bytes {
    let after_id = frame.iter().position(|&b| b == b'\n').map_or(0, |end| end + 1);
    frame.slice(after_id..)
}

/// A booking event on the agenda stream: `id: <version>`, `event:` its type
/// with a dash (`booking.created` is `booking-created`), `data:` the
/// webhook's data (JSON text, one line).
pub fn booking(version: i64, kind: &str, data: &str) -> Bytes {
    let name = kind.replace('.', "-");
    Bytes::from(format!("id: {version}\nevent: {name}\ndata: {data}\n\n"))
}

/// The agenda stream's credential no longer reaches the provider (signed
/// out, key revoked, session expired): its last frame, with no `id:`.
pub const SESSION_ENDED: Bytes = Bytes::from_static(b"event: session-ended\ndata: {}\n\n");

/// The first line of every stream: how long `EventSource` waits before reconnecting.
pub fn retry(delay: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", delay.as_millis()))
}

/// A comment line: ignored by `EventSource`, keeps the connection busy.
pub const HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n\n");

/// The agenda stream's heartbeat: an event the page sees (no `id:`), with
/// its period, so the page can tell a connection gone silent (no event for
/// a few periods) and open a new one.
pub fn visible_heartbeat(every: Duration) -> Bytes {
    Bytes::from(format!("event: heartbeat\ndata: {{\"everySecs\":{}}}\n\n", every.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    #[test]
    fn frames_are_exactly_what_event_source_reads() {
        let event = AvailabilitySlotChangedEvent {
            availability_id: Uuid::nil(),
            provider_id: Uuid::from_u128(1),
            date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            start_time: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            end_time: NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            previous_status: Some(SlotStatus::Available),
            new_status: SlotStatus::Booked,
            booking_id: Some(Uuid::from_u128(7)),
            changed_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 12, 3).unwrap(),
            changed_by: Some(Actor::Provider),
            span: None,
        }
        .located(chrono_tz::Europe::Warsaw);
        let frame = String::from_utf8(slot_changed(42, &event).to_vec()).unwrap();
        assert_eq!(
            frame,
            "id: 42\nevent: slot-changed\ndata: {\"availabilityId\":\"00000000-0000-0000-0000-000000000000\",\
             \"providerId\":\"00000000-0000-0000-0000-000000000001\",\"date\":\"2026-11-30\",\"startTime\":\"10:00\",\
             \"endTime\":\"10:30\",\"previousStatus\":\"available\",\"newStatus\":\"booked\",\
             \"changedAt\":\"2026-11-27T09:12:03.000000Z\",\"startsAt\":\"2026-11-30T09:00:00Z\",\
             \"endsAt\":\"2026-11-30T09:30:00Z\",\"changedBy\":\"provider\",\"version\":42}\n\n"
        );
        assert!(!frame.contains(&Uuid::from_u128(7).to_string()), "no booking id on the wire");
        assert_eq!(&reset(9)[..], b"id: 9\nevent: reset\ndata: {\"version\":9}\n\n");
        assert_eq!(&retry(Duration::from_secs(2))[..], b"retry: 2000\n\n");
        assert_eq!(
            &deactivated(Uuid::from_u128(1))[..],
            &b"event: provider-deactivated\ndata: {\"providerId\":\"00000000-0000-0000-0000-000000000001\"}\n\n"[..]
        );
        assert!(HEARTBEAT.starts_with(b":") && HEARTBEAT.ends_with(b"\n\n"));
        assert_eq!(&visible_heartbeat(Duration::from_secs(15))[..], b"event: heartbeat\ndata: {\"everySecs\":15}\n\n");
        let relabelled = String::from_utf8(with_cursor(&slot_changed(42, &event), "AQID").to_vec()).unwrap();
        assert_eq!(relabelled, frame.replacen("id: 42\n", "id: AQID\n", 1));
        assert_eq!(without_id(&slot_changed(42, &event)), frame.replacen("id: 42\n", "", 1).as_bytes());
        assert_eq!(
            &booking(42, "booking.cancelled", "{\"by\":\"provider\"}")[..],
            b"id: 42\nevent: booking-cancelled\ndata: {\"by\":\"provider\"}\n\n"
        );
        assert_eq!(
            &provider_reset(Uuid::from_u128(1), 9, "AQID")[..],
            b"id: AQID\nevent: reset\ndata: {\"providerId\":\"00000000-0000-0000-0000-000000000001\",\"version\":9}\n\n"
        );
    }
}
