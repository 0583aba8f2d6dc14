//! Tick-to-trade on loopback, Binance path: a publisher sends WebSocket depth frames over TCP that
//! move the book so the quoter must re-quote; the engine thread runs the real pipeline (decode →
//! sync and L2 book → quoter → pre-trade risk → WebSocket-API order frame → TCP send) and a receiver
//! reads the orders. A reflector (frame in → fixed frame out, no work) runs in the same process over
//! the same sockets as the floor.
//!
//! ```text
//! cargo run --release -p pymm-bench --bin tick_to_trade -- [--quick] [--messages N] [--out DIR]
//! ```
//!
//! Measured per market-data message:
//! - internal: receive (after the read returns and the frame is parsed) → order bytes handed to the
//!   kernel, and per stage (book, quote, risk, encode, send);
//! - wire-to-wire: publisher's clock before `write` → receiver's clock after the `read` that brought
//!   the first order frame. Publisher, engine and receiver use one calibrated TSC clock.
//!
//! Closed loop: the next message goes out only once the previous one's orders arrived, so samples do
//! not queue behind each other. The venue confirms every cancel-replace at once (the engine applies
//! `on_order_done` right after sending): this measures the path, not a venue. The WebSocket upgrade
//! handshake is skipped (frames flow from the first byte). Prints one JSON object; writes
//! `tick_to_trade.json` and `tick_to_trade.hlog` into `--out` (default `bench/results`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use _native::book::l3::L3Config;
use _native::engine::affinity;
use _native::engine::params::{param_block, ParamReader};
use _native::engine::pipeline::{
    BinanceQuotingPipeline, IdRange, ItchQuotingPipeline, MaskGen, OrderEncoder, OuchEncoder,
    PipelineInstrument, QuotingCore, Stage, StageClock,
};
use _native::feed::itch::ItchHeader;
use _native::feed::itch_encode;
use _native::feed::moldudp64::PacketWriter;
use _native::feed::SequenceRule;
use _native::gateway::soupbintcp::{write_packet, PacketType};
use _native::model::Price;
use _native::model::{ClientOrderId, InstrumentId, Qty, Scale, Side, UnixNanos};
use _native::net::tcp::KernelTcpClient;
use _native::net::timestamp::TsSource;
use _native::net::transport::{RxTransport, TxTransport};
use _native::net::udp::{KernelUdpRx, UdpRxConfig, UdpTx};
use _native::net::websocket::{encode_frame, parse_frame, Opcode};
use _native::quoter::{Anchor, QuoteParams, QUOTE_PARAM_WORDS};
use _native::risk::{PreTradeRisk, RateLimits, RiskLimits};
use _native::time::{Clock, ClockConfig, LatencyConfig, LatencyRecorder, LatencyTracker};
use pymm_bench::host;
use serde_json::{json, Value};

/// Per-stage time (summed over the orders of one tick), then: receive → first order's bytes handed
/// to the kernel (tick-to-trade), and receive → every order sent (all `send` calls returned).
const STAGES: [&str; 7] = [
    "book",
    "quote",
    "risk",
    "encode",
    "send",
    "tick_to_trade",
    "internal_total",
];
const T2T: usize = 5;
const TOTAL: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Reflector,
    Pipeline,
}

struct Args {
    messages: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        messages: 50_000,
        out: PathBuf::from("bench/results"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.messages = 2_000,
            "--messages" => {
                a.messages = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--messages takes a number")?
            }
            "--out" => a.out = PathBuf::from(it.next().ok_or("--out takes a directory")?),
            "--json" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

/// Server-side (unmasked) text frame, as a venue sends.
fn server_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0x81);
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Length of one masked client frame at the front of `buf`, if complete.
fn client_frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let (hdr, len) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
        126 | 127 => return None,
        n => (2, usize::from(n)),
    };
    let total = hdr + 4 + len;
    (buf.len() >= total).then_some(total)
}

