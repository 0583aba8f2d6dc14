//! The ITCH feed handler over a veth pair between two network namespaces, per receive transport
//! (`--transport kernel,afxdp[,efvi]`). Needs root (namespaces, XDP). Two modes:
//!
//! - `book`: a MoldUDP64/ITCH stream (the recorded LOBSTER AMZN day converted by
//!   `feed::lobster_to_itch` and re-framed into ≤ 1,400-byte datagrams with `--lobster DIR`, else a
//!   seeded synthetic stream) is sent from namespace A with kernel UDP multicast; the feed handler
//!   in namespace B (transport → MoldUDP64 → arbiter → ITCH decode → L3 book) rebuilds the book.
//!   Each transport's book digest is compared with the one built in-process from the same
//!   datagrams, no network. Exit code 1 if any differs.
//! - `latency`: closed loop, one datagram (an ITCH add or delete moving the touch) at a time; per
//!   datagram the time from just before the sender's `send` to the receiver having applied it to
//!   the book (`CLOCK_MONOTONIC`, one host clock, threads in different namespaces). HDR histograms
//!   per transport, side by side.
//!
//! Sender and receiver are threads of this process, each moved into its namespace with `setns`.
//! Output: one JSON object on stdout. See bench/README.md.
#![allow(unsafe_code)] // `setns(2)`, the only way to move a thread into a named network namespace

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use _native::book::{L3Book, L3Config};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::itch::{self, ItchHeader};
use _native::feed::itch_encode as enc;
use _native::feed::lobster_to_itch::{convert, datagrams};
use _native::feed::moldudp64::{MoldPacket, PacketKind, PacketWriter};
use _native::model::{InstrumentId, Price, Side, UnixNanos};
use _native::net::afxdp::{interface_mac, AfXdpConfig, AfXdpSocket, XdpMode};
use _native::net::packet::{multicast_mac, UdpEndpoints};
use _native::net::select::{open_rx, RxSpec, TransportKind};
use _native::net::transport::{RxTransport, TxTransport};
use _native::net::udp::UdpTx;
use _native::time::posix_clock::PosixClock;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 201, 0, 1);
const PORT: u16 = 26_400;
const IP_A: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
const SESSION: &[u8; 10] = b"PYMMVETH01";
const MAX_DATAGRAM: usize = 1400;
const WINDOW: u64 = 64;
const CURVE: [f64; 8] = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 1.0];

