//! The problem responses the handlers name in their OpenAPI annotations
//! (`responses(…, ReadProblems)`): what a read, a write and an operator
//! route may answer with besides success, each a problem+json body
//! (`error::Problem`). Apart from `openapi`, so that the handlers and the
//! document both import them and `openapi` imports the handlers, never the
//! reverse. Never built: they only describe.

use utoipa::IntoResponses;

use super::error::Problem;

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
        description = "A needed slot is not available (held slots included, `slot-unavailable`), the provider's times are booked in the marketplace's booking system (`books-elsewhere`, with `bookingUrl`), a request with the same Idempotency-Key is in progress, or the resource's state refuses the change (`conflict`: a hold that has ended, expired or reached its maximum lifetime, a cancelled booking rescheduled, a revoked key rotated, a provider's 20 webhooks, a timezone change while slots lie ahead)",
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