/// The depth diff that moves the book between two states one tick apart (both sides move).
fn diff(i: usize) -> String {
    let (u, up) = (1_000 + i as u64 + 1, i % 2 == 0);
    let (add_b, del_b, add_a, del_a) = if up {
        ("0.10001", "0.10000", "0.10003", "0.10002")
    } else {
        ("0.10000", "0.10001", "0.10002", "0.10003")
    };
    format!(
        r#"{{"e":"depthUpdate","E":{u},"s":"DOGEUSDT","U":{u},"u":{u},"b":[["{add_b}","5000"],["{del_b}","0"]],"a":[["{add_a}","5000"],["{del_a}","0"]]}}"#
    )
}

/// Charges each interval since the previous mark to the stage marked; remembers when the first
/// order's bytes were ready for the kernel.
struct Marks {
    clock: Arc<Clock>,
    /// Stamp with realtime (to compare with kernel RX stamps) instead of the monotonic reading.
    realtime: bool,
    last: u64,
    acc: [u64; 5],
    first_encoded: u64,
    sent: bool,
}

impl Marks {
    fn start(&mut self, t: u64) {
        self.last = t;
        self.acc = [0; 5];
        self.first_encoded = 0;
        self.sent = false;
    }
}

impl Marks {
    /// Records one tick's stages, tick-to-trade and total (only when orders went out).
    fn record(&self, t_rx: u64, recorders: &mut [LatencyRecorder]) {
        if !self.sent {
            return;
        }
        for (i, ns) in self.acc.iter().enumerate() {
            recorders[i].record(*ns);
        }
        recorders[T2T].record(self.first_encoded.saturating_sub(t_rx));
        recorders[TOTAL].record(self.last.saturating_sub(t_rx));
    }
}

/// The venue confirms every cancel-replace at once (this measures the path, not a venue).
fn confirm_pending<E: OrderEncoder>(core: &mut QuotingCore<E>) {
    let mut done = [ClientOrderId(0); 32];
    let mut k = 0;
    for side in [Side::Buy, Side::Sell] {
        for q in core.quoter().working(side).filter(|q| q.pending) {
            if k < done.len() {
                done[k] = q.id;
                k += 1;
            }
        }
    }
    for id in &done[..k] {
        core.on_order_done(*id);
    }
}

impl StageClock for Marks {
    #[inline]
    fn mark(&mut self, stage: Stage) {
        let now = if self.realtime {
            self.clock.now().as_u64()
        } else {
            self.clock.now_mono().as_u64()
        };
        self.acc[stage as usize] += now.saturating_sub(self.last);
        self.last = now;
        if stage == Stage::Encode && self.first_encoded == 0 {
            self.first_encoded = now;
        }
        if stage == Stage::Send {
            self.sent = true;
        }
    }
}

/// Wraps the order connection: counts frames handed to the kernel.
struct Counted<'a> {
    inner: KernelTcpClient,
    frames: &'a AtomicU64,
}

impl TxTransport for Counted<'_> {
    fn send(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut off = 0;
        while off < data.len() {
            off += self.inner.send(&data[off..])?;
        }
        self.frames.fetch_add(1, Ordering::Release);
        Ok(off)
    }
}

/// Counters the receiver shares with the publisher.
struct Shared {
    recv_frames: Arc<AtomicU64>,
    first_arrival: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// The receiver: counts order packets (framed by `frame_len`) and remembers when the first one after
/// each publish arrived.
fn spawn_receiver(
    orders: TcpListener,
    frame_len: fn(&[u8]) -> Option<usize>,
    sh: Shared,
    clock: Arc<Clock>,
) -> std::thread::JoinHandle<Result<(), String>> {
    std::thread::spawn(move || -> Result<(), String> {
        let (mut s, _) = orders.accept().map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 16];
        let mut have = 0;
        while !sh.stop.load(Ordering::Acquire) {
            let r = match s.read(&mut buf[have..]) {
                Ok(0) => break,
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e.to_string()),
            };
            let t = clock.now().as_u64();
            have += r;
            let mut off = 0;
            while let Some(len) = frame_len(&buf[off..have]) {
                off += len;
                // Only the first frame of a burst sets the arrival time (publisher resets it).
                let _ =
                    sh.first_arrival
                        .compare_exchange(0, t, Ordering::AcqRel, Ordering::Acquire);
                sh.recv_frames.fetch_add(1, Ordering::Release);
            }
            buf.copy_within(off..have, 0);
            have -= off;
        }
        Ok(())
    })
}

