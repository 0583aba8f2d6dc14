//! `cargo bench -p pymm-bench --bench book_l2`: the book bench in its quick form (one pass), so the
//! harness is exercised by `cargo bench`; `cargo run --release -p pymm-bench --bin book` runs it fully.

fn main() {
    if !pymm_bench::book_l2::data_dir().join("README.md").is_file() {
        eprintln!("book_l2: skipped, recorded data not found (set PYMM_DATA_DIR)");
        return;
    }
    println!("{}", pymm_bench::book_l2::run(1));
}
