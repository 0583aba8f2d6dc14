//! The ITCH/OUCH venue on real sockets: [`super::itch_front::ItchFront`] behind a mutex, driven by
//! a crowd thread, published on two MoldUDP64 multicast lines (A and B, each with its own seeded
//! fault hooks: drop, duplicate, reorder, delay), a MoldUDP64 re-request server (UDP unicast), and an
//! OUCH 4.2 over SoupBinTCP 3.0 server (one thread per connection).
//!
//! Threads:
//! - **crowd**: every `interval_us`, one [`FlowSource`] action (until `max_actions`), the packets it
//!   produced sent on both lines through the lines' fault hooks; delayed / held packets released on
//!   time; a heartbeat on each line after `heartbeat_ms` of silence.
//! - **re-request**: answers `session, sequence, count` requests from the bounded history with one
//!   packet to the requester's address (MoldUDP64 spec: an unanswerable request gets no reply).
//! - **OUCH accept** + one thread per SoupBinTCP connection ([`SoupServerSession`] does the protocol).
//!
//! On [`ItchVenue::stop`] the front publishes the end-of-day system events, each line sends
//! end-of-session packets, and every OUCH connection gets an end-of-session `Z`.
//!
//! Runs inside the simulated venue (not on pymm's hot path): locks, allocation and threads are fine.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::itch_flow::{FlowSource, RandomFlow, RandomFlowConfig, Rng};
use super::itch_front::{FrontParams, FrontStats, ItchFront};
use crate::feed::itch_encode;
use crate::feed::moldudp64::{Session, END_OF_SESSION};
use crate::gateway::ouch::{EnterOrder, ReplaceOrder};
use crate::gateway::soupbintcp::{
    parse_packet, read_login_request, write_login_accepted, write_packet, PacketType, SoupError,
};
use crate::net::transport::TxTransport;
use crate::net::udp::UdpTx;
use crate::time::posix_clock::PosixClock;

/// Seeded fault hooks of one multicast line (probabilities per data packet).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineFaultConfig {
    /// Seed of this line's fault generator.
    pub seed: u64,
    /// Probability a packet is not sent.
    pub drop: f64,
    /// Probability a packet is sent twice.
    pub duplicate: f64,
    /// Probability a packet is held and sent after the next one.
    pub reorder: f64,
    /// Probability a packet is delayed by `delay_ms`.
    pub delay: f64,
    /// Delay of a delayed packet (and the longest a held packet waits), milliseconds.
    pub delay_ms: u64,
}

/// An OUCH login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuchUser {
    /// Username (at most 6 characters).
    pub user: String,
    /// Password (at most 10 characters).
    pub password: String,
}

/// Configuration of the ITCH/OUCH venue (also the Python `ItchVenue(config)` dict).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItchVenueConfig {
    /// Stock symbol (at most 8 characters).
    pub symbol: String,
    /// ITCH stock locate code.
    pub locate: u16,
    /// Tick size in ITCH price units (1/10000 dollar): 100 is one cent.
    pub tick: u32,
    /// Round lot, shares.
    pub round_lot: u32,
    /// MoldUDP64 / SoupBinTCP session name (at most 10 characters).
    pub session: String,
    /// Interface address the multicast lines are sent from.
    pub interface: Ipv4Addr,
    /// Line A, `group:port`.
    pub itch_a: SocketAddrV4,
    /// Line B, `group:port`.
    pub itch_b: SocketAddrV4,
    /// Multicast TTL (0 keeps packets on the host).
    pub ttl: u32,
    /// Re-request server, `ip:port` (port 0: any free port).
    pub rerequest: SocketAddrV4,
    /// SoupBinTCP listener, `ip:port` (port 0: any free port).
    pub ouch: SocketAddrV4,
    /// OUCH logins.
    pub users: Vec<OuchUser>,
    /// Messages kept for re-requests.
    pub history: usize,
    /// Largest MoldUDP64 datagram, bytes.
    pub max_packet: usize,
    /// Heartbeat after this much silence on the lines, and on SoupBinTCP, milliseconds.
    pub heartbeat_ms: u64,
    /// A SoupBinTCP client silent this long is disconnected, milliseconds.
    pub client_timeout_ms: u64,
    /// Run the seeded crowd.
    pub flow: bool,
    /// One crowd action every this many microseconds.
    pub interval_us: u64,
    /// Stop the crowd after this many actions (0: never).
    pub max_actions: u64,
    /// The seeded random crowd's parameters.
    pub random_flow: RandomFlowConfig,
    /// Line A fault hooks.
    pub faults_a: LineFaultConfig,
    /// Line B fault hooks.
    pub faults_b: LineFaultConfig,
}

