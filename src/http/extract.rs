//! Extractors that turn bad input into the app's problem+json, and parsers
//! for the headers the API reads (`Authorization`, `Idempotency-Key`,
//! `If-None-Match`, `Last-Event-ID`), each defensive about size and syntax.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use etag::EntityTag;

use super::error::ApiError;
use super::{HttpState, session_cookie};
use crate::app::{AppError, Credential, Resume, Unauthenticated};

/// `axum::Json` with problem+json rejections.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// An optional JSON body: an empty body gets `T::default()`, whatever its
/// `Content-Type` says (clients that always send `application/json` send it
/// with nothing too); anything else is read as [`Json`] (its rejections).
pub struct OptionalJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<OptionalJson<T>, ApiError> {
        let (parts, body) = request.into_parts();
        // Read as `Bytes` does: within the router's `DefaultBodyLimit` (413 beyond).
        let whole = axum::extract::Request::from_parts(parts.clone(), body);
        let bytes = bytes::Bytes::from_request(whole, state)
            .await
            .map_err(|rejection| ApiError::Rejected { status: rejection.status(), detail: rejection.body_text() })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let Json(body) = Json::<T>::from_request(request, state).await?;
        Ok(OptionalJson(body))
    }
}

/// `axum::extract::Path` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` with problem+json rejections.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Longest secret we bother to hash.
const SECRET_MAX: usize = 256;

/// The caller's credential: `Authorization: Bearer <secret>`, or else the
/// provider session's cookie (`session_cookie`). A write presenting the
/// cookie alone must come from this server's own origin (or an allowed
/// CORS origin), or it is refused (403) before the handler runs.
pub struct Caller(pub Credential);

impl FromRequestParts<HttpState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Caller, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Bearer::from_headers(&parts.headers).map(|Bearer(credential)| Caller(credential));
        }
        let Some(token) = session_cookie::token(parts, state) else {
            return Ok(Caller(Credential::None));
        };
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            session_cookie::require_same_origin(parts, state)?;
        }
        Ok(Caller(Credential::Session(token)))
    }
}

/// The `Authorization: Bearer <secret>` credential alone, if any (the
/// admin API, which no cookie reaches).
pub struct Bearer(pub Credential);

impl Bearer {
    /// The credential of `headers`: none, a Bearer token, or a 401 for a
    /// header we cannot use.
    pub fn from_headers(headers: &HeaderMap) -> Result<Bearer, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Ok(Bearer(Credential::None));
        };
        let refuse = |reason: fn(String) -> Unauthenticated| {
            ApiError::App(AppError::Unauthorized(reason("Authorization must be `Bearer <token>`".into())))
        };
        // Another scheme is no credential for us; a Bearer token we cannot
        // use is an invalid one (RFC 6750 §3.1), told apart in the challenge.
        let token = bearer_token(value.as_bytes()).ok_or_else(|| refuse(Unauthenticated::NoCredential))?;
        // Visible ASCII, spaces and tabs, as `HeaderValue::to_str` accepts.
        let secret = std::str::from_utf8(token)
            .ok()
            .filter(|t| t.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= SECRET_MAX)
            .ok_or_else(|| refuse(Unauthenticated::InvalidToken))?;
        Ok(Bearer(Credential::Bearer(secret.to_owned())))
    }
}

/// The credential of an `Authorization` value in the `Bearer` scheme, as
/// sent (untrimmed, unchecked); `None` for another scheme. The scheme is
/// case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
/// The one reader of the scheme: the extractor above and the rate limiter's
/// client identity (`limits::identity`) must agree on who sent a key.
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(b"Bearer ".len())?;
    scheme.eq_ignore_ascii_case(b"Bearer ").then_some(token)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<IdempotencyKey, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()))?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// A parsed `If-None-Match`: `*` or a list of entity tags.
#[derive(Debug, Default)]
pub enum IfNoneMatch {
    #[default]
    Absent,
    Any,
    Tags(Vec<EntityTag>),
}

/// At most this many tags are read from one `If-None-Match`.
const INM_TAGS_MAX: usize = 32;

impl IfNoneMatch {
    /// Parse per RFC 9110 §13.1.2. A malformed header is ignored (treated as
    /// absent), as the RFC lets a server do; the client then gets a 200.
    pub fn from_headers(headers: &HeaderMap) -> IfNoneMatch {
        let mut tags = Vec::new();
        for value in headers.get_all(header::IF_NONE_MATCH) {
            let Ok(value) = value.to_str() else { return IfNoneMatch::Absent };
            if value.trim() == "*" {
                return IfNoneMatch::Any;
            }
            for item in split_tags(value) {
                match item.parse::<EntityTag>() {
                    Ok(tag) if tags.len() < INM_TAGS_MAX => tags.push(tag),
                    Ok(_) => break,
                    Err(_) => return IfNoneMatch::Absent,
                }
            }
        }
        if tags.is_empty() { IfNoneMatch::Absent } else { IfNoneMatch::Tags(tags) }
    }

    /// No `If-None-Match` was sent (or it was malformed and is ignored).
    pub fn is_absent(&self) -> bool {
        matches!(self, IfNoneMatch::Absent)
    }

    /// The tags listed (none for `*`).
    pub fn tags(&self) -> &[EntityTag] {
        match self {
            IfNoneMatch::Tags(tags) => tags,
            _ => &[],
        }
    }

    /// Weak comparison, as RFC 9110 requires for `If-None-Match`, against
    /// `current` and its compressed representations' tags.
    pub fn matches(&self, current: &EntityTag) -> bool {
        self.matching(current).is_some()
    }

