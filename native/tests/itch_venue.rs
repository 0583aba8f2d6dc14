//! The simulated venue's colocated-exchange front on real loopback sockets: ITCH 5.0 in MoldUDP64 on
//! two multicast lines with seeded faults, the re-request server, and OUCH 4.2 over SoupBinTCP 3.0.
//!
//! The feed handler here is pymm's own parts (kernel UDP receivers, the A/B arbiter, the re-request
//! client, the ITCH decoder, the L3 book); it must rebuild a book identical to the venue's own
//! (compared as a digest of every displayed order in priority order) from line A alone, line B alone,
//! and both lines with independent seeded loss.
//!
//! Needs IPv4 multicast on `lo` (joins 239.x groups with IP_MULTICAST_LOOP); CI runs as root where it
//! works.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::time::Duration;

use _native::book::{L3Book, L3Config};
use _native::engine::params::param_block;
use _native::engine::pipeline::{IdRange, ItchQuotingPipeline, NoStages, OuchEncoder, QuotingCore};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::itch::{self, ItchMessage};
use _native::feed::moldudp64::{
    MoldPacket, PacketKind, Request, RerequestAction, RerequestClient, RerequestConfig,
};
use _native::gateway::ouch::{CancelOrder, EnterOrder, Outbound, ReplaceOrder, TIF_DAY, TIF_IOC};
use _native::gateway::soupbintcp::{
    parse_packet, read_login_accepted, write_login_request, write_packet, PacketType,
};
use _native::model::{ClientOrderId, InstrumentId, OrderRef, Price, Qty, Scale, Side, UnixNanos};
use _native::net::tcp::KernelTcpClient;
use _native::net::transport::{RxTransport, TxTransport};
use _native::net::udp::{KernelUdpRx, UdpRxConfig};
use _native::quoter::{Anchor, QuoteParams};
use _native::risk::{PreTradeRisk, RateLimits, RiskLimits};
use _native::time::posix_clock::PosixClock;
use _native::venue::itch_flow::{FlowAction, RandomFlowConfig};
use _native::venue::itch_front::l3_digest;
use _native::venue::itch_venue::{ItchVenue, ItchVenueConfig, LineFaultConfig};

fn now_ns() -> u64 {
    PosixClock::Monotonic.now_ns()
}

