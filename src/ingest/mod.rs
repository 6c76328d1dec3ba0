//! Slot changes from the marketplace's booking system through a broker:
//! NATS JetStream (`--ingest-nats-url`). A message on
//! `slotstream.slot-changes.<externalProviderId>` carries the same JSON as
//! `POST /api/v1/admin/providers/{externalId}/slot-changes`
//! (`{ sequence, changes }`) and is applied by the same application function.
//!
//! Invariants:
//! - acknowledged only after its batch committed (or was found stale), so a
//!   crash or restart redelivers it, and the sequence makes the redelivery
//!   harmless: nothing is lost, nothing applied twice;
//! - applied in the stream's order, on every instance together: the durable
//!   consumer lets one message be unacknowledged at a time
//!   (`max_ack_pending = 1`), so two instances never apply a provider's
//!   batches 5 and 6 at once and in the wrong order (which would leave 5
//!   stale). NATS 2.11's pinned consumers would allow one reader with more
//!   in flight; the server on this machine is 2.9.
//! - a message that can never be applied (not JSON, no such provider, a
//!   provider whose slots are its own, invalid slots) is a poison message:
//!   copied to `slotstream.dead-letter.<externalProviderId>` with the reason
//!   in a `Slotstream-Error` header, logged, counted in
//!   `slotstream_ingest_dead_letters_total`, and acknowledged, so it never
//!   blocks the ones behind it;
//! - a failure that may pass (the database unreachable; a failed statement,
//!   up to five tries, then it is poison) is retried in place, with back-off, the message kept in flight (`Progress`), so
//!   nothing overtakes it (a `Nak` would free the one slot in flight and let
//!   the next batch be applied first, leaving this one stale).
//!
//! Another broker (Kafka, a queue of the cloud's) is added the same way: a
//! module here that reads messages in order, one provider's at least, calls
//! [`App::apply_slot_changes`](crate::app::App::apply_slot_changes), commits
//! its offset only after it returned, and sends what it refuses aside.

mod nats;

pub use nats::{IngestSettings, run};

use crate::app::AppError;

/// What became of one message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Applied, or stale (already applied or older): acknowledge.
    Done,
    /// It can never be applied: dead-letter it with this reason, then acknowledge.
    Poison(String),
    /// It may apply later: try it again, keeping it in flight.
    Retry(String),
}

/// Tries of a message that fails with a database or internal error (not an
/// unreachable database) before it is taken for poison: such an error may
/// pass (a serialization failure) or may not (a constraint the batch breaks),
/// and one message must never stop the stream for good.
pub(crate) const ATTEMPTS_MAX: u32 = 5;

/// How an application error decides a message's fate, at its `attempts`th try.
pub(crate) fn outcome_of(result: Result<(), AppError>, attempts: u32) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error @ AppError::DatabaseUnavailable(_)) => Outcome::Retry(error.to_string()),
        Err(error @ (AppError::Database(_) | AppError::Internal(_))) if attempts < ATTEMPTS_MAX => {
            Outcome::Retry(error.to_string())
        }
        Err(error) => Outcome::Poison(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_poison_and_outages_are_retried() {
        assert_eq!(outcome_of(Ok(()), 1), Outcome::Done);
        assert!(matches!(outcome_of(Err(AppError::NotFound("x".into())), 1), Outcome::Poison(_)));
        assert!(matches!(outcome_of(Err(AppError::Invalid("x".into())), 1), Outcome::Poison(_)));
        assert!(matches!(outcome_of(Err(AppError::StateConflict("x".into())), 1), Outcome::Poison(_)));
        assert!(matches!(outcome_of(Err(AppError::DatabaseUnavailable("x".into())), 100), Outcome::Retry(_)));
        // A statement that keeps failing is poison after a few tries, never a stop for good.
        assert!(matches!(outcome_of(Err(AppError::Internal("x".into())), 1), Outcome::Retry(_)));
        assert!(matches!(outcome_of(Err(AppError::Internal("x".into())), ATTEMPTS_MAX), Outcome::Poison(_)));
    }
}