struct Args {
    mode: String,
    transports: Vec<TransportKind>,
    messages: usize,
    warmup: usize,
    lobster: Option<PathBuf>,
    xdp_mode: XdpMode,
    efvi_shim: Option<PathBuf>,
    /// Send with kernel UDP (default) or from an AF_XDP socket's TX ring.
    afxdp_sender: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("usage: veth_feed book|latency [--transport kernel,afxdp] ...")?;
    if mode != "book" && mode != "latency" {
        return Err(format!("unknown mode {mode:?} (book, latency)"));
    }
    let mut a = Args {
        mode,
        transports: vec![TransportKind::Kernel, TransportKind::AfXdp],
        messages: 20_000,
        warmup: 2_000,
        lobster: None,
        xdp_mode: XdpMode::Auto,
        efvi_shim: None,
        afxdp_sender: false,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--transport" => {
                a.transports = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--messages" => a.messages = val()?.parse().map_err(|e| format!("--messages: {e}"))?,
            "--warmup" => a.warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--lobster" => a.lobster = Some(PathBuf::from(val()?)),
            "--xdp-mode" => a.xdp_mode = val()?.parse()?,
            "--efvi-shim" => a.efvi_shim = Some(PathBuf::from(val()?)),
            "--sender" => {
                a.afxdp_sender = match val()?.as_str() {
                    "kernel" => false,
                    "afxdp" => true,
                    other => return Err(format!("--sender {other:?}: kernel or afxdp")),
                }
            }
            "--quick" => {
                a.messages = 2_000;
                a.warmup = 200;
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// Two named network namespaces joined by a veth pair; deleted on drop.
struct Veth {
    ns_a: String,
    ns_b: String,
    if_a: String,
    if_b: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e} (iproute2 installed?)", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

impl Veth {
    fn create() -> Result<Self, String> {
        let tag = std::process::id() % 100_000;
        let v = Self {
            ns_a: format!("pymm-vf-a-{tag}"),
            ns_b: format!("pymm-vf-b-{tag}"),
            if_a: format!("vfa{tag}"),
            if_b: format!("vfb{tag}"),
        };
        let if_a = v.if_a.clone();
        ip(&["netns", "add", &v.ns_a])?;
        ip(&["netns", "add", &v.ns_b])?;
        ip(&[
            "link", "add", &if_a, "type", "veth", "peer", "name", &v.if_b,
        ])?;
        ip(&["link", "set", &if_a, "netns", &v.ns_a])?;
        ip(&["link", "set", &v.if_b, "netns", &v.ns_b])?;
        for (ns, dev, addr) in [(&v.ns_a, &if_a, IP_A), (&v.ns_b, &v.if_b, IP_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end inside it, and with it the pair.
        let _ = ip(&["netns", "del", &self.ns_a]);
        let _ = ip(&["netns", "del", &self.ns_b]);
    }
}

/// Moves the calling thread into the named network namespace.
fn enter(ns: &str) -> Result<(), String> {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}"))
        .map_err(|e| format!("open netns {ns}: {e}"))?;
    // SAFETY: `f` is an open namespace file; setns only changes this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Re-frames every message of `packets` into MoldUDP64 datagrams of at most `MAX_DATAGRAM` bytes,
/// renumbered from 1 (LOBSTER reconciliation packets can exceed an Ethernet MTU).
fn reframe<'a>(packets: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut seq = 1u64;
    let mut w = PacketWriter::new(&mut buf, SESSION, seq).ok_or("packet writer")?;
    for p in packets {
        let p = MoldPacket::parse(p).map_err(|e| e.to_string())?;
        if p.kind != PacketKind::Data {
            continue;
        }
        for (_, m) in p.messages() {
            if !w.push(m) {
                let n = w.count();
                let len = w.finish();
                out.push(buf[..len].to_vec());
                seq += u64::from(n);
                w = PacketWriter::new(&mut buf, SESSION, seq).ok_or("packet writer")?;
                if !w.push(m) {
                    return Err(format!(
                        "a {}-byte message does not fit a datagram",
                        m.len()
                    ));
                }
            }
        }
    }
    if w.count() > 0 {
        let len = w.finish();
        out.push(buf[..len].to_vec());
    }
    Ok(out)
}

fn lobster_stream(dir: &Path, limit: usize) -> Result<Vec<Vec<u8>>, String> {
    let lob = dir.join("lobster_2012-06-21_amzn_aapl/AMZN_2012-06-21_34200000_57600000");
    let msg = PathBuf::from(format!("{}_message_5.csv.gz", lob.display()));
    let book = PathBuf::from(format!("{}_orderbook_5.csv.gz", lob.display()));
    let mold = std::env::temp_dir().join(format!("pymm-veth-feed-{}.mold", std::process::id()));
    convert(&msg, &book, "AMZN", &mold).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&mold).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&mold);
    let bytes = bytes?;
    let pkts: Vec<&[u8]> = datagrams(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|at| format!("mold file cut at {at}"))?;
    let mut out = reframe(pkts.into_iter())?;
    if limit > 0 && out.len() > limit {
        out.truncate(limit);
    }
    Ok(out)
}

/// A seeded synthetic order flow around 100.00 (adds, cancels, executions, replaces, deletes).
fn synthetic_stream(n_packets: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let stock = enc::stock("VETH");
    let mut live: Vec<(u64, Side, u32)> = Vec::new();
    let mut next_ref = 1u64;
    let mut m = [0u8; 64];
    let mut msgs: Vec<Vec<u8>> = Vec::new();
    for i in 0..n_packets * 4 {
        let h = ItchHeader {
            locate: 1,
            tracking: 0,
            timestamp: i as u64,
        };
        let r = rnd();
        let len = if live.len() < 50 || r % 3 == 0 {
            let side = if r & 8 == 0 { Side::Buy } else { Side::Sell };
            let off = ((r >> 8) % 40) as i64;
            let px = match side {
                Side::Buy => 10_000 - 1 - off,
                Side::Sell => 10_000 + 1 + off,
            };
            let q = 1 + (r >> 20) as u32 % 500;
            live.push((next_ref, side, q));
            next_ref += 1;
            enc::add_order(
                &mut m,
                h,
                next_ref - 1,
                side,
                q,
                stock,
                Price::from_ticks(px),
            )
        } else {
            let k = (r >> 4) as usize % live.len();
            let (id, side, q) = live[k];
            match r % 4 {
                1 if q > 1 => {
                    live[k].2 -= 1;
                    enc::order_cancel(&mut m, h, id, 1)
                }
                2 => {
                    live.swap_remove(k);
                    enc::order_executed(&mut m, h, id, q, i as u64)
                }
                3 => {
                    live.swap_remove(k);
                    let px = if side == Side::Buy { 9_990 } else { 10_010 };
                    live.push((next_ref, side, q));
                    next_ref += 1;
                    enc::order_replace(&mut m, h, id, next_ref - 1, q, Price::from_ticks(px))
                }
                _ => {
                    live.swap_remove(k);
                    enc::order_delete(&mut m, h, id)
                }
            }
        }
        .expect("encode");
        msgs.push(m[..len].to_vec());
    }
    // Four messages per datagram.
    let mut out = Vec::new();
    let mut seq = 1u64;
    for chunk in msgs.chunks(4) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut w = PacketWriter::new(&mut buf, SESSION, seq).expect("writer");
        for c in chunk {
            assert!(w.push(c));
        }
        seq += u64::from(w.count());
        let n = w.finish();
        buf.truncate(n);
        out.push(buf);
    }
    out
}

/// The feed handler: MoldUDP64 → arbiter → ITCH → L3 book.
struct FeedHandler {
    arb: Arbiter,
    book: L3Book,
    applied: u64,
    errors: u64,
}

impl FeedHandler {
    fn new() -> Self {
        Self {
            arb: Arbiter::new(1, ArbiterConfig::default()),
            book: L3Book::new(
                InstrumentId(1),
                L3Config {
                    max_orders: 1 << 20,
                    max_levels: 1 << 14,
                    ladder_len: 1 << 14,
                },
            ),
            applied: 0,
            errors: 0,
        }
    }

