//! Replays every Binance recording in the shared data directory through the production decoders and
//! books: no crossed book, no sequence error, and the USD-M bookTicker oracle (README §1: 126 states).
//!
//! Data: `$PYMM_DATA_DIR`, default `../shared/data` beside the repository. Absent data fails the test
//! under `CI=true` and is skipped (with the reason printed) otherwise.

mod common;

use _native::feed::replay::binance_driver::{replay_files, replay_path};
use _native::feed::ReplaySummary;

fn assert_clean(s: &ReplaySummary) {
    let name = &s.path;
    assert_eq!(s.sequence_errors, 0, "{name}: {s:#?}");
    assert_eq!(s.crossed_events, 0, "{name}: {s:#?}");
    assert_eq!(s.integrity_errors, 0, "{name}: {s:#?}");
    assert_eq!(s.decode_errors, 0, "{name}: {s:#?}");
    assert_eq!(s.resyncs, 0, "{name}: {s:#?}");
    assert_eq!(s.mismatched_states, 0, "{name}: {:#?}", s.first_mismatches);
    assert!(s.applied_updates > 0, "{name}: nothing applied");
    for (sym, i) in &s.instruments {
        assert!(i.synced && !i.stale, "{name} {sym}: {i:#?}");
    }
}

fn quiet(_: u64, _: u64) -> bool {
    true
}

#[test]
fn hftbacktest_sessions_replay_clean() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = dir.join("binance_hftbacktest_btc_2024-08-08");
    // Each `_20240809` file continues its `_20240808` session: replay them as one.
    for files in [
        vec![
            d.join("spot_btcusdt_20240808.gz"),
            d.join("spot_btcusdt_20240809.gz"),
        ],
        vec![d.join("usdm_btcusdt_20240808.gz")],
        vec![
            d.join("coinm_btcusd_perp_20240808.gz"),
            d.join("coinm_btcusd_perp_20240809.gz"),
        ],
    ] {
        let s = replay_files(&files, false, &mut quiet).unwrap();
        eprintln!("{}", s.to_json());
        assert_clean(&s);
        if files[0].ends_with("usdm_btcusdt_20240808.gz") {
            assert_eq!(s.checked_by_kind["bookTicker_after_diff"], 126);
            assert_eq!(s.mismatched_states, 0);
            assert_eq!(s.messages_by_type["depthUpdate"], 6551);
            assert_eq!(s.messages_by_type["bookTicker"], 66089);
            assert_eq!(s.messages_by_type["trade"], 21313);
        }
    }
    // The 0808 files alone are complete sessions too.
    for f in ["spot_btcusdt_20240808.gz", "coinm_btcusd_perp_20240808.gz"] {
        let s = replay_path(&d.join(f), &mut quiet).unwrap();
        assert_clean(&s);
    }
}

#[test]
fn cryptofeed_captures_replay_clean() {
    let Some(dir) = common::data_dir() else {
        return;
    };
    let d = dir.join("binance_cryptofeed_2021");
    for f in [
        "spot_2021-04-04_btcusdt_ethusdt_dotusdt.combined.txt.gz",
        "spot_2021-10-12_nknusdt_blzeth_lrcbtc_runeeur.ws.txt.gz",
        "usdm_2021-07-22_sushiusdt_akrousdt_keepusdt_ctkusdt.ws.txt.gz",
        "usdm_2021-04-05_sandusdt_chrusdt_neousdt_ctkusdt_batusdt.combined.txt.gz",
    ] {
        let s = replay_path(&d.join(f), &mut quiet).unwrap();
        eprintln!("{}", s.to_json());
        assert_clean(&s);
        if f.starts_with("usdm") {
            // Tickers that share a diff's final u (they arrive before the 100 ms diff) are checked.
            assert!(s.checked_by_kind["bookTicker_before_diff"] > 0, "{f}");
        }
    }
}
