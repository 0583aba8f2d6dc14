//! Order books: L3 (order by order) with integrity checks.
//!
//! Books are owned and mutated by the pinned feed thread of their venue session; they never allocate
//! after construction, never lock and never log. An event that contradicts the book is refused with an
//! error and a resync request, never silently fixed.

pub mod l3;

pub use l3::{IntegrityError, L3Book, L3Config, LevelView};
