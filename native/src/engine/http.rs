//! A minimal blocking HTTP/1.1 GET for the REST depth snapshot (and other rare, off-hot-path
//! requests): `Connection: close`, `Content-Length` or chunked bodies, headers kept for the venue's
//! rate-limit accounting (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, `Retry-After`).
//!
//! Runs on the session thread while the book is stale (a snapshot is needed exactly then), so it
//! may allocate; it is not on the per-message path.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::ws_client::{Conn, TlsTrust, Url};

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

fn dechunk(mut b: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| bad("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if b.len() < size + 2 {
            return Ok(None);
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
