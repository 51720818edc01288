//! The senders' HTTP/1.1 client: one keep-alive connection per sender, each request written
//! whole from bytes prepared before the clock starts.
//!
//! The benchmark runs on the same two cores as the server and its database, so every
//! microsecond the senders spend is taken from what is measured. A general client (URL
//! parsing, header maps, a connection pool, a body copy per request) cost 26 µs of CPU per
//! event; a registry sends from its own machine. This client does only what a registry's
//! does on the wire: keep-alive, one event per POST, and reading each answer whole before the
//! next request.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One POST, headers and body, ready to write.
pub(crate) struct Request(Vec<u8>);

impl Request {
    /// A registry's delivery of `body` to `path` on `port`, with a bearer `token`.
    pub(crate) fn post(port: u16, path: &str, token: &str, body: &[u8]) -> Request {
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/vnd.docker.distribution.events.v1+json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Request(bytes)
    }
}

/// A keep-alive connection to the server, opened on first use and again after a failure.
pub(crate) struct Connection {
    port: u16,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Connection {
    /// A connection to the server listening on loopback `port`.
    pub(crate) fn new(port: u16) -> Connection {
        Connection { port, stream: None, buffer: Vec::with_capacity(4096) }
    }

    /// Sends `request` until the server answers 2xx, as a registry does, and panics on a 4xx
    /// (a registry's queue would be blocked for good).
    pub(crate) async fn deliver(&mut self, request: &Request) {
        loop {
            match self.send(request).await {
                Ok(status) if (200..300).contains(&status) => return,
                Ok(status) if (400..500).contains(&status) => panic!("an event was refused: {status}"),
                Ok(_) => {}
                Err(_) => self.stream = None,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes `request` and reads the whole answer; returns its status.
    async fn send(&mut self, request: &Request) -> io::Result<u16> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        stream.write_all(&request.0).await?;
        self.buffer.clear();
        let (status, length, head) = loop {
            if let Some(head) = find(&self.buffer, b"\r\n\r\n") {
                let (status, length) = parse_head(&self.buffer[..head])?;
                break (status, length, head + 4);
            }
            read_more(stream, &mut self.buffer).await?;
        };
        while self.buffer.len() < head + length {
            read_more(stream, &mut self.buffer).await?;
        }
        Ok(status)
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.reserve(4096);
    if stream.read_buf(buffer).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status and `Content-Length` of a response head; an answer without a length (the
/// server always sends one) is an error, so the connection is dropped rather than misread.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP/1.1 response head");
    let text = std::str::from_utf8(head).map_err(|_| invalid())?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_its_status_and_length() {
        let head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nContent-Length: 42\r\ndate: x";
        assert_eq!(parse_head(head).ok(), Some((503, 42)));
    }

    #[test]
    fn a_head_without_a_length_is_refused() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
        assert!(parse_head(b"garbage").is_err());
    }
}
