//! A minimal HTTP/1.1 client over a raw `TcpSocket`: keep-alive request /
//! response for the API calls, and the response head for the SSE streams.
//! Only what the benchmark needs: `Content-Length` and chunked bodies, no
//! redirects, no TLS.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The `i`-th of `count` loopback source addresses: 127.0.0.1, 127.0.0.2, ...
/// Spreading client sockets over several source addresses multiplies the
/// ephemeral ports available towards one server address.
pub fn source_addr(i: usize, count: usize) -> IpAddr {
    let n = (i % count.max(1)) as u8;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + n))
}

/// Connect from `source` (port chosen by the kernel) to `server`.
pub async fn connect(server: SocketAddr, source: Option<IpAddr>, timeout: Duration) -> io::Result<TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(server))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A parsed response head.
#[derive(Debug, Default)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// Parse a response head from `buf` if it is complete: the head and the
/// number of bytes it took.
pub fn parse_head(buf: &[u8]) -> io::Result<Option<(Head, usize)>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(bad("response head too long"));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status =
        status_line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| bad("bad status line"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Some((Head { status, headers }, end + 4)))
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn json(&self) -> io::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| bad(&format!("bad JSON: {e}")))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection for ordinary requests. Reconnects by itself
/// when the server closed it.
pub struct Client {
    server: SocketAddr,
    source: Option<IpAddr>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(server: SocketAddr, source: Option<IpAddr>) -> Client {
        Client { server, source, stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    /// Open the connection now (so that a later request does not pay for it).
    pub async fn ensure_connected(&mut self) -> io::Result<()> {
        if self.stream.is_none() {
            self.stream = Some(connect(self.server, self.source, Duration::from_secs(10)).await?);
            self.buf.clear();
        }
        Ok(())
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
        self.request("GET", path, headers, None).await
    }

    pub async fn post_json(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Response> {
        self.request("POST", path, headers, Some(body)).await
    }

    /// Send a request and read its response; one retry on a fresh
    /// connection if a reused one turns out to be closed before any answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n", self.server);
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        if let Some(body) = body {
            request.push_str("Content-Type: application/json\r\n");
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        if let Some(body) = body {
            bytes.extend_from_slice(body);
        }
        let reused = self.stream.is_some();
        match self.exchange(&bytes, method == "HEAD").await {
            Ok(response) => Ok(response),
            Err(error) if reused && error.kind() == io::ErrorKind::ConnectionAborted => {
                self.stream = None;
                self.exchange(&bytes, method == "HEAD").await
            }
            Err(error) => {
                self.stream = None;
                Err(error)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8], head_only: bool) -> io::Result<Response> {
        self.ensure_connected().await?;
        let stream = self.stream.as_mut().expect("connected");
        if let Err(error) = stream.write_all(request).await {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, error));
        }
        // Head.
        let mut got_any = !self.buf.is_empty();
        let (head, used) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            let n = stream.read_buf(&mut self.buf).await?;
            if n == 0 {
                let kind = if got_any { io::ErrorKind::UnexpectedEof } else { io::ErrorKind::ConnectionAborted };
                return Err(io::Error::new(kind, "connection closed before the response"));
            }
            got_any = true;
        };
        self.buf.drain(..used);
        let close = head.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body = if head_only || head.status == 204 || head.status == 304 {
            Vec::new()
        } else if head.chunked() {
            let mut decoder = crate::sse::Chunked::default();
            let mut body = Vec::new();
            loop {
                let consumed = decoder.feed(&self.buf, &mut body)?;
                self.buf.drain(..consumed);
                if decoder.done() {
                    break;
                }
                if stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(bad("connection closed inside a chunked body"));
                }
            }
            body
        } else if let Some(length) = head.header("content-length") {
            let length: usize = length.parse().map_err(|_| bad("bad content-length"))?;
            while self.buf.len() < length {
                if stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(bad("connection closed inside a body"));
                }
            }
            self.buf.drain(..length).collect()
        } else {
            // Until close.
            let mut body = std::mem::take(&mut self.buf);
            while stream.read_buf(&mut body).await? != 0 {}
            self.stream = None;
            body
        };
        if close {
            self.stream = None;
            self.buf.clear();
        }
        Ok(Response { head, body })
    }
}
