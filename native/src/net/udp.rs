//! Kernel UDP: multicast/unicast receive with `recvmmsg`, `SO_BUSY_POLL` and `SO_TIMESTAMPING`, and
//! a connected sender.
//!
//! # Hot path
//! [`KernelUdpRx::poll`] runs on the pinned feed thread: one non-blocking `recvmmsg` per call into
//! buffers preallocated at open, no allocation, no logging. Truncated datagrams are counted in
//! [`RxStats`] and dropped, never half-delivered.
//!
//! Linux turns receive timestamping on through a deferred static key when the first socket asks for
//! it, so datagrams received in the first moments after open may carry no stamp
//! ([`TsSource::None`]); the caller stamps those with its own clock and counts them.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::timestamp::{self, RxTimestamp, TsSource, CONTROL_LEN};
use super::transport::{RxTransport, TxTransport};

/// How to open a UDP receiver.
#[derive(Clone, Debug)]
pub struct UdpRxConfig {
    /// Local port to bind.
    pub port: u16,
    /// Multicast group to join, or `None` for unicast.
    pub group: Option<Ipv4Addr>,
    /// Local interface address to join the group on (`127.0.0.1` for loopback).
    pub interface: Ipv4Addr,
    /// `SO_BUSY_POLL` microseconds (0 = off).
    pub busy_poll_us: u32,
    /// Ask for software and hardware receive timestamps.
    pub timestamps: bool,
    /// Datagrams per `recvmmsg` call.
    pub batch: usize,
    /// Largest datagram accepted; longer ones are counted as truncated and dropped.
    pub max_datagram: usize,
    /// `SO_RCVBUF` bytes, if set.
    pub recv_buffer: Option<usize>,
}

impl Default for UdpRxConfig {
    fn default() -> Self {
        Self {
            port: 0,
            group: None,
            interface: Ipv4Addr::LOCALHOST,
            busy_poll_us: 0,
            timestamps: true,
            batch: 32,
            max_datagram: 2048,
            recv_buffer: None,
        }
    }
}

/// Receive counters (read by the metrics snapshotter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Datagrams delivered.
    pub packets: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Datagrams dropped because they exceeded `max_datagram`.
    pub truncated: u64,
    /// Delivered with a hardware timestamp.
    pub hw_stamped: u64,
    /// Delivered with a software timestamp.
    pub sw_stamped: u64,
}

