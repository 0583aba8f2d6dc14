//! Solarflare/AMD ef_vi behind a run-time-loaded shim (`native/shim/pymm_efvi.h`).
//!
//! ef_vi's fast path is macros and inlines over struct internals whose ABI moves between Onload
//! releases, so pymm never links libciul: `make efvi-shim` builds `libpymm_efvi.so` on a host with
//! Onload (docs/ops/ef_vi.md) and [`EfViRx::open`] loads it with `libloading`. Everything that is
//! policy lives here, in Rust, where the in-repo fake shim (`native/shim/fake_efvi.c`) tests it:
//!
//! - RX buffers (EF10 architectures): which ids are posted or free, refilled in batches that are
//!   multiples of 8 (ef_vi ignores smaller ones); the frame starts `rx_prefix_len` bytes into the
//!   buffer and the event's byte count includes that prefix;
//! - discards (`RX_DISCARD` still consumes its buffer: recycled and counted), packets that found no
//!   posted buffer, unknown ids (counted, never trusted);
//! - event-queue overflow: the VI is in an undetermined state, so `poll` fails from then on and
//!   the caller reopens or falls back;
//! - hardware RX timestamps from the RX prefix with their sync flags, and the "not yet synced",
//!   "no stamp" and "sync lost" answers, each counted;
//! - X3 (EFCT) packet references: no posted buffers, every packet released right after delivery;
//! - TX: frames built in the shim's registered buffers, `-EAGAIN` (FIFO full) returned as
//!   `WouldBlock` with the buffer kept, and bundled completions expanded to buffer ids.
//!
//! If the shim, `/dev/sfc_char` or a needed capability is missing, [`EfViRx::open`] returns an
//! [`EfViError`]; [`super::select::open_rx`] then falls back to kernel sockets with one log line
//! and a counter.
//!
//! # Hot path
//! `poll` and `send` call through function pointers resolved at open, into buffers preallocated at
//! open; no allocation, no logging.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CString};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use libloading::Library;

use super::packet::{self, Reject, UdpEndpoints, UdpFilter};
use super::timestamp::{RxTimestamp, TsSource};
use super::transport::{RxTransport, TxTransport};
use crate::model::UnixNanos;

/// The shim interface version this backend speaks (`PYMM_EFVI_ABI_VERSION`).
pub const ABI_VERSION: u32 = 1;
/// Hardware RX timestamps.
pub const CAP_HW_RX_TS: u32 = 1 << 0;
/// Hardware TX timestamps.
pub const CAP_HW_TX_TS: u32 = 1 << 1;
/// Cut-through PIO.
pub const CAP_CTPIO: u32 = 1 << 2;
/// X3 packet references.
pub const CAP_RX_REF: u32 = 1 << 3;
/// UDP (multicast) filters.
pub const CAP_UDP_FILTER: u32 = 1 << 4;
/// TCP flow filters.
pub const CAP_TCP_FILTER: u32 = 1 << 5;

const OPEN_RX_TIMESTAMPS: u32 = 1 << 0;

const EV_RX: u32 = 1;
const EV_RX_DISCARD: u32 = 2;
const EV_TX: u32 = 3;
const EV_TX_ERROR: u32 = 4;
const EV_OFLOW: u32 = 5;
const EV_RX_REF: u32 = 6;
const EV_RX_REF_DISCARD: u32 = 7;
const EV_RX_NO_DESC_TRUNC: u32 = 8;

const TS_IN_SYNC: u32 = 1 << 1;

const POLL_EVENTS: usize = 32;
const REFILL_MAX: usize = 32;

/// `struct pymm_efvi_caps`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShimCaps {
    /// The interface version the shim was built for.
    pub abi: u32,
    /// `CAP_*` bits.
    pub caps: u32,
    /// Bytes before the frame in an RX buffer.
    pub rx_prefix_len: u32,
    /// RX buffers.
    pub rx_buf_count: u32,
    /// RX buffer size.
    pub rx_buf_size: u32,
    /// TX buffers.
    pub tx_buf_count: u32,
    /// TX buffer size.
    pub tx_buf_size: u32,
    /// ef_vi architecture (informational).
    pub arch: u32,
}

