//! Ending provider sessions (the agenda's sign-ins) in the transaction of
//! what ends them: a key's revocation (the sessions that key's links began)
//! or a provider's deactivation (all of them); and pruning the ended ones. Here, below both the
//! catalogue (which revokes and deactivates) and the agenda (which begins
//! sessions), so neither imports the other.

use chrono::{DateTime, Utc};
use entity::{provider_session, provider_sign_in_link};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::app::AppError;

/// Whose sessions end: those a key began (its revocation), or every one of
/// a provider (its deactivation).
#[derive(Clone, Copy, Debug)]
pub(in crate::app) enum SessionsOf {
    Key(Uuid),
    Provider(Uuid),
}

/// End the sessions, and spoil the unused links, of `whose`: in the
/// revocation's or the deactivation's own transaction.
pub(in crate::app) async fn end_sessions(conn: &impl ConnectionTrait, whose: SessionsOf) -> Result<(), AppError> {
    let now = Utc::now();
    let (session_owner, link_owner) = match whose {
        SessionsOf::Key(id) => (provider_session::Column::KeyId.eq(id), provider_sign_in_link::Column::KeyId.eq(id)),
        SessionsOf::Provider(id) => {
            (provider_session::Column::ProviderId.eq(id), provider_sign_in_link::Column::ProviderId.eq(id))
        }
    };
    provider_session::Entity::update_many()
        .col_expr(provider_session::Column::EndedAt, Expr::value(Some(now)))
        .filter(session_owner)
        .filter(provider_session::Column::EndedAt.is_null())
        .exec(conn)
        .await?;
    provider_sign_in_link::Entity::update_many()
        .col_expr(provider_sign_in_link::Column::ExpiresAt, Expr::value(now))
        .filter(link_owner)
        .filter(provider_sign_in_link::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// Delete the sign-in links that expired, and the sessions that ended or
/// expired, before `before` (history pruning): nothing refers to them.
pub(in crate::app) async fn prune(conn: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<(), AppError> {
    provider_sign_in_link::Entity::delete_many()
        .filter(provider_sign_in_link::Column::ExpiresAt.lt(before))
        .exec(conn)
        .await?;
    provider_session::Entity::delete_many()
        .filter(
            Condition::any()
                .add(provider_session::Column::ExpiresAt.lt(before))
                .add(provider_session::Column::EndedAt.lt(before)),
        )
        .exec(conn)
        .await?;
    Ok(())
}
