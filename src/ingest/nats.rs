//! The NATS JetStream consumer of slot changes (module `ingest`): the
//! stream and its durable consumer are created if missing, then messages
//! are read one at a time and applied until the server stops. A lost
//! connection is retried with backoff; messages wait in the stream meanwhile.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{self, AckKind, stream};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Outcome, outcome_of};
use crate::app::backoff::backoff;
use crate::app::{App, AppError, SlotChanges};

/// First delay before a message that failed for an outage is tried again
/// (doubling, with jitter, up to 10 s).
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How long a delivered message may go unacknowledged before it is offered
/// again. With one message in flight, an instance that dies holding one
/// stops every instance's ingest this long, so it is short; a long batch
/// says it is still being worked on every third of it (`Progress`).
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Where and how to consume.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    pub url: String,
    /// Subjects are `<prefix>.slot-changes.<externalProviderId>` (the booking
    /// system publishes there) and `<prefix>.dead-letter.<externalProviderId>`
    /// (poison messages go there); the prefix is `slotstream` by default.
    pub prefix: String,
    /// The JetStream stream holding `slotstream.slot-changes.>`.
    pub stream: String,
    /// The stream holding `slotstream.dead-letter.>`.
    pub dead_letter_stream: String,
    /// The durable consumer's name, shared by every instance.
    pub consumer: String,
}

/// Consume until `stopping`; reconnects with backoff after a failure.
pub async fn run(app: App, settings: IngestSettings, stopping: CancellationToken) {
    let mut failures: i32 = 0;
    while !stopping.is_cancelled() {
        match stopping.run_until_cancelled(consume(&app, &settings, &mut failures)).await {
            None | Some(Ok(())) => return,
            Some(Err(error)) => {
                failures += 1;
                metrics::gauge!("slotstream_ingest_connected").set(0.0);
                tracing::warn!(%error, url = %settings.url, "NATS ingest interrupted; reconnecting");
                let wait = backoff(Duration::from_millis(200), Duration::from_secs(10), failures, rand::random());
                if stopping.run_until_cancelled(tokio::time::sleep(wait)).await.is_none() {
                    return;
                }
            }
        }
    }
}

async fn consume(app: &App, settings: &IngestSettings, failures: &mut i32) -> Result<(), async_nats::Error> {
    let changes_prefix = format!("{}.slot-changes.", settings.prefix);
    let dead_letter_prefix = format!("{}.dead-letter.", settings.prefix);
    let client = async_nats::connect(&settings.url).await?;
    let context = jetstream::new(client);
    let changes = context
        .get_or_create_stream(stream::Config {
            name: settings.stream.clone(),
            subjects: vec![format!("{changes_prefix}>")],
            ..Default::default()
        })
        .await?;
    context
        .get_or_create_stream(stream::Config {
            name: settings.dead_letter_stream.clone(),
            subjects: vec![format!("{dead_letter_prefix}>")],
            ..Default::default()
        })
        .await?;
    let consumer = changes
        .get_or_create_consumer(
            &settings.consumer,
            pull::Config {
                durable_name: Some(settings.consumer.clone()),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                // One in flight across every instance (module `ingest`).
                max_ack_pending: 1,
                filter_subject: format!("{changes_prefix}>"),
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    metrics::gauge!("slotstream_ingest_connected").set(1.0);
    tracing::info!(stream = %settings.stream, consumer = %settings.consumer, "consuming slot changes from NATS");
    *failures = 0;
    while let Some(message) = messages.next().await {
        let message = message?;
        let provider = message.subject.as_str().strip_prefix(changes_prefix.as_str()).unwrap_or_default().to_owned();
        // Kept in flight (`Progress` every third of the ack wait) while it
        // is applied and while an outage is waited out, so nothing overtakes it.
        let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + ACK_WAIT / 3, ACK_WAIT / 3);
        let mut attempts: u32 = 0;
        let settled = loop {
            attempts += 1;
            let applying = apply(app, &provider, &message.payload);
            tokio::pin!(applying);
            let result = loop {
                tokio::select! {
                    result = &mut applying => break result,
                    _ = progress.tick() => message.ack_with(AckKind::Progress).await?,
                }
            };
            let reason = match outcome_of(result, attempts) {
                Outcome::Done => break Ok(()),
                Outcome::Poison(reason) => break Err(reason),
                Outcome::Retry(reason) => reason,
            };
            metrics::counter!("slotstream_ingest_messages_total", "outcome" => "retried").increment(1);
            tracing::warn!(%provider, %reason, attempts, "slot changes not applied yet; trying again");
            let tries = i32::try_from(attempts).unwrap_or(i32::MAX);
            let wait = tokio::time::sleep(backoff(RETRY_DELAY, Duration::from_secs(10), tries, rand::random()));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    _ = progress.tick() => message.ack_with(AckKind::Progress).await?,
                }
            }
        };
        match settled {
            Ok(()) => {
                message.double_ack().await?;
                metrics::counter!("slotstream_ingest_messages_total", "outcome" => "applied").increment(1);
            }
            Err(reason) => {
                tracing::warn!(%provider, %reason, "slot changes dead-lettered");
                let mut headers = HeaderMap::new();
                headers.insert("Slotstream-Error", reason.replace(['\r', '\n'], " ").as_str());
                headers.insert("Slotstream-Subject", message.subject.as_str());
                let subject = format!("{dead_letter_prefix}{}", if provider.is_empty() { "_" } else { &provider });
                // The copy carries two headers more than the original: one
                // near the server's largest payload does not fit, and its
                // reason and subject are kept without it, so it never blocks.
                let copied =
                    match context.publish_with_headers(subject.clone(), headers.clone(), message.payload.clone()).await
                    {
                        Ok(ack) => ack.await.map(drop).map_err(async_nats::Error::from),
                        Err(error) => Err(error.into()),
                    };
                if let Err(error) = copied {
                    tracing::warn!(%provider, %error, bytes = message.payload.len(), "dead letter sent without its payload");
                    headers.insert("Slotstream-Payload", format!("dropped: {} bytes", message.payload.len()).as_str());
                    context.publish_with_headers(subject, headers, bytes::Bytes::new()).await?.await?;
                }
                message.double_ack().await?;
                metrics::counter!("slotstream_ingest_dead_letters_total").increment(1);
            }
        }
    }
    Err("the NATS message stream ended".into())
}

/// One message's batch, applied (stale counts as applied: module `upstream`).
async fn apply(app: &App, provider: &str, payload: &[u8]) -> Result<(), AppError> {
    let batch: SlotChanges = serde_json::from_slice(payload)
        .map_err(|error| AppError::Invalid(format!("the message is not a batch of slot changes: {error}")))?;
    app.apply_slot_changes(provider, batch).await.map(drop)
}