    #[inline]
    fn on_datagram(&mut self, d: &[u8]) {
        let (book, applied, errors) = (&mut self.book, &mut self.applied, &mut self.errors);
        let _ = self.arb.on_packet(Line::A, d, &mut |seq, msg| {
            if let Ok(m) = itch::decode(msg) {
                if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                    match book.apply(&ev) {
                        Ok(_) => *applied += 1,
                        Err(_) => *errors += 1,
                    }
                }
            }
        });
    }

    /// Order count, level counts, every level of both sides (price, qty, orders), and the counters.
    fn digest(&self) -> Value {
        let mut sides = serde_json::Map::new();
        for (name, side) in [("bids", Side::Buy), ("asks", Side::Sell)] {
            let n = self.book.level_count(side) as usize;
            let mut levels = vec![Default::default(); n];
            let got = self.book.top(side, &mut levels);
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for l in &levels[..got] {
                for v in [
                    l.price.ticks() as u64,
                    l.qty.lots() as u64,
                    u64::from(l.orders),
                ] {
                    h = (h ^ v).wrapping_mul(0x100_0000_01b3);
                }
            }
            let top: Vec<Value> = levels[..got.min(3)]
                .iter()
                .map(|l| json!([l.price.ticks(), l.qty.lots(), l.orders]))
                .collect();
            sides.insert(
                name.into(),
                json!({"levels": got, "fnv": format!("{h:016x}"), "top": top}),
            );
        }
        let st = self.arb.stats();
        json!({
            "orders": self.book.order_count(),
            "applied": self.applied,
            "integrity_errors": self.errors,
            "next_sequence": self.arb.next_sequence(),
            "gaps": format!("{:?}", st),
            "bids": sides["bids"],
            "asks": sides["asks"],
        })
    }
}

