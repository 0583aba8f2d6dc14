//! A WebSocket client for venue sessions: `ws://` over kernel TCP and `wss://` over rustls
//! (webpki roots, or the CAs of a PEM file: [`TlsTrust`]), behind one [`Conn`] type; plus the URL
//! parsing both it and [`super::http`] use.
//!
//! Connecting (TCP, TLS, the HTTP upgrade) blocks with a timeout; after it the socket is
//! non-blocking and [`WsClient::poll`] reads what is there, parses frames in place in a fixed
//! receive buffer and hands each text/binary payload to a callback. Pings are answered, a close or
//! EOF is an error (the session reconnects).
//!
//! # Hot path
//! [`WsClient::poll`] and [`WsClient::send`] do not allocate: the receive buffer is allocated once
//! at connect and frames are parsed in place (see `docs/adr/0004-websocket-framing.md`).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::pipeline::MaskGen;
use crate::net::transport::TxTransport;
use crate::net::websocket::{
    check_handshake_response, encode_frame, handshake_request, parse_frame, Opcode,
};

/// A parsed `ws://`, `wss://`, `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// TLS (`wss`/`https`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// Path and query (at least `/`).
    pub path: String,
}

impl Url {
    /// Parses `scheme://host[:port][/path]`.
    pub fn parse(url: &str) -> io::Result<Self> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad URL {url:?}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let tls = match scheme {
            "ws" | "http" => false,
            "wss" | "https" => true,
            _ => return Err(bad()),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// `host` or `host:port` as the `Host` header wants it.
    pub fn host_header(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The same URL with another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

/// A byte stream to a venue: plain TCP or TLS over TCP.
pub enum Conn {
    /// Kernel TCP.
    Plain(TcpStream),
    /// rustls over kernel TCP.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// The certificate authorities a TLS connection trusts.
#[derive(Clone, Debug)]
pub struct TlsTrust(Arc<rustls::ClientConfig>);

impl TlsTrust {
    /// The webpki (Mozilla) roots: public venues.
    pub fn webpki() -> Self {
        Self(tls_config(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }))
    }

    /// Only the CA certificates in the PEM file at `path` (a private CA, e.g. a co-location TLS
    /// terminator or a test venue); the webpki roots are not trusted then.
    ///
    /// # Errors
    /// The file cannot be read, holds no `CERTIFICATE` block, or a certificate is not a usable CA.
    pub fn from_ca_file(path: &std::path::Path) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("a certificate is not a usable CA: {e}"))?;
        }
        if roots.is_empty() {
            return Err("holds no CERTIFICATE block".into());
        }
        Ok(Self(tls_config(roots)))
    }
}

fn tls_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    // The ring provider supports the safe defaults; a failure here is a build misconfiguration.
    Arc::new(cfg.unwrap_or_else(|_| {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    }))
}

impl Conn {
    /// Connects to `url`'s host (blocking, with `timeout` for connect, reads and writes); TLS
    /// trusts the webpki roots.
    pub fn connect(url: &Url, timeout: Duration) -> io::Result<Self> {
        Self::connect_trusting(url, timeout, None)
    }

