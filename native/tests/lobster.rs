//! LOBSTER AMZN and AAPL 2012-06-21: the L3 book built from the message file equals the order-book file after
//! every message, directly and after the LOBSTER → ITCH 5.0 → MoldUDP64 → decoder round trip.

mod common;

use _native::feed::lobster_to_itch::convert;
use _native::feed::replay_l3::{replay_itch, replay_lobster};

const DIR: &str = "lobster_2012-06-21_amzn_aapl";

fn files(name: &str, level: u32) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let d = common::data_dir()?.join(DIR);
    Some((
        d.join(format!(
            "{name}_2012-06-21_34200000_57600000_message_{level}.csv.gz"
        )),
        d.join(format!(
            "{name}_2012-06-21_34200000_57600000_orderbook_{level}.csv.gz"
        )),
    ))
}

fn check(name: &str, level: u32, rows: u64) {
    let Some((msg, book)) = files(name, level) else {
        return;
    };
    let rep = replay_lobster(&msg, &book).unwrap();
    eprintln!("{name} L{level} direct: {rep:#?}");
    assert_eq!(rep.messages, rows);
    assert_eq!(rep.checked_states, rows);
    assert_eq!(rep.mismatched_states, 0, "{:?}", rep.first_mismatches);
    assert_eq!(rep.integrity_errors, 0, "{:?}", rep.first_mismatches);

    let out = std::env::temp_dir().join(format!("pymm-{name}-{level}-{}.mold", std::process::id()));
    let conv = convert(&msg, &book, name, &out).unwrap();
    assert_eq!(conv.packets, rows + 2);
    let itch = replay_itch(&out, Some(&book)).unwrap();
    let _ = std::fs::remove_file(&out);
    eprintln!("{name} L{level} ITCH: {itch:#?}");
    assert_eq!(itch.checked_states, rows);
    assert_eq!(itch.mismatched_states, 0, "{:?}", itch.first_mismatches);
    assert_eq!(itch.integrity_errors, 0);
    assert_eq!(itch.sequence_errors, 0);
    assert_eq!(itch.decode_errors, 0);
    assert_eq!(itch.top_of_book.get(name), rep.top_of_book.get("1"));
    assert_eq!(itch.resting_orders, rep.resting_orders);
}

#[test]
fn amzn_level_5_direct_and_itch_round_trip() {
    check("AMZN", 5, 155_935);
}

#[test]
fn amzn_level_1_direct_and_itch_round_trip() {
    check("AMZN", 1, 57_515);
}

#[test]
fn aapl_level_1_direct_and_itch_round_trip() {
    check("AAPL", 1, 118_497);
}