impl Default for ItchVenueConfig {
    fn default() -> Self {
        Self {
            symbol: "PYMM".into(),
            locate: 1,
            tick: 100,
            round_lot: 100,
            session: "PYMMITCH01".into(),
            interface: Ipv4Addr::LOCALHOST,
            itch_a: SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 31001),
            itch_b: SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 2), 31002),
            ttl: 0,
            rerequest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 31003),
            ouch: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 31004),
            users: vec![OuchUser {
                user: "PYMM".into(),
                password: "pymm".into(),
            }],
            history: 1_000_000,
            max_packet: 1400,
            heartbeat_ms: 1000,
            client_timeout_ms: 15_000,
            flow: true,
            interval_us: 1000,
            max_actions: 0,
            random_flow: RandomFlowConfig::default(),
            faults_a: LineFaultConfig::default(),
            faults_b: LineFaultConfig {
                seed: 1,
                ..LineFaultConfig::default()
            },
        }
    }
}

/// A configuration the venue cannot run with.
#[derive(Debug, Error)]
pub enum ItchVenueError {
    /// A field is out of range.
    #[error("invalid ITCH venue config: {0}")]
    Config(String),
    /// A socket could not be opened.
    #[error("ITCH venue socket: {0}")]
    Io(#[from] io::Error),
}

impl ItchVenueConfig {
    /// The front's parameters; checks field widths and ranges.
    pub fn front_params(&self) -> Result<FrontParams, ItchVenueError> {
        let bad = |m: &str| Err(ItchVenueError::Config(m.to_owned()));
        if self.symbol.is_empty() || self.symbol.len() > 8 || !self.symbol.is_ascii() {
            return bad("symbol must be 1 to 8 ASCII characters");
        }
        if self.session.len() > 10 || !self.session.is_ascii() {
            return bad("session must be at most 10 ASCII characters");
        }
        if self.tick == 0 || self.round_lot == 0 {
            return bad("tick and round_lot must be positive");
        }
        if !(64..=65_000).contains(&self.max_packet) {
            return bad("max_packet must be within 64..=65000");
        }
        if !self.itch_a.ip().is_multicast() || !self.itch_b.ip().is_multicast() {
            return bad("itch_a and itch_b must be multicast groups");
        }
        let mut session: Session = [b' '; 10];
        session[..self.session.len()].copy_from_slice(self.session.as_bytes());
        let mut users = Vec::new();
        for u in &self.users {
            if u.user.is_empty() || u.user.len() > 6 || u.password.len() > 10 {
                return bad("OUCH users: user 1 to 6 characters, password at most 10");
            }
            users.push((u.user.as_bytes().to_vec(), u.password.as_bytes().to_vec()));
        }
        Ok(FrontParams {
            stock: itch_encode::stock(&self.symbol),
            locate: self.locate,
            tick: self.tick,
            round_lot: self.round_lot,
            session,
            max_packet: self.max_packet,
            history: self.history.max(1),
            users,
        })
    }
}

/// Explicit one-shot fault hooks of the OUCH server, and what it saw (tests arm them through
/// [`ItchVenue::ouch_hooks`]). Every hook disarms itself once it fired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OuchHooks {
    /// On the next inbound OUCH message of this type (`O` enter, `U` replace, `X` cancel), close
    /// the connection before any answer is sent.
    pub drop_on: Option<u8>,
    /// With `drop_on`: apply the message first (the venue acted, the client never heard), or
    /// discard it (it never arrived).
    pub drop_applies: bool,
    /// After the next inbound message of this type, hold the connection's sequenced messages
    /// (answers) back for `hold_ms` (heartbeats still flow).
    pub hold_on: Option<u8>,
    /// How long `hold_on` holds answers back, milliseconds.
    pub hold_ms: u64,
    /// Reject this many next logins with `S` (session not available).
    pub reject_logins: u32,
    /// The next accepted login replays this many already-sent messages before the requested one.
    pub replay_overlap: u64,
    /// Every token that arrived as a new order (Enter token, Replace replacement) and how often,
    /// counted on the wire (a message the drop hook discards included).
    pub tokens: BTreeMap<u64, u32>,
}

