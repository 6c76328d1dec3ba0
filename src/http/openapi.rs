//! The OpenAPI document at `/openapi.json` (its route is here too),
//! generated from the handlers' annotations and the body types (utoipa),
//! never written by hand. This module imports the handlers, never the
//! reverse: the problem responses they name in their annotations live in
//! `problems`.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::HttpState;
use super::error::problem;
use super::{
    admin, agenda, availability, bookings, holds, many_providers, ops, providers, search, slots, stream, waitlist,
    webhooks,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A booking's token (`bk_…`), a hold's token (`hd_…`) or a provider's key (`pk_…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "slotstream_session",
                    "A person signed in on the provider's agenda (a sign-in link, then `POST /api/v1/provider-session`); writes need a same-origin `Origin`",
                ),
            )),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token (`--admin-token-file`); admin routes exist only with one"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "slotstream", description = "Live slot availability: ETag/304 API and per-provider Server-Sent Events"),
    paths(
        providers::list,
        availability::availability,
        stream::stream,
        many_providers::batch,
        many_providers::stream,
        search::search,
        search::suggest_services,
        bookings::create,
        bookings::read,
        bookings::calendar,
        bookings::cancel,
        bookings::reschedule,
        holds::create,
        holds::renew,
        holds::release,
        waitlist::join,
        waitlist::read,
        waitlist::leave,
        waitlist::decline,
        slots::create_slots,
        slots::block,
        slots::unblock,
        slots::block_range,
        slots::unblock_range,
        agenda::sign_in_link,
        agenda::start_session,
        agenda::current_session,
        agenda::sign_out,
        agenda::agenda,
        agenda::agenda_stream,
        webhooks::create,
        webhooks::list,
        webhooks::remove,
        webhooks::enable,
        ops::healthz,
        ops::readyz,
        ops::metrics_text,
        admin::put_provider,
        admin::get_provider,
        admin::deactivate,
        admin::reactivate,
        admin::put_service,
        admin::put_schedule,
        admin::issue_key,
        admin::list_keys,
        admin::revoke_key,
        admin::rotate_key,
        admin::post_slot_changes,
        admin::put_slots,
        admin::sign_in_link,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// `/openapi.json`, a read like the operator routes (see `http::router`).
pub fn router() -> Router<HttpState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// The OpenAPI document, serialised once per process.
async fn openapi_json() -> Response {
    match document_json() {
        Some(json) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response(),
        None => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the API description is unavailable",
        ),
    }
}

/// The document served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as JSON, built and serialised once per process: it is fixed
/// at compile time, and building it per request cost a client's every
/// request a walk over every schema. `None` if it cannot be serialised.
pub fn document_json() -> Option<Bytes> {
    static JSON: OnceLock<Option<Bytes>> = OnceLock::new();
    JSON.get_or_init(|| match serde_json::to_vec(&document()) {
        Ok(json) => Some(Bytes::from(json)),
        Err(error) => {
            tracing::error!(%error, "the OpenAPI document cannot be serialised");
            None
        }
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_serialised_once() {
        let first = document_json().expect("serialisable");
        let second = document_json().expect("serialisable");
        assert_eq!(first.as_ptr(), second.as_ptr(), "one buffer, shared");
        let parsed: serde_json::Value = serde_json::from_slice(&first).unwrap();
        assert!(parsed["paths"]["/api/v1/providers/{providerId}/availability"].is_object());
        assert!(parsed["paths"]["/readyz"]["get"]["responses"]["429"].is_object(), "ops routes have a quota");
        assert!(parsed["paths"]["/api/v1/holds"]["post"].is_object());
        assert!(parsed["paths"]["/api/v1/bookings/{bookingId}/calendar.ics"]["get"]["responses"]["200"].is_object());
        assert!(parsed["paths"]["/api/v1/availability"]["get"]["responses"]["304"].is_object());
        assert!(parsed["paths"]["/api/v1/availability/stream"]["get"].is_object());
        assert!(parsed["paths"]["/api/v1/holds/{holdId}/renew"]["post"].is_object());
        assert!(parsed["paths"]["/api/v1/holds/{holdId}"]["delete"]["responses"]["204"].is_object());
        let statuses = &parsed["components"]["schemas"]["SlotStatus"]["enum"];
        assert!(statuses.as_array().is_some_and(|s| s.contains(&"held".into())), "{statuses}");
        assert!(statuses.as_array().is_some_and(|s| s.contains(&"removed".into())), "{statuses}");
        assert!(parsed["paths"]["/api/v1/admin/providers/{externalId}/schedule"]["put"].is_object());
        assert!(parsed["components"]["securitySchemes"]["admin"].is_object());
        // A batch entry is a document, a summary or a gone provider.
        let entry = &parsed["components"]["schemas"]["BatchEntry"]["oneOf"];
        assert_eq!(entry.as_array().map(Vec::len), Some(3), "{entry}");
        for stream in ["/api/v1/availability/stream", "/api/v1/providers/{providerId}/availability/stream"] {
            assert!(parsed["paths"][stream]["get"]["responses"]["204"].is_object(), "{stream}: 204 documented");
        }
    }
}
