//! A provider's API keys: issue, list, rotate, revoke. A key is shown once,
//! when issued, and stored only as a hash (`storage::secrets`); a listing
//! never shows a secret nor a hash.
//!
//! Invariants: a revocation takes effect at once on every instance (keys
//! are checked against the database on every request, and the relay tells
//! every instance to forget it as a verified key); a rotation revokes the
//! old key and issues the new one in one transaction.

use chrono::{DateTime, Utc};
use entity::provider_key;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{check_text, existing_provider};
use crate::app::storage::sessions::{SessionsOf, end_sessions};
use crate::app::storage::unit_of_work::CatalogueWrite;
use crate::app::{App, AppError, secrets};
use crate::events::relay::{CatalogueChange, notify_catalogue};

/// A provider key as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: Uuid,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just issued: the secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub id: Uuid,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `pk_…`: send it as `Authorization: Bearer`. Stored only as a hash.
    pub key: String,
}

/// `POST …/keys` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    pub label: Option<String>,
}

fn key_view(row: &provider_key::Model) -> KeyView {
    KeyView { id: row.id, label: row.label.clone(), created_at: row.created_at, revoked_at: row.revoked_at }
}

impl App {
    /// Issue a new key for the provider (the secret is in the answer only).
    #[tracing::instrument(skip(self, request))]
    pub async fn issue_key(&self, external_id: &str, request: NewKey) -> Result<IssuedKey, AppError> {
        if let Some(label) = &request.label {
            check_text("label", label, 128)?;
        }
        let write = CatalogueWrite::begin(self).await?;
        let provider = existing_provider(&write.tx, external_id).await?;
        let issued = insert_key(&write.tx, provider.id, request.label).await?;
        write.commit().await?;
        Ok(issued)
    }

    /// The provider's keys, oldest first, revoked ones too; never a secret.
    pub async fn list_keys(&self, external_id: &str) -> Result<Vec<KeyView>, AppError> {
        let provider = existing_provider(&self.db, external_id).await?;
        keys_of(&self.db, provider.id).await
    }

    /// Revoke a key at once, on every instance (keys are checked against
    /// the database on every request). Harmless twice.
    #[tracing::instrument(skip(self))]
    pub async fn revoke_key(&self, external_id: &str, key_id: Uuid) -> Result<KeyView, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let (key, change) = revoke(&write.tx, external_id, key_id).await?;
        let app = self.clone();
        write
            .commit_then(move || {
                if let Some(change) = change {
                    app.catalogue_changed(&change);
                }
            })
            .await?;
        Ok(key_view(&key))
    }

    /// Replace a live key by a new one with the same label, in one
    /// transaction: the old key stops working as the new one starts.
    #[tracing::instrument(skip(self))]
    pub async fn rotate_key(&self, external_id: &str, key_id: Uuid) -> Result<IssuedKey, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let (old, change) = revoke(&write.tx, external_id, key_id).await?;
        let Some(change) = change else {
            return Err(AppError::StateConflict(format!("key {key_id} is already revoked")));
        };
        let issued = insert_key(&write.tx, old.provider_id, old.label).await?;
        let app = self.clone();
        write.commit_then(move || app.catalogue_changed(&change)).await?;
        Ok(issued)
    }
}

/// The provider's keys, oldest first, revoked ones too; never a secret.
pub(super) async fn keys_of(conn: &impl ConnectionTrait, provider_id: Uuid) -> Result<Vec<KeyView>, AppError> {
    let rows = provider_key::Entity::find()
        .filter(provider_key::Column::ProviderId.eq(provider_id))
        .order_by_asc(provider_key::Column::CreatedAt)
        .order_by_asc(provider_key::Column::Id)
        .all(conn)
        .await?;
    Ok(rows.iter().map(key_view).collect())
}

async fn insert_key(
    conn: &impl ConnectionTrait,
    provider_id: Uuid,
    label: Option<String>,
) -> Result<IssuedKey, AppError> {
    let key = secrets::generate("pk_");
    let row = provider_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        provider_id: Set(provider_id),
        key_hash: Set(secrets::hash(&key)),
        created_at: Set(Utc::now()),
        label: Set(label),
        revoked_at: NotSet,
    };
    let row = provider_key::Entity::insert(row).exec_with_returning(conn).await?;
    Ok(IssuedKey { id: row.id, label: row.label, created_at: row.created_at, key })
}

/// Revoke `key_id` of the provider `external_id`; the change to announce,
/// or `None` if it was revoked before.
async fn revoke(
    conn: &impl ConnectionTrait,
    external_id: &str,
    key_id: Uuid,
) -> Result<(provider_key::Model, Option<CatalogueChange>), AppError> {
    let provider = existing_provider(conn, external_id).await?;
    let key = provider_key::Entity::find_by_id(key_id)
        .filter(provider_key::Column::ProviderId.eq(provider.id))
        .one(conn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("key {key_id} does not exist for provider {external_id:?}")))?;
    if key.revoked_at.is_some() {
        return Ok((key, None));
    }
    let now = Utc::now();
    provider_key::Entity::update_many()
        .col_expr(provider_key::Column::RevokedAt, Expr::value(Some(now)))
        .filter(provider_key::Column::Id.eq(key.id))
        .exec(conn)
        .await?;
    end_sessions(conn, SessionsOf::Key(key.id)).await?;
    let change = CatalogueChange::KeyRevoked(key.key_hash.clone());
    notify_catalogue(conn, &change).await?;
    Ok((provider_key::Model { revoked_at: Some(now), ..key }, Some(change)))
}