/// Counters of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LineStats {
    /// Datagrams sent (duplicates and heartbeats included).
    pub sent: u64,
    /// Data packets dropped by the fault hook.
    pub dropped: u64,
    /// Data packets sent twice.
    pub duplicated: u64,
    /// Data packets held back behind the next one.
    pub reordered: u64,
    /// Data packets delayed.
    pub delayed: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
    /// Send errors (counted; the packet is lost on this line).
    pub send_errors: u64,
}

/// One multicast line with its fault hooks.
struct Line {
    tx: UdpTx,
    cfg: LineFaultConfig,
    rng: Rng,
    held: Option<(u64, Vec<u8>)>,
    delayed: Vec<(u64, Vec<u8>)>,
    last_sent_ns: u64,
    stats: LineStats,
}

impl Line {
    fn new(
        dest: SocketAddrV4,
        interface: Ipv4Addr,
        ttl: u32,
        cfg: LineFaultConfig,
    ) -> io::Result<Self> {
        Ok(Self {
            tx: UdpTx::connect(dest, interface, ttl)?,
            rng: Rng::new(cfg.seed),
            cfg,
            held: None,
            delayed: Vec::new(),
            last_sent_ns: 0,
            stats: LineStats::default(),
        })
    }

    fn raw(&mut self, pkt: &[u8], now: u64) {
        match self.tx.send(pkt) {
            Ok(_) => self.stats.sent += 1,
            Err(_) => self.stats.send_errors += 1,
        }
        self.last_sent_ns = now;
    }

    /// Sends a data packet through the fault hooks.
    fn data(&mut self, pkt: Vec<u8>, now: u64) {
        let delay_ns = self.cfg.delay_ms.max(1) * 1_000_000;
        if self.rng.chance(self.cfg.drop) {
            self.stats.dropped += 1;
            return;
        }
        if self.rng.chance(self.cfg.delay) {
            self.stats.delayed += 1;
            self.delayed.push((now + delay_ns, pkt));
            return;
        }
        if self.held.is_none() && self.rng.chance(self.cfg.reorder) {
            self.stats.reordered += 1;
            self.held = Some((now + delay_ns, pkt));
            return;
        }
        let dup = self.rng.chance(self.cfg.duplicate);
        self.raw(&pkt, now);
        if dup {
            self.stats.duplicated += 1;
            self.raw(&pkt, now);
        }
        if let Some((_, h)) = self.held.take() {
            self.raw(&h, now);
        }
    }

    /// Releases delayed and held packets that are due (`force`: all of them).
    fn tick(&mut self, now: u64, force: bool) {
        if self
            .held
            .as_ref()
            .is_some_and(|(due, _)| force || *due <= now)
        {
            if let Some((_, h)) = self.held.take() {
                self.raw(&h, now);
            }
        }
        let mut i = 0;
        while i < self.delayed.len() {
            if force || self.delayed[i].0 <= now {
                let (_, p) = self.delayed.remove(i);
                self.raw(&p, now);
            } else {
                i += 1;
            }
        }
    }
}

