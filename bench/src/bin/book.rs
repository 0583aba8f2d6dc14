//! `book [--json] [--quick]`: decode and L2 apply latency on the recorded Binance streams.
//! Prints a table, or one JSON object with `--json`. See `bench/README.md`.

use pymm_bench::{book_l2, book_l3};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    if !book_l2::data_dir().join("README.md").is_file() {
        eprintln!(
            "book: recorded data not found at {} (set PYMM_DATA_DIR)",
            book_l2::data_dir().display()
        );
        std::process::exit(2);
    }
    let mut report = book_l2::run(if quick { 1 } else { 20 });
    report["l3"] = book_l3::run(&book_l2::data_dir(), if quick { 1 } else { 20 });
    if json {
        println!("{report}");
        return;
    }
    println!(
        "book bench — {} ({} cores), timer {} floor {} ns, passes {}",
        report["cpu"], report["cores"], report["timer"], report["timer_floor_ns"], report["passes"]
    );
    for s in report["streams"].as_array().into_iter().flatten() {
        println!(
            "\n{}: {} messages, {} diffs applied, {} level updates",
            s["stream"], s["messages"], s["applied_diffs"], s["level_updates"]
        );
        println!(
            "  {:<40} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "ns", "mean", "p50", "p99", "p99.9", "p50 net", "p99 net"
        );
        for key in [
            "decode_ns_per_msg",
            "decode_depth_ns_per_msg",
            "decode_depth_with_levels_ns_per_msg",
            "l2_apply_ns_per_update",
            "btree_apply_ns_per_update",
            "pipeline_ns_per_diff",
        ] {
            let d = &s[key];
            println!(
                "  {:<40} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
                key,
                d["mean_ns"],
                d["p50_ns"],
                d["p99_ns"],
                d["p999_ns"],
                d["p50_net_ns"],
                d["p99_net_ns"]
            );
        }
        println!(
            "  ladder/btree mean ratio: {}",
            s["ladder_vs_btree_mean_ratio"]
        );
    }
    println!("\nL3 apply, ns/update: mean (best pass), then p50/p99/p99.9 of a timed pass (timer floor):");
    for r in report["l3"].as_array().into_iter().flatten() {
        match r.get("error") {
            Some(e) => println!("  {:<40} skipped: {e}", r["stream"]),
            None => println!(
                "  {:<40} {:>9} | {} / {} / {} (floor {}) over {} updates",
                r["stream"],
                r["l3_apply_ns_per_update"],
                r["l3_apply_p50_ns"],
                r["l3_apply_p99_ns"],
                r["l3_apply_p99_9_ns"],
                r["timer_floor_ns"],
                r["updates"]
            ),
        }
    }
}
