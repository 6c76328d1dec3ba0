//! What goes over the wire to a receiver, written here only: the body
//! `{ type, timestamp, data }`, the `webhook-id` (stable across retries) and
//! the Standard Webhooks headers, signed with the `standardwebhooks` crate.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{booking_event, slot_event, waitlist_event};
use uuid::Uuid;

use crate::domain::SlotStatus;
use crate::events::sse::utc_instant;
use crate::events::{EventType, Lane};

/// One event ready to send to a subscription.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its place in the provider's log: `3 × version + lane` (`Lane`: the
    /// slot event, then the booking event, then the waitlist event of that version).
    pub position: i64,
    /// `webhook-id`: the same for every attempt (and every receiver) of this event.
    pub id: String,
    pub kind: EventType,
    /// When the change was committed (the delivery latency is measured from it).
    pub occurred_at: DateTime<Utc>,
    pub body: Bytes,
}

fn id(provider_id: Uuid, position: i64) -> String {
    format!("evt_{}_{position}", provider_id.simple())
}

fn body(kind: EventType, occurred_at: DateTime<Utc>, data: serde_json::Value) -> Bytes {
    let envelope = serde_json::json!({
        "type": kind.as_str(),
        "timestamp": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    });
    Bytes::from(envelope.to_string())
}

/// A `slot.changed` message: the public change, as on the stream (no customer
/// data, no booking id), with the provider version it made.
pub fn slot_changed(row: &slot_event::Model) -> Message {
    let mut data = serde_json::json!({
        "availabilityId": row.availability_id,
        "providerId": row.provider_id,
        "version": row.version,
        "date": row.date,
        "startTime": row.start_time.format("%H:%M").to_string(),
        "endTime": row.end_time.format("%H:%M").to_string(),
        "previousStatus": row.previous_status.map(SlotStatus::from),
        "newStatus": SlotStatus::from(row.new_status),
        "changedAt": row.changed_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    // As on the stream: the slot's instants and who changed it, where logged.
    if let (Some(from), Some(to)) = (row.starts_at, row.ends_at) {
        data["startsAt"] = utc_instant(from).into();
        data["endsAt"] = utc_instant(to).into();
    }
    if let Some(by) = &row.changed_by {
        data["changedBy"] = by.as_str().into();
    }
    let position = Lane::Slot.position(row.version);
    Message {
        position,
        id: id(row.provider_id, position),
        kind: EventType::SlotChanged,
        occurred_at: row.changed_at,
        body: body(EventType::SlotChanged, row.changed_at, data),
    }
}

/// A `booking.*` message, its data as the booking command recorded it, with
/// the provider version its transaction committed.
pub fn booking(row: &booking_event::Model) -> Option<Message> {
    recorded(Lane::Booking, row.provider_id, row.version, &row.kind, &row.data, row.occurred_at)
}

/// A `waitlist.*` message, its data as the waitlist recorded it, with the
/// provider version of the slot event it follows.
pub fn waitlist(row: &waitlist_event::Model) -> Option<Message> {
    recorded(Lane::Waitlist, row.provider_id, row.version, &row.kind, &row.data, row.occurred_at)
}

/// A message recorded in `lane` at `version` as `kind` with `data` (JSON
/// text), to which the version is added; `None` for a kind or data this
/// build cannot read.
fn recorded(
    lane: Lane,
    provider_id: Uuid,
    version: i64,
    kind: &str,
    data: &str,
    occurred_at: DateTime<Utc>,
) -> Option<Message> {
    let kind = EventType::parse(kind)?;
    let mut data: serde_json::Value = serde_json::from_str(data).ok()?;
    data["version"] = serde_json::json!(version);
    let position = lane.position(version);
    Some(Message { position, id: id(provider_id, position), kind, occurred_at, body: body(kind, occurred_at, data) })
}

/// The Standard Webhooks headers for `message` sent now with `secret`:
/// `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,<base64>`).
pub fn signed_headers(message: &Message, secret: &str) -> Result<[(&'static str, String); 3], String> {
    let signer = standardwebhooks::Webhook::new(secret).map_err(|e| format!("bad secret: {e}"))?;
    let timestamp = Utc::now().timestamp();
    let signature = signer.sign(&message.id, timestamp, &message.body).map_err(|e| format!("cannot sign: {e}"))?;
    Ok([
        (standardwebhooks::HEADER_WEBHOOK_ID, message.id.clone()),
        (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_verify_with_the_spec_verifier() {
        let row = booking_event::Model {
            provider_id: Uuid::new_v4(),
            version: 7,
            kind: "booking.created".into(),
            booking_id: Uuid::new_v4(),
            data: r#"{"bookingId":"x"}"#.into(),
            occurred_at: Utc::now(),
        };
        let message = booking(&row).expect("a booking message");
        assert_eq!(message.position, 22);
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let mut headers = axum::http::HeaderMap::new();
        for (name, value) in signed_headers(&message, secret).unwrap() {
            headers.insert(name, value.parse().unwrap());
        }
        let verifier = standardwebhooks::Webhook::new(secret).unwrap();
        verifier.verify(&message.body, &headers).expect("valid signature");
        let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["type"], "booking.created");
        assert_eq!(body["data"]["version"], 7);
    }
}
