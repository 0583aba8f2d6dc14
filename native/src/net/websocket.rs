//! WebSocket client framing (RFC 6455) over a byte stream, without allocation per message.
//!
//! Binance market data and WebSocket-API order entry both run over WebSocket. General-purpose
//! libraries hand each message over as an owned `Vec`; on the hot path we parse frames in place in
//! the receive buffer and encode masked client frames into a caller's buffer instead (see
//! `docs/adr/0004-websocket-framing.md`).
//!
//! - [`handshake_request`] / [`check_handshake_response`]: the HTTP/1.1 upgrade (§4.1), with the
//!   `Sec-WebSocket-Accept` check (§4.2.2).
//! - [`parse_frame`]: one server frame from the front of a buffer (§5.2); server frames must not be
//!   masked (§5.1).
//! - [`encode_frame`]: one masked client frame (§5.3).
//!
//! Fragmented messages (continuation frames) are reported frame by frame; Binance sends whole
//! messages, and the caller treats a non-final frame as a protocol error it counts.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use thiserror::Error;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Frame opcodes (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation,
    /// UTF-8 text.
    Text,
    /// Binary.
    Binary,
    /// Close.
    Close,
    /// Ping (answer with a pong carrying the same payload).
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }
}

/// A protocol violation by the peer (the connection must be dropped and resynced).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum WsError {
    /// Reserved bits set without a negotiated extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// Unknown opcode.
    #[error("unknown opcode {0:#x}")]
    BadOpcode(u8),
    /// A server frame was masked (§5.1 forbids it).
    #[error("masked server frame")]
    MaskedServerFrame,
    /// A control frame longer than 125 bytes or fragmented (§5.5).
    #[error("bad control frame")]
    BadControlFrame,
    /// A frame longer than the configured maximum.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLong(u64),
    /// The output buffer is too small.
    #[error("output buffer too small")]
    Overflow,
    /// The upgrade response was not `101` with the right `Sec-WebSocket-Accept`.
    #[error("handshake refused: {0}")]
    Handshake(&'static str),
}

/// A frame parsed in place: the payload is `buf[payload.0..payload.1]` of the buffer given to
/// [`parse_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whether this is the final fragment.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// Payload byte range within the buffer.
    pub payload: (usize, usize),
    /// Total bytes the frame occupies (header + payload): consume this many.
    pub len: usize,
}

/// Parses one server frame at the front of `buf`. `Ok(None)` means more bytes are needed.
///
/// # Hot path
/// No allocation, no copy: the payload stays in `buf`.
#[inline]
pub fn parse_frame(buf: &[u8], max_payload: u64) -> Result<Option<Frame>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(WsError::ReservedBits);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(WsError::BadOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 != 0 {
        return Err(WsError::MaskedServerFrame);
    }
    let (plen, hdr) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if matches!(opcode, Opcode::Close | Opcode::Ping | Opcode::Pong) && (plen > 125 || !fin) {
        return Err(WsError::BadControlFrame);
    }
    if plen > max_payload {
        return Err(WsError::TooLong(plen));
    }
    // plen <= max_payload, which the caller sizes to its buffer: it fits a usize.
    let plen = plen as usize;
    if buf.len() < hdr + plen {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin,
        opcode,
        payload: (hdr, hdr + plen),
        len: hdr + plen,
    }))
}

