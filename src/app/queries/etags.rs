//! The availability document's strong ETag: written from (provider,
//! version, query), and read back to learn which version a client holds.
//!
//! Format, kept across upgrades because clients and caches hold tags:
//! `<12 hex of the provider>-<version>-<YYYYMMDD>-<days>` (an encoded
//! representation's tag carries a suffix after the days). Equal tags mean
//! byte-equal bodies (the document carries its version); any change means
//! a new tag. Written by hand, without `format!`, because the 304 path
//! writes one per request.

use chrono::{Datelike, NaiveDate};
use etag::EntityTag;
use uuid::Uuid;

/// The strong tag of `provider_id`'s document at `version` for the query.
pub(super) fn entity_tag(provider_id: Uuid, version: i64, start: NaiveDate, days: u32) -> EntityTag {
    // Short on purpose: the etag crate truncates tags over 62 bytes. Put
    // together by hand: this runs on every 304, and `format!` cost more
    // than the rest of the tag's work.
    let mut owner = [0; 32];
    let mut tag = String::with_capacity(48);
    for part in [tag_owner(provider_id, &mut owner), "-", itoa::Buffer::new().format(version), "-"] {
        tag.push_str(part);
    }
    tag.push_str(TagDate::of(start).as_str());
    tag.push('-');
    tag.push_str(itoa::Buffer::new().format(days));
    EntityTag::strong(&tag)
}

/// The provider part of our tags: the first 12 hex digits of its id.
fn tag_owner(provider_id: Uuid, buffer: &mut [u8; 32]) -> &str {
    &provider_id.simple().encode_lower(buffer)[..12]
}

/// A date as our tags write it, `YYYYMMDD`, formatted on the stack: this
/// runs on every 304, and chrono's `format` parses its pattern each call.
struct TagDate([u8; 8]);

impl TagDate {
    fn of(date: NaiveDate) -> TagDate {
        // Dates served lie within a few years of today: four-digit years.
        let mut n = date.year().clamp(0, 9999) as u32 * 10_000 + date.month() * 100 + date.day();
        let mut digits = [b'0'; 8];
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        TagDate(digits)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The version a tag of ours names, if it is a tag of this query (an
/// encoded representation's tag carries a suffix after the days).
pub(super) fn tag_version(tag: &EntityTag, provider_id: Uuid, start: NaiveDate, days: u32) -> Option<i64> {
    let mut owner = [0; 32];
    let mut parts = tag.tag().split('-');
    let (owner_part, version, date, count) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let same_days = count.bytes().all(|b| b.is_ascii_digit()) && !count.starts_with('0') && count.parse() == Ok(days);
    let ours = owner_part == tag_owner(provider_id, &mut owner) && date == TagDate::of(start).as_str() && same_days;
    if !ours {
        return None;
    }
    version.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_their_version_only_for_their_own_query() {
        let provider = Uuid::new_v4();
        let start = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let tag = entity_tag(provider, 41, start, 7);
        assert_eq!(tag_version(&tag, provider, start, 7), Some(41));
        let encoded = EntityTag::strong(&format!("{}-br", tag.tag()));
        assert_eq!(tag_version(&encoded, provider, start, 7), Some(41));
        assert_eq!(tag_version(&tag, provider, start, 8), None);
        assert_eq!(tag_version(&tag, Uuid::new_v4(), start, 7), None);
        assert_eq!(tag_version(&EntityTag::strong("garbage"), provider, start, 7), None);
        let owner = &provider.simple().to_string()[..12];
        for other_days in ["07", "+7", "7x"] {
            let tag = EntityTag::strong(&format!("{owner}-41-20261201-{other_days}"));
            assert_eq!(tag_version(&tag, provider, start, 7), None, "{other_days}");
        }
    }

    /// Clients and caches hold tags across upgrades: the format stays
    /// `<12 hex of the provider>-<version>-<YYYYMMDD>-<days>`.
    #[test]
    fn tags_keep_their_format() {
        let provider = Uuid::parse_str("43e251b3-bdc3-4116-8d1c-a28583e27f06").unwrap();
        for (date, text) in [((2026, 11, 28), "20261128"), ((2027, 1, 5), "20270105"), ((999, 3, 9), "09990309")] {
            let start = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
            assert_eq!(entity_tag(provider, 816, start, 7).tag(), format!("43e251b3bdc3-816-{text}-7"));
            assert_eq!(start.format("%Y%m%d").to_string(), text, "as chrono writes it");
        }
    }
}