struct Shared {
    received: AtomicU64,
    applied_at: AtomicU64,
    ready: AtomicBool,
    stop: AtomicBool,
}

fn spec(veth: &Veth, a: &Args) -> RxSpec {
    RxSpec {
        ifname: veth.if_b.clone(),
        interface: IP_B,
        port: PORT,
        group: Some(GROUP),
        xdp_mode: a.xdp_mode,
        efvi_shim: a.efvi_shim.clone(),
    }
}

/// Runs one transport: receiver thread in B, sender (this closure's caller) in A. `send_all`
/// gets the sender socket and the shared counters.
fn run_transport(
    veth: &Veth,
    a: &Args,
    kind: TransportKind,
    expect: u64,
    send_all: impl FnOnce(&mut dyn TxTransport, &Shared) -> Result<(), String> + Send,
) -> Result<(FeedHandler, Value), String> {
    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        applied_at: AtomicU64::new(0),
        ready: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    let spec = spec(veth, a);
    let ns_b = veth.ns_b.clone();
    let rx_shared = Arc::clone(&shared);
    std::thread::scope(|sc| {
        let receiver = sc.spawn(move || -> Result<(FeedHandler, Value), String> {
            let r = receive(&ns_b, kind, &spec, expect, &rx_shared);
            rx_shared.stop.store(true, Ordering::Release);
            r
        });

        let ns_a = veth.ns_a.clone();
        let if_a = veth.if_a.clone();
        let afxdp_sender = a.afxdp_sender;
        let tx_shared = Arc::clone(&shared);
        let sender = sc.spawn(move || -> Result<(), String> {
            enter(&ns_a)?;
            let mut tx = open_sender(&if_a, afxdp_sender)?;
            while !tx_shared.ready.load(Ordering::Acquire) {
                if receiver_gone(&tx_shared) {
                    return Ok(());
                }
                std::thread::yield_now();
            }
            // Let the XDP program / multicast join settle before the first datagram.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let r = send_all(tx.as_mut(), &tx_shared);
            if r.is_err() {
                tx_shared.stop.store(true, Ordering::Release);
            }
            r
        });
        let sent = sender.join().map_err(|_| "sender panicked")?;
        if sent.is_err() {
            shared.stop.store(true, Ordering::Release);
        }
        let got = receiver.join().map_err(|_| "receiver panicked")?;
        sent?;
        got
    })
}

/// The receiving side: joins namespace B, opens `kind`, runs the feed handler until `expect`
/// datagrams arrived or the sender gave up.
fn receive(
    ns_b: &str,
    kind: TransportKind,
    spec: &RxSpec,
    expect: u64,
    rx_shared: &Shared,
) -> Result<(FeedHandler, Value), String> {
    enter(ns_b)?;
    let (mut rx, fallback) =
        open_rx(kind, spec).map_err(|e| format!("open {}: {e}", kind.name()))?;
    if let Some(why) = &fallback {
        eprintln!("veth_feed: {why}");
    }
    let mut fh = FeedHandler::new();
    rx_shared.ready.store(true, Ordering::Release);
    let mut n = 0u64;
    while n < expect && !rx_shared.stop.load(Ordering::Acquire) {
        let got = rx
            .poll(|d, _| {
                fh.on_datagram(d);
                n += 1;
            })
            .map_err(|e| e.to_string())?;
        if got > 0 {
            rx_shared
                .applied_at
                .store(PosixClock::Monotonic.now_ns(), Ordering::Release);
            rx_shared.received.store(n, Ordering::Release);
        }
    }
    let info = json!({"used": rx.kind().name(), "fallback": fallback});
    Ok((fh, info))
}

