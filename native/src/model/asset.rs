//! [`Asset`]: a short asset code ("USDT", "DOGE", "BNB") stored inline, so events that name one
//! (fees) stay `Copy` and allocation-free.

/// An asset code of at most [`Asset::MAX_LEN`] ASCII bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Asset {
    bytes: [u8; Asset::MAX_LEN],
    len: u8,
}

impl Asset {
    /// The longest code held (Binance asset codes are well below it).
    pub const MAX_LEN: usize = 15;

    /// No asset (e.g. no fee charged yet).
    pub const NONE: Asset = Asset {
        bytes: [0; Asset::MAX_LEN],
        len: 0,
    };

    /// The code `text`, or `None` if it is longer than [`Asset::MAX_LEN`] or not printable ASCII.
    pub fn new(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() > Self::MAX_LEN || !b.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        // b.len() <= MAX_LEN = 15 fits a u8.
        Some(Self {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The code as text ("" for [`Asset::NONE`]).
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored (checked in `new`), so this never fails.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// Whether this is [`Asset::NONE`].
    pub const fn is_none(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Asset({:?})", self.as_str())
    }
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_short_ascii_codes() {
        assert_eq!(Asset::new("USDT").unwrap().as_str(), "USDT");
        assert_eq!(Asset::new("1000SHIB").unwrap().to_string(), "1000SHIB");
        assert!(Asset::new("ABCDEFGHIJKLMNOP").is_none());
        assert!(Asset::new("US DT").is_none());
        assert!(Asset::NONE.is_none() && Asset::NONE.as_str().is_empty());
    }
}
