//! AF_XDP: a vendor-neutral kernel-bypass receive and send path, with raw syscalls only (no libbpf,
//! libxdp or clang at build or run time).
//!
//! # Setup (once, off the hot path)
//! 1. `socket(AF_XDP)`; an anonymous mapping becomes the UMEM (`XDP_UMEM_REG`), split into
//!    fixed-size frames: the first half feeds the RX side through the FILL ring, the second half is
//!    the TX free list.
//! 2. `XDP_{UMEM_FILL,UMEM_COMPLETION,RX,TX}_RING` sizes, `XDP_MMAP_OFFSETS`, and one `mmap` per ring.
//! 3. `bind` to (interface, queue) in copy mode with `XDP_USE_NEED_WAKEUP`.
//! 4. A 21-instruction XDP program, assembled here ([`xdp_program`]), is loaded with `bpf(2)`. It
//!    redirects IPv4/UDP frames (no IP options) to the filter's destination port through an
//!    `XSKMAP` keyed by the receive queue, and passes everything else (ARP, other ports) to the
//!    kernel. It is attached with a BPF link (`BPF_LINK_CREATE`, kernel ≥ 5.9), so closing the
//!    socket detaches it: nothing is left on the interface after a crash.
//!
//! # Hot path
//! [`AfXdpSocket::poll`] busy-polls the RX ring: every frame is parsed in place
//! ([`super::packet::parse_udp`]: Ethernet/VLAN/IPv4/UDP, destination port and group), its payload
//! handed to the callback, and the frame returned to the FILL ring — no syscall unless the kernel
//! asks for a wakeup, no allocation, no logging. Rejected frames are counted in [`XdpStats`].
//! [`AfXdpSocket::send`] writes Ethernet/IPv4/UDP headers and the payload into a free TX frame,
//! posts it and kicks the kernel (`sendto` with no data, which copy mode needs).
//!
//! AF_XDP carries no receive timestamp (the kernel's `SO_TIMESTAMPING` path is skipped): `poll`
//! reports [`RxTimestamp::NONE`] and the caller stamps with its own clock.
//!
//! Requires root (or `CAP_NET_ADMIN` + `CAP_BPF` + `CAP_IPC_LOCK`). Tested on a veth pair between two
//! network namespaces (`tests/ops/test_afxdp.py`) and benchmarked against kernel sockets there
//! (`pymm bench latency --transport afxdp`).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use super::packet::{self, Reject, UdpEndpoints, UdpFilter};
use super::timestamp::RxTimestamp;
use super::transport::{RxTransport, TxTransport};

const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_TX_RING: libc::c_int = 3;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;
const XDP_COPY: u16 = 1 << 1;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_RING_NEED_WAKEUP: u32 = 1;
const XDP_PGOFF_RX_RING: libc::off_t = 0;
const XDP_PGOFF_TX_RING: libc::off_t = 0x8000_0000;
const XDP_UMEM_PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: libc::off_t = 0x1_8000_0000;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_PASS: i32 = 2;

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Generic XDP (`XDP_SKB`): any interface, after the kernel built an skb.
    Skb,
    /// Native XDP in the driver (`XDP_DRV`), where the driver supports it (veth does).
    Drv,
    /// Native, falling back to generic.
    Auto,
}

impl std::str::FromStr for XdpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skb" | "generic" => Ok(Self::Skb),
            "drv" | "native" => Ok(Self::Drv),
            "auto" => Ok(Self::Auto),
            _ => Err(format!("unknown XDP mode {s:?} (skb, drv, auto)")),
        }
    }
}

/// How to open an AF_XDP socket.
#[derive(Clone, Debug)]
pub struct AfXdpConfig {
    /// Interface name.
    pub ifname: String,
    /// Receive queue to bind (veth created by `ip link add` has one: 0).
    pub queue: u32,
    /// Which datagrams are redirected (port, in the XDP program) and delivered (port and group).
    pub filter: UdpFilter,
    /// XDP attach mode.
    pub mode: XdpMode,
    /// UMEM frames (power of two; half RX, half TX).
    pub frames: u32,
    /// Frame size in bytes (2048 or 4096).
    pub frame_size: u32,
    /// Frames handled per `poll`.
    pub batch: u32,
    /// Addressing for `send`; `None` makes the socket receive-only (sending is an error).
    pub tx: Option<UdpEndpoints>,
}

