//! pymm benchmarks: shared measurement code for `benches/` and `src/bin/`.

pub mod book_l2;
pub mod book_l3;
pub mod host;
pub mod tsc;
