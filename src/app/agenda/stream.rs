//! The agenda stream: a provider's committed changes as the public stream
//! carries them, with each transaction's booking event (created, cancelled,
//! rescheduled, with the customer) after its slot events. Private: read with
//! the provider's key or a signed-in session only.
//!
//! Ids are the provider's versions, as on the public stream and in the
//! agenda document. A booking event is logged at the version of its
//! transaction's last slot event (`booking_event`), so that slot event goes
//! out without an `id:` and the booking event carries the version: a client
//! cut between the two resumes before the slot event and gets both again,
//! never the slot change without its booking.
//!
//! The stream checks its credential again whenever a session of its
//! provider may have ended (`SessionPolicy::ended`: a sign-out, a
//! deactivation, a revoked key, on any instance) and once a minute (a
//! session's time running out), and ends when it no longer reaches the provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use entity::booking_event;
use futures_util::{Stream, StreamExt};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::app::{App, AppError, Credential, Delivery, Resume};
use crate::events::PublishedEvent;

/// How often an open stream checks its credential with no signal.
const RECHECK: Duration = Duration::from_secs(60);
/// Deliveries ready at once are matched with their booking events in one read.
const CHUNK: usize = 64;

/// What an agenda stream delivers.
#[derive(Debug)]
pub enum AgendaDelivery {
    /// A slot change; `with_id` is false when a booking event of the same
    /// version follows it (and carries the id).
    Slot { event: Arc<PublishedEvent>, with_id: bool },
    /// A booking event: its type (`booking.created`, …) and its data, the
    /// webhook's, with the customer.
    Booking { version: i64, kind: String, data: String },
    /// The resume point is gone: re-fetch the agenda.
    Reset { version: i64 },
    /// The provider was deactivated.
    ProviderEnded,
    /// The credential no longer reaches the provider (signed out, key revoked, expired).
    SessionEnded,
}

impl App {
    /// The provider's agenda changes after `resume`, for as long as
    /// `credential` reaches the provider. Subscribed before this returns.
    pub async fn agenda_changes(
        &self,
        provider_id: Uuid,
        resume: Resume,
        credential: &Credential,
    ) -> Result<impl Stream<Item = AgendaDelivery> + Send + 'static, AppError> {
        self.authorize_provider(provider_id, credential).await?;
        let deliveries = self.changes(provider_id, resume).await?;
        let app = self.clone();
        let credential = credential.clone();
        let mut ended = self.sessions.ended.subscribe();
        Ok(async_stream::stream! {
            let mut chunks = std::pin::pin!(deliveries.ready_chunks(CHUNK));
            let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
            loop {
                tokio::select! {
                    chunk = chunks.next() => {
                        let Some(chunk) = chunk else { return };
                        let notices = Box::pin(app.booking_notices(provider_id, &chunk)).await;
                        for delivery in chunk {
                            match delivery {
                                Delivery::Event(event) => match notices.get(&event.version) {
                                    Some((kind, data)) => {
                                        let version = event.version;
                                        yield AgendaDelivery::Slot { event, with_id: false };
                                        yield AgendaDelivery::Booking { version, kind: kind.clone(), data: data.clone() };
                                    }
                                    None => yield AgendaDelivery::Slot { event, with_id: true },
                                },
                                Delivery::Reset { version } => yield AgendaDelivery::Reset { version },
                                Delivery::Ended => {
                                    yield AgendaDelivery::ProviderEnded;
                                    return;
                                }
                            }
                        }
                    }
                    whose = ended.recv() => {
                        let concerns_us = match whose {
                            Ok(Some(provider)) => provider == provider_id,
                            // Anyone's, or we fell behind: check.
                            Ok(None) | Err(RecvError::Lagged(_)) => true,
                            Err(RecvError::Closed) => false,
                        };
                        if concerns_us && !app.still_reaches(provider_id, &credential).await {
                            yield AgendaDelivery::SessionEnded;
                            return;
                        }
                    }
                    _ = recheck.tick() => {
                        if !app.still_reaches(provider_id, &credential).await {
                            yield AgendaDelivery::SessionEnded;
                            return;
                        }
                    }
                }
            }
        })
    }

    /// Does `credential` still reach the provider? A database that cannot
    /// answer leaves the stream open (the next signal or tick asks again).
    async fn still_reaches(&self, provider_id: Uuid, credential: &Credential) -> bool {
        match self.authorize_provider(provider_id, credential).await {
            Ok(_) => true,
            Err(AppError::Unauthorized(_) | AppError::Forbidden(_) | AppError::NotFound(_)) => false,
            Err(_) => true,
        }
    }

    /// The booking events logged at the versions of `chunk`'s events, by
    /// version. Read again until the database answers: they are committed
    /// (their slot events were published), and the stream must not go on
    /// without them.
    async fn booking_notices(&self, provider_id: Uuid, chunk: &[Delivery]) -> HashMap<i64, (String, String)> {
        let versions = chunk.iter().filter_map(|d| match d {
            Delivery::Event(event) => Some(event.version),
            _ => None,
        });
        let Some((low, high)) = versions.fold(None, |range: Option<(i64, i64)>, v| {
            Some(range.map_or((v, v), |(low, high)| (low.min(v), high.max(v))))
        }) else {
            return HashMap::new();
        };
        let mut pause = Duration::from_millis(200);
        loop {
            match booking_events(&self.db, provider_id, low, high).await {
                Ok(rows) => return rows.into_iter().map(|row| (row.version, (row.kind, row.data))).collect(),
                Err(error) => {
                    tracing::debug!(%provider_id, %error, ?pause, "booking events unreadable; retrying");
                    tokio::time::sleep(pause).await;
                    self.health.reachable().await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

async fn booking_events(
    db: &DatabaseConnection,
    provider_id: Uuid,
    low: i64,
    high: i64,
) -> Result<Vec<booking_event::Model>, DbErr> {
    booking_event::Entity::find()
        .filter(booking_event::Column::ProviderId.eq(provider_id))
        .filter(booking_event::Column::Version.between(low, high))
        .all(db)
        .await
}