/// `struct pymm_efvi_event`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ShimEvent {
    kind: u32,
    id: u32,
    bytes: u32,
    flags: u32,
    raw: [u64; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ShimTs {
    sec: i64,
    nsec: u32,
    flags: u32,
}

type Handle = *mut c_void;

/// The shim's functions, resolved once at load.
struct Api {
    query: unsafe extern "C" fn(*const libc::c_char, *mut ShimCaps) -> c_int,
    open: unsafe extern "C" fn(*const libc::c_char, u32, *mut Handle) -> c_int,
    close: unsafe extern "C" fn(Handle),
    info: unsafe extern "C" fn(Handle, *mut ShimCaps) -> c_int,
    filter_udp: unsafe extern "C" fn(Handle, u32, u16) -> c_int,
    filter_tcp: unsafe extern "C" fn(Handle, u32, u16, u32, u16) -> c_int,
    rx_buf: unsafe extern "C" fn(Handle, u32) -> *const u8,
    rx_post: unsafe extern "C" fn(Handle, *const u32, u32) -> c_int,
    poll: unsafe extern "C" fn(Handle, *mut ShimEvent, c_int) -> c_int,
    rx_timestamp: unsafe extern "C" fn(Handle, *const u8, *mut ShimTs) -> c_int,
    rxref_get: unsafe extern "C" fn(Handle, u32) -> *const u8,
    rxref_release: unsafe extern "C" fn(Handle, u32),
    tx_buf: unsafe extern "C" fn(Handle, u32) -> *mut u8,
    tx_send: unsafe extern "C" fn(Handle, u32, u32) -> c_int,
    tx_unbundle: unsafe extern "C" fn(Handle, *const ShimEvent, *mut u32, c_int) -> c_int,
    // Keeps the code behind the pointers above mapped; declared last so it is dropped last.
    _lib: Library,
}

/// Why ef_vi could not be used (each is a reason to fall back to kernel sockets).
#[derive(Debug)]
pub enum EfViError {
    /// The shim library could not be loaded (not built on this host?).
    NoShim(String),
    /// The shim speaks another interface version.
    Abi(u32),
    /// No `/dev/sfc_char`: Onload's drivers are not loaded.
    NoDevice,
    /// The interface is unknown or not driven by sfc.
    NoInterface(String),
    /// A capability the configuration needs is missing.
    MissingCapability(&'static str),
    /// Another driver error (`-errno` from the shim).
    Driver(&'static str, io::Error),
}

impl fmt::Display for EfViError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoShim(e) => write!(f, "ef_vi shim not loadable: {e}"),
            Self::Abi(v) => write!(
                f,
                "ef_vi shim interface v{v}, this build speaks v{ABI_VERSION}"
            ),
            Self::NoDevice => write!(f, "no /dev/sfc_char (Onload drivers not loaded)"),
            Self::NoInterface(i) => {
                write!(f, "interface {i:?} is not an ef_vi-capable (sfc) interface")
            }
            Self::MissingCapability(c) => write!(f, "the adapter lacks {c}"),
            Self::Driver(what, e) => write!(f, "ef_vi {what}: {e}"),
        }
    }
}

impl std::error::Error for EfViError {}

fn errno(rc: c_int) -> io::Error {
    io::Error::from_raw_os_error(-rc)
}

/// Resolves `name` from `lib` as a function pointer of type `T`.
///
/// # Safety
/// `T` must be the exact C signature of `name` in `pymm_efvi.h`.
unsafe fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T, EfViError> {
    // SAFETY: the caller guarantees the type; the pointer is copied out and `lib` is kept alive
    // by the `Api` that stores both.
    unsafe { lib.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| EfViError::NoShim(format!("{name}: {e}")))
}

