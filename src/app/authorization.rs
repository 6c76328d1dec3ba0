//! Authorization: who may do what, decided here for every command.
//!
//! A command hands over the caller's [`Credential`] and the booking or
//! provider it acts on, and gets back what the credential proved (a
//! [`Grant`]) or the refusal: `Unauthorized` (401) when no usable credential
//! was presented (none, a malformed one, a revoked key, or a token that
//! exists nowhere: RFC 6750's `invalid_token`), `Forbidden` (403) when a real
//! credential was presented but it does not reach this booking or provider. Three things can be proven today: holding a booking
//! (its token), holding a slot hold (its token: renew, release, book it) and
//! holding a key of a provider (which reaches that provider's bookings and
//! slots). Secrets are compared by hash (`secrets`).
//!
//! Provider keys verified here are remembered in [`VerifiedKeys`], which the
//! HTTP rate limiter reads: a verified key is a client with its own quota.

use std::sync::Arc;

use dashmap::DashSet;
use entity::{booking, provider_key, slot_hold, waitlist_entry};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{App, AppError, secrets};
use crate::domain::Actor;

/// What a caller presented: `Authorization: Bearer`, or (a person signed
/// in at the provider's front desk) the provider session's cookie.
#[derive(Clone, Debug)]
pub enum Credential {
    None,
    Bearer(String),
    /// The token of a provider session (`agenda::sign_in`).
    Session(String),
}

/// What a credential was proven to be, for the booking or provider asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The booking's own token.
    BookingHolder,
    /// A key of the provider the booking or slots belong to.
    ProviderKey,
    /// A slot hold's own token.
    HoldHolder,
    /// A person signed in on the provider's agenda (the session cookie):
    /// reaches what a key reaches, but cannot mint sign-in links.
    ProviderSession,
}

impl Grant {
    /// Who a change made with this grant is by: a holder is the customer.
    pub fn actor(self) -> Actor {
        match self {
            Grant::BookingHolder | Grant::HoldHolder => Actor::Customer,
            Grant::ProviderKey | Grant::ProviderSession => Actor::Provider,
        }
    }
}

/// Why a request has no usable credential (a 401). The HTTP layer's
/// `WWW-Authenticate: Bearer` challenge tells the two apart (RFC 6750 §3.1).
#[derive(Debug, thiserror::Error)]
pub enum Unauthenticated {
    /// Nothing was presented, or in a scheme other than Bearer: the
    /// challenge carries no error code.
    #[error("{0}")]
    NoCredential(String),
    /// A bearer token was presented but is not well-formed: `invalid_token`.
    #[error("{0}")]
    InvalidToken(String),
}

/// Hashes (`secrets::hash`) of the provider keys verified at least once.
/// Filled in here, read by the rate limiter: only a key known to be real may
/// be a client of its own, so random bearer tokens buy no extra quota.
#[derive(Clone, Default)]
pub struct VerifiedKeys(Arc<DashSet<String>>);

impl VerifiedKeys {
    /// Has the key with this hash been verified?
    pub fn contains(&self, key_hash: &str) -> bool {
        self.0.contains(key_hash)
    }

    fn record(&self, key_hash: String) {
        self.0.insert(key_hash);
    }

    /// The key was revoked: it is no client of its own any more.
    pub fn forget(&self, key_hash: &str) {
        self.0.remove(key_hash);
    }

    /// Forget every key (they are verified again on their next use).
    pub fn forget_all(&self) {
        self.0.clear();
    }

    /// A set already holding these hashes, for the limiter's unit tests
    /// (outside tests only `authorization` fills the set).
    #[cfg(test)]
    pub(crate) fn holding(key_hashes: impl IntoIterator<Item = String>) -> VerifiedKeys {
        VerifiedKeys(Arc::new(key_hashes.into_iter().collect()))
    }
}

/// The operator token of the admin API, kept only as its SHA-256 and
/// compared in constant time (`secrets::matches`).
#[derive(Clone)]
pub struct AdminToken {
    hash: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    /// At least 32 characters: the token guards every provider at once.
    pub fn new(token: &str) -> Result<AdminToken, &'static str> {
        if token.chars().count() < 32 {
            return Err("the admin token must be at least 32 characters");
        }
        Ok(AdminToken { hash: secrets::hash(token) })
    }

    /// Succeeds if `credential` is the operator token: `Unauthorized` (401)
    /// otherwise, whether nothing or a wrong token was presented.
    pub fn authorize(&self, credential: &Credential) -> Result<(), AppError> {
        let secret = presented(credential, "this needs the operator token in Authorization: Bearer")?;
        if secrets::matches(secret, &self.hash) {
            Ok(())
        } else {
            Err(AppError::Unauthorized(Unauthenticated::InvalidToken("the operator token is not valid".into())))
        }
    }
}

