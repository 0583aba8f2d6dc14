//! A minimal blocking HTTP/1.1 client: [`get`] for the REST depth snapshot (and other rare,
//! off-hot-path requests; `Connection: close`, headers kept for the venue's rate-limit accounting),
//! and [`KeepAlive`], one persistent connection for signed order entry (the USD-M gateway): the
//! request is written from a reused buffer, the answer parsed in place, and the headers the venue's
//! rate accounting needs (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`/`-1M`/`-1D`, `Retry-After`)
//! picked out without allocating.
//!
//! [`get`] runs on the session thread while the book is stale (a snapshot is needed exactly then),
//! so it may allocate; it is not on the per-message path. [`KeepAlive`] allocates its buffers once.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::ws_client::{Conn, TlsTrust, Url};
use crate::model::decimal::write_u64;

/// Largest response accepted (a 5000-level depth snapshot is about 250 kB).
pub const MAX_RESPONSE: usize = 8 << 20;

/// An HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header as an integer.
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| v.trim().parse().ok())
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// GETs `url` (with extra `headers`), blocking up to `timeout` per step.
pub fn get(url: &Url, headers: &[(&str, &str)], timeout: Duration) -> io::Result<HttpResponse> {
    get_trusting(url, headers, timeout, None)
}

/// [`get`] with TLS trusting `trust` (`None`: the webpki roots).
pub fn get_trusting(
    url: &Url,
    headers: &[(&str, &str)],
    timeout: Duration,
    trust: Option<&TlsTrust>,
) -> io::Result<HttpResponse> {
    let mut conn = Conn::connect_trusting(url, timeout, trust)?;
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pymm\r\nAccept: application/json\r\nConnection: close\r\n",
        url.path,
        url.host_header()
    );
    for (k, v) in headers {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())?;
    conn.flush()?;
    let mut raw = Vec::with_capacity(64 << 10);
    let mut buf = [0u8; 16 << 10];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    return Err(bad("response too large"));
                }
                if let Some(done) = complete(&raw)? {
                    return Ok(done);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // rustls reports a peer that closes without close_notify as UnexpectedEof.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    complete(&raw)?.ok_or_else(|| bad("connection closed before the response was complete"))
}

/// Parses `raw` as a response if it is complete.
pub fn complete(raw: &[u8]) -> io::Result<Option<HttpResponse>> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("header is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or_default();
    if !proto.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x response"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let body = &raw[end + 4..];
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(body)? {
            Some(b) => b,
            None => return Ok(None),
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        if body.len() < len {
            return Ok(None);
        }
        body[..len].to_vec()
    } else {
        // Read to EOF: the caller only gets here complete when the peer closed.
        return Ok(None);
    };
    Ok(Some(HttpResponse {
        status,
        headers,
        body,
    }))
}

fn dechunk(b: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    Ok(dechunk_into(b, &mut out)?.then_some(out))
}

/// Why a [`KeepAlive::request`] has no answer, and whether the venue may have acted on it.
#[derive(Debug)]
pub enum RequestFailure {
    /// Nothing complete left our socket (connect or write failed): the venue cannot have acted.
    NotSent(io::Error),
    /// The request was written, then the answer did not come (timeout, reset, EOF, garbage): the
    /// venue may have acted on it. For an order this is UNKNOWN.
    AfterSend(io::Error),
}

impl std::fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestFailure::NotSent(e) => write!(f, "not sent: {e}"),
            RequestFailure::AfterSend(e) => write!(f, "sent, no answer: {e}"),
        }
    }
}

/// An answer parsed in place: status, the rate headers, the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Status code.
    pub status: u16,
    /// `X-MBX-USED-WEIGHT-1M`.
    pub used_weight_1m: Option<u64>,
    /// `X-MBX-ORDER-COUNT-10S`.
    pub order_count_10s: Option<u64>,
    /// `X-MBX-ORDER-COUNT-1M` (USD-M).
    pub order_count_1m: Option<u64>,
    /// `X-MBX-ORDER-COUNT-1D` (spot).
    pub order_count_1d: Option<u64>,
    /// `Retry-After` (seconds).
    pub retry_after_s: Option<u64>,
    /// The body (de-chunked).
    pub body: &'a [u8],
}