    /// [`Conn::connect`] with TLS trusting `trust` (`None`: the webpki roots).
    pub fn connect_trusting(
        url: &Url,
        timeout: Duration,
        trust: Option<&TlsTrust>,
    ) -> io::Result<Self> {
        let addr = (url.host.as_str(), url.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host did not resolve"))?;
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        if !url.tls {
            return Ok(Conn::Plain(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let cfg = match trust {
            Some(t) => Arc::clone(&t.0),
            None => TlsTrust::webpki().0,
        };
        let conn = rustls::ClientConnection::new(cfg, name)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Switches the socket to non-blocking (after the handshake).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nonblocking(on)
    }

    /// Whether the peer has closed (or reset) an idle connection: a non-blocking peek that finds
    /// EOF, an error, or unexpected bytes (an idle HTTP keep-alive connection has nothing to read).
    pub fn peer_gone(&self) -> bool {
        let tcp = self.tcp();
        if tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let gone = !matches!(tcp.peek(&mut b), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
        gone || tcp.set_nonblocking(false).is_err()
    }

    /// Shuts the connection down (both directions).
    pub fn shutdown(&self) {
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(t) => t.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Data frames handed to the callback.
    pub frames: u64,
    /// Pings answered.
    pub pings: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// One WebSocket client connection with a fixed receive buffer.
pub struct WsClient {
    conn: Conn,
    rx: Box<[u8]>,
    start: usize,
    end: usize,
    tx: Box<[u8]>,
    mask: MaskGen,
    stats: WsStats,
}

/// Writes all of `data`, waiting (spinning, bounded) while a non-blocking socket is full.
fn write_all_nb(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    let mut off = 0;
    let mut spins = 0u32;
    while off < data.len() {
        match conn.write(&data[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                spins += 1;
                if spins > 10_000_000 {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                std::hint::spin_loop();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.flush()
}

impl WsClient {
    /// Connects and upgrades to WebSocket (blocking, `timeout` per step), then goes non-blocking.
    /// `rx_capacity` bounds the largest frame accepted.
    pub fn connect(
        url: &Url,
        timeout: Duration,
        rx_capacity: usize,
        seed: u64,
    ) -> io::Result<Self> {
        Self::connect_trusting(url, timeout, rx_capacity, seed, None)
    }

    /// [`WsClient::connect`] with TLS trusting `trust` (`None`: the webpki roots).
    pub fn connect_trusting(
        url: &Url,
        timeout: Duration,
        rx_capacity: usize,
        seed: u64,
        trust: Option<&TlsTrust>,
    ) -> io::Result<Self> {
        let mut conn = Conn::connect_trusting(url, timeout, trust)?;
        let mut req = [0u8; 2048];
        let nonce = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
        let mut n16 = [0u8; 16];
        n16[..8].copy_from_slice(&nonce);
        n16[8..].copy_from_slice(&seed.rotate_left(29).to_le_bytes());
        let (n, key) = handshake_request(&url.host_header(), &url.path, n16, &mut req)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        conn.write_all(&req[..n])?;
        conn.flush()?;
        let mut rx = vec![0u8; rx_capacity.max(16 << 10)].into_boxed_slice();
        let mut end = 0;
        let used = loop {
            let got = conn.read(&mut rx[end..])?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            end += got;
            match check_handshake_response(&rx[..end], &key) {
                Ok(Some(used)) => break used,
                Ok(None) if end < rx.len() => continue,
                Ok(None) => return Err(io::Error::other("handshake response too long")),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        e.to_string(),
                    ))
                }
            }
        };
        conn.set_nonblocking(true)?;
        Ok(Self {
            conn,
            rx,
            start: used,
            end,
            tx: vec![0u8; 64 << 10].into_boxed_slice(),
            mask: MaskGen::new(seed ^ 0xA5A5_5A5A_0F0F_F0F0),
            stats: WsStats::default(),
        })
    }

    /// Reads what the socket has and calls `f` for every complete text or binary message; returns
    /// how many were delivered. EOF, a close frame or a protocol violation is an error.
    ///
    /// # Hot path
    /// No allocation.
    pub fn poll(&mut self, mut f: impl FnMut(&[u8])) -> io::Result<usize> {
        self.poll_until(|p| {
            f(p);
            true
        })
    }

    /// Like [`WsClient::poll`], but stops after the message for which `f` returns `false`: the
    /// frames behind it stay buffered, unread, for the next poll (a connect handshake waiting for
    /// one response must not swallow the user-stream events that follow it in the same read).
    ///
    /// # Hot path
    /// No allocation.
    pub fn poll_until(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<usize> {
        if self.start < self.end && self.complete_frame_buffered() {
            // Frames left by an earlier stop: deliver them before reading more.
            return self.deliver(&mut f);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.rx.len() && self.start > 0 {
            self.rx.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        match self.conn.read(&mut self.rx[self.end..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.end += n;
                self.stats.bytes_in += n as u64;
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.deliver(&mut f)
    }

    fn complete_frame_buffered(&self) -> bool {
        matches!(
            parse_frame(&self.rx[self.start..self.end], self.rx.len() as u64),
            Ok(Some(_)) | Err(_)
        )
    }

    fn deliver(&mut self, f: &mut impl FnMut(&[u8]) -> bool) -> io::Result<usize> {
        let mut delivered = 0;
        loop {
            let buf = &self.rx[self.start..self.end];
            let frame = match parse_frame(buf, self.rx.len() as u64) {
                Ok(Some(fr)) => fr,
                Ok(None) => {
                    if self.start == 0 && self.end == self.rx.len() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "frame exceeds buffer",
                        ));
                    }
                    break;
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            };
            let (a, b) = (self.start + frame.payload.0, self.start + frame.payload.1);
            self.start += frame.len;
            match frame.opcode {
                Opcode::Text | Opcode::Binary if frame.fin => {
                    self.stats.frames += 1;
                    delivered += 1;
                    if !f(&self.rx[a..b]) {
                        break;
                    }
                }
                Opcode::Ping => {
                    let mut p = [0u8; 125];
                    let len = b - a;
                    p[..len].copy_from_slice(&self.rx[a..b]);
                    self.stats.pings += 1;
                    self.send_frame(Opcode::Pong, &p[..len])?;
                }
                Opcode::Pong => {}
                Opcode::Close => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "close frame",
                    ))
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "fragmented message (not sent by Binance)",
                    ))
                }
            }
        }
        Ok(delivered)
    }

    /// Sends one masked frame with `payload`.
    pub fn send_frame(&mut self, op: Opcode, payload: &[u8]) -> io::Result<()> {
        let mask = self.mask.next_mask();
        let n = encode_frame(op, payload, mask, &mut self.tx)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stats.bytes_out += n as u64;
        write_all_nb(&mut self.conn, &self.tx[..n])
    }

    /// Sends a text message.
    pub fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_frame(Opcode::Text, payload)
    }

    /// Counters so far.
    pub fn stats(&self) -> WsStats {
        self.stats
    }

    /// Closes the connection (best effort close frame, then shutdown).
    pub fn close(&mut self) {
        let _ = self.send_frame(Opcode::Close, &[0x03, 0xE8]);
        self.conn.shutdown();
    }
}

impl TxTransport for WsClient {
    /// Sends bytes that are already a complete, masked frame (the order encoders make them).
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stats.bytes_out += data.len() as u64;
        write_all_nb(&mut self.conn, data)?;
        Ok(data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("ws://127.0.0.1:9000/ws-api/v3").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 9000, "/ws-api/v3")
        );
        assert_eq!(u.host_header(), "127.0.0.1:9000");
        let u = Url::parse("wss://stream.binance.com:9443/ws").unwrap();
        assert!(u.tls);
        let u = Url::parse("https://api.binance.com").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.host_header().as_str()),
            (443, "/", "api.binance.com")
        );
        assert!(Url::parse("ftp://x").is_err());
        assert!(Url::parse("ws://:80/").is_err());
        assert!(Url::parse("ws://h:notaport/").is_err());
    }

    #[test]
    fn tls_config_builds() {
        let _ = TlsTrust::webpki();
    }
}