/// The venue's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// The front's counters.
    pub front: FrontStats,
    /// Line A.
    pub line_a: LineStats,
    /// Line B.
    pub line_b: LineStats,
    /// SoupBinTCP logins accepted.
    pub logins: u64,
    /// SoupBinTCP logins rejected.
    pub login_rejects: u64,
    /// SoupBinTCP connections closed for a protocol error.
    pub protocol_errors: u64,
    /// SoupBinTCP clients dropped for silence.
    pub client_timeouts: u64,
    /// Next MoldUDP64 sequence number.
    pub next_sequence: u64,
}

struct Core {
    front: ItchFront,
    lines: [Line; 2],
    flow: Option<Box<dyn FlowSource>>,
    connected: Vec<bool>,
    hooks: OuchHooks,
    logins: u64,
    login_rejects: u64,
    protocol_errors: u64,
    client_timeouts: u64,
}

impl Core {
    fn set_time(&mut self) {
        self.front.set_time(PosixClock::Realtime.now_ns());
    }

    /// Sends what the front built on both lines.
    fn publish(&mut self) {
        let now = PosixClock::Monotonic.now_ns();
        for p in self.front.take_packets() {
            for line in &mut self.lines {
                line.data(p.clone(), now);
            }
        }
    }
}

struct Shared {
    stop: AtomicBool,
    core: Mutex<Core>,
    cfg: ItchVenueConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panicked thread leaves the data usable (counters and logs only).
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Where the venue listens and publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Line A group and port.
    pub itch_a: SocketAddrV4,
    /// Line B group and port.
    pub itch_b: SocketAddrV4,
    /// Re-request server.
    pub rerequest: SocketAddrV4,
    /// SoupBinTCP listener.
    pub ouch: SocketAddrV4,
}

/// The running venue (see the module docs). Dropping it stops it.
pub struct ItchVenue {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    endpoints: Endpoints,
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(v) => v,
        SocketAddr::V6(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, a.port()),
    }
}