/// Counters of a [`KeepAlive`] connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepAliveStats {
    /// Connections opened.
    pub connects: u64,
    /// Requests written.
    pub requests: u64,
    /// Requests that went out on an already open connection.
    pub reused: u64,
    /// Idle connections found closed by the peer before a request (reopened, nothing lost).
    pub stale: u64,
    /// Requests that failed after being written.
    pub failed_after_send: u64,
}

struct Head {
    status: u16,
    used_weight_1m: Option<u64>,
    order_count_10s: Option<u64>,
    order_count_1m: Option<u64>,
    order_count_1d: Option<u64>,
    retry_after_s: Option<u64>,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
    body_at: usize,
}

fn num(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0')))
}

fn parse_head(raw: &[u8]) -> io::Result<Option<Head>> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let mut lines = raw[..end].split(|&c| c == b'\n');
    let status_line = lines.next().unwrap_or_default();
    if !status_line.starts_with(b"HTTP/1.") || status_line.len() < 12 {
        return Err(bad("not an HTTP/1.x response"));
    }
    let status = num(&status_line[9..12])
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut h = Head {
        status,
        used_weight_1m: None,
        order_count_10s: None,
        order_count_1m: None,
        order_count_1d: None,
        retry_after_s: None,
        content_length: None,
        chunked: false,
        close: false,
        body_at: end + 4,
    };
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (k, v) = (&line[..colon], &line[colon + 1..]);
        let is = |name: &[u8]| k.eq_ignore_ascii_case(name);
        if is(b"content-length") {
            h.content_length = Some(num(v).ok_or_else(|| bad("bad Content-Length"))? as usize);
        } else if is(b"transfer-encoding") {
            h.chunked = v.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if is(b"connection") {
            h.close = v.trim_ascii().eq_ignore_ascii_case(b"close");
        } else if is(b"x-mbx-used-weight-1m") {
            h.used_weight_1m = num(v);
        } else if is(b"x-mbx-order-count-10s") {
            h.order_count_10s = num(v);
        } else if is(b"x-mbx-order-count-1m") {
            h.order_count_1m = num(v);
        } else if is(b"x-mbx-order-count-1d") {
            h.order_count_1d = num(v);
        } else if is(b"retry-after") {
            h.retry_after_s = num(v);
        }
    }
    Ok(Some(h))
}

/// De-chunks `b` into `out`; `Ok(false)` while incomplete.
fn dechunk_into(mut b: &[u8], out: &mut Vec<u8>) -> io::Result<bool> {
    out.clear();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(false);
        };
        let size_text = b[..eol].split(|&c| c == b';').next().unwrap_or_default();
        let size_text =
            std::str::from_utf8(size_text.trim_ascii()).map_err(|_| bad("bad chunk size"))?;
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(true);
        }
        if b.len() < size + 2 {
            return Ok(false);
        }
        out.extend_from_slice(&b[..size]);
        if &b[size..size + 2] != b"\r\n" {
            return Err(bad("chunk not terminated"));
        }
        b = &b[size + 2..];
        if out.len() > MAX_RESPONSE {
            return Err(bad("response too large"));
        }
    }
}

/// One persistent HTTP/1.1 connection to a venue's REST host, one request at a time.
///
/// An idle connection the peer closed is noticed before the next request (a non-blocking peek)
/// and reopened, so a keep-alive timeout never turns an order into UNKNOWN; after a failure the
/// connection is dropped (a late answer would otherwise be read as the next request's).
pub struct KeepAlive {
    url: Url,
    base_path: String,
    timeout: Duration,
    idle_limit_ns: u64,
    conn: Option<Conn>,
    last_used_ns: u64,
    req: Vec<u8>,
    raw: Vec<u8>,
    body: Vec<u8>,
    stats: KeepAliveStats,
}

