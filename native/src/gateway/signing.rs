//! Request signatures for Binance: HMAC-SHA256 (hex) and Ed25519 (base64), and their verification
//! for the simulated venue, over the exact payload bytes.
//!
//! Binance signs the query string joined to the body (REST) or the parameters sorted by name
//! (WebSocket API). The fast path is an Ed25519 `session.logon` once per WebSocket connection, after
//! which orders need no per-request signature; HMAC signs per request (about a microsecond).
//!
//! # Hot path
//! [`Signer::sign`] writes into a caller's stack buffer; no allocation for HMAC or Ed25519.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Longest signature text: base64 of 64 bytes is 88 characters; hex of 32 bytes is 64.
pub const MAX_SIGNATURE_LEN: usize = 88;

/// Why a key could not be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    /// An HMAC secret must not be empty.
    #[error("HMAC secret is empty")]
    EmptySecret,
    /// The PEM text is not an Ed25519 PKCS#8 key.
    #[error("not an Ed25519 PKCS#8 PEM key: {0}")]
    BadPem(String),
}

/// A signing key, as Binance issues them.
pub enum Signer {
    /// HMAC-SHA256 with the API secret; signatures are lowercase hex.
    Hmac(HmacSha256),
    /// Ed25519 with our private key (the public half is registered with the venue); base64.
    Ed25519(Box<SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            Signer::Hmac(_) => "Signer::Hmac(<secret>)",
            Signer::Ed25519(_) => "Signer::Ed25519(<private key>)",
        })
    }
}

impl Signer {
    /// An HMAC-SHA256 signer from the API secret.
    pub fn hmac(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        // HMAC accepts keys of any length; the error case cannot occur for a non-empty slice.
        HmacSha256::new_from_slice(secret)
            .map(Signer::Hmac)
            .map_err(|_| KeyError::EmptySecret)
    }

    /// An Ed25519 signer from a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn ed25519_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|k| Signer::Ed25519(Box::new(k)))
            .map_err(|e| KeyError::BadPem(e.to_string()))
    }

    /// An Ed25519 signer from the 32-byte secret seed.
    pub fn ed25519_seed(seed: &[u8; 32]) -> Self {
        Signer::Ed25519(Box::new(SigningKey::from_bytes(seed)))
    }

    /// The Ed25519 public key (to register with the venue), if this is an Ed25519 signer.
    pub fn ed25519_public(&self) -> Option<[u8; 32]> {
        match self {
            Signer::Ed25519(k) => Some(k.verifying_key().to_bytes()),
            Signer::Hmac(_) => None,
        }
    }

    /// Signs `payload`, writing the signature text into `out`; returns its length.
    #[inline]
    pub fn sign(&self, payload: &[u8], out: &mut [u8; MAX_SIGNATURE_LEN]) -> usize {
        match self {
            Signer::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(payload);
                let digest = mac.finalize().into_bytes();
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for (i, b) in digest.iter().enumerate() {
                    out[2 * i] = HEX[usize::from(b >> 4)];
                    out[2 * i + 1] = HEX[usize::from(b & 0xf)];
                }
                2 * digest.len()
            }
            Signer::Ed25519(key) => {
                let sig = key.sign(payload).to_bytes();
                // 64 bytes encode to exactly 88 base64 characters, which `out` holds.
                base64::engine::general_purpose::STANDARD
                    .encode_slice(sig, &mut out[..])
                    .unwrap_or(0)
            }
        }
    }
}

/// A verification key on the venue's side.
pub enum Verifier {
    /// The shared HMAC secret.
    Hmac(HmacSha256),
    /// The registered Ed25519 public key.
    Ed25519(VerifyingKey),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verifier::Hmac(_) => "Verifier::Hmac(<secret>)",
            Verifier::Ed25519(_) => "Verifier::Ed25519",
        })
    }
}

impl Verifier {
    /// From the HMAC secret.
    pub fn hmac(secret: &[u8]) -> Result<Self, KeyError> {
        match Signer::hmac(secret)? {
            Signer::Hmac(m) => Ok(Verifier::Hmac(m)),
            Signer::Ed25519(_) => Err(KeyError::EmptySecret),
        }
    }

