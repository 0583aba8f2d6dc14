//! Gap recovery end to end on real order flow: LOBSTER AMZN level 1 → ITCH 5.0 in MoldUDP64 packets,
//! sent on two lines that each lose ~5% of packets and reorder neighbours; the arbiter merges them,
//! reports gaps past its window, the re-request client asks a (simulated) re-request server, and the
//! retransmissions fill the holes. The L3 book must end exactly as a clean single-line replay.

mod common;

use _native::book::{L3Book, L3Config, LevelView};
use _native::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use _native::feed::itch::{self, ItchMessage};
use _native::feed::lobster_to_itch::{convert, datagrams, SESSION};
use _native::feed::moldudp64::{MoldPacket, RerequestAction, RerequestClient, RerequestConfig};
use _native::model::{InstrumentId, Side, UnixNanos};

fn apply(book: &mut L3Book, msg: &[u8], errors: &mut u64) {
    let m = itch::decode(msg).unwrap();
    if let ItchMessage::TradingAction { state, .. } = m {
        book.set_auction(state != b'T');
    }
    if let Some(ev) = m.order_event(UnixNanos(0), 0, UnixNanos(0)) {
        if book.apply(&ev).is_err() {
            *errors += 1;
        }
    }
}

fn top(book: &L3Book) -> (Vec<LevelView>, Vec<LevelView>) {
    let mut b = vec![LevelView::default(); 10];
    let mut a = vec![LevelView::default(); 10];
    let nb = book.top(Side::Buy, &mut b);
    let na = book.top(Side::Sell, &mut a);
    b.truncate(nb);
    a.truncate(na);
    (b, a)
}

#[test]
fn lossy_a_b_lines_with_rerequest_rebuild_the_same_book() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let stem = dir.join("lobster_2012-06-21_amzn_aapl/AMZN_2012-06-21_34200000_57600000");
    let msg = std::path::PathBuf::from(format!("{}_message_1.csv.gz", stem.display()));
    let book = std::path::PathBuf::from(format!("{}_orderbook_1.csv.gz", stem.display()));
    let out = std::env::temp_dir().join(format!("pymm-recovery-{}.mold", std::process::id()));
    convert(&msg, &book, "AMZN", &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let pkts: Vec<&[u8]> = datagrams(&bytes).map(Result::unwrap).collect();

    // Reference: one clean line.
    let mut clean = L3Book::new(InstrumentId(1), L3Config::default());
    let mut clean_errors = 0;
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    for p in &pkts {
        arb.on_packet(Line::A, p, &mut |_, m| {
            apply(&mut clean, m, &mut clean_errors)
        })
        .unwrap();
    }
    assert_eq!(clean_errors, 0);

    // The re-request server's store: sequence → message bytes.
    let mut store: Vec<&[u8]> = vec![&[]];
    for p in &pkts {
        store.extend(MoldPacket::parse(p).unwrap().messages().map(|(_, m)| m));
    }

    // Two lossy, locally reordered lines (xorshift, fixed seed).
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let line = |rnd: &mut dyn FnMut() -> u64| -> Vec<usize> {
        let mut order: Vec<usize> = (0..pkts.len()).filter(|_| rnd() % 100 >= 5).collect();
        for i in 1..order.len() {
            if rnd() % 10 == 0 {
                order.swap(i - 1, i);
            }
        }
        order
    };
    let a = line(&mut rnd);
    let b = line(&mut rnd);

    let mut lossy = L3Book::new(InstrumentId(1), L3Config::default());
    let mut errors = 0;
    let mut arb = Arbiter::new(1, ArbiterConfig::default());
    let mut client = RerequestClient::new(SESSION, RerequestConfig::default());
    let (mut ia, mut ib, mut now) = (0, 0, 0u64);
    let mut retransmit = vec![0u8; 65_536];
    while ia < a.len() || ib < b.len() {
        now += 1_000;
        let (l, idx) = if ib >= b.len() || (ia < a.len() && rnd() % 2 == 0) {
            ia += 1;
            (Line::A, a[ia - 1])
        } else {
            ib += 1;
            (Line::B, b[ib - 1])
        };
        let mut deliver = |_: u64, m: &[u8]| apply(&mut lossy, m, &mut errors);
        let gap = arb.on_packet(l, pkts[idx], &mut deliver).unwrap();
        client.on_progress(arb.next_sequence());
        let mut action = match gap {
            Some(g) => client.on_gap(g.from, g.to, now),
            None => client.poll(now),
        };
        // Serve requests at once (a perfect re-request server) until the hole is closed.
        while let RerequestAction::Send(req) = action {
            let mut w = _native::feed::moldudp64::PacketWriter::new(
                &mut retransmit,
                &req.session,
                req.sequence,
            )
            .unwrap();
            for s in req.sequence..req.sequence + u64::from(req.count) {
                if let Some(m) = store.get(s as usize) {
                    assert!(w.push(m));
                }
            }
            let n = w.finish();
            let mut deliver = |_: u64, m: &[u8]| apply(&mut lossy, m, &mut errors);
            arb.on_packet(Line::Recovery, &retransmit[..n], &mut deliver)
                .unwrap();
            client.on_progress(arb.next_sequence());
            now += 20_000_000;
            action = client.poll(now);
        }
        assert!(!matches!(action, RerequestAction::GiveUp { .. }));
    }
    // Anything still missing at the very end (lost on both lines, no later packet to reveal it).
    if arb.next_sequence() < store.len() as u64 {
        let from = arb.next_sequence();
        let mut action = client.on_gap(from, store.len() as u64, now + 1);
        while let RerequestAction::Send(req) = action {
            let mut w = _native::feed::moldudp64::PacketWriter::new(
                &mut retransmit,
                &req.session,
                req.sequence,
            )
            .unwrap();
            for s in req.sequence..(req.sequence + u64::from(req.count)).min(store.len() as u64) {
                assert!(w.push(store[s as usize]));
            }
            let n = w.finish();
            let mut deliver = |_: u64, m: &[u8]| apply(&mut lossy, m, &mut errors);
            arb.on_packet(Line::Recovery, &retransmit[..n], &mut deliver)
                .unwrap();
            client.on_progress(arb.next_sequence());
            now += 20_000_000;
            action = if arb.next_sequence() < store.len() as u64 {
                client.on_gap(arb.next_sequence(), store.len() as u64, now)
            } else {
                RerequestAction::Idle
            };
        }
    }
    let s = arb.stats();
    eprintln!("arbiter {s:?}, requests {}", client.requests);
    assert_eq!(arb.next_sequence(), store.len() as u64);
    assert_eq!(errors, 0);
    assert!(s.gaps > 0 && client.requests > 0 && s.won[Line::Recovery as usize] > 0);
    assert_eq!(s.delivered, store.len() as u64 - 1);
    assert_eq!(lossy.order_count(), clean.order_count());
    assert_eq!(top(&lossy), top(&clean));
}