impl Api {
    fn load(path: &Path) -> Result<Self, EfViError> {
        // SAFETY: loading runs the shim's initialisers; the shim is our own C code (or its fake)
        // with no constructors beyond libc's.
        let lib = unsafe { Library::new(path) }.map_err(|e| EfViError::NoShim(e.to_string()))?;
        // SAFETY: each `sym` type below is the prototype in native/shim/pymm_efvi.h; the shim's
        // ABI version is checked before any other symbol is used.
        unsafe {
            let abi: unsafe extern "C" fn() -> c_int = sym(&lib, "pymm_efvi_abi_version")?;
            let v = abi() as u32;
            if v != ABI_VERSION {
                return Err(EfViError::Abi(v));
            }
            Ok(Self {
                query: sym(&lib, "pymm_efvi_query")?,
                open: sym(&lib, "pymm_efvi_open")?,
                close: sym(&lib, "pymm_efvi_close")?,
                info: sym(&lib, "pymm_efvi_info")?,
                filter_udp: sym(&lib, "pymm_efvi_filter_udp")?,
                filter_tcp: sym(&lib, "pymm_efvi_filter_tcp")?,
                rx_buf: sym(&lib, "pymm_efvi_rx_buf")?,
                rx_post: sym(&lib, "pymm_efvi_rx_post")?,
                poll: sym(&lib, "pymm_efvi_poll")?,
                rx_timestamp: sym(&lib, "pymm_efvi_rx_timestamp")?,
                rxref_get: sym(&lib, "pymm_efvi_rxref_get")?,
                rxref_release: sym(&lib, "pymm_efvi_rxref_release")?,
                tx_buf: sym(&lib, "pymm_efvi_tx_buf")?,
                tx_send: sym(&lib, "pymm_efvi_tx_send")?,
                tx_unbundle: sym(&lib, "pymm_efvi_tx_unbundle")?,
                _lib: lib,
            })
        }
    }
}

/// The shim to load: `explicit`, else `$PYMM_EFVI_SHIM`, else `libpymm_efvi.so` on the loader path.
pub fn shim_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("PYMM_EFVI_SHIM").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("libpymm_efvi.so"))
}

/// Loads the shim and asks the driver what `ifname` can do, without allocating a VI.
pub fn query(shim: Option<&Path>, ifname: &str) -> Result<ShimCaps, EfViError> {
    let api = Api::load(&shim_path(shim))?;
    query_with(&api, ifname)
}

fn query_with(api: &Api, ifname: &str) -> Result<ShimCaps, EfViError> {
    let name = CString::new(ifname).map_err(|_| EfViError::NoInterface(ifname.to_string()))?;
    let mut caps = ShimCaps::default();
    // SAFETY: `name` is NUL-terminated and `caps` a live, writable struct of the shim's layout.
    let rc = unsafe { (api.query)(name.as_ptr(), &mut caps) };
    match rc {
        0.. => Ok(caps),
        rc if -rc == libc::ENOENT => Err(EfViError::NoDevice),
        rc if -rc == libc::ENODEV => Err(EfViError::NoInterface(ifname.to_string())),
        rc => Err(EfViError::Driver("query", errno(rc))),
    }
}

/// How to open an ef_vi receiver (and optional sender).
#[derive(Clone, Debug)]
pub struct EfViConfig {
    /// Shim path (see [`shim_path`]).
    pub shim: Option<PathBuf>,
    /// Interface name.
    pub ifname: String,
    /// What to receive: a filter is installed for (`dst`, `port`) and frames are checked again here.
    pub filter: UdpFilter,
    /// Ask for hardware RX timestamps (required: without the capability, open fails).
    pub rx_timestamps: bool,
    /// Addressing for `send`; `None` makes it receive-only.
    pub tx: Option<UdpEndpoints>,
}

