//! Sending one subscription's events: read after the cursor, up to the
//! provider's committed head, in log order, one attempt at a time; store the
//! cursor as receivers acknowledge (`lease`).
//!
//! Invariants: an event is sent only after every event before it (of the
//! kinds asked for) was acknowledged, so order holds per provider; the
//! cursor moves on a 2xx only, so a failure or a restart sends the unacknowledged
//! event again (at least once); the cursor is stored once per batch and at
//! least every [`STORE_EVERY`], not once per event, to keep writes few.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{booking_event, slot_event, waitlist_event, webhook_subscription};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Sender;
use crate::events::versions;
use crate::events::{EventType, Lane, event_types};
use crate::webhooks::client::AttemptError;
use crate::webhooks::message::{self, Message};

/// Events read from the log per round.
const BATCH: u64 = 100;
/// Longest a delivered position goes unstored while a batch is sent.
const STORE_EVERY: Duration = Duration::from_secs(1);

impl Sender {
    /// Send the events after the cursor in order until caught up (`true`)
    /// or an attempt fails or the lease is lost (`false`). The cursor is stored after each batch, before a
    /// failure is recorded, and at least every [`STORE_EVERY`] (which also
    /// renews the lease): one write per batch rather than per event.
    pub(super) async fn send_pending(
        &self,
        mut subscription: webhook_subscription::Model,
        acknowledged: &AtomicI64,
    ) -> Result<bool, DbErr> {
        let types = event_types(&subscription.events);
        let (mut cursor, mut stored) = (subscription.cursor, subscription.cursor);
        let mut stored_at = Instant::now();
        let lag = |versions: i64| self.app.gauges.webhook_lag(subscription.id, u64::try_from(versions).unwrap_or(0));
        loop {
            // The head first: every event at or below it is committed and visible.
            let head = versions::committed(&self.app.db, subscription.provider_id).await?.unwrap_or(0);
            let batch = self.load(subscription.provider_id, cursor, head, &types).await?;
            lag((Lane::past(head) - cursor) / Lane::COUNT);
            if batch.is_empty() {
                // Nothing more of the kinds asked for up to the head (the
                // cursor is never past it): skip to it.
                if Lane::past(head) > stored {
                    self.advance(subscription.id, Lane::past(head)).await?;
                }
                lag(0);
                return Ok(true);
            }
            for message in batch {
                match self.attempt(&subscription, &message).await {
                    Ok(()) => {
                        metrics::counter!("slotstream_webhook_deliveries_total", "outcome" => "delivered").increment(1);
                        let latency = (Utc::now() - message.occurred_at).to_std().unwrap_or_default();
                        metrics::histogram!("slotstream_webhook_delivery_seconds").record(latency.as_secs_f64());
                        cursor = message.position;
                        acknowledged.store(cursor, Ordering::Release);
                        // A success ends the run of failures (as `advance` stores it).
                        subscription.attempts = 0;
                        subscription.failing_since = None;
                        if stored_at.elapsed() >= STORE_EVERY {
                            if !self.advance(subscription.id, cursor).await? {
                                return Ok(false); // The lease was lost: another sender goes on.
                            }
                            (stored, stored_at) = (cursor, Instant::now());
                        }
                    }
                    Err(error) => {
                        metrics::counter!("slotstream_webhook_deliveries_total", "outcome" => error.outcome())
                            .increment(1);
                        if cursor > stored && !self.advance(subscription.id, cursor).await? {
                            return Ok(false);
                        }
                        self.failed(&subscription, &error).await?;
                        return Ok(false);
                    }
                }
            }
            if cursor > stored {
                if !self.advance(subscription.id, cursor).await? {
                    return Ok(false);
                }
                (stored, stored_at) = (cursor, Instant::now());
            }
        }
    }

    pub(super) async fn attempt(
        &self,
        subscription: &webhook_subscription::Model,
        message: &Message,
    ) -> Result<(), AttemptError> {
        let headers = message::signed_headers(message, &subscription.secret).map_err(AttemptError::Refused)?;
        self.client.post(&subscription.url, &headers, message.body.clone()).await
    }

    /// Up to [`BATCH`] messages of the types asked for after `cursor`, up to
    /// version `head`, in log order (each table read in order, then merged).
    pub(super) async fn load(
        &self,
        provider_id: Uuid,
        cursor: i64,
        head: i64,
        types: &[EventType],
    ) -> Result<Vec<Message>, DbErr> {
        let mut messages = Vec::new();
        if types.contains(&EventType::SlotChanged) {
            let rows = slot_event::Entity::find()
                .filter(slot_event::Column::ProviderId.eq(provider_id))
                .filter(slot_event::Column::Version.gt(Lane::Slot.versions_after(cursor)))
                .filter(slot_event::Column::Version.lte(head))
                .order_by_asc(slot_event::Column::Version)
                .limit(BATCH)
                .all(&self.app.db)
                .await?;
            messages.extend(rows.iter().map(message::slot_changed));
        }
        let kinds_in =
            |lane: Lane| -> Vec<&str> { types.iter().filter(|t| t.lane() == lane).map(|t| t.as_str()).collect() };
        let kinds = kinds_in(Lane::Booking);
        if !kinds.is_empty() {
            let rows = booking_event::Entity::find()
                .filter(booking_event::Column::ProviderId.eq(provider_id))
                .filter(booking_event::Column::Version.gt(Lane::Booking.versions_after(cursor)))
                .filter(booking_event::Column::Version.lte(head))
                .filter(booking_event::Column::Kind.is_in(kinds))
                .order_by_asc(booking_event::Column::Version)
                .limit(BATCH)
                .all(&self.app.db)
                .await?;
            messages.extend(rows.iter().filter_map(message::booking));
        }
        let kinds = kinds_in(Lane::Waitlist);
        if !kinds.is_empty() {
            let rows = waitlist_event::Entity::find()
                .filter(waitlist_event::Column::ProviderId.eq(provider_id))
                .filter(waitlist_event::Column::Version.gt(Lane::Waitlist.versions_after(cursor)))
                .filter(waitlist_event::Column::Version.lte(head))
                .filter(waitlist_event::Column::Kind.is_in(kinds))
                .order_by_asc(waitlist_event::Column::Version)
                .limit(BATCH)
                .all(&self.app.db)
                .await?;
            messages.extend(rows.iter().filter_map(message::waitlist));
        }
        messages.sort_by_key(|m| m.position);
        messages.truncate(BATCH as usize);
        Ok(messages)
    }
}