impl AfXdpConfig {
    /// A receive socket for `port` (and `group`, if any) on `ifname` queue 0 with defaults.
    pub fn rx(ifname: &str, port: u16, group: Option<Ipv4Addr>) -> Self {
        Self {
            ifname: ifname.to_string(),
            queue: 0,
            filter: UdpFilter { port, dst: group },
            mode: XdpMode::Auto,
            frames: 4096,
            frame_size: 2048,
            batch: 64,
            tx: None,
        }
    }
}

/// Counters of an AF_XDP socket (read by the metrics snapshotter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Datagrams delivered.
    pub packets: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Frames rejected as malformed.
    pub malformed: u64,
    /// Non-IPv4 frames that reached the socket.
    pub not_ipv4: u64,
    /// Non-UDP IPv4 frames that reached the socket.
    pub not_udp: u64,
    /// IP fragments.
    pub fragments: u64,
    /// UDP to another address (the program filters on port only).
    pub filtered: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Sends refused because every TX frame was in flight.
    pub tx_full: u64,
    /// Wakeup syscalls made because the kernel asked for one.
    pub wakeups: u64,
}

/// The kernel's own counters (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct XdpKernelStats {
    /// Dropped for other reasons.
    pub rx_dropped: u64,
    /// Dropped because of an invalid descriptor.
    pub rx_invalid_descs: u64,
    /// Invalid TX descriptors.
    pub tx_invalid_descs: u64,
    /// Dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the FILL ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty on a kick.
    pub tx_ring_empty_descs: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct XdpDesc {
    addr: u64,
    len: u32,
    options: u32,
}

/// One mmap'd ring shared with the kernel: producer/consumer indices, flags and descriptors.
struct Ring {
    map: *mut libc::c_void,
    map_len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
    size: u32,
    /// Our side's index (producer for FILL/TX, consumer for RX/COMPLETION).
    local: u32,
}

impl Ring {
    fn map(
        fd: RawFd,
        off: &RingOffset,
        size: u32,
        desc_size: usize,
        pgoff: i64,
    ) -> io::Result<Self> {
        let map_len = off.desc as usize + size as usize * desc_size;
        // SAFETY: a fresh shared read/write mapping of the socket's ring at the kernel's page
        // offset; the kernel validates the length. The result is checked against MAP_FAILED.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = map.cast::<u8>();
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS for this ring and lie inside `map_len`;
        // the indices are 4-byte aligned u32s the kernel accesses atomically.
        let ring = unsafe {
            Ring {
                map,
                map_len,
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                desc: base.add(off.desc as usize),
                mask: size - 1,
                size,
                local: 0,
            }
        };
        Ok(ring)
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping (see `map`), aligned, shared with the kernel.
        unsafe { &*self.producer }
    }

    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    #[inline]
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    /// Writes a u64 address descriptor (FILL ring) at index `i`.
    #[inline]
    fn put_addr(&mut self, i: u32, addr: u64) {
        // SAFETY: `i & mask < size`; the descriptor array holds `size` u64s (mmap'd above).
        unsafe {
            self.desc
                .cast::<u64>()
                .add((i & self.mask) as usize)
                .write(addr)
        }
    }

    /// Reads a u64 address descriptor (COMPLETION ring) at index `i`.
    #[inline]
    fn get_addr(&self, i: u32) -> u64 {
        // SAFETY: as for `put_addr`; the kernel published it before advancing the producer, and
        // the Acquire load of the producer orders this read after it.
        unsafe { self.desc.cast::<u64>().add((i & self.mask) as usize).read() }
    }

    /// Reads an RX descriptor at index `i`.
    #[inline]
    fn get_desc(&self, i: u32) -> XdpDesc {
        // SAFETY: as for `get_addr`, with 16-byte `xdp_desc` entries.
        unsafe {
            self.desc
                .cast::<XdpDesc>()
                .add((i & self.mask) as usize)
                .read()
        }
    }

