//! `Idempotency-Key` records for booking creation, as the IETF httpapi
//! Idempotency-Key draft describes.
//!
//! - **Scoped.** A key counts only together with the client that sent it (an
//!   opaque scope string from the caller), so one client's key can neither
//!   collide with nor replay another's.
//! - **Claimed in the booking's transaction.** The record is inserted with
//!   `ON CONFLICT DO NOTHING` by the transaction's first write; nothing
//!   inserted means a committed booking already holds the key (PostgreSQL
//!   makes a concurrent insert of the same key wait for the other
//!   transaction's outcome; SQLite's writers are serialised already), so
//!   concurrent duplicates get the replay, never a primary-key violation.
//! - **Nothing usable at rest.** The record's id is a hash over (scope, key);
//!   the booking token, which a retrying client must get again (its first
//!   answer may have been lost), is sealed with ChaCha20-Poly1305 under a key
//!   derived from (scope, key), which is never stored; the request fingerprint
//!   is keyed the same way, so it confirms no guess of a customer's details.
//!
//! The sealing is only as strong as the client's key is unguessable (the
//! draft recommends a UUID); the scope adds the client's identity.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use entity::idempotency_key;
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::secrets;
use crate::app::AppError;

/// An `Idempotency-Key` as one client sent it.
#[derive(Clone, Copy, Debug)]
pub struct ScopedKey<'a> {
    /// Who sent it: a stable, opaque name for the client (the HTTP layer uses
    /// the rate limiter's client identity).
    pub scope: &'a str,
    /// The header's value.
    pub key: &'a str,
}

/// What a scoped key and its request let the server compute. The key itself
/// is not kept.
pub(in crate::app) struct Idempotency {
    record_id: String,
    request_hash: String,
    seal_key: [u8; 32],
}

/// What a committed record gives back to the client that made it.
pub(in crate::app) struct Remembered {
    pub booking_id: Uuid,
    /// `None` only if the sealed token cannot be opened (never, unless the
    /// row was tampered with).
    pub token: Option<String>,
}

const NONCE_LEN: usize = 12;

impl Idempotency {
    /// `request` is a canonical rendering of everything the request asks for;
    /// a reuse of the key with another request is refused.
    pub(in crate::app) fn new(scoped: ScopedKey<'_>, request: &str) -> Idempotency {
        let (scope, key) = (scoped.scope.as_bytes(), scoped.key.as_bytes());
        Idempotency {
            record_id: secrets::to_hex(&derive("slotstream/idempotency/record/v1", &[scope, key])),
            request_hash: secrets::to_hex(&derive(
                "slotstream/idempotency/request/v1",
                &[scope, key, request.as_bytes()],
            )),
            seal_key: derive("slotstream/idempotency/seal/v1", &[scope, key]),
        }
    }

    /// Claim the key inside the booking's transaction, recording the booking
    /// about to be made and its token, sealed. False when a committed record
    /// already holds the key: the caller rolls back and answers from it. On
    /// PostgreSQL a claim by a transaction still open is waited for.
    pub(in crate::app) async fn claim(
        &self,
        tx: &impl ConnectionTrait,
        booking_id: Uuid,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let record = idempotency_key::ActiveModel {
            key_hash: Set(self.record_id.clone()),
            request_hash: Set(self.request_hash.clone()),
            booking_id: Set(booking_id),
            sealed_token: Set(self.seal(booking_id, token)?),
            created_at: Set(now),
        };
        let inserted = idempotency_key::Entity::insert(record)
            .on_conflict(OnConflict::column(idempotency_key::Column::KeyHash).do_nothing().to_owned())
            .exec_without_returning(tx)
            .await?;
        Ok(inserted == 1)
    }

    /// The committed record for this key, if any; a mismatch if the key was
    /// used with another request.
    pub(in crate::app) async fn find(&self, db: &impl ConnectionTrait) -> Result<Option<Remembered>, AppError> {
        let Some(row) = idempotency_key::Entity::find_by_id(self.record_id.clone()).one(db).await? else {
            return Ok(None);
        };
        if !bool::from(row.request_hash.as_bytes().ct_eq(self.request_hash.as_bytes())) {
            return Err(AppError::IdempotencyMismatch(
                "this Idempotency-Key was already used with a different request".into(),
            ));
        }
        let token = self.open(row.booking_id, &row.sealed_token);
        if token.is_none() {
            tracing::warn!(booking = %row.booking_id, "an idempotency record's sealed token does not open");
        }
        Ok(Some(Remembered { booking_id: row.booking_id, token }))
    }

    /// base64(nonce ‖ ciphertext ‖ tag), bound to the booking id so a sealed
    /// token cannot be moved to another record.
    fn seal(&self, booking_id: Uuid, token: &str) -> Result<String, AppError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: token.as_bytes(), aad: booking_id.as_bytes() })
            .map_err(|_| AppError::Internal("sealing a booking token failed".into()))?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(STANDARD_NO_PAD.encode(stored))
    }

    fn open(&self, booking_id: Uuid, stored: &str) -> Option<String> {
        let bytes = STANDARD_NO_PAD.decode(stored).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_from(nonce).ok()?;
        let token = self.cipher().decrypt(&nonce, Payload { msg: sealed, aad: booking_id.as_bytes() }).ok()?;
        String::from_utf8(token).ok()
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.seal_key))
    }
}

/// SHA-256 over a purpose label and length-prefixed parts: distinct labels
/// give unrelated outputs (the stored record id reveals nothing of the
/// sealing key), and the prefixes keep ("ab", "c") apart from ("a", "bc").
fn derive(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idempotency(scope: &str, key: &str, request: &str) -> Idempotency {
        Idempotency::new(ScopedKey { scope, key }, request)
    }

    #[test]
    fn the_same_key_in_another_scope_is_another_record_and_another_seal() {
        let mine = idempotency("ip:192.0.2.1", "order-1", "r");
        let theirs = idempotency("ip:192.0.2.2", "order-1", "r");
        assert_ne!(mine.record_id, theirs.record_id);
        assert_ne!(mine.request_hash, theirs.request_hash);
        let booking = Uuid::new_v4();
        let sealed = mine.seal(booking, "bk_secret").expect("seal");
        assert_eq!(mine.open(booking, &sealed).as_deref(), Some("bk_secret"));
        assert_eq!(theirs.open(booking, &sealed), None, "another client cannot open it");
        assert_eq!(mine.open(Uuid::new_v4(), &sealed), None, "bound to its booking");
        assert!(!sealed.contains("bk_secret"));
    }

    #[test]
    fn parts_are_length_prefixed_and_purposes_separated() {
        assert_ne!(idempotency("ab", "c", "r").record_id, idempotency("a", "bc", "r").record_id);
        let one = idempotency("s", "k", "r");
        assert_ne!(one.record_id, secrets::to_hex(&one.seal_key));
        assert_ne!(one.request_hash, idempotency("s", "k", "other").request_hash);
        assert_eq!(one.record_id.len(), 64, "fits the column");
    }
}