/// Counters (read by the metrics snapshotter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EfViStats {
    /// Datagrams delivered.
    pub packets: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Frames that were not IPv4/UDP to the filter, or malformed.
    pub rejected: u64,
    /// `RX_DISCARD` / `RX_REF_DISCARD` events (bad checksum, CRC, truncation, ...).
    pub rx_discards: u64,
    /// Packets that arrived with no buffer posted.
    pub rx_no_desc: u64,
    /// Events naming a buffer or packet id we did not post or do not know.
    pub bad_ids: u64,
    /// Event-queue overflows (the VI is unusable afterwards).
    pub overflows: u64,
    /// Other events (software, reset).
    pub other_events: u64,
    /// RX buffers posted to the NIC.
    pub posted: u64,
    /// X3 packet references released.
    pub refs_released: u64,
    /// Hardware stamps with the NIC clock in sync.
    pub ts_in_sync: u64,
    /// Hardware stamps with the clock set but not (yet) in sync.
    pub ts_not_in_sync: u64,
    /// `ENOMSG`: the adapter clock is not yet synced.
    pub ts_not_synced: u64,
    /// `ENODATA`: the packet carried no stamp.
    pub ts_missing: u64,
    /// `EL2NSYNC`: sync lost.
    pub ts_sync_lost: u64,
    /// Frames handed to the NIC.
    pub tx_packets: u64,
    /// TX completions.
    pub tx_completed: u64,
    /// TX completions with an error.
    pub tx_errors: u64,
    /// Sends refused with `-EAGAIN` (TX queue / CTPIO FIFO full).
    pub tx_eagain: u64,
    /// Sends refused because every TX buffer was in flight.
    pub tx_full: u64,
}

/// An ef_vi virtual interface receiving (and optionally sending) UDP through the shim.
pub struct EfViRx {
    h: Handle,
    caps: ShimCaps,
    rx_ref: bool,
    prefix: usize,
    filter: UdpFilter,
    timestamps: bool,
    rx_free: Vec<u32>,
    rx_posted: Vec<bool>,
    tx_free: Vec<u32>,
    tx_inflight: Vec<bool>,
    tx_ep: Option<UdpEndpoints>,
    ip_id: u16,
    evs: [ShimEvent; POLL_EVENTS],
    ids: Vec<u32>,
    failed: bool,
    stats: EfViStats,
    api: Api,
}

// SAFETY: the handle and buffers belong to this struct alone and are used only through
// `&mut self` (one thread at a time, as ef_vi requires); the library is thread-agnostic.
unsafe impl Send for EfViRx {}

impl EfViRx {
    /// Loads the shim, checks the device and capabilities, opens a VI, installs the UDP filter
    /// and posts the RX buffers.
    pub fn open(cfg: &EfViConfig) -> Result<Self, EfViError> {
        let api = Api::load(&shim_path(cfg.shim.as_deref()))?;
        let pre = query_with(&api, &cfg.ifname)?;
        if cfg.rx_timestamps && pre.caps & CAP_HW_RX_TS == 0 {
            return Err(EfViError::MissingCapability("hardware RX timestamps"));
        }
        if pre.caps & CAP_UDP_FILTER == 0 {
            return Err(EfViError::MissingCapability("UDP (ip4-local) filters"));
        }
        let name = CString::new(cfg.ifname.as_str())
            .map_err(|_| EfViError::NoInterface(cfg.ifname.clone()))?;
        let flags = if cfg.rx_timestamps {
            OPEN_RX_TIMESTAMPS
        } else {
            0
        };
        let mut h: Handle = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `h` is a live out-pointer.
        let rc = unsafe { (api.open)(name.as_ptr(), flags, &mut h) };
        if rc < 0 || h.is_null() {
            return Err(EfViError::Driver("open", errno(rc.min(-libc::EIO))));
        }
        let mut me = Self {
            h,
            caps: ShimCaps::default(),
            rx_ref: false,
            prefix: 0,
            filter: cfg.filter,
            timestamps: cfg.rx_timestamps,
            rx_free: Vec::new(),
            rx_posted: Vec::new(),
            tx_free: Vec::new(),
            tx_inflight: Vec::new(),
            tx_ep: cfg.tx,
            ip_id: 0,
            evs: [ShimEvent::default(); POLL_EVENTS],
            ids: Vec::new(),
            failed: false,
            stats: EfViStats::default(),
            api,
        };
        // From here on `me` owns the handle and closes it on any error.
        let mut caps = ShimCaps::default();
        // SAFETY: `h` is the open handle; `caps` is writable.
        let rc = unsafe { (me.api.info)(me.h, &mut caps) };
        if rc < 0 {
            return Err(EfViError::Driver("info", errno(rc)));
        }
        me.caps = caps;
        me.rx_ref = caps.caps & CAP_RX_REF != 0;
        me.prefix = caps.rx_prefix_len as usize;
        let dst = cfg.filter.dst.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        let daddr_be = u32::from_ne_bytes(dst.octets());
        let dport_be = u16::from_ne_bytes(cfg.filter.port.to_be_bytes());
        // SAFETY: `h` is the open handle; plain integer arguments.
        let rc = unsafe { (me.api.filter_udp)(me.h, daddr_be, dport_be) };
        if rc < 0 {
            return Err(EfViError::Driver("UDP filter", errno(rc)));
        }
        if !me.rx_ref {
            me.rx_free = (0..caps.rx_buf_count).collect();
            me.rx_posted = vec![false; caps.rx_buf_count as usize];
            me.refill();
        }
        me.tx_free = (0..caps.tx_buf_count).rev().collect();
        me.tx_inflight = vec![false; caps.tx_buf_count as usize];
        me.ids = vec![0; caps.tx_buf_count.max(1) as usize];
        Ok(me)
    }