    /// Writes a TX descriptor at index `i`.
    #[inline]
    fn put_desc(&mut self, i: u32, d: XdpDesc) {
        // SAFETY: as for `put_addr`, with 16-byte `xdp_desc` entries.
        unsafe {
            self.desc
                .cast::<XdpDesc>()
                .add((i & self.mask) as usize)
                .write(d)
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; nothing refers to it afterwards.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// The XDP program, its XSKMAP and the link attaching it; dropping detaches it.
struct XdpAttachment {
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
}

fn bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> io::Result<i32> {
    // SAFETY: `attr` is a zero-padded 128-byte `union bpf_attr` image whose size is passed; every
    // pointer stored inside it refers to memory live for the duration of the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as i32)
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn put_u32(attr: &mut [u8; 128], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; 128], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// One eBPF instruction: opcode, dst/src registers, offset, immediate.
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let regs = (src << 4) | (dst & 0x0f);
    (code as u64)
        | ((regs as u64) << 8)
        | (((off as u16) as u64) << 16)
        | (((imm as u32) as u64) << 32)
}

/// The XDP program (as raw little-endian-host eBPF words): redirect IPv4 (IHL 5) UDP to
/// `port` through `xskmap[rx_queue_index]`, `XDP_PASS` anything else — and pass when no socket is
/// in the map for that queue (`bpf_redirect_map`'s flags argument is the fallback action).
pub fn xdp_program(map_fd: i32, port: u16) -> Vec<u64> {
    const LDXW: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
    const LDXH: u8 = 0x69;
    const LDXB: u8 = 0x71;
    const MOV64X: u8 = 0xbf;
    const MOV64K: u8 = 0xb7;
    const ADD64K: u8 = 0x07;
    const JGTX: u8 = 0x2d;
    const JNEK: u8 = 0x55;
    const LDDW: u8 = 0x18;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;
    const PSEUDO_MAP_FD: u8 = 1;
    // Packet loads are in host order; compare against the wire bytes read the same way.
    let ethertype = i32::from(u16::from_ne_bytes(0x0800u16.to_be_bytes()));
    let port = i32::from(u16::from_ne_bytes(port.to_be_bytes()));
    // Jump offsets are relative to the next instruction; `pass` is instruction 19.
    let to_pass = |at: i16| 19 - (at + 1);
    vec![
        insn(LDXW, 2, 1, 0, 0),                     // 0: r2 = ctx->data
        insn(LDXW, 3, 1, 4, 0),                     // 1: r3 = ctx->data_end
        insn(MOV64X, 4, 2, 0, 0),                   // 2: r4 = r2
        insn(ADD64K, 4, 0, 0, 42),                  // 3: r4 += eth + ip + udp
        insn(JGTX, 4, 3, to_pass(4), 0),            // 4: if r4 > data_end: pass
        insn(LDXH, 4, 2, 12, 0),                    // 5: r4 = ethertype
        insn(JNEK, 4, 0, to_pass(6), ethertype),    // 6: not IPv4: pass
        insn(LDXB, 4, 2, 14, 0),                    // 7: r4 = version/IHL
        insn(JNEK, 4, 0, to_pass(8), 0x45),         // 8: options or not v4: pass
        insn(LDXB, 4, 2, 23, 0),                    // 9: r4 = protocol
        insn(JNEK, 4, 0, to_pass(10), 17),          // 10: not UDP: pass
        insn(LDXH, 4, 2, 36, 0),                    // 11: r4 = UDP destination port
        insn(JNEK, 4, 0, to_pass(12), port),        // 12: other port: pass
        insn(LDXW, 2, 1, 16, 0),                    // 13: r2 = ctx->rx_queue_index
        insn(LDDW, 1, PSEUDO_MAP_FD, 0, map_fd),    // 14: r1 = &xskmap
        0,                                          // 15: (second half of the 64-bit load)
        insn(MOV64K, 3, 0, 0, XDP_PASS),            // 16: r3 = fallback action
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP), // 17: r0 = bpf_redirect_map(r1, r2, r3)
        insn(EXIT, 0, 0, 0, 0),                     // 18: return r0
        insn(MOV64K, 0, 0, 0, XDP_PASS),            // 19: pass: r0 = XDP_PASS
        insn(EXIT, 0, 0, 0, 0),                     // 20: return r0
    ]
}

fn attach_program(
    ifindex: u32,
    queue: u32,
    xsk: RawFd,
    port: u16,
    mode: XdpMode,
) -> io::Result<XdpAttachment> {
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, BPF_MAP_TYPE_XSKMAP);
    put_u32(&mut attr, 4, 4); // key size
    put_u32(&mut attr, 8, 4); // value size
    put_u32(&mut attr, 12, (queue + 1).max(64)); // max entries
    attr[28..36].copy_from_slice(b"pymm_xsk"); // map_name
    let map = owned(bpf(BPF_MAP_CREATE, &mut attr).map_err(|e| ctx(e, "bpf(MAP_CREATE xskmap)"))?);

    let prog = xdp_program(map.as_raw_fd(), port);
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, BPF_PROG_TYPE_XDP);
    put_u32(&mut attr, 4, prog.len() as u32);
    put_u64(&mut attr, 8, prog.as_ptr() as u64);
    put_u64(&mut attr, 16, license.as_ptr() as u64);
    put_u32(&mut attr, 24, 1); // log level
    put_u32(&mut attr, 28, log.len() as u32);
    put_u64(&mut attr, 32, log.as_mut_ptr() as u64);
    attr[48..57].copy_from_slice(b"pymm_xdp\0");
    put_u32(&mut attr, 68, BPF_XDP); // expected attach type
    let prog_fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned(fd),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            return Err(io::Error::new(
                e.kind(),
                format!("bpf(PROG_LOAD xdp): {e}; verifier: {text}"),
            ));
        }
    };

    let key = queue;
    let value = xsk as u32;
    let mut attr = [0u8; 128];
    put_u32(&mut attr, 0, map.as_raw_fd() as u32);
    put_u64(&mut attr, 8, (&key as *const u32) as u64);
    put_u64(&mut attr, 16, (&value as *const u32) as u64);
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map_err(|e| ctx(e, "bpf(MAP_UPDATE_ELEM xskmap)"))?;

    let try_mode = |flags: u32| -> io::Result<OwnedFd> {
        let mut attr = [0u8; 128];
        put_u32(&mut attr, 0, prog_fd.as_raw_fd() as u32);
        put_u32(&mut attr, 4, ifindex);
        put_u32(&mut attr, 8, BPF_XDP);
        put_u32(&mut attr, 12, flags);
        bpf(BPF_LINK_CREATE, &mut attr).map(owned)
    };
    let link = match mode {
        XdpMode::Skb => try_mode(XDP_FLAGS_SKB_MODE),
        XdpMode::Drv => try_mode(XDP_FLAGS_DRV_MODE),
        XdpMode::Auto => try_mode(XDP_FLAGS_DRV_MODE).or_else(|_| try_mode(XDP_FLAGS_SKB_MODE)),
    }
    .map_err(|e| {
        ctx(
            e,
            "bpf(LINK_CREATE xdp) (another XDP program on the interface?)",
        )
    })?;
    Ok(XdpAttachment {
        _link: link,
        _prog: prog_fd,
        _map: map,
    })
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a live value whose exact size is passed; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt<T: Default>(fd: RawFd, name: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is a live, writable `T` and `len` its size; the kernel writes at most `len`.
    let rc = unsafe { libc::getsockopt(fd, SOL_XDP, name, (&mut v as *mut T).cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// The MAC address of `ifname` in the calling thread's network namespace (`SIOCGIFHWADDR`), for
/// building frames.
pub fn interface_mac(ifname: &str) -> io::Result<[u8; 6]> {
    const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?}"),
        ));
    }
    // struct ifreq: name[16], then the union; for SIOCGIFHWADDR a sockaddr (family u16, data[14]).
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name);
    // SAFETY: plain socket(2); checked below and closed by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = owned(fd);
    // SAFETY: `ifr` is a zeroed 40-byte `struct ifreq` with a NUL-terminated name; the kernel writes
    // at most sizeof(struct ifreq) = 40 bytes into it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCGIFHWADDR as _, ifr.as_mut_ptr()) };
    if rc != 0 {
        return Err(ctx(
            io::Error::last_os_error(),
            &format!("SIOCGIFHWADDR {ifname}"),
        ));
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&ifr[18..24]);
    Ok(mac)
}