/// Spins until `what` reaches `value` (closed loop: the previous message's orders must be in).
fn wait_for(what: &AtomicU64, value: u64) -> Result<(), String> {
    for spin in 0u64.. {
        if what.load(Ordering::Acquire) >= value {
            return Ok(());
        }
        if spin > 200_000_000 {
            return Err(format!("timed out waiting for {value}"));
        }
        std::hint::spin_loop();
    }
    Ok(())
}

/// Length of one SoupBinTCP packet at the front of `buf`, if complete.
fn soup_packet_len(buf: &[u8]) -> Option<usize> {
    let n = 2 + usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    (buf.len() >= n).then_some(n)
}

/// Generous limits (the bench measures the path, not the limits) and one-level quoting parameters.
fn risk_params() -> (PreTradeRisk, ParamReader<QuoteParams, QUOTE_PARAM_WORDS>) {
    let id = InstrumentId(0);
    let mut risk = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: 1 << 40,
            venue_orders_per_second: 1 << 30,
            messages_burst: 1 << 40,
            messages_per_second: 1 << 30,
        },
        UnixNanos(0),
    );
    risk.set_limits(
        id,
        RiskLimits {
            max_order_qty: Qty::from_lots(1_000_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 500,
            max_reference_age_ns: 10_000_000_000,
            max_long: Qty::from_lots(1 << 40),
            max_short: Qty::from_lots(1 << 40),
            max_position_notional: i128::MAX,
            max_open_orders: 16,
            duplicate_window_ns: 0,
            max_fills_in_window: 256,
            fill_window_ns: 1,
        },
    );
    let (_w, reader) = param_block(QuoteParams {
        enabled: 1,
        anchor: Anchor::Mid as i64,
        fair_value_mt: 0,
        half_spread_mt: 1_000,
        skew_mt_per_lot: 0,
        levels: 1,
        level_spacing_ticks: 1,
        size_lots: 100,
        max_inventory_lots: 1 << 40,
        requote_ticks: 0,
        ttl_ns: 0,
        post_only: 1,
    });
    (risk, reader)
}

fn pipeline() -> BinanceQuotingPipeline {
    let (risk, reader) = risk_params();
    let id = InstrumentId(0);
    let mut symbol = [0u8; 20];
    symbol[..8].copy_from_slice(b"DOGEUSDT");
    BinanceQuotingPipeline::new(
        PipelineInstrument {
            id,
            symbol,
            symbol_len: 8,
            tick: Scale::parse("0.00001").unwrap_or(Scale::ONE),
            lot: Scale::ONE,
            rule: SequenceRule::Spot,
        },
        risk,
        reader,
        IdRange {
            next: 1,
            end: u64::MAX,
        },
        b"pymm-",
        MaskGen::new(0x5eed),
    )
}

struct RunResult {
    w2w: hdrhistogram::Histogram<u64>,
    tracker: LatencyTracker,
    orders: u64,
}