impl ItchVenue {
    /// Opens the sockets, publishes the start of day and starts the threads. `flow` replaces the
    /// seeded random crowd (when `cfg.flow` is set).
    pub fn start(
        cfg: ItchVenueConfig,
        flow: Option<Box<dyn FlowSource>>,
    ) -> Result<Self, ItchVenueError> {
        let params = cfg.front_params()?;
        let lines = [
            Line::new(cfg.itch_a, cfg.interface, cfg.ttl, cfg.faults_a.clone())?,
            Line::new(cfg.itch_b, cfg.interface, cfg.ttl, cfg.faults_b.clone())?,
        ];
        let rr = UdpSocket::bind(cfg.rerequest)?;
        rr.set_read_timeout(Some(Duration::from_millis(20)))?;
        let listener = TcpListener::bind(cfg.ouch)?;
        listener.set_nonblocking(true)?;
        let endpoints = Endpoints {
            itch_a: cfg.itch_a,
            itch_b: cfg.itch_b,
            rerequest: v4(rr.local_addr()?),
            ouch: v4(listener.local_addr()?),
        };
        let flow = if cfg.flow {
            Some(flow.unwrap_or_else(|| {
                Box::new(RandomFlow::new(
                    cfg.random_flow.clone(),
                    i64::from(cfg.tick),
                ))
            }))
        } else {
            None
        };
        let users = params.users.len();
        let mut core = Core {
            front: ItchFront::new(params),
            lines,
            flow,
            connected: vec![false; users],
            hooks: OuchHooks::default(),
            logins: 0,
            login_rejects: 0,
            protocol_errors: 0,
            client_timeouts: 0,
        };
        core.set_time();
        core.front.start_of_day();
        core.publish();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            core: Mutex::new(core),
            cfg,
        });
        let conns = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(spawn("itch-crowd", move || crowd_loop(&s))?);
        let s = Arc::clone(&shared);
        threads.push(spawn("itch-rerequest", move || rerequest_loop(&s, &rr))?);
        let s = Arc::clone(&shared);
        let c = Arc::clone(&conns);
        threads.push(spawn("ouch-accept", move || {
            accept_loop(&s, &listener, &c)
        })?);
        Ok(Self {
            shared,
            threads,
            conns,
            endpoints,
        })
    }

    /// Where it listens.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints
    }

    /// Counters.
    pub fn stats(&self) -> VenueStats {
        let c = self.shared.lock();
        VenueStats {
            front: c.front.stats(),
            line_a: c.lines[0].stats,
            line_b: c.lines[1].stats,
            logins: c.logins,
            login_rejects: c.login_rejects,
            protocol_errors: c.protocol_errors,
            client_timeouts: c.client_timeouts,
            next_sequence: c.front.next_sequence(),
        }
    }

    /// The digest of the displayed book ([`ItchFront::digest`]) and the next sequence number, read
    /// together.
    pub fn digest(&self) -> ([u8; 32], u64) {
        let c = self.shared.lock();
        (c.front.digest(), c.front.next_sequence())
    }

    /// Orders resting on the venue's book (displayed or not).
    pub fn resting_orders(&self) -> usize {
        self.shared.lock().front.engine().resting_orders()
    }

    /// Runs `f` on the front under the lock, then publishes what it built (tests, scripted flow).
    pub fn with_front<R>(&self, f: impl FnOnce(&mut ItchFront) -> R) -> R {
        let mut c = self.shared.lock();
        c.set_time();
        let r = f(&mut c.front);
        c.front.flush();
        c.publish();
        r
    }

    /// Runs `f` on the OUCH server's fault hooks and observations under the lock.
    pub fn ouch_hooks<R>(&self, f: impl FnOnce(&mut OuchHooks) -> R) -> R {
        f(&mut self.shared.lock().hooks)
    }

    /// Whether the threads are running.
    pub fn is_running(&self) -> bool {
        !self.threads.is_empty()
    }

    /// Stops the threads; publishes end of day and end of session. Idempotent.
    pub fn stop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shared.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let conns: Vec<_> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for t in conns {
            let _ = t.join();
        }
        let mut c = self.shared.lock();
        c.set_time();
        c.front.end_of_day();
        c.publish();
        let now = PosixClock::Monotonic.now_ns();
        let eos = c.front.header_packet(END_OF_SESSION);
        for line in &mut c.lines {
            line.tick(now, true);
            line.raw(&eos, now);
        }
    }
}