impl App {
    /// The booking, if `credential` is its token or a key of its provider.
    /// Refuses without a credential before looking the booking up (401),
    /// then a missing booking (404), then the wrong credential (403, or 401
    /// when it exists nowhere).
    pub(super) async fn authorize_booking(
        &self,
        booking_id: Uuid,
        credential: &Credential,
    ) -> Result<(booking::Model, Grant), AppError> {
        let secret =
            presented(credential, "this needs the booking's token or the provider's key in Authorization: Bearer")?;
        let row = booking::Entity::find_by_id(booking_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("booking {booking_id} does not exist")))?;
        if let Credential::Session(token) = credential {
            return match self.live_session(token).await? {
                session if session.provider_id == row.provider_id => Ok((row, Grant::ProviderSession)),
                _ => Err(AppError::Forbidden("the session is not one of this booking's provider".into())),
            };
        }
        // The token first: it needs no query, and a holder's request never
        // touches the provider keys.
        if secrets::matches(secret, &row.token_hash) {
            return Ok((row, Grant::BookingHolder));
        }
        match self.holder_of(secret).await? {
            Holder::ProviderKey { provider_id, .. } if provider_id == row.provider_id => Ok((row, Grant::ProviderKey)),
            holder => Err(refusal(holder, "the credential does not grant access to this booking")),
        }
    }

    /// The hold, if `credential` is its token (a hold answers to its holder
    /// only). Refuses without a credential (401), then a missing hold (404),
    /// then the wrong token (403, or 401 when it exists nowhere).
    pub(super) async fn authorize_hold(
        &self,
        hold_id: Uuid,
        credential: &Credential,
    ) -> Result<(slot_hold::Model, Grant), AppError> {
        let secret = presented(credential, "this needs the hold's token in Authorization: Bearer")?;
        if let Credential::Session(_) = credential {
            return Err(AppError::Forbidden("a hold answers to its own token only".into()));
        }
        let row = slot_hold::Entity::find_by_id(hold_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("hold {hold_id} does not exist")))?;
        if secrets::matches(secret, &row.token_hash) {
            return Ok((row, Grant::HoldHolder));
        }
        // A waitlist offer's hold also answers to its entry's token (the
        // waiting customer's page books it with that).
        if let Some(entry_id) = row.waitlist_entry_id
            && let Some(entry) = waitlist_entry::Entity::find_by_id(entry_id).one(&self.db).await?
            && secrets::matches(secret, &entry.token_hash)
        {
            return Ok((row, Grant::HoldHolder));
        }
        Err(refusal(self.holder_of(secret).await?, "the credential is not this hold's token"))
    }

    /// The waitlist entry `entry_id`, if `credential` is its token
    /// (`EntryGrant::Entry`) or the claim token of its current offer
    /// (`EntryGrant::Offer`: read it, claim or decline the offer, nothing more).
    pub(super) async fn authorize_entry(
        &self,
        entry_id: Uuid,
        credential: &Credential,
    ) -> Result<(waitlist_entry::Model, EntryGrant), AppError> {
        let secret = presented(credential, "this needs the waitlist entry's token in Authorization: Bearer")?;
        if let Credential::Session(_) = credential {
            return Err(AppError::Forbidden("a waitlist entry answers to its own token only".into()));
        }
        let row = waitlist_entry::Entity::find_by_id(entry_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("waitlist entry {entry_id} does not exist")))?;
        if secrets::matches(secret, &row.token_hash) {
            return Ok((row, EntryGrant::Entry));
        }
        if let Some(hold_id) = row.offer_hold_id
            && let Some(hold) = slot_hold::Entity::find_by_id(hold_id).one(&self.db).await?
            && secrets::matches(secret, &hold.token_hash)
        {
            return Ok((row, EntryGrant::Offer));
        }
        Err(refusal(self.holder_of(secret).await?, "the credential is not this waitlist entry's token"))
    }

    /// Succeeds if `credential` is a key of `provider_id`. Refuses a missing
    /// provider (404) before a missing credential (401), then the wrong key
    /// (403, or 401 when it exists nowhere).
    pub(super) async fn authorize_provider(
        &self,
        provider_id: Uuid,
        credential: &Credential,
    ) -> Result<Grant, AppError> {
        self.directory.get(provider_id).await?;
        let secret = presented(credential, "this needs the provider's key in Authorization: Bearer")?;
        if let Credential::Session(token) = credential {
            return match self.live_session(token).await? {
                session if session.provider_id == provider_id => Ok(Grant::ProviderSession),
                _ => Err(AppError::Forbidden("the session is not one of this provider".into())),
            };
        }
        match self.holder_of(secret).await? {
            Holder::ProviderKey { provider_id: owner, .. } if owner == provider_id => Ok(Grant::ProviderKey),
            holder => Err(refusal(holder, "the key is not a key of this provider")),
        }
    }

    /// The id of the key `credential` is, if it is a live key of
    /// `provider_id` (what a sign-in link records as its minter). A session
    /// is refused (403): a signed-in person cannot mint more sign-ins.
    pub(super) async fn authorize_provider_key(
        &self,
        provider_id: Uuid,
        credential: &Credential,
    ) -> Result<Uuid, AppError> {
        self.directory.get(provider_id).await?;
        let secret = presented(credential, "this needs the provider's key in Authorization: Bearer")?;
        if let Credential::Session(_) = credential {
            return Err(AppError::Forbidden("this needs the provider's key, not a signed-in session".into()));
        }
        match self.holder_of(secret).await? {
            Holder::ProviderKey { provider_id: owner, key_id } if owner == provider_id => Ok(key_id),
            holder => Err(refusal(holder, "the key is not a key of this provider")),
        }
    }

    /// What `secret` is, wherever it was presented: a provider's key (looked
    /// up first: it is what most requests carry), a booking's or a hold's
    /// token, or nothing at all. A key of any provider is recorded as
    /// verified, whichever provider was asked about. A revoked key is a 401
    /// (`invalid_token`): it was real, and must be replaced. Read on every
    /// request, never cached, so a revocation holds at once on every
    /// instance. Tokens are looked up by hash (indexed) only once the secret
    /// failed where it was presented.
    async fn holder_of(&self, secret: &str) -> Result<Holder, AppError> {
        let hash = secrets::hash(secret);
        let key = provider_key::Entity::find().filter(provider_key::Column::KeyHash.eq(&hash)).one(&self.db).await?;
        match key {
            Some(key) if key.revoked_at.is_some() => {
                return Err(AppError::Unauthorized(Unauthenticated::InvalidToken(
                    "this provider key was revoked".into(),
                )));
            }
            Some(key) if secrets::matches(secret, &key.key_hash) => {
                self.verified_keys.record(key.key_hash);
                return Ok(Holder::ProviderKey { provider_id: key.provider_id, key_id: key.id });
            }
            _ => {}
        }
        let booking = booking::Entity::find().filter(booking::Column::TokenHash.eq(&hash)).one(&self.db).await?;
        if booking.is_some_and(|b| secrets::matches(secret, &b.token_hash)) {
            return Ok(Holder::Other);
        }
        let hold = slot_hold::Entity::find().filter(slot_hold::Column::TokenHash.eq(&hash)).one(&self.db).await?;
        if hold.is_some_and(|h| secrets::matches(secret, &h.token_hash)) {
            return Ok(Holder::Other);
        }
        let entry =
            waitlist_entry::Entity::find().filter(waitlist_entry::Column::TokenHash.eq(&hash)).one(&self.db).await?;
        if entry.is_some_and(|e| secrets::matches(secret, &e.token_hash)) {
            return Ok(Holder::Other);
        }
        Ok(Holder::Nobody)
    }
}

