//! A minimal HTTP/1.1 client over a real socket, enough for the explorer API's end-to-end tests
//! (one request per connection, `Connection: close`; or [`KeepAlive`], several over one).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `body` and reads the whole response.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Response {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    request_over(s, addr, method, path, body)
}

/// [`request`] over `s`, a fresh connection to `addr`.
pub fn request_over(
    mut s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Response {
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    parse(&raw)
}

/// GET `path`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[])
}

fn parse(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
}

/// A server-sent event stream read from a real socket (chunked transfer encoding).
pub struct EventStream {
    reader: std::io::BufReader<TcpStream>,
    /// The response's status.
    pub status: u16,
    /// The `Content-Length` header (a refusal has one; a stream does not).
    content_length: Option<usize>,
    /// Decoded text not yet split into events.
    pending: String,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` name.
    pub name: String,
    /// The `data:` text.
    pub data: String,
}

impl EventStream {
    /// Sends `GET path` and reads the response head.
    pub fn open(addr: SocketAddr, path: &str) -> EventStream {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        EventStream::start(s, addr, path)
    }

    /// Like [`EventStream::open`], from the local address `source` (any 127.x.y.z reaches a
    /// node on 127.0.0.1, so one test can be many clients).
    pub fn open_from(addr: SocketAddr, path: &str, source: std::net::IpAddr) -> EventStream {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .expect("socket");
        socket
            .bind(&SocketAddr::new(source, 0).into())
            .expect("bind the source address");
        socket
            .connect_timeout(&addr.into(), Duration::from_secs(5))
            .expect("connect");
        EventStream::start(socket.into(), addr, path)
    }

    fn start(mut s: TcpStream, addr: SocketAddr, path: &str) -> EventStream {
        use std::io::BufRead;
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        s.write_all(head.as_bytes()).expect("write");
        let mut reader = std::io::BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        let mut content_length = None;
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().ok();
                }
            }
        }
        EventStream {
            reader,
            status,
            content_length,
            pending: String::new(),
        }
    }

    /// The body of a refusal (its JSON error), read by its `Content-Length`: the connection
    /// stays open, as a stream's would.
    pub fn body(mut self) -> serde_json::Value {
        let len = self.content_length.expect("a refusal has a Content-Length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("read the answer");
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
    }

    /// The next event (comments such as keep-alives skipped), or `None` if none arrives within
    /// `secs` or the stream ends.
    pub fn next(&mut self, secs: u64) -> Option<Event> {
        use std::io::BufRead;
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut ev = Event {
                    name: String::new(),
                    data: String::new(),
                };
                for l in block.lines() {
                    if let Some(v) = l.strip_prefix("event:") {
                        ev.name = v.trim().to_string();
                    } else if let Some(v) = l.strip_prefix("data:") {
                        ev.data.push_str(v.trim_start());
                    }
                }
                if !ev.name.is_empty() || !ev.data.is_empty() {
                    return Some(ev);
                }
                continue;
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            // One chunk: its size line, its bytes, and the CRLF after them.
            let mut size = String::new();
            if self.reader.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                return None;
            }
            let mut chunk = vec![0u8; n + 2];
            self.reader.read_exact(&mut chunk).ok()?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}

/// A keep-alive HTTP/1.1 connection: requests one after another over one socket, each answer
/// read by its `Content-Length` (every answer of the API but an event stream has one).
pub struct KeepAlive {
    reader: std::io::BufReader<TcpStream>,
    addr: SocketAddr,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> KeepAlive {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        KeepAlive {
            reader: std::io::BufReader::new(s),
            addr,
        }
    }

    /// GET `path` over this connection; an error if the server closed it or the answer has no
    /// `Content-Length`.
    pub fn get(&mut self, path: &str) -> std::io::Result<Response> {
        use std::io::{BufRead, Error, ErrorKind};
        let head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        self.reader.get_mut().write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        loop {
            let before = raw.len();
            if self.reader.read_until(b'\n', &mut raw)? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed by the server"));
            }
            if &raw[before..] == b"\r\n" {
                break;
            }
        }
        let mut response = parse(&raw);
        let length: usize = response
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no content-length"))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        response.body = body;
        Ok(response)
    }

    /// True if the server closes the connection within `secs`; false if it is still open then.
    pub fn closed_within(&mut self, secs: u64) -> bool {
        crate::peer::closed_within(self.reader.get_mut(), secs)
    }
}
