//! A minimal incremental chunked-transfer decoder and a Server-Sent Events
//! frame splitter, fed straight from socket reads.

use std::io;

use crate::http::bad;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Reading the chunk-size line.
    #[default]
    Size,
    /// Inside a chunk, this many bytes left.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last (zero) chunk: trailers up to an empty line.
    Trailer,
    Done,
}

/// Decodes `Transfer-Encoding: chunked` incrementally.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
}

impl Chunked {
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode what `input` holds, appending the body bytes to `out`; returns
    /// how many bytes of `input` were consumed (the rest is an incomplete
    /// size line or CRLF, to be fed again with more bytes after it).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut at = 0;
        loop {
            match self.state {
                State::Size => {
                    let Some(nl) = input[at..].iter().position(|&b| b == b'\n') else {
                        if input.len() - at > 1024 {
                            return Err(bad("chunk size line too long"));
                        }
                        return Ok(at);
                    };
                    let line = &input[at..at + nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
                    let text = std::str::from_utf8(hex).map_err(|_| bad("bad chunk size"))?.trim();
                    let size = usize::from_str_radix(text, 16).map_err(|_| bad("bad chunk size"))?;
                    at += nl + 1;
                    self.state = if size == 0 { State::Trailer } else { State::Data(size) };
                }
                State::Data(left) => {
                    let available = input.len() - at;
                    if available == 0 {
                        return Ok(at);
                    }
                    let take = left.min(available);
                    out.extend_from_slice(&input[at..at + take]);
                    at += take;
                    self.state = if take == left { State::DataEnd } else { State::Data(left - take) };
                }
                State::DataEnd => {
                    if input.len() - at < 2 {
                        return Ok(at);
                    }
                    if &input[at..at + 2] != b"\r\n" {
                        return Err(bad("chunk not followed by CRLF"));
                    }
                    at += 2;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(nl) = input[at..].iter().position(|&b| b == b'\n') else {
                        return Ok(at);
                    };
                    let empty = nl == 0 || (nl == 1 && input[at] == b'\r');
                    at += nl + 1;
                    if empty {
                        self.state = State::Done;
                    }
                }
                State::Done => return Ok(at),
            }
        }
    }
}

/// One SSE frame, as much of it as the benchmark looks at.
#[derive(Debug, Default, PartialEq)]
pub struct Frame<'a> {
    pub id: Option<i64>,
    pub event: Option<&'a str>,
    pub data: Option<&'a str>,
    /// The reconnection delay the server advised, in milliseconds.
    pub retry: Option<u64>,
    pub comment: bool,
}

/// Parse one frame (the text between blank lines).
pub fn parse_frame(frame: &[u8]) -> Frame<'_> {
    let mut parsed = Frame::default();
    let text = match std::str::from_utf8(frame) {
        Ok(text) => text,
        Err(_) => return parsed,
    };
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with(':') {
            parsed.comment = true;
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "id" => parsed.id = value.parse().ok(),
            "event" => parsed.event = Some(value),
            "data" => parsed.data = Some(value),
            "retry" => parsed.retry = value.parse().ok(),
            _ => {}
        }
    }
    parsed
}

/// Splits a decoded SSE body into frames at blank lines (`\n\n`).
#[derive(Debug, Default)]
pub struct Frames {
    buf: Vec<u8>,
    /// Where the search for the next `\n\n` resumes.
    scanned: usize,
}

impl Frames {
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Call `f` on every complete frame in the buffer, then drop them.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) {
        let mut start = 0;
        let mut i = self.scanned.max(start);
        while i + 1 < self.buf.len() {
            if self.buf[i] == b'\n' && self.buf[i + 1] == b'\n' {
                f(&self.buf[start..i]);
                start = i + 2;
                i = start;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..start);
        self.scanned = i.saturating_sub(start);
    }
}

/// An SSE response read off a raw HTTP/1.1 socket: its head (which must be
/// a 200), then its body (chunked or not) split into frames. Read into
/// `raw()`, then `advance()`, then drain `frames()`.
#[derive(Debug, Default)]
pub struct Http1Body {
    raw: Vec<u8>,
    head_done: bool,
    chunked: bool,
    decoder: Chunked,
    frames: Frames,
}

impl Http1Body {
    /// Where the next socket read goes.
    pub fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.raw
    }

    /// Take what the reads brought: `Ok(false)` while the head is
    /// incomplete; an error for a head other than 200 or the body's end.
    pub fn advance(&mut self) -> io::Result<bool> {
        if !self.head_done {
            let Some((head, used)) = crate::http::parse_head(&self.raw)? else { return Ok(false) };
            if head.status != 200 {
                return Err(bad(&format!("stream answered {}", head.status)));
            }
            self.chunked = head.chunked();
            self.raw.drain(..used);
            self.head_done = true;
        }
        if self.chunked {
            let used = self.decoder.feed(&self.raw, self.frames.buffer())?;
            self.raw.drain(..used);
            if self.decoder.done() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server ended the stream"));
            }
        } else {
            self.frames.buffer().extend_from_slice(&self.raw);
            self.raw.clear();
        }
        Ok(true)
    }

    /// The complete frames so far (drain them).
    pub fn frames(&mut self) -> &mut Frames {
        &mut self.frames
    }
}