    /// What the opened VI reports.
    pub fn caps(&self) -> ShimCaps {
        self.caps
    }

    /// Counters so far.
    pub fn stats(&self) -> EfViStats {
        self.stats
    }

    /// The shim's handle, for test fixtures that drive the fake shim through its own controls.
    pub fn shim_handle(&self) -> *mut c_void {
        self.h
    }

    /// RX buffers currently posted to the NIC (EF10) — the refill arithmetic's observable.
    pub fn rx_buffers_posted(&self) -> usize {
        self.rx_posted.iter().filter(|p| **p).count()
    }

    /// Installs a TCP flow filter (network order is handled here).
    pub fn add_tcp_filter(
        &mut self,
        local: std::net::SocketAddrV4,
        remote: std::net::SocketAddrV4,
    ) -> Result<(), EfViError> {
        if self.caps.caps & CAP_TCP_FILTER == 0 {
            return Err(EfViError::MissingCapability("TCP (ip4-full) filters"));
        }
        let be_ip = |a: &std::net::SocketAddrV4| u32::from_ne_bytes(a.ip().octets());
        let be_port = |a: &std::net::SocketAddrV4| u16::from_ne_bytes(a.port().to_be_bytes());
        // SAFETY: open handle; plain integers.
        let rc = unsafe {
            (self.api.filter_tcp)(
                self.h,
                be_ip(&local),
                be_port(&local),
                be_ip(&remote),
                be_port(&remote),
            )
        };
        if rc < 0 {
            return Err(EfViError::Driver("TCP filter", errno(rc)));
        }
        Ok(())
    }

    /// Posts free RX buffers in batches that are multiples of 8 (ef_vi ignores smaller ones).
    fn refill(&mut self) {
        while self.rx_free.len() >= 8 {
            let k = (self.rx_free.len() / 8 * 8).min(REFILL_MAX);
            let start = self.rx_free.len() - k;
            // SAFETY: open handle; `rx_free[start..]` holds `k` ids, valid for the call.
            let rc =
                unsafe { (self.api.rx_post)(self.h, self.rx_free[start..].as_ptr(), k as u32) };
            if rc <= 0 {
                break;
            }
            let posted = (rc as usize).min(k);
            for &id in &self.rx_free[start..start + posted] {
                self.rx_posted[id as usize] = true;
            }
            self.stats.posted += posted as u64;
            self.rx_free.copy_within(start + posted.., start);
            self.rx_free.truncate(self.rx_free.len() - posted);
        }
    }