/// The sender in namespace A: kernel UDP multicast, or Ethernet/IPv4/UDP frames from AF_XDP's TX
/// ring (`send` retries while every TX frame is in flight).
fn open_sender(if_a: &str, afxdp: bool) -> Result<Box<dyn TxTransport>, String> {
    if !afxdp {
        let tx =
            UdpTx::connect(SocketAddrV4::new(GROUP, PORT), IP_A, 1).map_err(|e| e.to_string())?;
        return Ok(Box::new(tx));
    }
    let mut cfg = AfXdpConfig::rx(if_a, PORT, Some(GROUP));
    cfg.tx = Some(UdpEndpoints {
        src_mac: interface_mac(if_a).map_err(|e| e.to_string())?,
        dst_mac: multicast_mac(GROUP),
        src: IP_A,
        dst: GROUP,
        src_port: 40_000,
        dst_port: PORT,
        ttl: 1,
    });
    let sock = AfXdpSocket::open(&cfg).map_err(|e| format!("AF_XDP sender: {e}"))?;
    Ok(Box::new(RetryingTx(sock)))
}

/// Retries `WouldBlock` (all TX frames in flight until the kernel completes some).
struct RetryingTx(AfXdpSocket);

impl TxTransport for RetryingTx {
    fn send(&mut self, data: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.send(data) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                r => return r,
            }
        }
    }
}

fn receiver_gone(s: &Shared) -> bool {
    s.stop.load(Ordering::Acquire)
}

/// Waits until the receiver has `n` datagrams; fails after `ms` without progress.
fn wait_received(s: &Shared, n: u64, ms: u64) -> Result<(), String> {
    let mut last = s.received.load(Ordering::Acquire);
    let mut since = PosixClock::Monotonic.now_ns();
    loop {
        let r = s.received.load(Ordering::Acquire);
        if r >= n {
            return Ok(());
        }
        if s.stop.load(Ordering::Acquire) {
            return Err(format!("receiver stopped at {r} of {n} datagrams"));
        }
        let now = PosixClock::Monotonic.now_ns();
        if r != last {
            last = r;
            since = now;
        } else if now - since > ms * 1_000_000 {
            return Err(format!("receiver stuck at {r} of {n} datagrams (lost?)"));
        }
        std::hint::spin_loop();
    }
}

fn book_mode(a: &Args, veth: &Veth) -> Result<(Value, bool), String> {
    let stream = match &a.lobster {
        Some(dir) => lobster_stream(dir, a.messages)?,
        None => synthetic_stream(a.messages),
    };
    let mut reference = FeedHandler::new();
    for d in &stream {
        reference.on_datagram(d);
    }
    let want = reference.digest();
    let mut results = serde_json::Map::new();
    let mut all_equal = true;
    for &kind in &a.transports {
        let stream = &stream;
        let (fh, info) = run_transport(veth, a, kind, stream.len() as u64, |tx, s| {
            for (i, d) in stream.iter().enumerate() {
                // Flow control: at most WINDOW datagrams in flight (no loss from socket buffers).
                if i as u64 >= WINDOW {
                    wait_received(s, i as u64 - WINDOW, 5_000)?;
                }
                tx.send(d).map_err(|e| e.to_string())?;
            }
            wait_received(s, stream.len() as u64, 5_000)
        })?;
        let digest = fh.digest();
        let equal = digest == want;
        all_equal &= equal;
        results.insert(
            kind.name().into(),
            json!({"transport": info, "digest": digest, "equal": equal}),
        );
    }
    Ok((
        json!({
            "mode": "book",
            "source": if a.lobster.is_some() { "lobster_amzn_20120621_l5" } else { "synthetic" },
            "sender": if a.afxdp_sender { "afxdp" } else { "kernel" },
            "datagrams": stream.len(),
            "reference": want,
            "transports": results,
            "equal": all_equal,
        }),
        all_equal,
    ))
}