/// Opens a receiver on `group` with a free port.
fn join(group: Ipv4Addr) -> KernelUdpRx {
    KernelUdpRx::open(&UdpRxConfig {
        group: Some(group),
        timestamps: false,
        recv_buffer: Some(4 << 20),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("joining {group} on lo failed (multicast on loopback needed): {e}"))
}

/// A venue config on the given receivers' ports, ephemeral unicast ports, fast heartbeats.
fn config(a: (Ipv4Addr, &KernelUdpRx), b: (Ipv4Addr, &KernelUdpRx)) -> ItchVenueConfig {
    ItchVenueConfig {
        itch_a: SocketAddrV4::new(a.0, a.1.local_port()),
        itch_b: SocketAddrV4::new(b.0, b.1.local_port()),
        rerequest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        ouch: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        heartbeat_ms: 20,
        interval_us: 50,
        ..ItchVenueConfig::default()
    }
}

/// pymm's feed handler: lines → arbiter → ITCH → L3 book, gaps filled by re-request.
struct FeedHandler {
    lines: Vec<(Line, KernelUdpRx)>,
    recovery: UdpSocket,
    server: SocketAddrV4,
    arb: Arbiter,
    rr: RerequestClient,
    book: L3Book,
    book_errors: u64,
    messages: u64,
}

impl FeedHandler {
    fn new(lines: Vec<(Line, KernelUdpRx)>, server: SocketAddrV4, session: [u8; 10]) -> Self {
        let recovery = UdpSocket::bind("127.0.0.1:0").unwrap();
        recovery.set_nonblocking(true).unwrap();
        Self {
            lines,
            recovery,
            server,
            arb: Arbiter::new(1, ArbiterConfig::default()),
            rr: RerequestClient::new(
                session,
                RerequestConfig {
                    retry_after_ns: 30_000_000,
                    max_retries: 50,
                    ..RerequestConfig::default()
                },
            ),
            book: L3Book::new(InstrumentId(1), L3Config::default()),
            book_errors: 0,
            messages: 0,
        }
    }

    fn on(&mut self, line: Line, d: &[u8]) {
        let (book, errors, msgs) = (&mut self.book, &mut self.book_errors, &mut self.messages);
        let gap = self
            .arb
            .on_packet(line, d, &mut |seq, m| {
                *msgs += 1;
                let m = itch::decode(m).expect("the venue sends valid ITCH");
                if let ItchMessage::TradingAction { state, .. } = m {
                    book.set_auction(state != b'T');
                }
                if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                    if book.apply(&ev).is_err() {
                        *errors += 1;
                    }
                }
            })
            .expect("the venue sends valid MoldUDP64");
        self.rr.on_progress(self.arb.next_sequence());
        if let Some(g) = gap {
            let a = self.rr.on_gap(g.from, g.to, now_ns());
            self.act(a);
        }
    }

    fn act(&mut self, a: RerequestAction) {
        match a {
            RerequestAction::Send(r) => {
                self.recovery.send_to(&r.encode(), self.server).unwrap();
            }
            RerequestAction::GiveUp { from, to } => panic!("re-request gave up on [{from}, {to})"),
            RerequestAction::Idle => {}
        }
    }

    /// Polls every socket once.
    fn pump(&mut self) {
        let mut got: Vec<(Line, Vec<u8>)> = Vec::new();
        for (line, rx) in &mut self.lines {
            rx.poll(|d, _| got.push((*line, d.to_vec()))).unwrap();
        }
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.recovery.recv(&mut buf) {
            got.push((Line::Recovery, buf[..n].to_vec()));
        }
        for (line, d) in got {
            self.on(line, &d);
        }
        let a = self.rr.poll(now_ns());
        self.act(a);
    }

    /// Pumps until the arbiter has delivered everything before `next`.
    fn catch_up(&mut self, next: u64) {
        let deadline = now_ns() + 30_000_000_000;
        while self.arb.next_sequence() < next {
            assert!(
                now_ns() < deadline,
                "stuck at {} of {next}: {:?}",
                self.arb.next_sequence(),
                self.arb.stats()
            );
            self.pump();
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn lossy(seed: u64, drop: f64) -> LineFaultConfig {
    LineFaultConfig {
        seed,
        drop,
        duplicate: 0.03,
        reorder: 0.05,
        delay: 0.02,
        delay_ms: 3,
    }
}

/// Runs the venue's crowd for `actions` steps and checks the handler's book against the venue's.
fn rebuild(
    groups: [Ipv4Addr; 2],
    listen: &[Line],
    faults: [LineFaultConfig; 2],
    actions: u64,
) -> (u64, u64) {
    let rx_a = join(groups[0]);
    let rx_b = join(groups[1]);
    let mut cfg = config((groups[0], &rx_a), (groups[1], &rx_b));
    cfg.max_actions = actions;
    [cfg.faults_a, cfg.faults_b] = faults;
    cfg.random_flow.seed = 11;
    let session = cfg.front_params().unwrap().session;
    let mut venue = ItchVenue::start(cfg, None).unwrap();
    let mut lines = Vec::new();
    for (line, rx) in [(Line::A, rx_a), (Line::B, rx_b)] {
        if listen.contains(&line) {
            lines.push((line, rx));
        }
    }
    let mut h = FeedHandler::new(lines, venue.endpoints().rerequest, session);
    let deadline = now_ns() + 60_000_000_000;
    while venue.stats().front.flow_actions < actions {
        assert!(
            now_ns() < deadline,
            "the crowd is too slow: {:?}",
            venue.stats()
        );
        h.pump();
        std::thread::sleep(Duration::from_micros(200));
    }
    let (digest, next) = venue.digest();
    h.catch_up(next);
    let stats = venue.stats();
    assert_eq!(h.book_errors, 0, "the ITCH stream contradicted the book");
    assert!(venue.resting_orders() > 10, "a trivial book proves nothing");
    assert_eq!(
        l3_digest(&h.book),
        digest,
        "book differs from the venue's ({stats:?})"
    );
    assert!(stats.front.trades > 0 && stats.front.messages > actions);
    venue.stop();
    (h.rr.requests, h.arb.stats().duplicates)
}

#[test]
fn line_a_alone_rebuilds_the_venue_book_with_rerequests() {
    let (requests, _) = rebuild(
        [Ipv4Addr::new(239, 1, 11, 1), Ipv4Addr::new(239, 1, 11, 2)],
        &[Line::A],
        [lossy(1, 0.05), LineFaultConfig::default()],
        3_000,
    );
    assert!(
        requests > 0,
        "5% loss on the only line must need re-requests"
    );
}

#[test]
fn line_b_alone_rebuilds_the_venue_book_with_rerequests() {
    let (requests, _) = rebuild(
        [Ipv4Addr::new(239, 1, 12, 1), Ipv4Addr::new(239, 1, 12, 2)],
        &[Line::B],
        [LineFaultConfig::default(), lossy(2, 0.05)],
        3_000,
    );
    assert!(requests > 0);
}

#[test]
fn both_lines_with_independent_loss_rebuild_the_venue_book() {
    let (_, dups) = rebuild(
        [Ipv4Addr::new(239, 1, 13, 1), Ipv4Addr::new(239, 1, 13, 2)],
        &[Line::A, Line::B],
        [lossy(3, 0.08), lossy(4, 0.08)],
        3_000,
    );
    assert!(dups > 0, "two lines deliver most messages twice");
}

#[test]
fn clean_a_b_lines_need_no_rerequest() {
    let (requests, _) = rebuild(
        [Ipv4Addr::new(239, 1, 14, 1), Ipv4Addr::new(239, 1, 14, 2)],
        &[Line::A, Line::B],
        [LineFaultConfig::default(), LineFaultConfig::default()],
        1_000,
    );
    assert_eq!(requests, 0);
}

#[test]
fn rerequest_server_returns_the_exact_messages() {
    let ga = Ipv4Addr::new(239, 1, 15, 1);
    let gb = Ipv4Addr::new(239, 1, 15, 2);
    let mut rx_a = join(ga);
    let rx_b = join(gb);
    let mut cfg = config((ga, &rx_a), (gb, &rx_b));
    cfg.flow = false;
    cfg.history = 40;
    let session = cfg.front_params().unwrap().session;
    let mut venue = ItchVenue::start(cfg, None).unwrap();
    for i in 0..60 {
        venue.with_front(|f| {
            f.apply_flow(FlowAction::Add {
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                price: Price::from_ticks(if i % 2 == 0 {
                    990_000 - i * 100
                } else {
                    1_010_000 + i * 100
                }),
                qty: Qty::from_lots(100 + i),
            })
        });
    }
    let next = venue.digest().1;
    // Everything line A carried, by sequence.
    let mut seen: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let deadline = now_ns() + 10_000_000_000;
    while !seen.contains_key(&(next - 1)) {
        assert!(now_ns() < deadline);
        rx_a.poll(|d, _| {
            if let Ok(p) = MoldPacket::parse(d) {
                for (s, m) in p.messages() {
                    seen.insert(s, m.to_vec());
                }
            }
        })
        .unwrap();
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let server = venue.endpoints().rerequest;
    let ask = |sequence: u64, count: u16, session: [u8; 10]| -> Option<Vec<u8>> {
        sock.send_to(
            &Request {
                session,
                sequence,
                count,
            }
            .encode(),
            server,
        )
        .unwrap();
        let mut b = [0u8; 2048];
        sock.recv(&mut b).ok().map(|n| b[..n].to_vec())
    };
    // A gap of 7 messages inside the history window.
    let from = next - 20;
    let reply = ask(from, 7, session).expect("a reply");
    let p = MoldPacket::parse(&reply).unwrap();
    assert_eq!((p.sequence, p.count), (from, 7));
    for (s, m) in p.messages() {
        assert_eq!(m, &seen[&s][..], "message {s}");
    }
    // A request running past the end gets what exists.
    let p2 = ask(next - 3, 100, session).unwrap();
    assert_eq!(MoldPacket::parse(&p2).unwrap().count, 3);
    // Too old (history is 40), the wrong session, beyond the end, garbage: no reply, counted.
    assert!(ask(1, 5, session).is_none());
    assert!(ask(from, 5, *b"OTHERSESS1").is_none());
    assert!(ask(next, 5, session).is_none());
    sock.send_to(b"garbage", server).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let st = venue.stats().front;
    assert_eq!(st.rerequests, 2);
    assert_eq!(st.rerequest_refused, 4);
    assert_eq!(st.resent, 10);
    // Idle lines send heartbeats carrying the next sequence; stop ends the session on both lines.
    assert!(venue.stats().line_a.heartbeats > 0);
    venue.stop();
    let end = venue.stats().next_sequence;
    let (mut heartbeat, mut eos) = (false, None);
    let deadline = now_ns() + 5_000_000_000;
    while eos.is_none() && now_ns() < deadline {
        rx_a.poll(|d, _| {
            let p = MoldPacket::parse(d).unwrap();
            match p.kind {
                PacketKind::Heartbeat => heartbeat |= p.sequence >= next,
                PacketKind::EndOfSession => eos = Some(p.sequence),
                PacketKind::Data => {}
            }
        })
        .unwrap();
    }
    assert!(heartbeat);
    assert_eq!(
        eos,
        Some(end),
        "end of session after the end-of-day system events"
    );
    assert!(end > next);
}

/// A blocking SoupBinTCP client for the session tests.
struct Soup {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Soup {
    fn connect(addr: SocketAddrV4) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(3000)))
            .unwrap();
        Self { s, buf: Vec::new() }
    }

    fn login(&mut self, user: &[u8], pw: &[u8], seq: u64) -> (PacketType, Vec<u8>) {
        let mut b = [0u8; 64];
        let n = write_login_request(user, pw, b"", seq, &mut b).unwrap();
        self.s.write_all(&b[..n]).unwrap();
        self.next().unwrap()
    }

    fn send(&mut self, msg: &[u8]) {
        let mut b = [0u8; 128];
        let n = write_packet(PacketType::UnsequencedData, msg, &mut b).unwrap();
        self.s.write_all(&b[..n]).unwrap();
    }

    /// The next packet other than a heartbeat.
    fn next(&mut self) -> Option<(PacketType, Vec<u8>)> {
        loop {
            if let Ok(Some(p)) = parse_packet(&self.buf) {
                let r = (p.kind, p.payload.to_vec());
                let len = p.len;
                self.buf.drain(..len);
                if r.0 == PacketType::ServerHeartbeat {
                    continue;
                }
                return Some(r);
            }
            let mut b = [0u8; 4096];
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
            }
        }
    }

    fn outbound(&mut self) -> Outbound {
        let (k, p) = self.next().expect("a sequenced message");
        assert_eq!(k, PacketType::SequencedData);
        Outbound::decode(&p).unwrap()
    }
}

fn enter(
    token: u64,
    side: Side,
    shares: u32,
    price: u32,
    tif: u32,
    display: u8,
) -> [u8; EnterOrder::LEN] {
    let mut b = [0u8; EnterOrder::LEN];
    EnterOrder {
        token: ClientOrderId(token),
        side,
        shares,
        stock: *b"PYMM    ",
        price,
        time_in_force: tif,
        firm: *b"PYMM",
        display,
        capacity: b'P',
        ise: b'N',
        min_qty: 0,
        cross_type: b'N',
        customer_type: b' ',
    }
    .encode(&mut b)
    .unwrap();
    b
}

#[test]
fn ouch_session_enter_replace_cancel_execute_reject_and_relogin() {
    let ga = Ipv4Addr::new(239, 1, 16, 1);
    let gb = Ipv4Addr::new(239, 1, 16, 2);
    let rx_a = join(ga);
    let rx_b = join(gb);
    let mut cfg = config((ga, &rx_a), (gb, &rx_b));
    cfg.flow = false;
    let session = cfg.front_params().unwrap().session;
    let venue = ItchVenue::start(cfg, None).unwrap();
    let addr = venue.endpoints().ouch;
    let mut h = FeedHandler::new(vec![(Line::A, rx_a)], venue.endpoints().rerequest, session);

    let mut bad = Soup::connect(addr);
    let (k, p) = bad.login(b"PYMM", b"wrong", 0);
    assert_eq!((k, p.as_slice()), (PacketType::LoginRejected, &b"A"[..]));

    let mut c = Soup::connect(addr);
    let (k, p) = c.login(b"PYMM", b"pymm", 0);
    assert_eq!(k, PacketType::LoginAccepted);
    let acc = read_login_accepted(&p).unwrap();
    assert_eq!((acc.session, acc.seq), (&b"PYMMITCH01"[..], 1));
    // A second session for the same user is refused while the first lives.
    let mut twin = Soup::connect(addr);
    assert_eq!(
        twin.login(b"PYMM", b"pymm", 0),
        (PacketType::LoginRejected, b"S".to_vec())
    );

    // 1: buy 500 @ 99.00, rests and shows on the ITCH feed as an anonymous add.
    c.send(&enter(1, Side::Buy, 500, 990_000, TIF_DAY, b'Y'));
    let Outbound::Accepted {
        token,
        shares,
        order_ref,
        order_state,
        ..
    } = c.outbound()
    else {
        panic!("accepted expected")
    };
    assert_eq!((token, shares, order_state), (ClientOrderId(1), 500, b'L'));
    h.catch_up(venue.digest().1);
    assert_eq!(
        h.book.order(OrderRef(order_ref)),
        Some((Side::Buy, Price::from_ticks(990_000), Qty::from_lots(500)))
    );
    // The crowd sells 200 at market: executed on OUCH (we added liquidity) and on ITCH.
    venue.with_front(|f| {
        f.apply_flow(FlowAction::Execute {
            side: Side::Sell,
            qty: Qty::from_lots(200),
        })
    });
    let Outbound::Executed {
        token,
        shares,
        price,
        liquidity,
        ..
    } = c.outbound()
    else {
        panic!()
    };
    assert_eq!(
        (token, shares, price, liquidity),
        (ClientOrderId(1), 200, 990_000, b'A')
    );
    // 2 replaces 1 at 99.01 for 400: replaced, the feed shows an ITCH replace.
    let mut b = [0u8; ReplaceOrder::LEN];
    ReplaceOrder {
        existing: ClientOrderId(1),
        replacement: ClientOrderId(2),
        shares: 400,
        price: 990_100,
        time_in_force: TIF_DAY,
        display: b'Y',
        ise: b'N',
        min_qty: 0,
    }
    .encode(&mut b)
    .unwrap();
    c.send(&b);
    let Outbound::Replaced {
        replacement,
        previous,
        order_ref: new_ref,
        shares,
        ..
    } = c.outbound()
    else {
        panic!()
    };
    assert_eq!(
        (replacement, previous, shares),
        (ClientOrderId(2), ClientOrderId(1), 400)
    );
    h.catch_up(venue.digest().1);
    assert_eq!(h.book.order(OrderRef(order_ref)), None);
    assert_eq!(
        h.book.order(OrderRef(new_ref)),
        Some((Side::Buy, Price::from_ticks(990_100), Qty::from_lots(400)))
    );
    // Partial cancel to 150, then a full cancel.
    let mut x = [0u8; CancelOrder::LEN];
    CancelOrder {
        token: ClientOrderId(2),
        shares: 150,
    }
    .encode(&mut x)
    .unwrap();
    c.send(&x);
    let Outbound::Canceled {
        token,
        decrement,
        reason,
        ..
    } = c.outbound()
    else {
        panic!()
    };
    assert_eq!((token, decrement, reason), (ClientOrderId(2), 250, b'U'));
    CancelOrder {
        token: ClientOrderId(2),
        shares: 0,
    }
    .encode(&mut x)
    .unwrap();
    c.send(&x);
    let Outbound::Canceled { decrement, .. } = c.outbound() else {
        panic!()
    };
    assert_eq!(decrement, 150);
    // Rejections: off-tick price, post-only that would take, wrong stock.
    c.send(&enter(3, Side::Buy, 100, 990_050, TIF_DAY, b'Y'));
    assert!(matches!(
        c.outbound(),
        Outbound::Rejected {
            token: ClientOrderId(3),
            reason: b'X',
            ..
        }
    ));
    venue.with_front(|f| {
        f.apply_flow(FlowAction::Add {
            side: Side::Sell,
            price: Price::from_ticks(1_000_000),
            qty: Qty::from_lots(300),
        })
    });
    c.send(&enter(4, Side::Buy, 100, 1_000_000, TIF_DAY, b'P'));
    assert!(matches!(
        c.outbound(),
        Outbound::Rejected {
            token: ClientOrderId(4),
            reason: b'O',
            ..
        }
    ));
    let mut wrong = enter(5, Side::Buy, 100, 990_000, TIF_DAY, b'Y');
    wrong[20..28].copy_from_slice(b"OTHER   ");
    c.send(&wrong);
    assert!(matches!(
        c.outbound(),
        Outbound::Rejected {
            token: ClientOrderId(5),
            reason: b'S',
            ..
        }
    ));
    // IOC buy 500 @ 100.00 takes the crowd's 300 and the rest is cancelled.
    c.send(&enter(6, Side::Buy, 500, 1_000_000, TIF_IOC, b'Y'));
    assert!(matches!(
        c.outbound(),
        Outbound::Accepted {
            token: ClientOrderId(6),
            ..
        }
    ));
    let Outbound::Executed {
        shares, liquidity, ..
    } = c.outbound()
    else {
        panic!()
    };
    assert_eq!((shares, liquidity), (300, b'R'));
    let Outbound::Canceled {
        decrement, reason, ..
    } = c.outbound()
    else {
        panic!()
    };
    assert_eq!((decrement, reason), (200, b'I'));
    // A duplicate token is ignored; garbage OUCH is counted, the session lives on.
    c.send(&enter(6, Side::Buy, 100, 980_000, TIF_DAY, b'Y'));
    c.send(b"Qnonsense");
    // Hidden order: never on ITCH; a crowd execution against it prints a P trade.
    c.send(&enter(7, Side::Sell, 100, 1_010_000, TIF_DAY, b'N'));
    assert!(matches!(
        c.outbound(),
        Outbound::Accepted {
            token: ClientOrderId(7),
            ..
        }
    ));
    venue.with_front(|f| {
        f.apply_flow(FlowAction::Execute {
            side: Side::Buy,
            qty: Qty::from_lots(100),
        })
    });
    assert!(matches!(
        c.outbound(),
        Outbound::Executed {
            token: ClientOrderId(7),
            shares: 100,
            ..
        }
    ));
    let total = 13; // sequenced messages so far
    h.catch_up(venue.digest().1);
    assert_eq!(l3_digest(&h.book), venue.digest().0);

    // Logout, then log in again asking for message 3: everything from 3 on is replayed in order.
    let mut b = [0u8; 4];
    let n = write_packet(PacketType::LogoutRequest, &[], &mut b).unwrap();
    c.s.write_all(&b[..n]).unwrap();
    assert!(c.next().is_none(), "the server closes after a logout");
    std::thread::sleep(Duration::from_millis(50));
    let mut again = Soup::connect(addr);
    let (k, p) = again.login(b"PYMM", b"pymm", 3);
    assert_eq!(k, PacketType::LoginAccepted);
    assert_eq!(read_login_accepted(&p).unwrap().seq, 3);
    let Outbound::Replaced { replacement, .. } = again.outbound() else {
        panic!()
    };
    assert_eq!(replacement, ClientOrderId(2));
    for _ in 4..=total {
        again.outbound();
    }
    drop(again);
    std::thread::sleep(Duration::from_millis(50));
    // Sequence 0 means "from the next one": nothing is replayed.
    let mut fresh = Soup::connect(addr);
    let (_, p) = fresh.login(b"PYMM", b"pymm", 0);
    assert_eq!(read_login_accepted(&p).unwrap().seq, total + 1);
    let st = venue.stats();
    assert_eq!(st.login_rejects, 2);
    assert!(st.logins >= 3);
    assert_eq!(st.front.ouch_ignored, 1);
    assert_eq!(st.front.ouch_bad, 1);
    assert_eq!(st.front.ouch_rejected, 3);
}

#[test]
fn itch_quoting_pipeline_quotes_and_gets_filled_over_the_real_sockets() {
    let ga = Ipv4Addr::new(239, 1, 17, 1);
    let gb = Ipv4Addr::new(239, 1, 17, 2);
    let mut rx_a = join(ga);
    let rx_b = join(gb);
    let mut cfg = config((ga, &rx_a), (gb, &rx_b));
    // A sub-penny test stock (tick = one ITCH price unit) so the quoter's ticks are the book's units.
    cfg.tick = 1;
    cfg.interval_us = 500;
    cfg.random_flow = RandomFlowConfig {
        seed: 5,
        levels: 3,
        max_lots: 3,
        weights: [45, 25, 0, 5, 25],
        ..RandomFlowConfig::default()
    };
    let venue = ItchVenue::start(cfg, None).unwrap();

    let t0 = UnixNanos(PosixClock::Realtime.now_ns());
    let id = InstrumentId(0);
    let mut risk = PreTradeRisk::new(
        1,
        RateLimits {
            venue_orders_burst: 10_000,
            venue_orders_per_second: 10_000,
            messages_burst: 10_000,
            messages_per_second: 10_000,
        },
        t0,
    );
    risk.set_limits(
        id,
        RiskLimits {
            max_order_qty: Qty::from_lots(10_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 1_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(1_000_000),
            max_short: Qty::from_lots(1_000_000),
            max_position_notional: i128::MAX,
            max_open_orders: 20,
            duplicate_window_ns: 0,
            max_fills_in_window: 1_000,
            fill_window_ns: 1,
        },
    );
    let (_w, reader) = param_block(QuoteParams {
        enabled: 1,
        anchor: Anchor::Mid as i64,
        fair_value_mt: 0,
        half_spread_mt: 1_000,
        skew_mt_per_lot: 0,
        levels: 2,
        level_spacing_ticks: 1,
        size_lots: 100,
        max_inventory_lots: 1_000_000,
        requote_ticks: 2,
        ttl_ns: 0,
        post_only: 1,
    });
    let enc = OuchEncoder::new(*b"PYMM    ", *b"PYMM", Scale::parse("0.0001").unwrap()).unwrap();
    let core = QuotingCore::new(
        id,
        risk,
        reader,
        IdRange {
            next: 1,
            end: 1_000_000,
        },
        enc,
    );
    let mut p = ItchQuotingPipeline::new(core, 1, UnixNanos(0), L3Config::default());

    // Log in over SoupBinTCP, then hand the stream to the kernel TCP transport.
    let mut s = TcpStream::connect(SocketAddr::V4(venue.endpoints().ouch)).unwrap();
    let mut b = [0u8; 64];
    let n = write_login_request(b"PYMM", b"pymm", b"", 0, &mut b).unwrap();
    s.write_all(&b[..n]).unwrap();
    let mut r = [0u8; 33];
    s.read_exact(&mut r).unwrap();
    assert_eq!(r[2], b'A', "login accepted");
    let mut tcp = KernelTcpClient::from_stream(s, 1 << 16).unwrap();

    let mut sides: BTreeMap<u64, Side> = BTreeMap::new();
    let (mut fills, mut accepted, mut inbuf) = (0u64, 0u64, Vec::<u8>::new());
    let deadline = now_ns() + 20_000_000_000;
    let mut last_hb = now_ns();
    while fills < 3 && now_ns() < deadline {
        let mut dgrams: Vec<Vec<u8>> = Vec::new();
        rx_a.poll(|d, _| dgrams.push(d.to_vec())).unwrap();
        for d in &dgrams {
            let now = UnixNanos(PosixClock::Realtime.now_ns());
            p.on_packet(d, now, now.0 / 1_000_000, &mut tcp, &mut NoStages)
                .unwrap();
        }
        if now_ns() - last_hb > 500_000_000 {
            // SoupBinTCP client heartbeat (the pipeline itself only sends orders).
            tcp.send(&[0, 1, b'R']).unwrap();
            last_hb = now_ns();
        }
        if let Err(e) = tcp.poll(|d, _| inbuf.extend_from_slice(d)) {
            panic!(
                "OUCH session ended: {e}; {:?} {:?}",
                p.stats(),
                venue.stats()
            );
        }
        while let Ok(Some(pk)) = parse_packet(&inbuf) {
            let len = pk.len;
            if pk.kind == PacketType::SequencedData {
                let now = UnixNanos(PosixClock::Realtime.now_ns());
                match Outbound::decode(pk.payload).unwrap() {
                    Outbound::Accepted { token, side, .. } => {
                        accepted += 1;
                        sides.insert(token.0, side);
                    }
                    Outbound::Replaced {
                        replacement,
                        side,
                        previous,
                        ..
                    } => {
                        accepted += 1;
                        sides.insert(replacement.0, side);
                        p.core().on_order_done(previous);
                    }
                    Outbound::Executed { token, shares, .. } => {
                        fills += 1;
                        let side = sides[&token.0];
                        p.core()
                            .on_fill(token, side, Qty::from_lots(i64::from(shares)), now);
                    }
                    Outbound::Canceled { token, .. } | Outbound::Rejected { token, .. } => {
                        p.core().on_order_done(token);
                    }
                    Outbound::SystemEvent { .. } => {}
                }
            }
            inbuf.drain(..len);
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    let st = venue.stats();
    assert!(
        accepted > 0,
        "no quote reached the venue: {:?} {:?}",
        p.stats(),
        st
    );
    assert!(
        fills >= 3,
        "quotes were never filled: {:?} {:?}",
        p.stats(),
        st
    );
    assert!(st.front.ouch_executions >= 3);
    assert!(!p.is_stale(), "line A is clean: no gap");
}