fn run_binance(
    mode: Mode,
    n: usize,
    clock: &Arc<Clock>,
    engine_core: Option<usize>,
) -> Result<RunResult, String> {
    let md = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let orders = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let (md_addr, ord_addr) = (
        md.local_addr().map_err(|e| e.to_string())?,
        orders.local_addr().map_err(|e| e.to_string())?,
    );
    let processed = Arc::new(AtomicU64::new(0));
    let sent_frames = Arc::new(AtomicU64::new(0));
    let recv_frames = Arc::new(AtomicU64::new(0));
    let first_arrival = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tracker = LatencyTracker::new(LatencyConfig::default(), &STAGES, clock.now())
        .map_err(|e| e.to_string())?;
    let mut recorders: Vec<_> = (0..STAGES.len())
        .map(|i| tracker.take_recorder(i))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;

    // Receiver: counts order frames; remembers when the first frame after each publish arrived.
    let receiver = spawn_receiver(
        orders,
        client_frame_len,
        Shared {
            recv_frames: recv_frames.clone(),
            first_arrival: first_arrival.clone(),
            stop: stop.clone(),
        },
        clock.clone(),
    );

    // Engine: one pinned thread, the hot loop.
    let engine = {
        let (processed, sent_frames, clock, stop) = (
            processed.clone(),
            sent_frames.clone(),
            clock.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || -> Result<u64, String> {
            if let Some(core) = engine_core {
                let _ = affinity::pin_current_thread(core);
            }
            let mut md_conn = TcpStream::connect(md_addr).map_err(|e| e.to_string())?;
            md_conn.set_nodelay(true).map_err(|e| e.to_string())?;
            md_conn.set_nonblocking(true).map_err(|e| e.to_string())?;
            let ord = KernelTcpClient::connect(ord_addr, Duration::from_secs(5), 4096)
                .map_err(|e| e.to_string())?;
            let mut tx = Counted {
                inner: ord,
                frames: &sent_frames,
            };
            let mut p = pipeline();
            let mut marks = Marks {
                clock: clock.clone(),
                realtime: false,
                last: 0,
                acc: [0; 5],
                first_encoded: 0,
                sent: false,
            };
            let mut reflect = [0u8; 80];
            let reflect_len = encode_frame(Opcode::Text, &[b'x'; 64], [1, 2, 3, 4], &mut reflect)
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 1 << 16];
            let mut have = 0;
            while !stop.load(Ordering::Acquire) {
                match md_conn.read(&mut buf[have..]) {
                    Ok(0) => break,
                    Ok(r) => have += r,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::hint::spin_loop();
                        continue;
                    }
                    Err(e) => return Err(e.to_string()),
                }
                let mut off = 0;
                while let Ok(Some(f)) = parse_frame(&buf[off..have], 1 << 16) {
                    let payload = &buf[off + f.payload.0..off + f.payload.1];
                    let t_rx = clock.now_mono().as_u64();
                    match mode {
                        Mode::Reflector => {
                            let t_ready = clock.now_mono().as_u64();
                            tx.send(&reflect[..reflect_len])
                                .map_err(|e| e.to_string())?;
                            let t_out = clock.now_mono().as_u64();
                            recorders[T2T].record(t_ready.saturating_sub(t_rx));
                            recorders[TOTAL].record(t_out.saturating_sub(t_rx));
                        }
                        Mode::Pipeline => {
                            marks.start(t_rx);
                            let now = clock.now();
                            p.on_market_data(
                                payload,
                                now,
                                now.as_u64() / 1_000_000,
                                &mut tx,
                                &mut marks,
                            )
                            .map_err(|e| e.to_string())?;
                            marks.record(t_rx, &mut recorders);
                            confirm_pending(p.core());
                        }
                    }
                    off += f.len;
                    processed.fetch_add(1, Ordering::Release);
                }
                buf.copy_within(off..have, 0);
                have -= off;
            }
            Ok(p.stats().orders_sent)
        })
    };

    // Publisher (this thread).
    let (mut pub_conn, _) = md.accept().map_err(|e| e.to_string())?;
    pub_conn.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut frame = Vec::with_capacity(512);
    let snapshot =
        r#"{"lastUpdateId":1000,"bids":[["0.10000","5000"]],"asks":[["0.10002","5000"]]}"#;
    let mut w2w = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)
        .map_err(|e| e.to_string())?;
    let mut total = 0u64;
    for i in 0..=n {
        let payload = if i == 0 {
            snapshot.to_owned()
        } else {
            diff(i - 1)
        };
        server_frame(payload.as_bytes(), &mut frame);
        let before_sent = sent_frames.load(Ordering::Acquire);
        first_arrival.store(0, Ordering::Release);
        let t_pub = clock.now().as_u64();
        pub_conn.write_all(&frame).map_err(|e| e.to_string())?;
        total += 1;
        wait_for(&processed, total)?;
        let now_sent = sent_frames.load(Ordering::Acquire);
        wait_for(&recv_frames, now_sent)?;
        let t_first = first_arrival.load(Ordering::Acquire);
        if now_sent > before_sent && t_first > t_pub && i > 0 {
            w2w.record(t_first - t_pub).map_err(|e| e.to_string())?;
        }
    }
    stop.store(true, Ordering::Release);
    drop(pub_conn);
    let orders = engine.join().map_err(|_| "engine thread panicked")??;
    receiver.join().map_err(|_| "receiver thread panicked")??;
    Ok(RunResult {
        w2w,
        tracker,
        orders,
    })
}

