//! Shared helpers of the data-driven integration tests.

use std::path::PathBuf;

/// `$PYMM_DATA_DIR` (default `../../shared/data` from the crate): `None` with a printed reason when
/// absent, a panic under `CI=true`.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PYMM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "recorded data not found at {} (set PYMM_DATA_DIR)",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}
