//! A provider's `bookingUrl` template, checked when the admin API sets it:
//! where an `external` provider's times are booked (filled in by
//! `upstream::booking_url`). It may name `{providerId}`, `{externalSlotId}`
//! and `{startsAt}`, nothing else, and must be an absolute http(s) URL, so
//! the page can follow it without ever running a `javascript:` link.

use axum::http::Uri;

use crate::app::AppError;

const PLACEHOLDERS: [&str; 3] = ["{providerId}", "{externalSlotId}", "{startsAt}"];
const TEMPLATE_MAX: usize = 2000;
/// Placeholders a template may hold in all: each fills in at most 128
/// characters, so a filled URL stays under 2,000 + 6 × 128.
const PLACEHOLDERS_MAX: usize = 6;

/// A template as the admin API takes it: an absolute `http`/`https` URL of
/// at most 2,000 characters and 6 placeholders, naming no placeholder but
/// the three.
pub(in crate::app) fn check_booking_url(template: &str) -> Result<(), AppError> {
    let invalid = |why: &str| AppError::Invalid(format!("bookingUrl {why}, got {template:?}"));
    if template.chars().count() > TEMPLATE_MAX {
        return Err(invalid(&format!("must be at most {TEMPLATE_MAX} characters")));
    }
    if PLACEHOLDERS.iter().map(|p| template.matches(p).count()).sum::<usize>() > PLACEHOLDERS_MAX {
        return Err(invalid(&format!("may hold at most {PLACEHOLDERS_MAX} placeholders")));
    }
    let mut rest = template.to_owned();
    for placeholder in PLACEHOLDERS {
        rest = rest.replace(placeholder, "x");
    }
    if rest.contains(['{', '}']) {
        return Err(invalid("may name only {providerId}, {externalSlotId} and {startsAt}"));
    }
    let uri: Uri = rest.parse().map_err(|_| invalid("must be an absolute URL"))?;
    let web = matches!(uri.scheme_str(), Some("http" | "https"));
    if !web || uri.host().is_none_or(str::is_empty) {
        return Err(invalid("must be an absolute http or https URL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_absolute_web_urls_with_known_placeholders() {
        assert!(
            check_booking_url("https://book.example.com/p/{providerId}/slots/{externalSlotId}?at={startsAt}").is_ok()
        );
        assert!(check_booking_url("http://localhost:3000/book").is_ok());
        for bad in [
            "/relative/{providerId}",
            "ftp://example.com/x",
            "https://example.com/{customerEmail}",
            "javascript:alert(1)",
            "https://exa mple.com/",
        ] {
            assert!(check_booking_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(check_booking_url(&format!("https://example.com/{}", "a".repeat(2000))).is_err());
        assert!(check_booking_url(&format!("https://example.com/{}", "{externalSlotId}".repeat(7))).is_err());
    }
}