/// What a waitlist entry's credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EntryGrant {
    /// The entry's own token: everything.
    Entry,
    /// The claim token of its current offer (the claim link): read the
    /// entry, book or decline the offer.
    Offer,
}

/// What a presented secret was found to be (`App::holder_of`).
enum Holder {
    /// A live key of this provider.
    ProviderKey { provider_id: Uuid, key_id: Uuid },
    /// A booking's or a hold's token.
    Other,
    /// Nothing this server issued (or an ended hold's token, since pruned).
    Nobody,
}

/// The refusal of a secret that did not reach what it was presented for:
/// a real credential of someone else is a 403 (`forbidden` says why), a
/// secret that exists nowhere is a 401 `invalid_token` (RFC 6750 §3.1), so
/// a client with a mistyped or stale token is told to get a new one rather
/// than that it lacks a permission.
fn refusal(holder: Holder, forbidden: &str) -> AppError {
    match holder {
        Holder::Nobody => AppError::Unauthorized(Unauthenticated::InvalidToken(
            "the token is not one this server issued (mistyped, cut, or no longer kept)".into(),
        )),
        Holder::ProviderKey { .. } | Holder::Other => AppError::Forbidden(forbidden.into()),
    }
}

/// The presented secret, or a 401 saying what `needs` to be presented.
fn presented<'a>(credential: &'a Credential, needs: &str) -> Result<&'a str, AppError> {
    match credential {
        Credential::Bearer(secret) | Credential::Session(secret) => Ok(secret),
        Credential::None => Err(AppError::Unauthorized(Unauthenticated::NoCredential(needs.into()))),
    }
}