/// An AF_XDP socket bound to one interface queue, with its UMEM, rings and XDP program.
pub struct AfXdpSocket {
    // Field order is drop order: detach the program, unmap the rings, close the socket, then
    // unmap the UMEM the kernel no longer references.
    _prog: XdpAttachment,
    fill: Ring,
    comp: Ring,
    rx: Ring,
    tx: Ring,
    fd: OwnedFd,
    frame_size: u32,
    batch: u32,
    filter: UdpFilter,
    tx_ep: Option<UdpEndpoints>,
    tx_free: Vec<u64>,
    ip_id: u16,
    stats: XdpStats,
    umem: Umem,
}

// SAFETY: the raw pointers refer to mappings owned by this struct (UMEM and rings), used only
// through `&mut self`; the kernel is the only other party and synchronises through the ring
// indices' atomics.
unsafe impl Send for AfXdpSocket {}

impl AfXdpSocket {
    /// Creates the socket, UMEM and rings, binds them and attaches the XDP program.
    pub fn open(cfg: &AfXdpConfig) -> io::Result<Self> {
        let frames = cfg.frames.max(64).next_power_of_two();
        let frame_size = cfg.frame_size.clamp(2048, 4096).next_power_of_two();
        let ring_size = frames / 2;
        let name = CString::new(cfg.ifname.as_str())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(ctx(
                io::Error::last_os_error(),
                &format!("interface {:?}", cfg.ifname),
            ));
        }
        // UMEM pages are charged to RLIMIT_MEMLOCK without CAP_IPC_LOCK: lift it if we may.
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: a plain struct passed by pointer; failure is harmless (the bind reports ENOBUFS).
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };

        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(ctx(io::Error::last_os_error(), "socket(AF_XDP)"));
        }
        let fd = owned(raw);
        let umem_len = frames as usize * frame_size as usize;
        // SAFETY: a fresh private anonymous mapping; checked against MAP_FAILED below.
        let umem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(ctx(io::Error::last_os_error(), "mmap(UMEM)"));
        }
        let umem = Umem {
            ptr: umem.cast::<u8>(),
            len: umem_len,
        };
        let reg = UmemReg {
            addr: umem.ptr as u64,
            len: umem_len as u64,
            chunk_size: frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        let rfd = fd.as_raw_fd();
        setsockopt(rfd, XDP_UMEM_REG, &reg).map_err(|e| ctx(e, "XDP_UMEM_REG"))?;
        for opt in [
            XDP_UMEM_FILL_RING,
            XDP_UMEM_COMPLETION_RING,
            XDP_RX_RING,
            XDP_TX_RING,
        ] {
            setsockopt(rfd, opt, &ring_size).map_err(|e| ctx(e, "XDP ring size"))?;
        }
        let off: MmapOffsets =
            getsockopt(rfd, XDP_MMAP_OFFSETS).map_err(|e| ctx(e, "XDP_MMAP_OFFSETS"))?;
        let mut fill = Ring::map(rfd, &off.fr, ring_size, 8, XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::map(rfd, &off.cr, ring_size, 8, XDP_UMEM_PGOFF_COMPLETION_RING)?;
        let rx = Ring::map(rfd, &off.rx, ring_size, 16, XDP_PGOFF_RX_RING)?;
        let mut tx = Ring::map(rfd, &off.tx, ring_size, 16, XDP_PGOFF_TX_RING)?;
        tx.local = tx.producer().load(Ordering::Relaxed);
        fill.local = fill.producer().load(Ordering::Relaxed);

        // The first half of the frames go to the kernel for receiving.
        for i in 0..ring_size {
            let at = fill.local.wrapping_add(i);
            fill.put_addr(at, u64::from(i) * u64::from(frame_size));
        }
        fill.local = fill.local.wrapping_add(ring_size);
        fill.producer().store(fill.local, Ordering::Release);
        let tx_free = (ring_size..frames)
            .map(|i| u64::from(i) * u64::from(frame_size))
            .collect();

        let sa = SockaddrXdp {
            family: AF_XDP as u16,
            flags: XDP_COPY | XDP_USE_NEED_WAKEUP,
            ifindex,
            queue_id: cfg.queue,
            shared_umem_fd: 0,
        };
        // A socket closed a moment ago on the same queue is released by the kernel asynchronously
        // (EBUSY until then): retry for up to a second at setup, never on the hot path.
        let mut attempts = 0;
        loop {
            // SAFETY: `sa` is a live `sockaddr_xdp` and its size is passed.
            let rc = unsafe {
                libc::bind(
                    rfd,
                    (&sa as *const SockaddrXdp).cast(),
                    std::mem::size_of::<SockaddrXdp>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            attempts += 1;
            if err.raw_os_error() != Some(libc::EBUSY) || attempts >= 50 {
                return Err(ctx(
                    err,
                    &format!("bind AF_XDP {}:{}", cfg.ifname, cfg.queue),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let prog = attach_program(ifindex, cfg.queue, rfd, cfg.filter.port, cfg.mode)?;
        Ok(Self {
            _prog: prog,
            fill,
            comp,
            rx,
            tx,
            fd,
            frame_size,
            batch: cfg.batch.clamp(1, ring_size),
            filter: cfg.filter,
            tx_ep: cfg.tx,
            tx_free,
            ip_id: 0,
            stats: XdpStats::default(),
            umem,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> XdpStats {
        self.stats
    }

    /// The kernel's drop counters for this socket.
    pub fn kernel_stats(&self) -> io::Result<XdpKernelStats> {
        getsockopt(self.fd.as_raw_fd(), XDP_STATISTICS)
    }

    #[inline]
    fn kick_rx(&mut self) {
        if self.fill.needs_wakeup() {
            self.stats.wakeups += 1;
            // SAFETY: a zero-length non-blocking recvfrom on our socket: only a wakeup.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
    }

    /// Returns completed TX frames to the free list.
    #[inline]
    fn reap_completions(&mut self) {
        let prod = self.comp.producer().load(Ordering::Acquire);
        let mut cons = self.comp.local;
        while cons != prod {
            let addr = self.comp.get_addr(cons);
            // Capacity was reserved at open for every TX frame: no reallocation.
            self.tx_free.push(addr);
            cons = cons.wrapping_add(1);
        }
        if cons != self.comp.local {
            self.comp.local = cons;
            self.comp.consumer().store(cons, Ordering::Release);
        }
    }

    /// Sends one UDP datagram (headers from the config's endpoints).
    pub fn send_datagram(&mut self, payload: &[u8]) -> io::Result<usize> {
        let Some(ep) = self.tx_ep else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "AF_XDP socket opened without TX endpoints",
            ));
        };
        self.reap_completions();
        let free_slots = self.tx.size
            - self
                .tx
                .local
                .wrapping_sub(self.tx.consumer().load(Ordering::Acquire));
        let Some(addr) = (if free_slots > 0 {
            self.tx_free.pop()
        } else {
            None
        }) else {
            self.stats.tx_full += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let fs = self.frame_size as usize;
        // SAFETY: `addr` is a TX frame base inside the UMEM (from the free list, never in flight),
        // and `frame_size` bytes from it lie inside the mapping.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.umem.ptr.add(addr as usize), fs) };
        self.ip_id = self.ip_id.wrapping_add(1);
        let Some(len) = packet::build_udp(buf, &ep, self.ip_id, payload) else {
            self.tx_free.push(addr);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "datagram larger than an AF_XDP frame",
            ));
        };
        let at = self.tx.local;
        self.tx.put_desc(
            at,
            XdpDesc {
                addr,
                len: len as u32,
                options: 0,
            },
        );
        self.tx.local = at.wrapping_add(1);
        self.tx.producer().store(self.tx.local, Ordering::Release);
        // Copy mode transmits only from a syscall.
        // SAFETY: a zero-length non-blocking sendto on our socket: the TX kick.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // The frame stays queued; the next kick sends it.
            if !matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS)
            ) {
                return Err(e);
            }
        }
        self.stats.tx_packets += 1;
        Ok(payload.len())
    }
}

/// The UMEM mapping; unmapped on drop (declared last in [`AfXdpSocket`], so after the socket is
/// closed and the kernel has let go of it).
struct Umem {
    ptr: *mut u8,
    len: usize,
}

impl Umem {
    #[inline]
    fn frame(&self, addr: u64, len: u32) -> &[u8] {
        let start = (addr as usize).min(self.len);
        let end = start.saturating_add(len as usize).min(self.len);
        // SAFETY: [start, end) is clamped inside the UMEM mapping; the kernel handed this frame
        // to us through the RX ring and will not write it until we return it on the FILL ring.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), end - start) }
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `AfXdpSocket::open`; nothing refers to it any more.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl RxTransport for AfXdpSocket {
    #[inline]
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, mut on_packet: F) -> io::Result<usize> {
        let prod = self.rx.producer().load(Ordering::Acquire);
        let cons = self.rx.local;
        let n = prod.wrapping_sub(cons).min(self.batch);
        if n == 0 {
            self.kick_rx();
            return Ok(0);
        }
        let mut delivered = 0;
        let mask = !(u64::from(self.frame_size) - 1);
        for k in 0..n {
            let d = self.rx.get_desc(cons.wrapping_add(k));
            let frame = self.umem.frame(d.addr, d.len);
            match packet::parse_udp(frame, &self.filter) {
                Ok(dgram) => {
                    self.stats.packets += 1;
                    self.stats.bytes += dgram.payload.len() as u64;
                    delivered += 1;
                    on_packet(dgram.payload, RxTimestamp::NONE);
                }
                Err(Reject::Malformed) => self.stats.malformed += 1,
                Err(Reject::NotIpv4) => self.stats.not_ipv4 += 1,
                Err(Reject::NotUdp) => self.stats.not_udp += 1,
                Err(Reject::Fragment) => self.stats.fragments += 1,
                Err(Reject::Filtered) => self.stats.filtered += 1,
            }
            // The FILL ring has room for every RX frame, so the recycle never waits.
            let at = self.fill.local;
            self.fill.put_addr(at, d.addr & mask);
            self.fill.local = at.wrapping_add(1);
        }
        self.rx.local = cons.wrapping_add(n);
        self.rx.consumer().store(self.rx.local, Ordering::Release);
        self.fill
            .producer()
            .store(self.fill.local, Ordering::Release);
        self.kick_rx();
        Ok(delivered)
    }
}

impl TxTransport for AfXdpSocket {
    #[inline]
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send_datagram(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_shape() {
        let p = xdp_program(7, 26477);
        assert_eq!(p.len(), 21);
        // The map load carries the fd in the immediate and the pseudo-map source register.
        assert_eq!(p[14] & 0xff, 0x18);
        assert_eq!((p[14] >> 12) & 0xf, 1);
        assert_eq!((p[14] >> 32) as i32, 7);
        // Every conditional jump lands on the `pass` block.
        for (i, w) in p.iter().enumerate() {
            let code = (w & 0xff) as u8;
            if code == 0x2d || code == 0x55 {
                let off = ((w >> 16) & 0xffff) as u16 as i16;
                assert_eq!(i as i16 + 1 + off, 19, "jump at {i}");
            }
        }
        let port = ((p[12] >> 32) as u32) as u16;
        assert_eq!(u16::from_be_bytes(port.to_ne_bytes()), 26477);
    }

    #[test]
    fn mode_names() {
        assert_eq!("skb".parse::<XdpMode>().unwrap(), XdpMode::Skb);
        assert_eq!("native".parse::<XdpMode>().unwrap(), XdpMode::Drv);
        assert!("zc".parse::<XdpMode>().is_err());
    }
}