fn pct(h: &Histogram<u64>) -> Value {
    let curve: Vec<Value> = CURVE
        .iter()
        .map(|q| json!([q, h.value_at_quantile(*q)]))
        .collect();
    json!({
        "curve": curve,
        "count": h.len(),
        "mean": h.mean().round(),
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

fn latency_mode(a: &Args, veth: &Veth) -> Result<Value, String> {
    // One small datagram per step: the synthetic flow, one message each.
    let total = a.messages + a.warmup;
    let stream = synthetic_stream(total.div_ceil(4) + 1);
    let mut msgs: Vec<Vec<u8>> = Vec::with_capacity(total);
    let mut seq = 1u64;
    'outer: for d in &stream {
        for (_, m) in MoldPacket::parse(d).map_err(|e| e.to_string())?.messages() {
            let mut buf = vec![0u8; 128];
            let mut w = PacketWriter::new(&mut buf, SESSION, seq).ok_or("writer")?;
            w.push(m);
            seq += 1;
            let n = w.finish();
            buf.truncate(n);
            msgs.push(buf);
            if msgs.len() == total {
                break 'outer;
            }
        }
    }
    let mut results = serde_json::Map::new();
    for &kind in &a.transports {
        let msgs = &msgs;
        let warmup = a.warmup;
        let mut hist =
            Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).map_err(|e| e.to_string())?;
        let h = &mut hist;
        let (fh, info) = run_transport(veth, a, kind, msgs.len() as u64, move |tx, s| {
            for (i, d) in msgs.iter().enumerate() {
                let t0 = PosixClock::Monotonic.now_ns();
                tx.send(d).map_err(|e| e.to_string())?;
                wait_received(s, i as u64 + 1, 5_000)?;
                let t1 = s.applied_at.load(Ordering::Acquire);
                if i >= warmup {
                    h.saturating_record(t1.saturating_sub(t0).max(1));
                }
            }
            Ok(())
        })?;
        results.insert(
            kind.name().into(),
            json!({"transport": info, "send_to_book_ns": pct(&hist), "integrity_errors": fh.errors}),
        );
    }
    let p50 = |k: &str| {
        results
            .get(k)
            .map(|r| r["send_to_book_ns"]["p50"].as_u64().unwrap_or(0))
    };
    let ratio = match (p50("afxdp"), p50("kernel")) {
        (Some(x), Some(k)) if k > 0 => json!((x as f64 / k as f64 * 1000.0).round() / 1000.0),
        _ => Value::Null,
    };
    Ok(json!({
        "mode": "latency",
        "messages": a.messages,
        "warmup": a.warmup,
        "xdp_mode": format!("{:?}", a.xdp_mode),
        "sender": if a.afxdp_sender { "afxdp" } else { "kernel" },
        "series": "sender before send() -> receiver applied the datagram to the L3 book (CLOCK_MONOTONIC)",
        "transports": results,
        "afxdp_p50_over_kernel_p50": ratio,
    }))
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("veth_feed: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("veth_feed: needs root (network namespaces, XDP)");
        std::process::exit(2);
    }
    let veth = match Veth::create() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("veth_feed: {e}");
            std::process::exit(2);
        }
    };
    let out = if a.mode == "book" {
        book_mode(&a, &veth).map(|(v, ok)| (v, if ok { 0 } else { 1 }))
    } else {
        latency_mode(&a, &veth).map(|v| (v, 0))
    };
    drop(veth);
    match out {
        Ok((v, code)) => {
            println!("{v}");
            std::process::exit(code);
        }
        Err(e) => {
            eprintln!("veth_feed: {e}");
            std::process::exit(3);
        }
    }
}