/// A non-blocking kernel UDP receiver.
pub struct KernelUdpRx {
    sock: Socket,
    batch: usize,
    max_datagram: usize,
    bufs: Box<[u8]>,
    control: Box<[u8]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    stats: RxStats,
    local_port: u16,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` point into `bufs`, `control` and `iovs`, heap
// allocations owned by this struct that move with it; nothing else aliases them.
unsafe impl Send for KernelUdpRx {}

fn setsockopt_u32(sock: &Socket, level: i32, name: i32, value: u32) -> io::Result<()> {
    // SAFETY: `value` is a live u32 and its size is passed; the fd is open for `sock`'s lifetime.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl KernelUdpRx {
    /// Opens, binds and (for multicast) joins.
    pub fn open(cfg: &UdpRxConfig) -> io::Result<Self> {
        let batch = cfg.batch.clamp(1, 1024);
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_reuse_address(true)?;
        sock.set_nonblocking(true)?;
        if let Some(bytes) = cfg.recv_buffer {
            sock.set_recv_buffer_size(bytes)?;
        }
        let bind_ip = cfg.group.unwrap_or(cfg.interface);
        sock.bind(&SockAddr::from(SocketAddrV4::new(bind_ip, cfg.port)))?;
        if let Some(group) = cfg.group {
            sock.join_multicast_v4(&group, &cfg.interface)?;
        }
        if cfg.busy_poll_us > 0 {
            setsockopt_u32(
                &sock,
                libc::SOL_SOCKET,
                timestamp::SO_BUSY_POLL,
                cfg.busy_poll_us,
            )?;
        }
        if cfg.timestamps {
            let flags = timestamp::SOF_RX_SOFTWARE
                | timestamp::SOF_SOFTWARE
                | timestamp::SOF_RX_HARDWARE
                | timestamp::SOF_RAW_HARDWARE;
            setsockopt_u32(&sock, libc::SOL_SOCKET, timestamp::SO_TIMESTAMPING, flags)?;
        }
        let local_port = sock
            .local_addr()?
            .as_socket_ipv4()
            .map_or(cfg.port, |a| a.port());
        let max_datagram = cfg.max_datagram.max(1);
        let mut rx = Self {
            sock,
            batch,
            max_datagram,
            bufs: vec![0u8; batch * max_datagram].into_boxed_slice(),
            control: vec![0u8; batch * CONTROL_LEN].into_boxed_slice(),
            // SAFETY: iovec and mmsghdr are plain C structs for which all-zero is valid (null pointers).
            iovs: (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            hdrs: (0..batch).map(|_| unsafe { std::mem::zeroed() }).collect(),
            stats: RxStats::default(),
            local_port,
        };
        rx.wire_headers();
        Ok(rx)
    }

    /// Points each header at its buffer slice, iovec and control slice (done once, at open).
    fn wire_headers(&mut self) {
        for i in 0..self.batch {
            // SAFETY: `i * max_datagram < bufs.len()`; the pointer stays valid while `bufs` lives.
            self.iovs[i].iov_base =
                unsafe { self.bufs.as_mut_ptr().add(i * self.max_datagram) }.cast();
            self.iovs[i].iov_len = self.max_datagram;
        }
        for i in 0..self.batch {
            let h = &mut self.hdrs[i].msg_hdr;
            // SAFETY: `i < iovs.len()`; pointer valid while `iovs` lives.
            h.msg_iov = unsafe { self.iovs.as_mut_ptr().add(i) };
            h.msg_iovlen = 1;
            // SAFETY: `i * CONTROL_LEN < control.len()`; pointer valid while `control` lives.
            h.msg_control = unsafe { self.control.as_mut_ptr().add(i * CONTROL_LEN) }.cast();
        }
    }

    /// The bound local port (useful with port 0).
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Counters so far.
    pub fn stats(&self) -> RxStats {
        self.stats
    }
}

impl RxTransport for KernelUdpRx {
    #[inline]
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, mut on_packet: F) -> io::Result<usize> {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_controllen = CONTROL_LEN as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: `hdrs` holds `batch` headers wired (at open) to live buffers owned by `self`;
        // MSG_DONTWAIT makes the call non-blocking; a null timeout is allowed.
        let n = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.batch as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for i in 0..n {
            let h = &self.hdrs[i];
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.stats.truncated += 1;
                continue;
            }
            let len = (h.msg_len as usize).min(self.max_datagram);
            #[allow(clippy::unnecessary_cast)] // socklen_t vs size_t differs between libcs
            let clen = (h.msg_hdr.msg_controllen as usize).min(CONTROL_LEN);
            let ts =
                timestamp::parse_control(&self.control[i * CONTROL_LEN..i * CONTROL_LEN + clen]);
            match ts.source {
                TsSource::Hardware => self.stats.hw_stamped += 1,
                TsSource::Software => self.stats.sw_stamped += 1,
                TsSource::None => {}
            }
            self.stats.packets += 1;
            self.stats.bytes += len as u64;
            on_packet(
                &self.bufs[i * self.max_datagram..i * self.max_datagram + len],
                ts,
            );
        }
        Ok(n)
    }
}

/// A connected UDP sender (unicast or multicast).
pub struct UdpTx {
    sock: Socket,
}

impl UdpTx {
    /// Connects to `dest`; for a multicast `dest`, sends through `interface` with loopback on.
    pub fn connect(dest: SocketAddrV4, interface: Ipv4Addr, ttl: u32) -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        if dest.ip().is_multicast() {
            sock.set_multicast_if_v4(&interface)?;
            sock.set_multicast_loop_v4(true)?;
            sock.set_multicast_ttl_v4(ttl)?;
        }
        sock.connect(&SockAddr::from(dest))?;
        Ok(Self { sock })
    }
}

impl TxTransport for UdpTx {
    #[inline]
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.sock.send(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut KernelUdpRx, want: usize) -> Vec<(Vec<u8>, RxTimestamp)> {
        let mut got = Vec::new();
        for _ in 0..1_000_000 {
            rx.poll(|d, ts| got.push((d.to_vec(), ts))).unwrap();
            if got.len() >= want {
                break;
            }
            std::thread::yield_now();
        }
        got
    }

    #[test]
    fn unicast_loopback_with_software_timestamps() {
        let mut rx = KernelUdpRx::open(&UdpRxConfig {
            batch: 4,
            ..Default::default()
        })
        .unwrap();
        let mut tx = UdpTx::connect(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.local_port()),
            Ipv4Addr::LOCALHOST,
            1,
        )
        .unwrap();
        // Warm up: the kernel enables RX timestamping asynchronously after the first socket asks.
        let mut stamped = false;
        for _ in 0..1_000 {
            tx.send(&[255]).unwrap();
            let got = drain(&mut rx, 1);
            if got.iter().any(|(_, ts)| ts.source == TsSource::Software) {
                stamped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(stamped, "the kernel never stamped a loopback datagram");
        let before = rx.stats().sw_stamped;
        for i in 0..10u8 {
            tx.send(&[i; 100]).unwrap();
        }
        let got = drain(&mut rx, 10);
        assert_eq!(got.len(), 10);
        for (i, (d, ts)) in got.iter().enumerate() {
            assert_eq!(d, &vec![i as u8; 100]);
            assert_eq!(
                ts.source,
                TsSource::Software,
                "loopback has no hardware clock"
            );
            assert!(ts.ts.0 > 1_600_000_000_000_000_000, "a realtime stamp");
        }
        assert!(got.windows(2).all(|w| w[0].1.ts <= w[1].1.ts));
        assert_eq!(rx.stats().sw_stamped - before, 10);
    }

    #[test]
    fn oversized_datagrams_are_counted_and_dropped() {
        let mut rx = KernelUdpRx::open(&UdpRxConfig {
            max_datagram: 64,
            ..Default::default()
        })
        .unwrap();
        let mut tx = UdpTx::connect(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, rx.local_port()),
            Ipv4Addr::LOCALHOST,
            1,
        )
        .unwrap();
        tx.send(&[1; 200]).unwrap();
        tx.send(&[2; 10]).unwrap();
        let got = drain(&mut rx, 1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, vec![2; 10]);
        assert_eq!(rx.stats().truncated, 1);
    }

    #[test]
    fn multicast_on_loopback() {
        let group = Ipv4Addr::new(239, 77, 1, 1);
        let cfg = UdpRxConfig {
            port: 0,
            group: Some(group),
            ..Default::default()
        };
        let mut rx = match KernelUdpRx::open(&cfg) {
            Ok(rx) => rx,
            Err(e) => panic!("joining {group} on lo failed: {e}"),
        };
        let mut tx = UdpTx::connect(
            SocketAddrV4::new(group, rx.local_port()),
            Ipv4Addr::LOCALHOST,
            0,
        )
        .unwrap();
        tx.send(b"itch").unwrap();
        let got = drain(&mut rx, 1);
        assert_eq!(got.len(), 1, "no multicast datagram came back over lo");
        assert_eq!(got[0].0, b"itch");
    }
}