impl KeepAlive {
    /// A client for `url`'s host (its path is the prefix of every request path); nothing is
    /// connected until the first request. `timeout` bounds connect, each write and each read;
    /// a connection idle longer than `idle_limit` is reopened rather than reused.
    pub fn new(url: Url, timeout: Duration, idle_limit: Duration) -> Self {
        let base_path = url.path.trim_end_matches('/').to_string();
        Self {
            url,
            base_path,
            timeout,
            idle_limit_ns: u64::try_from(idle_limit.as_nanos()).unwrap_or(u64::MAX),
            conn: None,
            last_used_ns: 0,
            req: Vec::with_capacity(8 << 10),
            raw: Vec::with_capacity(64 << 10),
            body: Vec::with_capacity(16 << 10),
            stats: KeepAliveStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> KeepAliveStats {
        self.stats
    }

    /// Closes the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        if let Some(c) = self.conn.take() {
            c.shutdown();
        }
    }

    fn build(
        &mut self,
        method: &str,
        path: &str,
        query: &[u8],
        body: Option<&[u8]>,
        api_key: &str,
    ) {
        let r = &mut self.req;
        r.clear();
        r.extend_from_slice(method.as_bytes());
        r.push(b' ');
        r.extend_from_slice(self.base_path.as_bytes());
        r.extend_from_slice(path.as_bytes());
        if !query.is_empty() {
            r.push(b'?');
            r.extend_from_slice(query);
        }
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.url.host.as_bytes());
        if self.url.port != if self.url.tls { 443 } else { 80 } {
            let mut d = [0u8; 20];
            r.push(b':');
            r.extend_from_slice(write_u64(u64::from(self.url.port), &mut d));
        }
        r.extend_from_slice(
            b"\r\nUser-Agent: pymm\r\nAccept: application/json\r\nConnection: keep-alive\r\n",
        );
        if !api_key.is_empty() {
            r.extend_from_slice(b"X-MBX-APIKEY: ");
            r.extend_from_slice(api_key.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        if let Some(b) = body {
            let mut d = [0u8; 20];
            r.extend_from_slice(
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ",
            );
            r.extend_from_slice(write_u64(b.len() as u64, &mut d));
            r.extend_from_slice(b"\r\n\r\n");
            r.extend_from_slice(b);
        } else {
            r.extend_from_slice(b"\r\n");
        }
    }

    fn write(&mut self, now_ns: u64) -> io::Result<bool> {
        let reused = match &self.conn {
            Some(c)
                if now_ns.saturating_sub(self.last_used_ns) > self.idle_limit_ns
                    || c.peer_gone() =>
            {
                self.stats.stale += 1;
                self.disconnect();
                false
            }
            Some(_) => true,
            None => false,
        };
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(&self.url, self.timeout)?);
            self.stats.connects += 1;
        }
        let conn = self.conn.as_mut().ok_or_else(|| bad("no connection"))?;
        conn.write_all(&self.req)?;
        conn.flush()?;
        Ok(reused)
    }

    /// Sends one request (`body` for POST/PUT: the form; `query` for GET/DELETE) with the API key
    /// header, and reads its answer, blocking up to the timeout per read.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        query: &[u8],
        body: Option<&[u8]>,
        api_key: &str,
        now_ns: u64,
    ) -> Result<Reply<'_>, RequestFailure> {
        self.build(method, path, query, body, api_key);
        match self.write(now_ns) {
            Ok(reused) => {
                self.stats.requests += 1;
                self.stats.reused += u64::from(reused);
            }
            Err(e) => {
                // An incomplete request cannot be acted on: HTTP needs the whole of it.
                self.disconnect();
                return Err(RequestFailure::NotSent(e));
            }
        }
        self.last_used_ns = now_ns;
        match self.read() {
            Ok((h, chunked_done)) => {
                if h.close {
                    self.disconnect();
                }
                let body = if chunked_done {
                    &self.body[..]
                } else {
                    let len = h.content_length.unwrap_or(0);
                    &self.raw[h.body_at..h.body_at + len]
                };
                Ok(Reply {
                    status: h.status,
                    used_weight_1m: h.used_weight_1m,
                    order_count_10s: h.order_count_10s,
                    order_count_1m: h.order_count_1m,
                    order_count_1d: h.order_count_1d,
                    retry_after_s: h.retry_after_s,
                    body,
                })
            }
            Err(e) => {
                self.stats.failed_after_send += 1;
                self.disconnect();
                Err(RequestFailure::AfterSend(e))
            }
        }
    }

    /// Reads one whole answer into `raw` (and `body` when chunked: the bool).
    fn read(&mut self) -> io::Result<(Head, bool)> {
        self.raw.clear();
        let conn = self.conn.as_mut().ok_or_else(|| bad("no connection"))?;
        let mut buf = [0u8; 16 << 10];
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
                }
                Err(e) => return Err(e),
            };
            self.raw.extend_from_slice(&buf[..n]);
            if self.raw.len() > MAX_RESPONSE {
                return Err(bad("response too large"));
            }
            let Some(h) = parse_head(&self.raw)? else {
                continue;
            };
            if h.chunked {
                if dechunk_into(&self.raw[h.body_at..], &mut self.body)? {
                    return Ok((h, true));
                }
            } else {
                // Without a length, a keep-alive answer has no body (a 204, or a broken peer).
                let len = h.content_length.unwrap_or(0);
                if self.raw.len() >= h.body_at + len {
                    return Ok((h, false));
                }
            }
        }
    }
}

