//! Webhook subscriptions (DESIGN 4b), managed with the provider's key (never
//! a signed-in session: a receiver outlives the session and would carry
//! customer data to wherever the person at the desk pointed it): add
//! (the signing secret is shown once), list, remove, re-enable after the
//! sender gave up; and which receivers a webhook may reach (`target`, the
//! SSRF guard, used here when a subscription is added and by the delivery
//! in `crate::webhooks` on every connection). What a webhook carries (the
//! event types, the booking change) lives lower, in `events::webhook_event`;
//! the delivery lives above this layer, in `crate::webhooks`.
//!
//! Customer data: a booking event carries the customer's name and email.
//! The customer gave them to book with this provider, and the provider's key
//! already reaches the booking; the marketplace's back end that holds that
//! key is the party that sends the reminder and takes the payment, so it is
//! entitled to them. Slot events (`slot.changed`) never carry customer data
//! or booking ids, as on the public stream. A subscription only ever gets its
//! own provider's events.

use base64::Engine;
use chrono::{DateTime, Utc};
use entity::webhook_subscription;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod target;

use super::storage::unit_of_work::UnitOfWork;
use super::storage::write_transaction::WriteTransaction;
use super::{App, AppError, Credential};
use crate::events::{EventType, Lane, event_types};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWebhook {
    /// `https://` (or `http://`) URL of the receiver; it must resolve to
    /// public addresses only, unless the server runs with `--webhook-allow-private`.
    #[schema(max_length = 2048)]
    pub url: String,
    /// Event types to deliver (default: all of them).
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A subscription as its provider sees it. `secret` only in the answer that created it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `active` or `failing`.
    #[schema(value_type = String)]
    pub status: webhook_subscription::Status,
    /// The Standard Webhooks signing secret (`whsec_…`), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Failed attempts at the next event to deliver.
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn view(row: &webhook_subscription::Model) -> WebhookView {
    WebhookView {
        id: row.id,
        url: row.url.clone(),
        events: event_types(&row.events).into_iter().map(|t| t.as_str().to_owned()).collect(),
        status: row.status,
        secret: None,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        failing_since: row.failing_since,
        last_error: row.last_error.clone(),
        created_at: row.created_at,
    }
}

const URL_MAX: usize = 2048;
/// Subscriptions one provider may have: each is a sender's worth of work.
const PER_PROVIDER_MAX: u64 = 20;

/// Check a receiver URL: http(s), a host, no credentials in it, and (unless
/// `allow_private`) only public addresses behind the host.
pub async fn check_url(url: &str, allow_private: bool) -> Result<hyper::Uri, AppError> {
    let invalid = |why: &str| AppError::Invalid(format!("url {why}"));
    if url.len() > URL_MAX {
        return Err(invalid(&format!("must be at most {URL_MAX} characters")));
    }
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("must be an absolute http:// or https:// URL"))?;
    let port = match uri.scheme_str() {
        Some("https") => uri.port_u16().unwrap_or(443),
        Some("http") => uri.port_u16().unwrap_or(80),
        _ => return Err(invalid("must be an absolute http:// or https:// URL")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("must name a host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("must not carry credentials"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(invalid("must name a host"));
    }
    target::resolve(host, port, allow_private).await.map_err(|e| AppError::Invalid(format!("url refused: {e}")))?;
    Ok(uri)
}

/// A new Standard Webhooks secret: 32 random bytes, `whsec_` + base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl App {
    /// Add a receiver for `provider_id`'s events from now on.
    #[tracing::instrument(skip(self, request, credential))]
    pub async fn create_webhook(
        &self,
        provider_id: Uuid,
        request: NewWebhook,
        credential: &Credential,
    ) -> Result<WebhookView, AppError> {
        self.authorize_provider_key(provider_id, credential).await?;
        let events = match &request.events {
            None => EventType::ALL.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(AppError::Invalid("events must name at least one event type".into()));
            }
            Some(names) => names
                .iter()
                .map(|name| {
                    EventType::parse(name).ok_or_else(|| {
                        let known: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                        AppError::Invalid(format!("events: unknown type {name:?}; known: {}", known.join(", ")))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        check_url(&request.url, self.webhooks.allow_private).await?;
        let mut stored: Vec<&str> = Vec::new();
        for t in &events {
            if !stored.contains(&t.as_str()) {
                stored.push(t.as_str());
            }
        }
        let secret = new_secret();
        // Count and insert in one transaction that holds the provider (its
        // row locked on PostgreSQL, the single writer on SQLite): parallel
        // creates see each other's rows, so the cap is exact.
        let work = UnitOfWork::begin(self, provider_id).await?;
        work.require_active()?;
        let existing = webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::ProviderId.eq(provider_id))
            .count(&work.tx)
            .await?;
        if existing >= PER_PROVIDER_MAX {
            return Err(AppError::StateConflict(format!("a provider may have at most {PER_PROVIDER_MAX} webhooks")));
        }
        // From now on: everything up to the provider's committed version
        // (read under the lock) is behind the cursor, the booking event of
        // that version included.
        let version = work.next_version();
        let row = webhook_subscription::ActiveModel {
            id: Set(Uuid::new_v4()),
            provider_id: Set(provider_id),
            url: Set(request.url.clone()),
            events: Set(stored.join(",")),
            secret: Set(secret.clone()),
            status: Set(webhook_subscription::Status::Active),
            cursor: Set(Lane::past(version)),
            attempts: Set(0),
            next_attempt_at: Set(None),
            failing_since: Set(None),
            last_error: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&work.tx)
        .await?;
        work.commit(self).await?;
        Ok(WebhookView { secret: Some(secret), ..view(&row) })
    }

    /// The provider's subscriptions, oldest first, without secrets.
    pub async fn list_webhooks(
        &self,
        provider_id: Uuid,
        credential: &Credential,
    ) -> Result<Vec<WebhookView>, AppError> {
        self.authorize_provider_key(provider_id, credential).await?;
        let rows = webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::ProviderId.eq(provider_id))
            .order_by_asc(webhook_subscription::Column::CreatedAt)
            .order_by_asc(webhook_subscription::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows.iter().map(view).collect())
    }

    /// Remove a subscription: nothing more is sent to it.
    pub async fn delete_webhook(
        &self,
        provider_id: Uuid,
        webhook_id: Uuid,
        credential: &Credential,
    ) -> Result<(), AppError> {
        self.authorize_provider_key(provider_id, credential).await?;
        let write = WriteTransaction::begin(self).await?;
        require_active(&write.tx, provider_id).await?;
        let deleted = webhook_subscription::Entity::delete_many()
            .filter(webhook_subscription::Column::Id.eq(webhook_id))
            .filter(webhook_subscription::Column::ProviderId.eq(provider_id))
            .exec(&write.tx)
            .await?
            .rows_affected;
        write.commit().await?;
        match deleted {
            0 => Err(AppError::NotFound(format!("webhook {webhook_id} does not exist"))),
            _ => {
                self.gauges.webhook_deleted(webhook_id);
                Ok(())
            }
        }
    }

    /// Re-enable a subscription (after it was marked failing): delivery
    /// resumes at once from where it stopped, with a fresh retry budget.
    pub async fn enable_webhook(
        &self,
        provider_id: Uuid,
        webhook_id: Uuid,
        credential: &Credential,
    ) -> Result<WebhookView, AppError> {
        self.authorize_provider_key(provider_id, credential).await?;
        let write = WriteTransaction::begin(self).await?;
        require_active(&write.tx, provider_id).await?;
        webhook_subscription::Entity::update_many()
            .col_expr(webhook_subscription::Column::Status, Expr::value(webhook_subscription::Status::Active))
            .col_expr(webhook_subscription::Column::Attempts, Expr::value(0))
            .col_expr(webhook_subscription::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(webhook_subscription::Column::FailingSince, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(webhook_subscription::Column::Id.eq(webhook_id))
            .filter(webhook_subscription::Column::ProviderId.eq(provider_id))
            .exec(&write.tx)
            .await?;
        let row = webhook_subscription::Entity::find_by_id(webhook_id)
            .filter(webhook_subscription::Column::ProviderId.eq(provider_id))
            .one(&write.tx)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("webhook {webhook_id} does not exist")))?;
        write.commit().await?;
        self.webhooks.wake.notify_one();
        Ok(view(&row))
    }
}

/// `Gone` (410) if the provider is deactivated: its key changes nothing
/// (reads through it still work). Read in the write's transaction; these
/// writes touch no slot and take no provider lock.
async fn require_active(db: &impl sea_orm::ConnectionTrait, provider_id: Uuid) -> Result<(), AppError> {
    let row = entity::provider::Entity::find_by_id(provider_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("provider {provider_id} does not exist")))?;
    if row.active {
        Ok(())
    } else {
        Err(AppError::Gone(format!("provider {provider_id} is deactivated and takes no changes")))
    }
}

/// Settings of the webhook feature the application needs (the sender has its own).
#[derive(Clone, Default)]
pub struct WebhookPolicy {
    /// `--webhook-allow-private`: private and loopback receivers allowed.
    pub allow_private: bool,
    /// Woken after every commit, so the sender does not wait for its next poll.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}