    /// From an Ed25519 public key in PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn ed25519_pem(pem: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(pem)
            .map(Verifier::Ed25519)
            .map_err(|e| KeyError::BadPem(e.to_string()))
    }

    /// From raw Ed25519 public key bytes.
    pub fn ed25519_bytes(public: &[u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(public)
            .map(Verifier::Ed25519)
            .map_err(|e| KeyError::BadPem(e.to_string()))
    }

    /// Whether `signature` (as sent: hex for HMAC, case-insensitive; base64 for Ed25519, already
    /// percent-decoded) signs exactly `payload`.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Hmac(mac) => {
                if signature.len() != 64 {
                    return false;
                }
                let mut expected = [0u8; 32];
                for (i, pair) in signature.chunks_exact(2).enumerate() {
                    let hex = |c: u8| match c {
                        b'0'..=b'9' => Some(c - b'0'),
                        b'a'..=b'f' => Some(c - b'a' + 10),
                        b'A'..=b'F' => Some(c - b'A' + 10),
                        _ => None,
                    };
                    match (hex(pair[0]), hex(pair[1])) {
                        (Some(h), Some(l)) => expected[i] = (h << 4) | l,
                        _ => return false,
                    }
                }
                let mut mac = mac.clone();
                mac.update(payload);
                // Constant-time comparison.
                mac.verify_slice(&expected).is_ok()
            }
            Verifier::Ed25519(key) => {
                let mut raw = [0u8; 66];
                let Ok(n) =
                    base64::engine::general_purpose::STANDARD.decode_slice(signature, &mut raw)
                else {
                    return false;
                };
                let Ok(bytes) = <[u8; 64]>::try_from(&raw[..n]) else {
                    return false;
                };
                key.verify(payload, &ed25519_dalek::Signature::from_bytes(&bytes))
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Binance's documented vectors (research notes §1.3 and §2.4, verified there).
    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const REST_PAYLOAD: &[u8] =
        b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const REST_SIG: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    const WS_PAYLOAD: &[u8] = b"apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
    const WS_SIG: &str = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24";

    fn sign(s: &Signer, p: &[u8]) -> String {
        let mut out = [0u8; MAX_SIGNATURE_LEN];
        let n = s.sign(p, &mut out);
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn hmac_matches_binance_vectors() {
        let s = Signer::hmac(SECRET).unwrap();
        assert_eq!(sign(&s, REST_PAYLOAD), REST_SIG);
        assert_eq!(sign(&s, WS_PAYLOAD), WS_SIG);
        let v = Verifier::hmac(SECRET).unwrap();
        assert!(v.verify(REST_PAYLOAD, REST_SIG.as_bytes()));
        assert!(
            v.verify(REST_PAYLOAD, REST_SIG.to_uppercase().as_bytes()),
            "hex is case-insensitive"
        );
        assert!(!v.verify(WS_PAYLOAD, REST_SIG.as_bytes()));
        assert!(!v.verify(REST_PAYLOAD, b"zz"));
        assert_eq!(Signer::hmac(b"").unwrap_err(), KeyError::EmptySecret);
    }

    #[test]
    fn ed25519_round_trip_and_tamper() {
        let s = Signer::ed25519_seed(&[7u8; 32]);
        let sig = sign(&s, REST_PAYLOAD);
        assert_eq!(sig.len(), 88);
        let v = Verifier::ed25519_bytes(&s.ed25519_public().unwrap()).unwrap();
        assert!(v.verify(REST_PAYLOAD, sig.as_bytes()));
        assert!(!v.verify(WS_PAYLOAD, sig.as_bytes()));
        let mut bad = sig.into_bytes();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        assert!(!v.verify(REST_PAYLOAD, &bad));
        assert!(!v.verify(REST_PAYLOAD, b"not base64!"));
        assert!(Signer::ed25519_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
        assert_eq!(format!("{s:?}"), "Signer::Ed25519(<private key>)");
    }
}