/// Microseconds since the Unix epoch of an RFC 3339 UTC time as the server
/// writes it (`2026-11-27T09:12:03.120123Z`, any number of fraction digits,
/// `Z` or `+00:00`). Hand-rolled: it runs once per received frame.
pub fn parse_utc_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't' && b[10] != b' ') {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(from..from + len)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut micros = 0i64;
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let mut digits = 0;
        while let Some(&c) = b.get(at) {
            if !c.is_ascii_digit() {
                break;
            }
            if digits < 6 {
                micros = micros * 10 + i64::from(c - b'0');
                digits += 1;
            }
            at += 1;
        }
        for _ in digits..6 {
            micros *= 10;
        }
    }
    match b.get(at..) {
        Some(b"Z") | Some(b"z") | Some(b"+00:00") => {}
        _ => return None,
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros)
}

/// The `changedAt` of a `slot-changed` event's data, without a JSON parse.
pub fn changed_at_micros(data: &str) -> Option<i64> {
    const KEY: &str = "\"changedAt\":\"";
    let start = data.find(KEY)? + KEY.len();
    let end = start + data[start..].find('"')?;
    parse_utc_micros(&data[start..end])
}

/// `providerId` and `version` of a `slot-changed` event's data: on a
/// many-providers stream the `id:` is an opaque cursor, so the per-provider
/// order is read from the data.
pub fn provider_and_version(data: &str) -> Option<(&str, i64)> {
    const PROVIDER: &str = "\"providerId\":\"";
    const VERSION: &str = "\"version\":";
    let start = data.find(PROVIDER)? + PROVIDER.len();
    let provider = &data[start..start + data[start..].find('"')?];
    let start = data.find(VERSION)? + VERSION.len();
    let digits = data[start..].bytes().take_while(u8::is_ascii_digit).count();
    Some((provider, data[start..start + digits].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_in_pieces() {
        let wire = b"d\r\nretry: 2000\n\n\r\n5;ext=1\r\nid: 1\r\n3\r\n\n\n\n\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut decoder = Chunked::default();
            let mut out = Vec::new();
            let mut pending = Vec::new();
            for piece in [&wire[..split], &wire[split..]] {
                pending.extend_from_slice(piece);
                let used = decoder.feed(&pending, &mut out).unwrap();
                pending.drain(..used);
            }
            assert!(decoder.done(), "split {split}");
            assert_eq!(out, b"retry: 2000\n\nid: 1\n\n\n");
        }
    }

    #[test]
    fn frames_split() {
        let mut frames = Frames::default();
        let mut seen = Vec::new();
        frames.buffer().extend_from_slice(b"retry: 2000\n\nid: 3\nevent: slot-changed\ndata: {}\n");
        frames.drain(|f| seen.push(String::from_utf8(f.to_vec()).unwrap()));
        frames.buffer().extend_from_slice(b"\n: heartbeat\n\n");
        frames.drain(|f| seen.push(String::from_utf8(f.to_vec()).unwrap()));
        assert_eq!(seen, ["retry: 2000", "id: 3\nevent: slot-changed\ndata: {}", ": heartbeat"]);
        let f = parse_frame(seen[1].as_bytes());
        assert_eq!(f.id, Some(3));
        assert_eq!(f.event, Some("slot-changed"));
        assert_eq!(parse_frame(seen[0].as_bytes()).retry, Some(2000));
        assert!(parse_frame(seen[2].as_bytes()).comment);
    }

    #[test]
    fn utc_micros() {
        assert_eq!(parse_utc_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc_micros("1970-01-02T00:00:01.5Z"), Some(86_401_500_000));
        // 2026-11-27T09:12:03.120123Z = 1795770723.120123
        assert_eq!(parse_utc_micros("2026-11-27T09:12:03.120123Z"), Some(1_795_770_723_120_123));
        assert_eq!(
            changed_at_micros(r#"{"a":1,"changedAt":"2026-11-27T09:12:03.120123Z"}"#),
            Some(1_795_770_723_120_123)
        );
        assert_eq!(
            provider_and_version(r#"{"providerId":"p-1","newStatus":"booked","version":42}"#),
            Some(("p-1", 42))
        );
        assert_eq!(provider_and_version(r#"{"providerId":"p-1"}"#), None);
    }
}