/// Encodes one final client frame, masked with `mask`, into `out`; returns its length.
///
/// # Hot path
/// No allocation. The mask should be unpredictable (§5.3); the session draws it from the OS once
/// per connection and advances it per frame.
#[inline]
pub fn encode_frame(
    opcode: Opcode,
    payload: &[u8],
    mask: [u8; 4],
    out: &mut [u8],
) -> Result<usize, WsError> {
    let n = payload.len();
    let hdr = match n {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    } + 4;
    if out.len() < hdr + n {
        return Err(WsError::Overflow);
    }
    out[0] = 0x80 | opcode.bits();
    match n {
        0..=125 => out[1] = 0x80 | n as u8,
        126..=0xFFFF => {
            out[1] = 0x80 | 126;
            out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out[1] = 0x80 | 127;
            out[2..10].copy_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out[hdr - 4..hdr].copy_from_slice(&mask);
    for (i, b) in payload.iter().enumerate() {
        out[hdr + i] = b ^ mask[i & 3];
    }
    Ok(hdr + n)
}

/// Unmasks a payload in place (for the server side: the simulated venue).
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// The `Sec-WebSocket-Accept` value for a key (§4.2.2).
pub fn accept_key(key_b64: &[u8]) -> [u8; 28] {
    let mut h = Sha1::new();
    h.update(key_b64);
    h.update(GUID);
    let digest = h.finalize();
    let mut out = [0u8; 28];
    // 20 bytes encode to exactly 28 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

/// Writes the upgrade request for `host` and `path` with the 16-byte `nonce`; returns the length and
/// the base64 key to check the answer against.
pub fn handshake_request(
    host: &str,
    path: &str,
    nonce: [u8; 16],
    out: &mut [u8],
) -> Result<(usize, [u8; 24]), WsError> {
    let mut key = [0u8; 24];
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut key);
    let parts: [&[u8]; 7] = [
        b"GET ",
        path.as_bytes(),
        b" HTTP/1.1\r\nHost: ",
        host.as_bytes(),
        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
        &key,
        b"\r\n\r\n",
    ];
    let mut pos = 0;
    for p in parts {
        let end = pos + p.len();
        if end > out.len() {
            return Err(WsError::Overflow);
        }
        out[pos..end].copy_from_slice(p);
        pos = end;
    }
    Ok((pos, key))
}

/// Checks an upgrade response; returns the bytes it used (frames may follow in the same read), or
/// `Ok(None)` while the header is incomplete.
pub fn check_handshake_response(buf: &[u8], key: &[u8; 24]) -> Result<Option<usize>, WsError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 8192 {
            return Err(WsError::Handshake("response header too long"));
        }
        return Ok(None);
    };
    let head = &buf[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next().unwrap_or_default();
    if !status.starts_with(b"HTTP/1.1 101") {
        return Err(WsError::Handshake("status is not 101"));
    }
    let expected = accept_key(key);
    let mut accepted = false;
    for line in lines {
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
                accepted = value == expected;
            }
        }
    }
    if !accepted {
        return Err(WsError::Handshake("Sec-WebSocket-Accept does not match"));
    }
    Ok(Some(end + 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_accept_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_unmasked_and_masked_examples() {
        // §5.7: a single-frame unmasked text message "Hello".
        let f = parse_frame(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.fin, f.opcode, f.payload, f.len),
            (true, Opcode::Text, (2, 7), 7)
        );
        // §5.7: the masked "Hello" a client sends.
        let mut out = [0u8; 32];
        let n = encode_frame(Opcode::Text, b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out).unwrap();
        assert_eq!(
            &out[..n],
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // Fragmented "Hel" + "lo": the first frame is not final.
        let f = parse_frame(&[0x01, 0x03, 0x48, 0x65, 0x6c], 100)
            .unwrap()
            .unwrap();
        assert!(!f.fin);
    }

    #[test]
    fn incomplete_and_invalid_frames() {
        assert_eq!(parse_frame(&[0x81], 100), Ok(None));
        assert_eq!(parse_frame(&[0x81, 0x05, 0x48], 100), Ok(None));
        assert_eq!(parse_frame(&[0x81, 126, 0x01], 1000), Ok(None));
        assert_eq!(
            parse_frame(&[0x81, 0x85, 0, 0, 0, 0], 100),
            Err(WsError::MaskedServerFrame)
        );
        assert_eq!(parse_frame(&[0xC1, 0x00], 100), Err(WsError::ReservedBits));
        assert_eq!(parse_frame(&[0x83, 0x00], 100), Err(WsError::BadOpcode(3)));
        assert_eq!(
            parse_frame(&[0x89, 126, 0, 200], 1000),
            Err(WsError::BadControlFrame)
        );
        assert_eq!(
            parse_frame(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0], 1 << 20),
            Err(WsError::TooLong(1 << 32))
        );
    }

    #[test]
    fn handshake_round_trip() {
        let mut out = [0u8; 512];
        let (n, key) = handshake_request("127.0.0.1:9000", "/ws", [9; 16], &mut out).unwrap();
        let req = std::str::from_utf8(&out[..n]).unwrap();
        assert!(req.starts_with("GET /ws HTTP/1.1\r\n") && req.ends_with("\r\n\r\n"));
        let accept = accept_key(&key);
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        );
        let mut with_frame = head.clone().into_bytes();
        with_frame.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(
            check_handshake_response(&with_frame, &key),
            Ok(Some(head.len()))
        );
        let resp = head;
        assert_eq!(
            check_handshake_response(&resp.as_bytes()[..20], &key),
            Ok(None)
        );
        let bad = resp.replace("101 Switching", "400 Bad");
        assert!(check_handshake_response(bad.as_bytes(), &key).is_err());
        let wrong = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: x\r\n\r\n";
        assert!(check_handshake_response(wrong.as_bytes(), &key).is_err());
    }

    proptest! {
        /// A client frame, unmasked as a server would, parses back to the payload (all length forms).
        #[test]
        fn encode_unmask_parse_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..70_000), mask in any::<[u8; 4]>()) {
            let mut out = vec![0u8; payload.len() + 14];
            let n = encode_frame(Opcode::Binary, &payload, mask, &mut out).unwrap();
            // Turn it into the server's view: clear the mask bit and drop the key, unmasking the payload.
            let hdr = n - payload.len();
            let mut server = out[..hdr - 4].to_vec();
            server[1] &= 0x7F;
            let mut body = out[hdr..n].to_vec();
            unmask(&mut body, mask);
            server.extend_from_slice(&body);
            let f = parse_frame(&server, 1 << 20).unwrap().unwrap();
            prop_assert_eq!(&server[f.payload.0..f.payload.1], &payload[..]);
            prop_assert_eq!(f.len, server.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_frame(&b, 1 << 16);
            let _ = check_handshake_response(&b, &[b'a'; 24]);
        }
    }
}