impl Drop for ItchVenue {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

fn crowd_loop(s: &Shared) {
    let interval = Duration::from_micros(s.cfg.interval_us.max(1));
    let hb_ns = s.cfg.heartbeat_ms.max(1) * 1_000_000;
    let mut actions = 0u64;
    while !s.stopping() {
        std::thread::sleep(interval);
        let mut c = s.lock();
        c.set_time();
        let more = s.cfg.max_actions == 0 || actions < s.cfg.max_actions;
        if more {
            if let Some(mut flow) = c.flow.take() {
                if c.front.step_flow(flow.as_mut()) {
                    actions += 1;
                }
                c.flow = Some(flow);
                c.publish();
            }
        }
        let now = PosixClock::Monotonic.now_ns();
        let hb = c.front.header_packet(0);
        for line in &mut c.lines {
            line.tick(now, false);
            if now.saturating_sub(line.last_sent_ns) >= hb_ns {
                line.stats.heartbeats += 1;
                line.raw(&hb, now);
            }
        }
    }
}

fn rerequest_loop(s: &Shared, sock: &UdpSocket) {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    while !s.stopping() {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let r = s.lock().front.serve_rerequest(&buf[..n], &mut out);
        if r.is_ok() {
            let _ = sock.send_to(&out, from);
        }
    }
}

fn accept_loop(s: &Arc<Shared>, listener: &TcpListener, conns: &Arc<Mutex<Vec<JoinHandle<()>>>>) {
    while !s.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                let s2 = Arc::clone(s);
                if let Ok(t) = spawn("ouch-conn", move || connection(&s2, stream)) {
                    conns.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Why a SoupBinTCP session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SessionEnd {
    /// The framing broke (zero length, unknown type).
    #[error("framing: {0}")]
    Framing(SoupError),
    /// A packet the client may not send (or data before login).
    #[error("unexpected packet type {0:?}")]
    Unexpected(PacketType),
    /// A malformed login request.
    #[error("malformed login request")]
    BadLogin,
    /// The login was refused (`J` sent).
    #[error("login rejected ({0})")]
    Rejected(u8),
    /// The client logged out.
    #[error("logout")]
    Logout,
    /// A fault hook closes the connection (nothing more is sent).
    #[error("dropped by a fault hook")]
    Dropped,
}

/// The server side of one SoupBinTCP 3.0 session, without sockets: bytes in, bytes out.
#[derive(Debug, Default)]
pub struct SoupServerSession {
    user: Option<usize>,
    /// Next sequence number to send this client.
    next_out: u64,
    inbuf: Vec<u8>,
    /// Set when a hold hook fired: hold answers back this long (ns).
    hold_ns: u64,
}

impl SoupServerSession {
    /// A session awaiting its login request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<usize> {
        self.user
    }

    /// Takes received bytes; appends replies (login accepted / rejected, nothing else) to `out`.
    /// Inbound OUCH messages are applied to `front`. An error ends the session (after `out` is
    /// sent: a rejection's `J` is in it). `connected[user]` marks a user with a live session.
    pub fn on_bytes(
        &mut self,
        data: &[u8],
        front: &mut ItchFront,
        connected: &mut [bool],
        out: &mut Vec<u8>,
    ) -> Result<(), SessionEnd> {
        self.on_bytes_hooked(data, front, connected, &mut OuchHooks::default(), out)
    }

    /// [`Self::on_bytes`] with fault hooks: a drop hook ends the session with
    /// [`SessionEnd::Dropped`] (send nothing more), a hold hook sets [`Self::take_hold`].
    pub fn on_bytes_hooked(
        &mut self,
        data: &[u8],
        front: &mut ItchFront,
        connected: &mut [bool],
        hooks: &mut OuchHooks,
        out: &mut Vec<u8>,
    ) -> Result<(), SessionEnd> {
        let mut inbuf = std::mem::take(&mut self.inbuf);
        inbuf.extend_from_slice(data);
        let mut at = 0;
        let r = loop {
            let p = match parse_packet(&inbuf[at..]) {
                Ok(Some(p)) => p,
                Ok(None) => break Ok(()),
                Err(e) => break Err(SessionEnd::Framing(e)),
            };
            at += p.len;
            let r = match (p.kind, self.user) {
                (PacketType::LoginRequest, None) => {
                    self.login(p.payload, front, connected, hooks, out)
                }
                (PacketType::UnsequencedData, Some(u)) => {
                    let kind = p.payload.first().copied();
                    let new_token = match kind {
                        Some(b'O') => EnterOrder::decode(p.payload).ok().map(|m| m.token),
                        Some(b'U') => ReplaceOrder::decode(p.payload).ok().map(|m| m.replacement),
                        _ => None,
                    };
                    if let Some(t) = new_token {
                        *hooks.tokens.entry(t.0).or_default() += 1;
                    }
                    if kind.is_some() && hooks.drop_on == kind {
                        hooks.drop_on = None;
                        if hooks.drop_applies {
                            let _ = front.ouch_inbound(u, p.payload);
                        }
                        break Err(SessionEnd::Dropped);
                    }
                    // A malformed OUCH message is counted by the front and ignored.
                    let _ = front.ouch_inbound(u, p.payload);
                    if kind.is_some() && hooks.hold_on == kind {
                        hooks.hold_on = None;
                        self.hold_ns = hooks.hold_ms.saturating_mul(1_000_000);
                    }
                    Ok(())
                }
                (PacketType::ClientHeartbeat | PacketType::Debug, _) => Ok(()),
                (PacketType::LogoutRequest, _) => Err(SessionEnd::Logout),
                (k, _) => Err(SessionEnd::Unexpected(k)),
            };
            if r.is_err() {
                break r;
            }
        };
        inbuf.drain(..at.min(inbuf.len()));
        self.inbuf = inbuf;
        r
    }

    /// Takes the hold a hook asked for (ns; 0: none).
    pub fn take_hold(&mut self) -> u64 {
        std::mem::take(&mut self.hold_ns)
    }

    fn login(
        &mut self,
        payload: &[u8],
        front: &ItchFront,
        connected: &mut [bool],
        hooks: &mut OuchHooks,
        out: &mut Vec<u8>,
    ) -> Result<(), SessionEnd> {
        let login = read_login_request(payload).ok_or(SessionEnd::BadLogin)?;
        let session = front.params().session;
        let reject = |reason: u8, out: &mut Vec<u8>| {
            let mut b = [0u8; 8];
            if let Ok(n) = write_packet(PacketType::LoginRejected, &[reason], &mut b) {
                out.extend_from_slice(&b[..n]);
            }
            Err(SessionEnd::Rejected(reason))
        };
        let Some(user) = front.authenticate(login.user, login.password) else {
            return reject(b'A', out);
        };
        if !(login.session.is_empty() || login.session == session.trim_ascii())
            || connected.get(user).copied().unwrap_or(true)
        {
            return reject(b'S', out);
        }
        if hooks.reject_logins > 0 {
            hooks.reject_logins -= 1;
            return reject(b'S', out);
        }
        let next = front.ouch_next_seq(user);
        // 0 asks for the next message; a number past the end starts at the end (spec 2.2.1).
        let from = if login.seq == 0 {
            next
        } else {
            login.seq.min(next)
        };
        let from = from
            .saturating_sub(std::mem::take(&mut hooks.replay_overlap))
            .max(1);
        let mut b = [0u8; 40];
        let n = write_login_accepted(&session, from, &mut b).map_err(|_| SessionEnd::BadLogin)?;
        out.extend_from_slice(&b[..n]);
        connected[user] = true;
        self.user = Some(user);
        self.next_out = from;
        Ok(())
    }

    /// Appends `S` packets for the user's sequenced messages not yet sent; returns how many.
    pub fn pending(&mut self, front: &ItchFront, out: &mut Vec<u8>) -> usize {
        let Some(u) = self.user else {
            return 0;
        };
        let msgs = front.ouch_log(u, self.next_out);
        let mut b = [0u8; 128];
        for m in msgs {
            if let Ok(n) = write_packet(PacketType::SequencedData, m, &mut b) {
                out.extend_from_slice(&b[..n]);
            }
        }
        self.next_out += msgs.len() as u64;
        msgs.len()
    }

    /// Releases the user on disconnect.
    pub fn close(&mut self, connected: &mut [bool]) {
        if let Some(u) = self.user.take() {
            if let Some(c) = connected.get_mut(u) {
                *c = false;
            }
        }
    }
}

fn connection(s: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(2)));
    let hb_ns = s.cfg.heartbeat_ms.max(1) * 1_000_000;
    let timeout_ns = s.cfg.client_timeout_ms.max(1) * 1_000_000;
    let mut sess = SoupServerSession::new();
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    let now = || PosixClock::Monotonic.now_ns();
    let (mut last_in, mut last_out) = (now(), now());
    let mut hold_until = 0u64;
    loop {
        if s.stopping() {
            let mut b = [0u8; 4];
            if let Ok(n) = write_packet(PacketType::EndOfSession, &[], &mut b) {
                let _ = stream.write_all(&b[..n]);
            }
            break;
        }
        let mut end = false;
        let mut c = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                last_in = now();
                let mut c = s.lock();
                c.set_time();
                let core = &mut *c;
                let was_in = sess.user().is_some();
                let r = sess.on_bytes_hooked(
                    &buf[..n],
                    &mut core.front,
                    &mut core.connected,
                    &mut core.hooks,
                    &mut out,
                );
                if !was_in && sess.user().is_some() {
                    core.logins += 1;
                }
                let hold = sess.take_hold();
                if hold > 0 {
                    hold_until = now().saturating_add(hold);
                }
                match r {
                    Ok(()) => {}
                    Err(SessionEnd::Dropped) => {
                        // Gone before any answer: nothing more is written.
                        core.publish();
                        break;
                    }
                    Err(SessionEnd::Logout) => end = true,
                    Err(SessionEnd::Rejected(_)) => {
                        core.login_rejects += 1;
                        end = true;
                    }
                    Err(_) => {
                        core.protocol_errors += 1;
                        end = true;
                    }
                }
                core.publish();
                c
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                s.lock()
            }
            Err(_) => break,
        };
        if now() >= hold_until {
            sess.pending(&c.front, &mut out);
        }
        if now().saturating_sub(last_in) > timeout_ns {
            c.client_timeouts += 1;
            end = true;
        }
        drop(c);
        if out.is_empty() && sess.user().is_some() && now().saturating_sub(last_out) >= hb_ns {
            let mut b = [0u8; 4];
            if let Ok(n) = write_packet(PacketType::ServerHeartbeat, &[], &mut b) {
                out.extend_from_slice(&b[..n]);
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).is_err() {
                break;
            }
            out.clear();
            last_out = now();
        }
        if end {
            break;
        }
    }
    let mut c = s.lock();
    let core = &mut *c;
    sess.close(&mut core.connected);
}