/// The ITCH path: the publisher sends MoldUDP64 datagrams to a multicast group on `lo`; the engine
/// receives them with `recvmmsg` and kernel RX timestamps, runs the ITCH/L3/OUCH pipeline, and sends
/// OUCH in SoupBinTCP packets over TCP. Each datagram deletes the two resting orders and adds two
/// one tick higher or lower, so the quotes move every time.
fn run_itch(
    mode: Mode,
    n: usize,
    clock: &Arc<Clock>,
    engine_core: Option<usize>,
) -> Result<RunResult, String> {
    let group = Ipv4Addr::new(239, 77, 12, 1);
    let rx = KernelUdpRx::open(&UdpRxConfig {
        group: Some(group),
        batch: 8,
        ..Default::default()
    })
    .map_err(|e| format!("joining {group} on lo: {e}"))?;
    let port = rx.local_port();
    let orders = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let ord_addr = orders.local_addr().map_err(|e| e.to_string())?;
    let processed = Arc::new(AtomicU64::new(0));
    let sent_frames = Arc::new(AtomicU64::new(0));
    let recv_frames = Arc::new(AtomicU64::new(0));
    let first_arrival = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tracker = LatencyTracker::new(LatencyConfig::default(), &STAGES, clock.now())
        .map_err(|e| e.to_string())?;
    let mut recorders: Vec<_> = (0..STAGES.len())
        .map(|i| tracker.take_recorder(i))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let receiver = spawn_receiver(
        orders,
        soup_packet_len,
        Shared {
            recv_frames: recv_frames.clone(),
            first_arrival: first_arrival.clone(),
            stop: stop.clone(),
        },
        clock.clone(),
    );
    let engine = {
        let (processed, sent_frames, clock, stop) = (
            processed.clone(),
            sent_frames.clone(),
            clock.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || -> Result<u64, String> {
            let mut rx = rx;
            if let Some(core) = engine_core {
                let _ = affinity::pin_current_thread(core);
            }
            let ord = KernelTcpClient::connect(ord_addr, Duration::from_secs(5), 4096)
                .map_err(|e| e.to_string())?;
            let mut tx = Counted {
                inner: ord,
                frames: &sent_frames,
            };
            let (risk, params) = risk_params();
            let enc = OuchEncoder::new(
                *b"AMZN    ",
                *b"PYMM",
                Scale::parse("0.0001").map_err(|e| e.to_string())?,
            )
            .ok_or("tick does not fit OUCH prices")?;
            let core = QuotingCore::new(
                InstrumentId(0),
                risk,
                params,
                IdRange {
                    next: 1,
                    end: 99_999_999_999_999,
                },
                enc,
            );
            let mut p = ItchQuotingPipeline::new(core, 1, UnixNanos(0), L3Config::default());
            let mut marks = Marks {
                clock: clock.clone(),
                realtime: true,
                last: 0,
                acc: [0; 5],
                first_encoded: 0,
                sent: false,
            };
            let mut reflect = [0u8; 64];
            let reflect_len = write_packet(PacketType::UnsequencedData, &[b'x'; 48], &mut reflect)
                .map_err(|e| e.to_string())?;
            let mut failure: Option<String> = None;
            while !stop.load(Ordering::Acquire) && failure.is_none() {
                let polled = rx.poll(|datagram, ts| {
                    // The kernel's RX stamp (software on lo); our clock if the kernel gave none.
                    let t_rx = if ts.source == TsSource::None {
                        clock.now().as_u64()
                    } else {
                        ts.ts.as_u64()
                    };
                    let result = match mode {
                        Mode::Reflector => {
                            let t_ready = clock.now().as_u64();
                            let r = tx.send(&reflect[..reflect_len]);
                            let t_out = clock.now().as_u64();
                            recorders[T2T].record(t_ready.saturating_sub(t_rx));
                            recorders[TOTAL].record(t_out.saturating_sub(t_rx));
                            r.map(|_| ())
                        }
                        Mode::Pipeline => {
                            marks.start(t_rx);
                            let now = clock.now();
                            let r = p.on_packet(
                                datagram,
                                UnixNanos(t_rx),
                                now.as_u64() / 1_000_000,
                                &mut tx,
                                &mut marks,
                            );
                            marks.record(t_rx, &mut recorders);
                            confirm_pending(p.core());
                            r.map(|_| ())
                        }
                    };
                    if let Err(e) = result {
                        failure = Some(e.to_string());
                    }
                    processed.fetch_add(1, Ordering::Release);
                });
                match polled {
                    Ok(0) => std::hint::spin_loop(),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(p.stats().orders_sent),
            }
        })
    };
    // Publisher (this thread): MoldUDP64 over multicast on lo.
    let mut udp = UdpTx::connect(SocketAddrV4::new(group, port), Ipv4Addr::LOCALHOST, 0)
        .map_err(|e| e.to_string())?;
    wait_for(&recv_frames, 0)?;
    let session = *b"PYMMBENCH ";
    let stk = itch_encode::stock("AMZN");
    let hdr = ItchHeader {
        locate: 1,
        tracking: 0,
        timestamp: 1,
    };
    let mut w2w = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)
        .map_err(|e| e.to_string())?;
    let mut seq = 1u64;
    let mut datagram = [0u8; 1400];
    let mut msg = [0u8; 64];
    let (mut bid_ref, mut ask_ref) = (0u64, 0u64);
    for i in 0..=n {
        let base = if i % 2 == 0 { 10_000 } else { 10_001 };
        let mut w = PacketWriter::new(&mut datagram, &session, seq).ok_or("datagram buffer")?;
        if i > 0 {
            for r in [bid_ref, ask_ref] {
                let len = itch_encode::order_delete(&mut msg, hdr, r).ok_or("encode delete")?;
                w.push(&msg[..len]);
            }
        }
        let (b, a) = (2 * i as u64 + 1, 2 * i as u64 + 2);
        let len = itch_encode::add_order(
            &mut msg,
            hdr,
            b,
            Side::Buy,
            5_000,
            stk,
            Price::from_ticks(base),
        )
        .ok_or("encode add")?;
        w.push(&msg[..len]);
        let len = itch_encode::add_order(
            &mut msg,
            hdr,
            a,
            Side::Sell,
            5_000,
            stk,
            Price::from_ticks(base + 2),
        )
        .ok_or("encode add")?;
        w.push(&msg[..len]);
        (bid_ref, ask_ref) = (b, a);
        seq += u64::from(w.count());
        let len = w.finish();
        let before_sent = sent_frames.load(Ordering::Acquire);
        first_arrival.store(0, Ordering::Release);
        let t_pub = clock.now().as_u64();
        udp.send(&datagram[..len]).map_err(|e| e.to_string())?;
        wait_for(&processed, i as u64 + 1)?;
        let now_sent = sent_frames.load(Ordering::Acquire);
        wait_for(&recv_frames, now_sent)?;
        let t_first = first_arrival.load(Ordering::Acquire);
        if now_sent > before_sent && t_first > t_pub && i > 0 {
            w2w.record(t_first - t_pub).map_err(|e| e.to_string())?;
        }
    }
    stop.store(true, Ordering::Release);
    let orders = engine.join().map_err(|_| "engine thread panicked")??;
    receiver.join().map_err(|_| "receiver thread panicked")??;
    Ok(RunResult {
        w2w,
        tracker,
        orders,
    })
}