    /// The tag the client sent that names `current` or one of its encoded
    /// representations (`"T-gzip"`, see `http::compression`): the one a 304
    /// should carry, as it names what the client holds. `*` holds `current`.
    pub fn matching(&self, current: &EntityTag) -> Option<EntityTag> {
        match self {
            IfNoneMatch::Absent => None,
            IfNoneMatch::Any => Some(current.clone()),
            IfNoneMatch::Tags(tags) => tags.iter().find(|t| names_representation_of(t, current)).cloned(),
        }
    }
}

/// Is `held` (weakly) `current`, or `current` with an encoding's suffix?
fn names_representation_of(held: &EntityTag, current: &EntityTag) -> bool {
    held.weak_eq(current)
        || held
            .tag()
            .strip_prefix(current.tag())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|encoding| super::compression::ENCODINGS.contains(&encoding))
}

/// Split a comma-separated list of entity tags; commas inside quotes belong to the tag.
fn split_tags(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, ch) in value.char_indices() {
        match ch {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                items.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(value[start..].trim());
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Where a single-provider stream resumes. The `Last-Event-ID` header (what
/// an EventSource sends on reconnecting) wins over `query` (`?lastEventId=`);
/// neither, or an empty one, is `Live`. One that is not a version
/// (`parse_version`), non-UTF-8 bytes included, is `Unknown`: the client
/// holds some position and would silently miss every change since it if the
/// stream just went live, so it gets the `reset` of a version never issued.
pub fn resume_point(headers: &HeaderMap, query: Option<&str>) -> Resume {
    let text = match headers.get("last-event-id") {
        Some(value) => match value.to_str() {
            Ok(text) => text,
            Err(_) => return Resume::Unknown,
        },
        None => query.unwrap_or(""),
    };
    if text.trim().is_empty() {
        return Resume::Live;
    }
    parse_version(text).map_or(Resume::Unknown, Resume::After)
}

/// A version: a non-negative integer of at most 18 digits (so it fits an
/// `i64`), surrounding spaces allowed.
pub fn parse_version(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn inm(value: &str) -> IfNoneMatch {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        IfNoneMatch::from_headers(&headers)
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let current = EntityTag::strong("abc-4");
        assert!(inm("\"abc-4\"").matches(&current));
        assert!(inm("W/\"abc-4\"").matches(&current), "weak comparison");
        assert!(inm("\"x\", \"abc-4\"").matches(&current));
        assert!(inm("*").matches(&current));
        assert!(!inm("\"abc-3\"").matches(&current));
        assert!(!inm("abc-4").matches(&current), "unquoted is malformed");
        assert!(!inm("\"a,b\"").matches(&current));
        assert!(!inm("").matches(&current));
    }

    #[test]
    fn if_none_match_names_the_encoded_representation_held() {
        let current = EntityTag::strong("abc-4");
        assert_eq!(inm("\"abc-4-gzip\"").matching(&current), Some(EntityTag::strong("abc-4-gzip")));
        assert_eq!(inm("\"x\", \"abc-4-br\"").matching(&current), Some(EntityTag::strong("abc-4-br")));
        assert_eq!(inm("\"abc-4\"").matching(&current), Some(current.clone()));
        assert_eq!(inm("*").matching(&current), Some(current.clone()));
        assert!(!inm("\"abc-4-zip\"").matches(&current), "unknown encoding");
        assert!(!inm("\"abc-4gzip\"").matches(&current));
        assert!(!inm("\"abc-3-gzip\"").matches(&current), "older version");
        assert!(!inm("\"abc-4-gzip\"").matches(&EntityTag::strong("abc-40")), "a prefix is not a version");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer pk_1", "bearer pk_1", "BEARER pk_1", "bEaReR pk_1"] {
            assert_eq!(bearer_token(value.as_bytes()), Some(&b"pk_1"[..]), "{value}");
        }
        for value in ["Basic pk_1", "Bearerpk_1", "Bearer", "", "Bearer\tpk_1"] {
            assert_eq!(bearer_token(value.as_bytes()), None, "{value}");
        }
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(parse_version("41"), Some(41));
        assert_eq!(parse_version(" 7 "), Some(7));
        assert_eq!(parse_version("-1"), None);
        assert_eq!(parse_version("1e3"), None);
        assert_eq!(parse_version("9999999999999999999999"), None);
    }

    fn resume(header: Option<&[u8]>, query: Option<&str>) -> Resume {
        let mut headers = HeaderMap::new();
        if let Some(value) = header {
            headers.insert("last-event-id", HeaderValue::from_bytes(value).unwrap());
        }
        resume_point(&headers, query)
    }

    #[test]
    fn a_resume_point_that_is_not_a_version_is_unknown() {
        assert_eq!(resume(None, None), Resume::Live);
        assert_eq!(resume(Some(b" "), None), Resume::Live);
        assert_eq!(resume(None, Some("")), Resume::Live);
        assert_eq!(resume(Some(b"41"), Some("7")), Resume::After(41), "the header wins");
        assert_eq!(resume(None, Some("7")), Resume::After(7));
        for garbage in ["abc", "-1", "1e3", "813,1", "1234567890123456789"] {
            assert_eq!(resume(Some(garbage.as_bytes()), None), Resume::Unknown, "{garbage}");
            assert_eq!(resume(None, Some(garbage)), Resume::Unknown, "{garbage}");
        }
        assert_eq!(resume(Some(b"\xff1"), None), Resume::Unknown, "not UTF-8");
        assert_eq!(resume(Some(b"abc"), Some("7")), Resume::Unknown, "a bad header is not rescued by the query");
    }
}
