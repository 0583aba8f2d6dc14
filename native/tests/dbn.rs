//! Databento DBN: the format fixtures (v1–v3) decode, and ESH4 MBO replays into the L3 book with the
//! oracle's final state (data README §3–4).

mod common;

use _native::feed::dbn::{DbnFile, RTYPE_MBO};
use _native::feed::replay_l3::replay_dbn;

#[test]
fn format_fixtures_decode_in_every_version() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let dir = dir.join("databento_dbn_format_fixtures");
    for (name, version) in [
        ("test_data.mbo.v1.dbn.zst", 1),
        ("test_data.mbo.v2.dbn.zst", 2),
        ("test_data.mbo.v3.dbn.zst", 3),
        ("test_data.mbo.v3.dbn", 3),
    ] {
        let f = DbnFile::read(&dir.join(name)).unwrap();
        assert_eq!(f.metadata.version, version, "{name}");
        assert_eq!(f.metadata.dataset, "GLBX.MDP3");
        let recs = f.mbo_records().unwrap();
        assert_eq!(recs.len(), 2, "{name}");
        assert!(recs.iter().all(|r| r.action == b'C'), "{name}: {recs:?}");
        let prices: Vec<i64> = recs.iter().map(|r| r.price).collect();
        assert_eq!(prices, vec![3_722_750_000_000, 3_723_000_000_000], "{name}");
    }
    let f = DbnFile::read(&dir.join("test_data.mbp-10.v3.dbn.zst")).unwrap();
    let kinds: Vec<u8> = f.records().map(|r| r.unwrap().0).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.iter().all(|&k| k != RTYPE_MBO));
}

#[test]
fn esh4_replay_matches_the_oracle() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let path = dir.join("databento_glbx_mbo_esh4_2023-12-25/esh4-glbx-mdp3-20231225.mbo.dbn.zst");
    let rep = replay_dbn(&path).unwrap();
    eprintln!("{rep:#?}");
    assert_eq!(rep.messages, 68_792);
    let n = |k: &str| rep.messages_by_type.get(k).copied().unwrap_or(0);
    assert_eq!(
        (n("A"), n("C"), n("M"), n("F"), n("T")),
        (29_216, 17_999, 12_233, 6_371, 2_973)
    );
    assert_eq!(rep.integrity_errors, 0, "{:?}", rep.first_mismatches);
    assert_eq!(rep.resting_orders, 11_217);
    let top = &rep.top_of_book["17077"];
    assert_eq!(top.bid_price.as_deref(), Some("4810.00"));
    assert_eq!(top.ask_price.as_deref(), Some("4810.25"));
    assert_eq!(rep.tick.as_deref(), Some("0.25"));
    assert!(rep.crossed_in_auction > 0);
}
