//! Signing in a person, not a script: one-time links and sessions.
//!
//! A link is minted by the operator (admin API) or with a provider key (a
//! marketplace's own provider app deep-links into the agenda); its code
//! works once, for 15 minutes. Exchanged, it becomes a session whose token
//! the HTTP layer keeps in an `HttpOnly` cookie, valid for
//! `--provider-session-hours`. Codes and tokens are stored as SHA-256 only.
//!
//! A session ends when its holder signs out, when the key that minted its
//! link is revoked, or when the provider is
//! deactivated (`end_sessions`), or when its time is up. Each
//! end is announced (`SessionPolicy::ended`, and the relay's catalogue
//! notification on PostgreSQL), and open agenda streams check their
//! credential again on it, so they end at once on every instance.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{provider_session, provider_sign_in_link};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::app::catalogue::existing_provider;
use crate::app::storage::unit_of_work::CatalogueWrite;
use crate::app::storage::write_transaction::WriteTransaction;
use crate::app::{App, AppError, Credential, Unauthenticated, secrets};
use crate::events::relay::{CatalogueChange, notify_catalogue};

/// How long a sign-in link works.
const LINK_LIFETIME: TimeDelta = TimeDelta::minutes(15);

/// How long sessions last, and the signal that some session ended.
#[derive(Clone)]
pub struct SessionPolicy {
    /// `--provider-session-hours`.
    pub lifetime: TimeDelta,
    /// Says whose sessions may have ended, on any instance: a provider's (a
    /// sign-out, a deactivation), or anyone's (`None`: a revoked key, whose
    /// provider other instances are not told; notifications lost). Open
    /// agenda streams of that provider check their credential again; the
    /// others only compare an id (one read per affected stream, not per
    /// open stream). A stream that lags behind the channel checks too.
    pub ended: broadcast::Sender<Option<Uuid>>,
}

/// Session ends an agenda stream may fall behind by before it simply checks.
const ENDED_BACKLOG: usize = 256;

impl Default for SessionPolicy {
    fn default() -> SessionPolicy {
        SessionPolicy { lifetime: TimeDelta::hours(12), ended: broadcast::Sender::new(ENDED_BACKLOG) }
    }
}

impl SessionPolicy {
    /// Sessions of `provider` (or of anyone, `None`) may have ended: their
    /// open agenda streams check again. Nobody listening is fine.
    pub fn some_ended(&self, provider: Option<Uuid>) {
        let _ = self.ended.send(provider);
    }
}

/// A minted sign-in link's secret part and its end; the HTTP layer makes the URL.
#[derive(Debug)]
pub struct SignInCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// A session as the page sees it (never its token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub provider_id: Uuid,
    /// The provider's name.
    pub name: String,
    /// The provider's IANA zone, in which the agenda is shown.
    pub timezone: String,
    pub expires_at: DateTime<Utc>,
}

/// A new session: its token (for the cookie, shown once) and its view.
#[derive(Debug)]
pub struct StartedSession {
    pub token: String,
    pub view: SessionView,
}

