//! The OpenAPI document at `/openapi.json`, generated from the handlers'
//! annotations and the body types (utoipa), never written by hand.

use std::sync::OnceLock;

use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::error::Problem;
use super::{admin, availability, bookings, holds, many_providers, ops, providers, slots, stream, webhooks};

/// Problems a read may answer with.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum ReadProblems {
    #[response(status = 400, description = "Malformed id, query or header", content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem<'static>),
    #[response(status = 404, description = "No such provider", content_type = "application/problem+json")]
    NotFound(#[to_schema] Problem<'static>),
    #[response(
        status = 414,
        description = "Request target longer than 2,700 bytes (`uri-too-long`)",
        content_type = "application/problem+json"
    )]
    UriTooLong(#[to_schema] Problem<'static>),
    #[response(status = 422, description = "A parameter is out of range", content_type = "application/problem+json")]
    Invalid(#[to_schema] Problem<'static>),
    #[response(
        status = 429,
        description = "Quota used up (see Retry-After, RateLimit-Policy, RateLimit)",
        content_type = "application/problem+json"
    )]
    TooMany(#[to_schema] Problem<'static>),
    #[response(
        status = 503,
        description = "The database is unreachable (`database-unavailable`): try again after Retry-After seconds",
        content_type = "application/problem+json",
        headers(("Retry-After" = String, description = "Seconds to wait"))
    )]
    Unavailable(#[to_schema] Problem<'static>),
}

/// The problem an operator route may answer with: they count against the read quota.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum QuotaProblem {
    #[response(
        status = 429,
        description = "Read quota used up (see Retry-After, RateLimit-Policy, RateLimit)",
        content_type = "application/problem+json"
    )]
    TooMany(#[to_schema] Problem<'static>),
}

/// Problems a write may answer with.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum WriteProblems {
    #[response(status = 400, description = "Malformed id, JSON or header", content_type = "application/problem+json")]
    BadRequest(#[to_schema] Problem<'static>),
    #[response(status = 401, description = "No credential, or a token that is malformed, revoked or unknown", content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`, or `Bearer error=\"invalid_token\"` for a malformed, revoked or unknown token")))]
    Unauthorized(#[to_schema] Problem<'static>),
    #[response(
        status = 403,
        description = "A real credential (another provider's key, another booking's or hold's token) that does not grant this",
        content_type = "application/problem+json"
    )]
    Forbidden(#[to_schema] Problem<'static>),
    #[response(
        status = 404,
        description = "No such provider, service, booking, hold or slot",
        content_type = "application/problem+json"
    )]
    NotFound(#[to_schema] Problem<'static>),
    #[response(
        status = 409,
        description = "A needed slot is not available (held slots included, `slot-unavailable`), a hold has ended or cannot be renewed further, a request with the same Idempotency-Key is in progress, or the resource's state refuses the change (`conflict`: a provider's 20 webhooks, a timezone change while slots lie ahead)",
        content_type = "application/problem+json"
    )]
    Conflict(#[to_schema] Problem<'static>),
    #[response(status = 413, description = "Body too large", content_type = "application/problem+json")]
    TooLarge(#[to_schema] Problem<'static>),
    #[response(
        status = 414,
        description = "Request target longer than 2,700 bytes (`uri-too-long`)",
        content_type = "application/problem+json"
    )]
    UriTooLong(#[to_schema] Problem<'static>),
    #[response(status = 415, description = "Not JSON", content_type = "application/problem+json")]
    UnsupportedMediaType(#[to_schema] Problem<'static>),
    #[response(
        status = 422,
        description = "A field is invalid, or this client used the Idempotency-Key with another request",
        content_type = "application/problem+json"
    )]
    Invalid(#[to_schema] Problem<'static>),
    #[response(
        status = 429,
        description = "Quota used up (see Retry-After, RateLimit-Policy, RateLimit), or this client already has as many slot holds as allowed",
        content_type = "application/problem+json"
    )]
    TooMany(#[to_schema] Problem<'static>),
    #[response(
        status = 503,
        description = "The database is unreachable (`database-unavailable`): try again after Retry-After seconds",
        content_type = "application/problem+json",
        headers(("Retry-After" = String, description = "Seconds to wait"))
    )]
    Unavailable(#[to_schema] Problem<'static>),
}

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
        bookings::create,
        bookings::read,
        bookings::calendar,
        bookings::cancel,
        bookings::reschedule,
        holds::create,
        holds::renew,
        holds::release,
        slots::create_slots,
        slots::block,
        slots::unblock,
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
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

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
