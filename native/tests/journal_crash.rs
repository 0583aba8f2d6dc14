//! Crash recovery: a child process appends to a journal in a loop and is killed with SIGKILL at an
//! arbitrary moment; `open_for_append` then recovers (cutting a torn tail if the kill left one),
//! `verify` passes, and every surviving record is exactly what was appended, in seq order.
//!
//! The child is this same test binary, re-run with `crash_child --exact` and the journal directory in
//! `PYMM_JOURNAL_CRASH_CHILD`; without that variable `crash_child` does nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use _native::journal::{self, AppendError, FsyncPolicy, JournalConfig, JournalRecord};
use _native::model::{BookDelta, InstrumentId, Price, Qty, Side, UnixNanos};

const CHILD_ENV: &str = "PYMM_JOURNAL_CRASH_CHILD";

/// The record the child appends as `seq`: the content is a function of the seq alone.
fn record_for(seq: u64) -> JournalRecord {
    JournalRecord::book_delta(&BookDelta {
        instrument: InstrumentId((seq % 5) as u32),
        side: if seq % 3 == 0 { Side::Sell } else { Side::Buy },
        price: Price::from_ticks(seq as i64 * 7),
        qty: Qty::from_lots((seq % 11) as i64),
        sequence: seq ^ 0xdead_beef,
        ts_event: UnixNanos(seq * 1000),
        ts_recv: UnixNanos(seq * 1000 + 17),
    })
}

fn config() -> JournalConfig {
    JournalConfig {
        fsync: FsyncPolicy::EveryN(256),
        // Segments roll several times per round; large batches make a kill inside `write` likely,
        // which leaves a torn tail (the kernel stops a write between pages on a fatal signal).
        segment_bytes: 1 << 20,
        ring_capacity: 1 << 14,
        batch_bytes: 512 << 10,
        idle_sleep: Duration::from_micros(50),
        core: None,
    }
}

#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let j = journal::open(Path::new(&dir), config()).expect("child: open");
    let mut h = j.handle;
    loop {
        let seq = h.next_seq();
        match h.append(record_for(seq)) {
            Ok(got) => assert_eq!(got, seq),
            Err(AppendError::Full) => std::hint::spin_loop(),
            Err(e) => panic!("child: append: {e}"),
        }
    }
}

fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn kill_9_while_appending_then_recover() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("pymm-journal-kill9-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut survivors = 0u64;
    let mut cuts = 0;
    for round in 0..6 {
        let before = journal_bytes(&dir.0);
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let the child write a few segments' worth (polling, with a generous guard against a hang).
        let target = before + 3_000_000 + round * 500_000;
        for _ in 0..30_000 {
            if journal_bytes(&dir.0) >= target {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("child exited on its own: {status}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let rec = journal::open_for_append(&dir.0).expect("recovery after kill -9");
        if rec.cut.is_some() {
            cuts += 1;
        }
        let report = journal::verify(&dir.0).unwrap();
        assert!(report.is_intact(), "round {round}: {report:?}");
        assert_eq!(report.records, rec.next_seq - 1);
        assert!(
            report.records > survivors,
            "round {round}: the child appended nothing"
        );
        for (i, r) in journal::JournalReader::open(&dir.0).unwrap().enumerate() {
            let r = r.unwrap();
            let seq = i as u64 + 1;
            let mut want = record_for(seq);
            want.seq = seq;
            assert_eq!(r.record, want, "round {round}, seq {seq}");
        }
        eprintln!(
            "round {round}: {} records, cut {:?}",
            report.records, rec.cut
        );
        survivors = report.records;
    }
    eprintln!("kill -9 rounds: 6, records surviving: {survivors}, torn tails cut: {cuts}");
}