    #[inline]
    fn timestamp(&mut self, pkt: *const u8) -> RxTimestamp {
        if !self.timestamps {
            return RxTimestamp::NONE;
        }
        let mut ts = ShimTs::default();
        // SAFETY: open handle; `pkt` is the buffer/packet of the event being handled (before the
        // next poll, as ef_vi requires); `ts` is writable.
        let rc = unsafe { (self.api.rx_timestamp)(self.h, pkt, &mut ts) };
        if rc == 0 {
            if ts.flags & TS_IN_SYNC != 0 {
                self.stats.ts_in_sync += 1;
            } else {
                self.stats.ts_not_in_sync += 1;
            }
            let ns = (ts.sec.max(0) as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(ts.nsec));
            return RxTimestamp {
                ts: UnixNanos(ns),
                source: TsSource::Hardware,
            };
        }
        match -rc {
            libc::ENOMSG => self.stats.ts_not_synced += 1,
            libc::EL2NSYNC => self.stats.ts_sync_lost += 1,
            _ => self.stats.ts_missing += 1,
        }
        RxTimestamp::NONE
    }

    /// Parses `frame`; if it passes the filter, stamps it from `pkt` (the buffer start on EF10,
    /// the packet on X3) and hands the payload over.
    #[inline]
    fn deliver<F: FnMut(&[u8], RxTimestamp)>(
        &mut self,
        frame: &[u8],
        pkt: *const u8,
        on_packet: &mut F,
    ) -> bool {
        match packet::parse_udp(frame, &self.filter) {
            Ok(d) => {
                let ts = self.timestamp(pkt);
                self.stats.packets += 1;
                self.stats.bytes += d.payload.len() as u64;
                on_packet(d.payload, ts);
                true
            }
            Err(
                Reject::Malformed
                | Reject::NotIpv4
                | Reject::NotUdp
                | Reject::Fragment
                | Reject::Filtered,
            ) => {
                self.stats.rejected += 1;
                false
            }
        }
    }

    /// Takes an RX buffer id back from the NIC; `false` if it was not posted.
    #[inline]
    fn reclaim(&mut self, id: u32) -> bool {
        match self.rx_posted.get_mut(id as usize) {
            Some(p) if *p => {
                *p = false;
                // Capacity is every buffer: no reallocation.
                self.rx_free.push(id);
                true
            }
            _ => {
                self.stats.bad_ids += 1;
                false
            }
        }
    }

    fn complete_tx(&mut self, ev: &ShimEvent, error: bool) {
        // SAFETY: open handle; `ev` came from this handle's poll; `ids` has room for `len` ids.
        let n = unsafe {
            (self.api.tx_unbundle)(self.h, ev, self.ids.as_mut_ptr(), self.ids.len() as c_int)
        };
        for k in 0..n.max(0) as usize {
            let id = self.ids[k];
            match self.tx_inflight.get_mut(id as usize) {
                Some(f) if *f => {
                    *f = false;
                    self.tx_free.push(id);
                    self.stats.tx_completed += 1;
                    if error {
                        self.stats.tx_errors += 1;
                    }
                }
                _ => self.stats.bad_ids += 1,
            }
        }
    }

    /// Handles TX completions (and any RX, delivered to nobody): for send-only use.
    pub fn poll_completions(&mut self) -> io::Result<usize> {
        self.poll(|_, _| {})
    }

    /// Sends one UDP datagram (headers from the config's endpoints).
    pub fn send_datagram(&mut self, payload: &[u8]) -> io::Result<usize> {
        let Some(ep) = self.tx_ep else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "ef_vi opened without TX endpoints",
            ));
        };
        let Some(id) = self.tx_free.pop() else {
            self.stats.tx_full += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        };
        // SAFETY: open handle; `id` < tx_buf_count (from our free list).
        let buf = unsafe { (self.api.tx_buf)(self.h, id) };
        if buf.is_null() {
            self.tx_free.push(id);
            return Err(io::Error::other("ef_vi shim returned no TX buffer"));
        }
        // SAFETY: the shim's TX buffer `id` is `tx_buf_size` writable bytes, not in flight.
        let out = unsafe { std::slice::from_raw_parts_mut(buf, self.caps.tx_buf_size as usize) };
        self.ip_id = self.ip_id.wrapping_add(1);
        let Some(len) = packet::build_udp(out, &ep, self.ip_id, payload) else {
            self.tx_free.push(id);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "datagram larger than a TX buffer",
            ));
        };
        // SAFETY: open handle; the frame of `len` bytes is in buffer `id`.
        let rc = unsafe { (self.api.tx_send)(self.h, id, len as u32) };
        if rc < 0 {
            self.tx_free.push(id);
            if -rc == libc::EAGAIN {
                self.stats.tx_eagain += 1;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            return Err(errno(rc));
        }
        self.tx_inflight[id as usize] = true;
        self.stats.tx_packets += 1;
        Ok(payload.len())
    }
}

