//! Choosing a receive transport at start-up (`--transport kernel|afxdp|efvi`).
//!
//! [`open_rx`] opens the backend a [`TransportKind`] names and returns an [`AnyRx`], an enum over
//! the backends that implements [`RxTransport`] by `match` (static dispatch: the hot loop stays
//! monomorphic per variant, no `dyn`). ef_vi falls back to kernel sockets when its shim, the
//! `/dev/sfc_char` device or a capability is missing: the reason is returned once (the caller logs
//! one line at setup) and counted in [`EFVI_FALLBACKS`].

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::afxdp::{AfXdpConfig, AfXdpSocket, XdpMode};
use super::efvi::{EfViConfig, EfViRx};
use super::packet::UdpFilter;
use super::timestamp::RxTimestamp;
use super::transport::RxTransport;
use super::udp::{KernelUdpRx, UdpRxConfig};

/// How many times an ef_vi request fell back to kernel sockets in this process (a metric).
pub static EFVI_FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// A receive backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Kernel UDP sockets (`recvmmsg`, `SO_TIMESTAMPING`); Onload accelerates them transparently.
    Kernel,
    /// AF_XDP ([`super::afxdp`]).
    AfXdp,
    /// Solarflare ef_vi through the run-time-loaded shim ([`super::efvi`]).
    EfVi,
}

impl TransportKind {
    /// The option value naming it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::AfXdp => "afxdp",
            Self::EfVi => "efvi",
        }
    }
}

impl std::str::FromStr for TransportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kernel" => Ok(Self::Kernel),
            "afxdp" => Ok(Self::AfXdp),
            "efvi" | "ef_vi" => Ok(Self::EfVi),
            _ => Err(format!("unknown transport {s:?} (kernel, afxdp, efvi)")),
        }
    }
}

/// What to receive, whichever backend does it.
#[derive(Clone, Debug)]
pub struct RxSpec {
    /// Interface name (AF_XDP, ef_vi).
    pub ifname: String,
    /// The interface's IPv4 address (kernel sockets join the group on it).
    pub interface: Ipv4Addr,
    /// Destination UDP port.
    pub port: u16,
    /// Multicast group, or `None` for unicast to `interface`.
    pub group: Option<Ipv4Addr>,
    /// AF_XDP attach mode.
    pub xdp_mode: XdpMode,
    /// ef_vi shim path (`None`: `$PYMM_EFVI_SHIM`, then `libpymm_efvi.so` on the loader path).
    pub efvi_shim: Option<PathBuf>,
}

/// Any receive backend.
pub enum AnyRx {
    /// Kernel sockets.
    Kernel(KernelUdpRx),
    /// AF_XDP.
    AfXdp(Box<AfXdpSocket>),
    /// ef_vi.
    EfVi(Box<EfViRx>),
}

impl AnyRx {
    /// The backend actually in use (after any fallback).
    pub fn kind(&self) -> TransportKind {
        match self {
            Self::Kernel(_) => TransportKind::Kernel,
            Self::AfXdp(_) => TransportKind::AfXdp,
            Self::EfVi(_) => TransportKind::EfVi,
        }
    }
}

impl RxTransport for AnyRx {
    #[inline]
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, on_packet: F) -> io::Result<usize> {
        match self {
            Self::Kernel(rx) => rx.poll(on_packet),
            Self::AfXdp(rx) => rx.poll(on_packet),
            Self::EfVi(rx) => rx.poll(on_packet),
        }
    }
}

fn kernel(spec: &RxSpec) -> io::Result<AnyRx> {
    KernelUdpRx::open(&UdpRxConfig {
        port: spec.port,
        group: spec.group,
        interface: spec.interface,
        recv_buffer: Some(4 << 20),
        ..Default::default()
    })
    .map(AnyRx::Kernel)
}

/// Opens `kind` for `spec`. Returns the transport and, when ef_vi fell back to kernel sockets,
/// the one-line reason (log it once; [`EFVI_FALLBACKS`] counts it). AF_XDP does not fall back:
/// asking for it and not getting it is an error.
pub fn open_rx(kind: TransportKind, spec: &RxSpec) -> io::Result<(AnyRx, Option<String>)> {
    match kind {
        TransportKind::Kernel => Ok((kernel(spec)?, None)),
        TransportKind::AfXdp => {
            let mut cfg = AfXdpConfig::rx(&spec.ifname, spec.port, spec.group);
            cfg.mode = spec.xdp_mode;
            if spec.group.is_none() {
                cfg.filter = UdpFilter {
                    port: spec.port,
                    dst: Some(spec.interface),
                };
            }
            Ok((AnyRx::AfXdp(Box::new(AfXdpSocket::open(&cfg)?)), None))
        }
        TransportKind::EfVi => {
            let cfg = EfViConfig {
                shim: spec.efvi_shim.clone(),
                ifname: spec.ifname.clone(),
                filter: UdpFilter {
                    port: spec.port,
                    dst: Some(spec.group.unwrap_or(spec.interface)),
                },
                rx_timestamps: true,
                tx: None,
            };
            match EfViRx::open(&cfg) {
                Ok(rx) => Ok((AnyRx::EfVi(Box::new(rx)), None)),
                Err(e) => {
                    EFVI_FALLBACKS.fetch_add(1, Ordering::Relaxed);
                    let why = format!("ef_vi unavailable ({e}); falling back to kernel sockets");
                    Ok((kernel(spec)?, Some(why)))
                }
            }
        }
    }
}