/// Fuzz entry: arbitrary bytes into a SoupBinTCP server session over a fresh front (no panic).
pub fn fuzz_soup_server(data: &[u8]) {
    let cfg = ItchVenueConfig::default();
    let Ok(params) = cfg.front_params() else {
        return;
    };
    let mut front = ItchFront::new(params);
    let mut connected = vec![false; 1];
    let mut sess = SoupServerSession::new();
    let mut out = Vec::new();
    // A valid login first, so the data reaches the OUCH handlers too.
    let mut login = [0u8; 64];
    if let Ok(n) =
        crate::gateway::soupbintcp::write_login_request(b"PYMM", b"pymm", b"", 0, &mut login)
    {
        let _ = sess.on_bytes(&login[..n], &mut front, &mut connected, &mut out);
    }
    for chunk in data.chunks(37) {
        if sess
            .on_bytes(chunk, &mut front, &mut connected, &mut out)
            .is_err()
        {
            break;
        }
        sess.pending(&front, &mut out);
    }
    let _ = front.take_packets();
}

/// Fuzz entry: arbitrary datagrams (split on the input) as re-requests against a front with history.
pub fn fuzz_rerequest(data: &[u8]) {
    let cfg = ItchVenueConfig {
        history: 50,
        ..ItchVenueConfig::default()
    };
    let Ok(params) = cfg.front_params() else {
        return;
    };
    let mut front = ItchFront::new(params);
    front.start_of_day();
    let mut flow = RandomFlow::new(RandomFlowConfig::default(), 100);
    for _ in 0..100 {
        front.step_flow(&mut flow);
    }
    let mut out = Vec::new();
    for d in data.split(|b| *b == b'\n') {
        let _ = front.serve_rerequest(d, &mut out);
        if d.len() >= 10 {
            // The same bytes with the real session name, so ranges get exercised.
            let mut r = d.to_vec();
            r[..10].copy_from_slice(&front.params().session);
            let _ = front.serve_rerequest(&r, &mut out);
        }
    }
}