impl Drop for EfViRx {
    fn drop(&mut self) {
        // SAFETY: closes the handle opened in `open`, exactly once.
        unsafe { (self.api.close)(self.h) };
    }
}

impl RxTransport for EfViRx {
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, mut on_packet: F) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other(
                "ef_vi event queue overflowed: reopen the VI",
            ));
        }
        // SAFETY: open handle; `evs` holds POLL_EVENTS writable events.
        let n = unsafe { (self.api.poll)(self.h, self.evs.as_mut_ptr(), POLL_EVENTS as c_int) };
        if n < 0 {
            return Err(errno(n));
        }
        let mut delivered = 0;
        for i in 0..(n as usize).min(POLL_EVENTS) {
            let ev = self.evs[i];
            match ev.kind {
                EV_RX => {
                    if !self.reclaim(ev.id) {
                        continue;
                    }
                    // SAFETY: open handle; `ev.id` was a posted buffer (checked by `reclaim`).
                    let buf = unsafe { (self.api.rx_buf)(self.h, ev.id) };
                    let bytes = ev.bytes as usize;
                    if buf.is_null()
                        || bytes < self.prefix
                        || bytes > self.caps.rx_buf_size as usize
                    {
                        self.stats.rejected += 1;
                        continue;
                    }
                    // SAFETY: the NIC wrote `bytes` (prefix included) into this buffer of
                    // `rx_buf_size` bytes; we re-post it only after this iteration.
                    let frame = unsafe {
                        std::slice::from_raw_parts(buf.add(self.prefix), bytes - self.prefix)
                    };
                    delivered += usize::from(self.deliver(frame, buf, &mut on_packet));
                }
                EV_RX_DISCARD => {
                    self.stats.rx_discards += 1;
                    self.reclaim(ev.id);
                }
                EV_RX_NO_DESC_TRUNC => self.stats.rx_no_desc += 1,
                EV_RX_REF => {
                    // SAFETY: open handle; a packet id from this poll.
                    let pkt = unsafe { (self.api.rxref_get)(self.h, ev.id) };
                    if pkt.is_null() {
                        self.stats.bad_ids += 1;
                        continue;
                    }
                    // SAFETY: an X3 packet of `bytes` bytes, valid until released below.
                    let frame = unsafe { std::slice::from_raw_parts(pkt, ev.bytes as usize) };
                    delivered += usize::from(self.deliver(frame, pkt, &mut on_packet));
                    // SAFETY: releases the packet delivered above, exactly once.
                    unsafe { (self.api.rxref_release)(self.h, ev.id) };
                    self.stats.refs_released += 1;
                }
                EV_RX_REF_DISCARD => {
                    self.stats.rx_discards += 1;
                    // SAFETY: as above: a discarded packet still holds its superbuf until released.
                    unsafe { (self.api.rxref_release)(self.h, ev.id) };
                    self.stats.refs_released += 1;
                }
                EV_TX => self.complete_tx(&ev, false),
                EV_TX_ERROR => self.complete_tx(&ev, true),
                EV_OFLOW => {
                    self.stats.overflows += 1;
                    self.failed = true;
                    return Err(io::Error::other(
                        "ef_vi event queue overflowed: reopen the VI",
                    ));
                }
                _ => self.stats.other_events += 1,
            }
        }
        if !self.rx_ref {
            self.refill();
        }
        Ok(delivered)
    }
}

impl TxTransport for EfViRx {
    #[inline]
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send_datagram(data)
    }
}