/// Quantiles of the plotted percentile curve (HdrHistogram style: dense toward the tail).
const CURVE: [f64; 12] = [
    0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 1.0,
];

fn pct(h: &hdrhistogram::Histogram<u64>) -> Value {
    let curve: Vec<Value> = CURVE
        .iter()
        .map(|q| json!([q, h.value_at_quantile(*q)]))
        .collect();
    json!({
        "curve": curve,
        "count": h.len(),
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "p99_99": h.value_at_quantile(0.9999),
        "max": h.max(),
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tick_to_trade: {e}");
            std::process::exit(2);
        }
    };
    let clock = match Clock::new(ClockConfig::default()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("tick_to_trade: clock: {e}");
            std::process::exit(1);
        }
    };
    let cores = affinity::allowed_cores().unwrap_or_default();
    let engine_core = cores.last().copied().filter(|_| cores.len() > 1);
    let mut report = json!({"host": host::host_info("tick_to_trade"), "messages": args.messages, "engine_core": engine_core});
    let mut hlog = Vec::new();
    for feed in ["binance", "itch"] {
        let mut section = json!({});
        for (name, mode) in [("reflector", Mode::Reflector), ("pipeline", Mode::Pipeline)] {
            let result = match feed {
                "binance" => run_binance(mode, args.messages, &clock, engine_core),
                _ => run_itch(mode, args.messages, &clock, engine_core),
            };
            let mut r = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("tick_to_trade: {feed} {name}: {e}");
                    std::process::exit(1);
                }
            };
            let mut stages = serde_json::Map::new();
            let hists = r.tracker.end_interval(clock.now()).unwrap_or_default();
            for (stage, (h, _)) in STAGES.iter().zip(&hists) {
                if mode == Mode::Reflector && !matches!(*stage, "tick_to_trade" | "internal_total")
                {
                    continue;
                }
                stages.insert((*stage).to_owned(), pct(h));
            }
            let log = String::from_utf8_lossy(r.tracker.hlog())
                .replace("Tag=", &format!("Tag={feed}_{name}_"));
            hlog.push(log);
            section[name] = json!({"wire_to_wire_ns": pct(&r.w2w), "internal_ns": stages, "orders_sent": r.orders});
        }
        let floor = section["reflector"]["wire_to_wire_ns"]["p50"]
            .as_f64()
            .unwrap_or(0.0);
        let w2w = section["pipeline"]["wire_to_wire_ns"]["p50"]
            .as_f64()
            .unwrap_or(0.0);
        section["ratio_w2w_p50_to_floor"] = json!(if floor > 0.0 { w2w / floor } else { 0.0 });
        report[feed] = section;
    }
    let _ = std::fs::create_dir_all(&args.out);
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    let _ = std::fs::write(args.out.join("tick_to_trade.json"), &text);
    let _ = std::fs::write(args.out.join("tick_to_trade.hlog"), hlog.join(""));
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{text}");
}
