//! The provider's side: sign-in links, the session cookie, the private
//! agenda and its stream (DESIGN 4c, "The provider's agenda").
//! - `POST /api/v1/providers/{providerId}/sign-in-links` (the provider's key)
//!   (the operator's twin is in `admin`)
//! - `POST /api/v1/provider-session` `{ code }`: the link's code for the cookie
//! - `GET  /api/v1/provider-session`, `POST /api/v1/provider-session/sign-out`
//! - `GET  /api/v1/providers/{providerId}/agenda?date=&days=`
//! - `GET  /api/v1/providers/{providerId}/agenda/stream`
//!
//! Handlers parse, call one application function and map its answer; the
//! cookie's name and attributes belong to `session_cookie`, the frames to
//! `events::sse`.

use std::net::SocketAddr;

use axum::Extension;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query, resume_point};
use super::problems::WriteProblems;
use super::session_cookie;
use super::stream::{Heartbeat, event_stream, never_serves, stream_permit, unless_gone};
use crate::app::{AgendaBody, AgendaDelivery, AppError, Credential, SessionView, SignInCode, Unauthenticated, sse};

/// Minting links and the session's writes: the write quota.
pub fn write_router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/providers/{provider_id}/sign-in-links", post(sign_in_link))
        .route("/api/v1/provider-session", post(start_session).get(current_session))
        .route("/api/v1/provider-session/sign-out", post(sign_out))
}

/// The agenda: the read quota.
pub fn read_router() -> Router<HttpState> {
    Router::new().route("/api/v1/providers/{provider_id}/agenda", get(agenda))
}

/// The agenda stream: the stream quota and caps.
pub fn stream_router() -> Router<HttpState> {
    Router::new().route("/api/v1/providers/{provider_id}/agenda/stream", get(agenda_stream))
}

/// A sign-in link: open it to sign in, once, before `expiresAt`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInLink {
    /// `<origin>/provider.html#code=…`: the code rides in the fragment, which
    /// browsers never send to a server (no log, proxy or `Referer` sees it).
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// The origin a sign-in link starts with: `--public-url`, else the one the
/// request named. A request with no well-formed `Host` (and no
/// `--public-url`) gets a 400 and no link is made: a link must never point
/// at whatever a `Host` header said (the password-reset poisoning pattern).
pub(super) fn link_origin(parts: &Parts, state: &HttpState) -> Result<String, ApiError> {
    state.settings.public_url.clone().or_else(|| session_cookie::own_origin(parts, state)).ok_or_else(|| {
        ApiError::BadRequest("the request names no well-formed Host to build the link on; set --public-url".into())
    })
}

/// The answer that hands out a link for `code` on `origin`.
pub(super) fn link_answer(origin: &str, code: SignInCode) -> Response {
    let url = format!("{origin}/provider.html#code={}", code.code);
    let mut response =
        (StatusCode::CREATED, axum::Json(SignInLink { url, expires_at: code.expires_at })).into_response();
    // It is a credential: no cache keeps it.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A one-time sign-in link for a person at the provider's front desk (the provider's key).
#[utoipa::path(post, path = "/api/v1/providers/{providerId}/sign-in-links", tag = "agenda", security(("bearer" = [])),
    params(("providerId" = Uuid, Path)), responses((status = 201, body = SignInLink), WriteProblems))]
pub(super) async fn sign_in_link(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let credential = super::extract::Bearer::from_headers(&parts.headers)?.0;
    let origin = link_origin(&parts, &state)?;
    let code = state.app.sign_in_link_by_key(provider_id, &credential).await?;
    Ok(link_answer(&origin, code))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SignIn {
    /// The code from the sign-in link's fragment.
    code: String,
}

/// Exchange a sign-in link's code for the session cookie (once).
#[utoipa::path(post, path = "/api/v1/provider-session", tag = "agenda", request_body = SignIn,
    responses((status = 201, body = SessionView, headers(("Set-Cookie" = String, description = "The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS"))), WriteProblems))]
pub(super) async fn start_session(
    State(state): State<HttpState>,
    parts: Parts,
    Json(request): Json<SignIn>,
) -> Result<Response, ApiError> {
    // A page of another origin must not sign a browser in (to an agenda of its choosing).
    if parts.headers.contains_key(header::ORIGIN) {
        session_cookie::require_same_origin(&parts, &state)?;
    }
    let started = state.app.start_session(request.code.trim()).await?;
    let cookie =
        session_cookie::set(&started.token, state.app.sessions.lifetime, session_cookie::is_https(&parts, &state));
    let mut response = (StatusCode::CREATED, axum::Json(started.view)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Who this browser is signed in as (the session cookie): 401 when nobody.
#[utoipa::path(get, path = "/api/v1/provider-session", tag = "agenda",
    responses((status = 200, body = SessionView), WriteProblems))]
