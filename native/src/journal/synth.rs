//! A seeded synthetic input stream for tests, benches and the CLI's self-checks: every record kind,
//! coherent enough to exercise [`LedgerState`](super::state::LedgerState) (L2 levels around a drifting
//! mid, L3 orders that are later cancelled, executed, replaced or deleted, trades, our orders acked,
//! partly and fully filled, cancelled or rejected, parameter pushes, kill and lift, timers).
//!
//! Not a market model and not used by the engine: a deterministic function of `(seed, n)` (splitmix64),
//! so two calls give the same records and a test failure reproduces from its seed.

use super::payloads::{
    FillV1, OperatorAction, OperatorCommandV1, OrderAckV1, ParamPushV1, RejectV1, TimerTickV1,
};
use super::record::JournalRecord;
use crate::model::{
    Asset, BookDelta, ClientOrderId, Decimal, InstrumentId, Liquidity, OrderAction, OrderEvent,
    OrderRef, OrderStatus, OrderType, Price, Qty, Side, Trade, UnixNanos, VenueOrderId,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn side(&mut self) -> Side {
        if self.next() & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
}

struct Working {
    client: u64,
    instrument: u32,
    side: Side,
    price: i64,
    qty: i64,
    cum: i64,
}

/// `n` records from `seed` (seq 0: the journal handle stamps seqs at append).
pub fn synthetic_stream(seed: u64, n: usize) -> Vec<JournalRecord> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    let mut ts = 1_764_000_000_000_000_000u64 + rng.below(1_000_000);
    let mut mid = [10_000i64, 2_500];
    let mut l3: Vec<(u32, u64, Side, i64, i64)> = Vec::new();
    let mut next_ref = 1u64;
    let mut working: Vec<Working> = Vec::new();
    let mut next_client = 1u64;
    let mut venue_id = 1_000u64;
    let mut trade_id = 1u64;
    let mut param_version = 0u64;
    let mut latch = 0u64;
    let mut latched = false;
    let usdt = Asset::new("USDT").unwrap_or(Asset::NONE);
    while out.len() < n {
        ts += 1 + rng.below(50_000);
        let t = UnixNanos(ts);
        let inst = rng.below(2) as u32;
        let m = &mut mid[inst as usize];
        let roll = rng.below(100);
        let rec = if roll < 40 {
            if rng.below(20) == 0 {
                *m += rng.below(5) as i64 - 2;
            }
            let side = rng.side();
            let off = 1 + rng.below(10) as i64;
            let price = if side == Side::Buy {
                *m - off
            } else {
                *m + off
            };
            let qty = if rng.below(5) == 0 {
                0
            } else {
                1 + rng.below(500) as i64
            };
            JournalRecord::book_delta(&BookDelta {
                instrument: InstrumentId(inst),
                side,
                price: Price::from_ticks(price),
                qty: Qty::from_lots(qty),
                sequence: out.len() as u64,
                ts_event: UnixNanos(ts - 100),
                ts_recv: t,
            })
        } else if roll < 65 {
            let (instrument, action, order, side, price, qty) =
                if l3.is_empty() || rng.below(3) == 0 {
                    let side = rng.side();
                    let off = 1 + rng.below(10) as i64;
                    let price = if side == Side::Buy {
                        *m - off
                    } else {
                        *m + off
                    };
                    let qty = 1 + rng.below(100) as i64;
                    l3.push((inst, next_ref, side, price, qty));
                    next_ref += 1;
                    (inst, OrderAction::Add, next_ref - 1, side, price, qty)
                } else {
                    let i = rng.below(l3.len() as u64) as usize;
                    let (oi, r, side, price, qty) = l3[i];
                    match rng.below(4) {
                        0 => {
                            l3.swap_remove(i);
                            (oi, OrderAction::Delete, r, side, price, qty)
                        }
                        1 => {
                            let c = 1 + rng.below(qty as u64) as i64;
                            if c >= qty {
                                l3.swap_remove(i);
                            } else {
                                l3[i].4 -= c;
                            }
                            (oi, OrderAction::Cancel, r, side, price, c)
                        }
                        2 => {
                            let c = 1 + rng.below(qty as u64) as i64;
                            if c >= qty {
                                l3.swap_remove(i);
                            } else {
                                l3[i].4 -= c;
                            }
                            (oi, OrderAction::Execute, r, side, price, c)
                        }
                        _ => {
                            let new_ref = next_ref;
                            next_ref += 1;
                            let nq = 1 + rng.below(100) as i64;
                            l3[i] = (oi, new_ref, side, price, nq);
                            (
                                oi,
                                OrderAction::Replace {
                                    new_ref: OrderRef(new_ref),
                                },
                                r,
                                side,
                                price,
                                nq,
                            )
                        }
                    }
                };
            JournalRecord::order_event(&OrderEvent {
                instrument: InstrumentId(instrument),
                action,
                order: OrderRef(order),
                side,
                price: Price::from_ticks(price),
                qty: Qty::from_lots(qty),
                sequence: out.len() as u64,
                ts_event: UnixNanos(ts - 100),
                ts_recv: t,
            })
        } else if roll < 75 {
            trade_id += 1;
            JournalRecord::trade(&Trade {
                instrument: InstrumentId(inst),
                price: Price::from_ticks(*m + rng.below(3) as i64 - 1),
                qty: Qty::from_lots(1 + rng.below(50) as i64),
                aggressor: match rng.below(3) {
                    0 => None,
                    1 => Some(Side::Buy),
                    _ => Some(Side::Sell),
                },
                trade_id,
                ts_event: UnixNanos(ts - 100),
                ts_recv: t,
            })
        } else if roll < 83 || (roll < 90 && working.is_empty()) {
            // A new order of ours is acknowledged, or (1 in 8) rejected.
            let side = rng.side();
            let price = if side == Side::Buy { *m - 1 } else { *m + 1 };
            let qty = 1 + rng.below(20) as i64;
            let client = next_client;
            next_client += 1 + rng.below(3); // ids the engine burned on denied orders leave gaps
            if rng.below(8) == 0 {
                RejectV1 {
                    instrument: InstrumentId(inst),
                    side,
                    client_order_id: ClientOrderId(client),
                    reject_code: -2010,
                    price: Price::from_ticks(price),
                    qty: Qty::from_lots(qty),
                    origin: 0,
                    http_status: 0,
                }
                .to_record(t, UnixNanos(ts - 100))
            } else {
                venue_id += 1;
                working.push(Working {
                    client,
                    instrument: inst,
                    side,
                    price,
                    qty,
                    cum: 0,
                });
                OrderAckV1 {
                    instrument: InstrumentId(inst),
                    side,
                    order_type: OrderType::LimitMaker,
                    status: OrderStatus::New,
                    client_order_id: ClientOrderId(client),
                    venue_order_id: Some(VenueOrderId(venue_id)),
                    price: Price::from_ticks(price),
                    qty: Qty::from_lots(qty),
                    cum_qty: Qty::from_lots(0),
                    origin: 0,
                    aux: 0,
                }
                .to_record(t, UnixNanos(ts - 100))
            }
        } else if roll < 90 {
            let i = rng.below(working.len() as u64) as usize;
            if rng.below(3) == 0 {
                let w = working.swap_remove(i);
                OrderAckV1 {
                    instrument: InstrumentId(w.instrument),
                    side: w.side,
                    order_type: OrderType::LimitMaker,
                    status: OrderStatus::Canceled,
                    client_order_id: ClientOrderId(w.client),
                    venue_order_id: None,
                    price: Price::from_ticks(w.price),
                    qty: Qty::from_lots(w.qty),
                    cum_qty: Qty::from_lots(w.cum),
                    origin: 0,
                    aux: 0,
                }
                .to_record(t, UnixNanos(ts - 100))
            } else {
                let w = &mut working[i];
                let q = 1 + rng.below((w.qty - w.cum) as u64) as i64;
                w.cum += q;
                trade_id += 1;
                let done = w.cum == w.qty;
                let rec = FillV1 {
                    instrument: InstrumentId(w.instrument),
                    side: w.side,
                    liquidity: Liquidity::Maker,
                    status: if done {
                        OrderStatus::Filled
                    } else {
                        OrderStatus::PartiallyFilled
                    },
                    client_order_id: ClientOrderId(w.client),
                    venue_order_id: None,
                    trade_id,
                    last_price: Price::from_ticks(w.price),
                    last_qty: Qty::from_lots(q),
                    cum_qty: Qty::from_lots(w.cum),
                    fee: Decimal::new(-(q * 3), 6).unwrap_or(Decimal::ZERO),
                    fee_asset: usdt,
                    origin: 0,
                    last_quote: 0,
                    fee_class: 0,
                }
                .to_record(t, UnixNanos(ts - 100));
                if done {
                    working.swap_remove(i);
                }
                rec
            }
        } else if roll < 95 {
            param_version += 1 + rng.below(2);
            let words: Vec<u64> = (0..1 + rng.below(ParamPushV1::MAX_WORDS as u64))
                .map(|_| rng.below(1 << 40))
                .collect();
            ParamPushV1::new(param_version, &words)
                .map(|p| p.to_record(t))
                .unwrap_or_else(|| TimerTickV1 { timer_id: 0 }.to_record(t))
        } else if roll < 97 {
            let cmd = if latched {
                latched = false;
                OperatorCommandV1::new(OperatorAction::Lift, latch, "approved by two operators")
            } else if rng.below(4) == 0 {
                let a = if rng.below(2) == 0 {
                    OperatorAction::Pause
                } else {
                    OperatorAction::Resume
                };
                OperatorCommandV1::new(a, 0, "")
            } else {
                latched = true;
                latch += 1;
                OperatorCommandV1::new(OperatorAction::Kill, latch, "operator kill (synthetic)")
            };
            cmd.to_record(t)
        } else {
            TimerTickV1 {
                timer_id: rng.below(4) as u32,
            }
            .to_record(t)
        };
        out.push(rec);
    }
    out
}