impl App {
    /// A sign-in link for the provider `external_id`, minted by the operator.
    #[tracing::instrument(skip(self))]
    pub async fn sign_in_link_by_operator(&self, external_id: &str) -> Result<SignInCode, AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let provider = existing_provider(&write.tx, external_id).await?;
        let code = insert_link(&write.tx, provider.id, provider.active, None).await?;
        write.commit().await?;
        Ok(code)
    }

    /// A sign-in link for `provider_id`, minted with one of its keys
    /// (recorded: revoking that key ends the sessions it began).
    #[tracing::instrument(skip(self, credential))]
    pub async fn sign_in_link_by_key(
        &self,
        provider_id: Uuid,
        credential: &Credential,
    ) -> Result<SignInCode, AppError> {
        let key_id = self.authorize_provider_key(provider_id, credential).await?;
        let provider = self.directory.get(provider_id).await?;
        let write = CatalogueWrite::begin(self).await?;
        let code = insert_link(&write.tx, provider_id, provider.active, Some(key_id)).await?;
        write.commit().await?;
        Ok(code)
    }

    /// Exchange a link's code for a session: once, before the link expires,
    /// while the provider is active and the minting key is not revoked. Two
    /// exchanges of one code at once make one session (the link is marked
    /// used by a conditional update); the other is refused.
    #[tracing::instrument(skip(self, code))]
    pub async fn start_session(&self, code: &str) -> Result<StartedSession, AppError> {
        let refused = || {
            AppError::Unauthorized(Unauthenticated::InvalidToken(
                "this sign-in link is not valid: it was used, it expired, or it was never issued; ask for a new one"
                    .into(),
            ))
        };
        if code.is_empty() || code.len() > 256 {
            return Err(refused());
        }
        let link = provider_sign_in_link::Entity::find()
            .filter(provider_sign_in_link::Column::CodeHash.eq(secrets::hash(code)))
            .one(&self.db)
            .await?
            .filter(|link| secrets::matches(code, &link.code_hash))
            .ok_or_else(refused)?;
        // The provider row first (locked on PostgreSQL), then the link: the
        // order a key's revocation and a deactivation take them in, so an
        // exchange racing either waits rather than deadlocks.
        let (write, provider) = WriteTransaction::begin_on_provider(self, link.provider_id).await?;
        let provider = provider.ok_or_else(refused)?;
        let now = Utc::now();
        let used = provider_sign_in_link::Entity::update_many()
            .col_expr(provider_sign_in_link::Column::UsedAt, Expr::value(Some(now)))
            .filter(provider_sign_in_link::Column::Id.eq(link.id))
            .filter(provider_sign_in_link::Column::UsedAt.is_null())
            .filter(provider_sign_in_link::Column::ExpiresAt.gt(now))
            .exec(&write.tx)
            .await?;
        if used.rows_affected != 1 {
            return Err(refused());
        }
        if !provider.active {
            return Err(AppError::Gone(format!("provider {} is deactivated", provider.id)));
        }
        if let Some(key_id) = link.key_id {
            let key = entity::provider_key::Entity::find_by_id(key_id).one(&write.tx).await?;
            if key.is_none_or(|key| key.revoked_at.is_some()) {
                return Err(refused());
            }
        }
        let token = secrets::generate("ps_");
        let expires_at = now + self.sessions.lifetime;
        provider_session::Entity::insert(provider_session::ActiveModel {
            id: Set(Uuid::new_v4()),
            provider_id: Set(provider.id),
            token_hash: Set(secrets::hash(&token)),
            key_id: Set(link.key_id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            ended_at: Set(None),
        })
        .exec(&write.tx)
        .await?;
        write.commit().await?;
        let view =
            SessionView { provider_id: provider.id, name: provider.name, timezone: provider.timezone, expires_at };
        Ok(StartedSession { token, view })
    }

    /// The session `token` names, if it is live: 401 otherwise.
    pub async fn session(&self, token: &str) -> Result<SessionView, AppError> {
        let session = self.live_session(token).await?;
        let provider = self.directory.get(session.provider_id).await?;
        Ok(SessionView {
            provider_id: provider.id,
            name: provider.name.clone(),
            timezone: provider.timezone.name().to_owned(),
            expires_at: session.expires_at,
        })
    }

    /// End the session `token` names (signing out). Harmless twice, and
    /// for a token that names nothing.
    #[tracing::instrument(skip(self, token))]
    pub async fn end_session(&self, token: &str) -> Result<(), AppError> {
        let write = CatalogueWrite::begin(self).await?;
        let hash = secrets::hash(token);
        let Some(session) = provider_session::Entity::find()
            .filter(provider_session::Column::TokenHash.eq(&hash))
            .filter(provider_session::Column::EndedAt.is_null())
            .one(&write.tx)
            .await?
        else {
            return write.commit().await;
        };
        provider_session::Entity::update_many()
            .col_expr(provider_session::Column::EndedAt, Expr::value(Some(Utc::now())))
            .filter(provider_session::Column::Id.eq(session.id))
            .exec(&write.tx)
            .await?;
        let change = CatalogueChange::SessionEnded(session.provider_id);
        notify_catalogue(&write.tx, &change).await?;
        let app = self.clone();
        write.commit_then(move || app.catalogue_changed(&change)).await
    }

    /// The live session `token` names: not ended, not expired. 401 otherwise.
    pub(in crate::app) async fn live_session(&self, token: &str) -> Result<provider_session::Model, AppError> {
        let session = provider_session::Entity::find()
            .filter(provider_session::Column::TokenHash.eq(secrets::hash(token)))
            .one(&self.db)
            .await?
            .filter(|session| secrets::matches(token, &session.token_hash));
        match session {
            Some(session) if session.ended_at.is_none() && session.expires_at > Utc::now() => Ok(session),
            Some(_) => Err(AppError::Unauthorized(Unauthenticated::InvalidToken(
                "this session has ended; open a new sign-in link".into(),
            ))),
            None => Err(AppError::Unauthorized(Unauthenticated::InvalidToken(
                "this session is not one this server began; open a new sign-in link".into(),
            ))),
        }
    }
}

/// A new link for an active provider (410 for a deactivated one).
async fn insert_link(
    conn: &impl ConnectionTrait,
    provider_id: Uuid,
    active: bool,
    key_id: Option<Uuid>,
) -> Result<SignInCode, AppError> {
    if !active {
        return Err(AppError::Gone(format!("provider {provider_id} is deactivated: nobody can sign in to it")));
    }
    let code = secrets::generate("sl_");
    let now = Utc::now();
    let expires_at = now + LINK_LIFETIME;
    provider_sign_in_link::Entity::insert(provider_sign_in_link::ActiveModel {
        id: Set(Uuid::new_v4()),
        provider_id: Set(provider_id),
        code_hash: Set(secrets::hash(&code)),
        key_id: Set(key_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec(conn)
    .await?;
    Ok(SignInCode { code, expires_at })
}