pub(super) async fn current_session(State(state): State<HttpState>, parts: Parts) -> Result<Response, ApiError> {
    let token = session_cookie::token(&parts, &state).ok_or_else(|| {
        ApiError::App(AppError::Unauthorized(Unauthenticated::NoCredential(
            "nobody is signed in here: open a sign-in link".into(),
        )))
    })?;
    let view = state.app.session(&token).await?;
    Ok(([(header::CACHE_CONTROL, "private, no-store")], axum::Json(view)).into_response())
}

/// Sign out: the session ends on every instance, its streams with it. Harmless twice.
#[utoipa::path(post, path = "/api/v1/provider-session/sign-out", tag = "agenda",
    responses((status = 204, description = "Signed out; the cookie is cleared"), WriteProblems))]
pub(super) async fn sign_out(
    State(state): State<HttpState>,
    Caller(credential): Caller,
    parts: Parts,
) -> Result<Response, ApiError> {
    if let Credential::Session(token) = &credential {
        state.app.end_session(token).await?;
    }
    let clear = session_cookie::clear(session_cookie::is_https(&parts, &state));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AgendaParams {
    /// The first day (default: today in the provider's zone).
    date: Option<NaiveDate>,
    /// Days from `date` (1 to 31, default 1).
    #[param(minimum = 1, maximum = 31)]
    days: Option<u32>,
}

/// The provider's private agenda: each booking's customer and service, the holds in progress.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/agenda", tag = "agenda", security(("bearer" = []), ("session" = [])),
    params(("providerId" = Uuid, Path), AgendaParams), responses((status = 200, body = AgendaBody), WriteProblems))]
pub(super) async fn agenda(
    State(state): State<HttpState>,
    Path(provider_id): Path<Uuid>,
    Query(params): Query<AgendaParams>,
    Caller(credential): Caller,
) -> Result<Response, ApiError> {
    let body = state.app.agenda(provider_id, params.date, params.days, &credential).await?;
    // Customer data: no shared cache, no browser cache.
    Ok(([(header::CACHE_CONTROL, "private, no-store")], axum::Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AgendaStreamParams {
    /// Resume after this version (for clients that cannot send `Last-Event-ID`).
    last_event_id: Option<String>,
}

/// The agenda stream: `slot-changed`, `booking-created`, `booking-cancelled` (`by`, `reason`),
/// `booking-rescheduled`; ids are the provider's versions; `session-ended` when the credential ends.
#[utoipa::path(get, path = "/api/v1/providers/{providerId}/agenda/stream", tag = "agenda", security(("bearer" = []), ("session" = [])),
    params(("providerId" = Uuid, Path), AgendaStreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this version")),
    responses((status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 204, description = "The provider was deactivated: stop reconnecting"), WriteProblems))]
pub(super) async fn agenda_stream(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(provider_id): Path<Uuid>,
    Query(params): Query<AgendaStreamParams>,
    Caller(credential): Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = resume_point(&headers, params.last_event_id.as_deref());
    let permit = match stream_permit(&state, peer, &headers) {
        Ok(permit) => permit,
        Err(refused) => return Ok(refused.into_response()),
    };
    let Some(deliveries) = unless_gone(Box::pin(state.app.agenda_changes(provider_id, resume, &credential)).await)?
    else {
        return Ok(never_serves());
    };
    let render = move |delivery: AgendaDelivery| {
        Some(match delivery {
            AgendaDelivery::Slot { event, with_id: true } => event.frame.clone(),
            AgendaDelivery::Slot { event, with_id: false } => sse::without_id(&event.frame),
            AgendaDelivery::Booking { version, kind, data } => sse::booking(version, &kind, &data),
            AgendaDelivery::Reset { version } => sse::reset(version),
            AgendaDelivery::ProviderEnded => sse::deactivated(provider_id),
            AgendaDelivery::SessionEnded => sse::SESSION_ENDED,
        })
    };
    // A visible heartbeat: a front-desk page open all day must notice a
    // connection that went silent (a comment never reaches its script).
    let mut response = event_stream(&state, permit, peer, deliveries, render, Heartbeat::Event);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache, no-transform"));
    Ok(response)
}