/// Runs the response parser over arbitrary bytes (the fuzz target's body).
pub fn exercise(data: &[u8]) {
    let _ = complete(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_chunked() {
        let r = complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-MBX-USED-WEIGHT-1M: 7\r\n\r\nhello",
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(r.header_u64("x-mbx-used-weight-1m"), Some(7));
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            .unwrap()
            .is_none());
        let r = complete(b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\nRetry-After: 3\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (429, &b"abcde"[..]));
        assert_eq!(r.header_u64("retry-after"), Some(3));
        assert!(complete(b"SSH-2.0\r\n\r\n").is_err());
        assert!(complete(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }

    #[test]
    fn keep_alive_reuses_reopens_a_stale_connection_and_reports_after_send() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let (mut s, _) = l.accept().unwrap();
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 200 OK\r\nX-MBX-USED-WEIGHT-1M: 7\r\nX-MBX-ORDER-COUNT-10S: 2\r\nX-MBX-ORDER-COUNT-1D: 9\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
                .unwrap();
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"DELETE /fapi/v1/order?x=1 HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 400 Bad\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\n{}")
                .unwrap();
            drop(s); // the peer closes the idle connection
            let (mut s2, _) = l.accept().unwrap();
            let _ = s2.read(&mut buf).unwrap();
            std::thread::sleep(Duration::from_millis(700)); // never answers in time
            req
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let mut k = KeepAlive::new(url, Duration::from_millis(300), Duration::from_secs(60));
        let r = k
            .request("POST", "/fapi/v1/order", b"", Some(b"a=1"), "key", 1)
            .unwrap();
        assert_eq!(
            (
                r.status,
                r.body,
                r.used_weight_1m,
                r.order_count_10s,
                r.order_count_1d
            ),
            (200, &b"abc"[..], Some(7), Some(2), Some(9))
        );
        let r = k
            .request("DELETE", "/fapi/v1/order", b"x=1", None, "key", 2)
            .unwrap();
        assert_eq!(
            (r.status, r.retry_after_s, r.body),
            (400, Some(3), &b"{}"[..])
        );
        std::thread::sleep(Duration::from_millis(100));
        match k.request("GET", "/fapi/v1/order", b"y=2", None, "key", 3) {
            Err(RequestFailure::AfterSend(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
        let st = k.stats();
        assert_eq!(
            (
                st.connects,
                st.requests,
                st.reused,
                st.stale,
                st.failed_after_send
            ),
            (2, 3, 1, 1, 1)
        );
        let req = t.join().unwrap();
        assert!(req.starts_with("POST /fapi/v1/order HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("X-MBX-APIKEY: key\r\n") && req.ends_with("Content-Length: 3\r\n\r\na=1")
        );
        // Nothing listens now: the request cannot have been sent.
        drop(k);
        let gone = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let mut k = KeepAlive::new(gone, Duration::from_millis(300), Duration::from_secs(60));
        assert!(matches!(
            k.request("GET", "/", b"", None, "", 4),
            Err(RequestFailure::NotSent(_))
        ));
    }

    #[test]
    fn get_over_loopback() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"GET /api/v3/depth?symbol=X HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        });
        let url = Url::parse(&format!("http://127.0.0.1:{port}/api/v3/depth?symbol=X")).unwrap();
        let r = get(&url, &[], Duration::from_secs(5)).unwrap();
        assert_eq!(r.body, b"{}");
        t.join().unwrap();
    }
}
