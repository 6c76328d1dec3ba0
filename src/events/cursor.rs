//! The many-providers cursor: the `id:` of every event of a multi-provider
//! stream and the `cursor` of the batch availability GET. The one owner of
//! its format; everything else treats it as an opaque string.
//!
//! It names one position (a version) per provider of the list it was made
//! for, in the list's order. Layout, base64url without padding:
//! `[format = 1][count, LEB128][count versions, LEB128][digest, 8 bytes]`,
//! where the digest is SHA-256 over a label, the provider ids in order and
//! the bytes before it. Fifty providers at six-digit versions take about
//! 220 characters.
//!
//! The digest is not a secret MAC, on purpose: a cursor grants nothing a
//! client could not ask for with a version per provider (any resume point is
//! allowed; a point that is gone gives `reset`), so a key would buy no
//! security and would have to be shared by every instance. What the digest
//! does is refuse, with a 400, a cursor that was altered or cut, and a
//! *foreign* one: made for another list of providers (or another order), or
//! by a different format. A cursor names the list only through the digest,
//! so it stays short.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Longest cursor text accepted (50 providers need about 220 characters).
pub const CURSOR_TEXT_MAX: usize = 1024;
/// The only format this build writes and reads.
const FORMAT: u8 = 1;
const DIGEST_LEN: usize = 8;
const LABEL: &[u8] = b"slotstream many-providers cursor";
/// A LEB128 `i64` never needs more than this many bytes (9 × 7 = 63 bits).
const VARINT_MAX: usize = 9;

/// Why a cursor text was refused (all of them a client error: 400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is longer than {CURSOR_TEXT_MAX} characters")]
    TooLong,
    #[error("the cursor is not one this server wrote (not base64url)")]
    NotBase64,
    #[error("the cursor is of an unknown format")]
    UnknownFormat,
    #[error("the cursor is malformed")]
    Malformed,
    #[error("the cursor was made for another list of providers, or altered")]
    Foreign,
}

/// `versions[i]` is the position of `providers[i]`.
pub fn encode(providers: &[Uuid], versions: &[i64]) -> String {
    debug_assert_eq!(providers.len(), versions.len());
    let mut bytes = Vec::with_capacity(2 + versions.len() * 3 + DIGEST_LEN);
    bytes.push(FORMAT);
    put_varint(&mut bytes, versions.len() as u64);
    for &version in versions {
        put_varint(&mut bytes, version.max(0) as u64);
    }
    let digest = digest(providers, &bytes);
    bytes.extend_from_slice(&digest);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The positions a cursor names for `providers` (in their order), or why it
/// is refused.
pub fn decode(text: &str, providers: &[Uuid]) -> Result<Vec<i64>, CursorError> {
    if text.len() > CURSOR_TEXT_MAX {
        return Err(CursorError::TooLong);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| CursorError::NotBase64)?;
    if bytes.len() < 1 + DIGEST_LEN {
        return Err(CursorError::Malformed);
    }
    let (body, mac) = bytes.split_at(bytes.len() - DIGEST_LEN);
    if body[0] != FORMAT {
        return Err(CursorError::UnknownFormat);
    }
    if digest(providers, body) != mac {
        return Err(CursorError::Foreign);
    }
    let mut rest = &body[1..];
    let count = take_varint(&mut rest)?;
    if count != providers.len() as u64 {
        return Err(CursorError::Foreign);
    }
    let versions = (0..count).map(|_| take_varint(&mut rest).map(|v| v as i64)).collect::<Result<Vec<_>, _>>()?;
    if !rest.is_empty() {
        return Err(CursorError::Malformed);
    }
    Ok(versions)
}

fn digest(providers: &[Uuid], body: &[u8]) -> [u8; DIGEST_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(LABEL);
    for provider in providers {
        hasher.update(provider.as_bytes());
    }
    hasher.update(body);
    let full = hasher.finalize();
    let mut out = [0; DIGEST_LEN];
    out.copy_from_slice(&full[..DIGEST_LEN]);
    out
}

fn put_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// A minimal LEB128 number of at most 63 bits; anything else is malformed.
fn take_varint(rest: &mut &[u8]) -> Result<u64, CursorError> {
    let mut value: u64 = 0;
    for (i, &byte) in rest.iter().enumerate().take(VARINT_MAX) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // A zero last byte after others is an overlong encoding.
            if i > 0 && byte == 0 {
                return Err(CursorError::Malformed);
            }
            if value > i64::MAX as u64 {
                return Err(CursorError::Malformed);
            }
            *rest = &rest[i + 1..];
            return Ok(value);
        }
    }
    Err(CursorError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(n: u128) -> Vec<Uuid> {
        (1..=n).map(Uuid::from_u128).collect()
    }

    #[test]
    fn a_cursor_round_trips_and_fifty_providers_fit_comfortably() {
        let list = providers(50);
        let versions: Vec<i64> = (0..50).map(|i| i * 40_000).collect();
        let text = encode(&list, &versions);
        assert!(text.len() < 300, "{} characters", text.len());
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(&text, &list), Ok(versions));
        let extremes = [0, i64::MAX];
        assert_eq!(decode(&encode(&list[..2], &extremes), &list[..2]), Ok(extremes.to_vec()));
    }

    #[test]
    fn altered_cut_foreign_and_oversized_cursors_are_refused() {
        let list = providers(3);
        let text = encode(&list, &[5, 6, 7]);
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        bytes[2] ^= 1;
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode(&bytes), &list), Err(CursorError::Foreign));
        assert!(decode(&text[..text.len() - 3], &list).is_err());
        assert_eq!(decode(&text, &providers(4)), Err(CursorError::Foreign));
        let reordered = [list[1], list[0], list[2]];
        assert_eq!(decode(&text, &reordered), Err(CursorError::Foreign));
        assert_eq!(decode("41", &list), Err(CursorError::NotBase64), "a single stream's id");
        assert_eq!(decode("AQ", &list), Err(CursorError::Malformed), "too short");
        assert_eq!(decode("not base64!", &list), Err(CursorError::NotBase64));
        assert_eq!(decode(&"A".repeat(CURSOR_TEXT_MAX + 1), &list), Err(CursorError::TooLong));
        assert_eq!(decode("", &list), Err(CursorError::Malformed));
        let mut other_format = URL_SAFE_NO_PAD.decode(&text).unwrap();
        other_format[0] = 2;
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode(&other_format), &list), Err(CursorError::UnknownFormat));
    }

    #[test]
    fn varints_are_strict() {
        let mut overlong: &[u8] = &[0x85, 0x00];
        assert_eq!(take_varint(&mut overlong), Err(CursorError::Malformed));
        let mut too_big: &[u8] = &[0xff; 9];
        assert_eq!(take_varint(&mut too_big), Err(CursorError::Malformed));
        let mut cut: &[u8] = &[0x80];
        assert_eq!(take_varint(&mut cut), Err(CursorError::Malformed));
        let mut fine: &[u8] = &[0xac, 0x02, 0x07];
        assert_eq!(take_varint(&mut fine), Ok(300));
        assert_eq!(fine, &[0x07]);
    }
}
