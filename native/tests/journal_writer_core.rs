//! `JournalConfig::core` pins the journal's writer thread, and only it (DESIGN §3: the writer on a
//! core of its own). Alone in its test binary so no other journal's writer runs beside it.

use _native::journal::{self, JournalConfig};

/// The `Cpus_allowed_list` of every thread of this process named `name`.
fn allowed(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap();
            let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"));
            out.push(line.unwrap().split(':').nth(1).unwrap().trim().to_string());
        }
    }
    out
}

fn config(core: usize) -> JournalConfig {
    JournalConfig {
        core: Some(core),
        ..JournalConfig::default()
    }
}

#[test]
fn writer_pins_itself_to_its_core_and_a_refused_core_fails_open() {
    let dir = std::env::temp_dir().join(format!("pymm-journal-core-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let before = allowed("pymm-journal");
    assert!(before.is_empty(), "{before:?}");

    let j = journal::open(&dir, config(0)).unwrap();
    assert_eq!(allowed("pymm-journal"), vec!["0".to_string()]);
    drop(j.handle);
    j.writer.close().unwrap();

    let e = journal::open(&dir, config(100_000))
        .err()
        .expect("an impossible core is refused");
    assert!(e.to_string().contains("core 100000"), "{e}");
    assert!(allowed("pymm-journal").is_empty(), "no writer left running");
    let _ = std::fs::remove_dir_all(&dir);
}
