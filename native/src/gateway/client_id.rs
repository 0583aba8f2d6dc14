//! Client order ids that are unique forever: a counter whose high-water mark is persisted *before*
//! any id below it is used.
//!
//! Binance only enforces uniqueness among open orders, so a reused id could create a second order on
//! a retry; ours never repeat, across restarts and crashes. Ids are reserved in blocks: the file holds
//! the first id not yet reserved, written and fsynced before the block is handed out. A crash loses at
//! most the unused rest of a block (a gap, never a repeat).
//!
//! # Hot path
//! [`ClientIdAllocator::allocate`] is an increment; the file write happens once per block, off the
//! common path (the engine refills before the block runs out: see [`ClientIdAllocator::needs_refill`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::model::decimal::write_u64;
use crate::model::ClientOrderId;

/// Ids handed out per persisted reservation.
pub const DEFAULT_BLOCK: u64 = 100_000;

/// Allocates [`ClientOrderId`]s from a persisted counter.
#[derive(Debug)]
pub struct ClientIdAllocator {
    path: PathBuf,
    next: u64,
    reserved_until: u64,
    block: u64,
}

fn read_mark(path: &Path) -> io::Result<u64> {
    match fs::read_to_string(path) {
        Ok(s) => s.trim().parse::<u64>().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bad high-water mark {s:?}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(1),
        Err(e) => Err(e),
    }
}

fn write_mark(path: &Path, mark: u64) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        writeln!(f, "{mark}")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl ClientIdAllocator {
    /// Opens (or creates) the counter at `path` and reserves the first block.
    pub fn open(path: impl Into<PathBuf>, block: u64) -> io::Result<Self> {
        let path = path.into();
        let start = read_mark(&path)?;
        let mut a = Self {
            path,
            next: start,
            reserved_until: start,
            block: block.max(1),
        };
        a.refill()?;
        Ok(a)
    }

    /// Reserves the next block (persists the new high-water mark first).
    pub fn refill(&mut self) -> io::Result<()> {
        let until = self.reserved_until.checked_add(self.block).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "client order id space exhausted",
            )
        })?;
        write_mark(&self.path, until)?;
        self.reserved_until = until;
        Ok(())
    }

    /// Hands out the rest of the reserved block as `(first, end)` (ids `first..end`), reserving a
    /// fresh block first when it is used up. The hot path then takes ids without file I/O.
    pub fn take_block(&mut self) -> io::Result<(u64, u64)> {
        if self.next >= self.reserved_until {
            self.refill()?;
        }
        let first = self.next;
        self.next = self.reserved_until;
        Ok((first, self.reserved_until))
    }

    /// Whether fewer than a tenth of a block remain.
    pub fn needs_refill(&self) -> bool {
        self.reserved_until - self.next < self.block.div_ceil(10)
    }

    /// The next id, or `None` when the reserved block is used up (call [`Self::refill`]).
    #[inline]
    pub fn allocate(&mut self) -> Option<ClientOrderId> {
        if self.next >= self.reserved_until {
            return None;
        }
        let id = self.next;
        self.next += 1;
        Some(ClientOrderId(id))
    }
}

/// Renders an id as Binance `newClientOrderId` text (`^[.A-Z:/a-z0-9_-]{1,36}$`): `prefix` + decimal.
///
/// Returns the length written into `buf`, or `None` when the prefix is invalid or too long.
pub fn write_binance_client_id(
    prefix: &[u8],
    id: ClientOrderId,
    buf: &mut [u8; 36],
) -> Option<usize> {
    let ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-');
    if !prefix.iter().all(ok) {
        return None;
    }
    let mut scratch = [0u8; 20];
    let digits = write_u64(id.0, &mut scratch);
    let n = digits.len();
    let len = prefix.len() + n;
    if len > 36 {
        return None;
    }
    buf[..prefix.len()].copy_from_slice(prefix);
    buf[prefix.len()..len].copy_from_slice(digits);
    Some(len)
}

/// Parses text written by [`write_binance_client_id`] with the same prefix.
pub fn parse_binance_client_id(prefix: &[u8], text: &[u8]) -> Option<ClientOrderId> {
    let digits = text.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(ClientOrderId(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pymm-clid-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn ids_never_repeat_across_restarts() {
        let d = tmpdir("restart");
        let p = d.join("clid");
        let mut a = ClientIdAllocator::open(&p, 10).unwrap();
        let first: Vec<u64> = (0..7).map(|_| a.allocate().unwrap().0).collect();
        assert_eq!(first, (1..8).collect::<Vec<_>>());
        drop(a); // a crash: 3 reserved ids are never used
        let mut b = ClientIdAllocator::open(&p, 10).unwrap();
        assert_eq!(
            b.allocate().unwrap().0,
            11,
            "resumes above the persisted mark"
        );
        for _ in 0..9 {
            b.allocate().unwrap();
        }
        assert!(b.allocate().is_none(), "block used up");
        assert!(b.needs_refill());
        b.refill().unwrap();
        assert_eq!(b.allocate().unwrap().0, 21);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn corrupt_mark_is_an_error_not_a_reset() {
        let d = tmpdir("corrupt");
        let p = d.join("clid");
        fs::write(&p, "garbage").unwrap();
        let e = ClientIdAllocator::open(&p, 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn binance_text_round_trip() {
        let mut buf = [0u8; 36];
        let n = write_binance_client_id(b"pymm-", ClientOrderId(12_345), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"pymm-12345");
        assert_eq!(
            parse_binance_client_id(b"pymm-", &buf[..n]),
            Some(ClientOrderId(12_345))
        );
        assert_eq!(parse_binance_client_id(b"pymm-", b"x-12"), None);
        assert_eq!(parse_binance_client_id(b"pymm-", b"pymm-"), None);
        assert!(write_binance_client_id(b"bad prefix", ClientOrderId(1), &mut buf).is_none());
        let long = [b'a'; 17];
        assert!(write_binance_client_id(&long, ClientOrderId(u64::MAX), &mut buf).is_none());
        let n = write_binance_client_id(&long[..16], ClientOrderId(u64::MAX), &mut buf).unwrap();
        assert_eq!(n, 36);
    }
}
