//! The ef_vi backend (`net/efvi.rs`) driven through the real `dlopen` path by the in-repo fake of
//! the shim interface (`native/shim/fake_efvi.c`, compiled here with the system C compiler): RX
//! prefix offsets, refill in multiples of 8, discards, overflow, bundled TX completions and
//! `-EAGAIN`, timestamp sync flags and errors, X3 packet references, and the fallbacks to kernel
//! sockets (no shim, no device, missing capability).
#![allow(unsafe_code)] // calling the fake's test-control exports; listed in docs/dev/unsafe.md

use std::ffi::c_void;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use _native::net::afxdp::XdpMode;
use _native::net::efvi::{EfViConfig, EfViError, EfViRx, CAP_RX_REF};
use _native::net::packet::{build_udp, multicast_mac, parse_udp, UdpEndpoints, UdpFilter};
use _native::net::select::{open_rx, RxSpec, TransportKind, EFVI_FALLBACKS};
use _native::net::timestamp::TsSource;
use _native::net::transport::{RxTransport, TxTransport};
use libloading::Library;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 7, 7);
const PORT: u16 = 26477;
const ENOMSG: i32 = 42;
const ENODATA: i32 = 61;
const EL2NSYNC: i32 = 45;

/// Builds `libfake_efvi.so` once per test binary.
fn fake() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shim = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shim");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libfake_efvi.so");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let st = Command::new(&cc)
            .args([
                "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
            ])
            .arg(&out)
            .arg(shim.join("fake_efvi.c"))
            .arg(format!("-I{}", shim.display()))
            .status()
            .unwrap_or_else(|e| panic!("no C compiler ({cc}): {e}"));
        assert!(st.success(), "compiling the fake shim failed");
        out
    })
    .clone()
}

#[repr(C)]
#[derive(Debug, Default)]
struct FakeCounters {
    small_batches_ignored: u64,
    double_posts: u64,
    bad_releases: u64,
    bad_ids: u64,
    no_desc_drops: u64,
    refs_outstanding: u64,
    releases: u64,
    posted_now: u32,
    udp_filters: u32,
    tcp_filters: u32,
    sent_count: u32,
}

/// The fake's test controls, resolved from the same loaded library the backend uses.
struct Controls {
    lib: Library,
}

impl Controls {
    fn new() -> Self {
        // SAFETY: the fake has no initialisers; dlopen of an already loaded library returns it.
        let lib = unsafe { Library::new(fake()) }.unwrap();
        Self { lib }
    }

    fn inject_rx(
        &self,
        h: *mut c_void,
        frame: &[u8],
        status: i32,
        sec: i64,
        nsec: u32,
        flags: u32,
    ) {
        // SAFETY: prototype as in fake_efvi.c; `frame` is live for the call.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void, *const u8, u32, i32, i64, u32, u32) -> i32>(
                    b"pymm_fake_inject_rx",
                )
                .unwrap();
            assert_eq!(
                f(
                    h,
                    frame.as_ptr(),
                    frame.len() as u32,
                    -status,
                    sec,
                    nsec,
                    flags
                ),
                0
            );
        }
    }

    fn inject_discard(&self, h: *mut c_void, frame: &[u8], kind: u32) {
        // SAFETY: as above.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void, *const u8, u32, u32) -> i32>(
                    b"pymm_fake_inject_discard",
                )
                .unwrap();
            assert_eq!(f(h, frame.as_ptr(), frame.len() as u32, kind), 0);
        }
    }

    fn inject_overflow(&self, h: *mut c_void) {
        // SAFETY: as above.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void) -> i32>(b"pymm_fake_inject_overflow")
                .unwrap();
            assert_eq!(f(h), 0);
        }
    }

    fn set_tx(&self, h: *mut c_void, bundle: u32, fifo: u32) {
        // SAFETY: as above.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void, u32, u32)>(b"pymm_fake_set_tx")
                .unwrap();
            f(h, bundle, fifo);
        }
    }

    fn counters(&self, h: *mut c_void) -> FakeCounters {
        let mut c = FakeCounters::default();
        // SAFETY: as above; `c` matches `struct pymm_fake_counters`.
        unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void, *mut FakeCounters)>(b"pymm_fake_counters")
                .unwrap();
            f(h, &mut c);
        }
        c
    }

    fn sent_frame(&self, h: *mut c_void, i: u32) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        // SAFETY: as above; `buf` has 2048 writable bytes.
        let n = unsafe {
            let f = self
                .lib
                .get::<unsafe extern "C" fn(*mut c_void, u32, *mut u8, u32) -> i32>(
                    b"pymm_fake_sent_frame",
                )
                .unwrap();
            f(h, i, buf.as_mut_ptr(), 2048)
        };
        assert!(n >= 0, "no sent frame {i}");
        buf.truncate(n as usize);
        buf
    }
}

fn endpoints(port: u16) -> UdpEndpoints {
    UdpEndpoints {
        src_mac: [2, 0, 0, 0, 0, 9],
        dst_mac: multicast_mac(GROUP),
        src: Ipv4Addr::new(10, 0, 0, 9),
        dst: GROUP,
        src_port: 40000,
        dst_port: port,
        ttl: 1,
    }
}

fn frame(payload: &[u8], port: u16) -> Vec<u8> {
    let mut b = vec![0u8; 2048];
    let n = build_udp(&mut b, &endpoints(port), 1, payload).unwrap();
    b.truncate(n);
    b
}

fn config(ifname: &str) -> EfViConfig {
    EfViConfig {
        shim: Some(fake()),
        ifname: ifname.into(),
        filter: UdpFilter {
            port: PORT,
            dst: Some(GROUP),
        },
        rx_timestamps: true,
        tx: Some(endpoints(PORT)),
    }
}

type Got = Vec<(Vec<u8>, TsSource, u64)>;

fn poll_all(rx: &mut EfViRx) -> Got {
    let mut got = Vec::new();
    for _ in 0..8 {
        rx.poll(|d, ts| got.push((d.to_vec(), ts.source, ts.ts.0)))
            .unwrap();
    }
    got
}

#[test]
fn ef10_prefix_timestamps_and_refill_in_eights() {
    let c = Controls::new();
    let mut rx = EfViRx::open(&config("fake0")).unwrap();
    let h = rx.shim_handle();
    assert_eq!(
        rx.caps().rx_prefix_len,
        14,
        "the fake puts a 14-byte prefix before the frame"
    );
    assert_eq!(rx.rx_buffers_posted(), 64);
    assert_eq!(c.counters(h).posted_now, 64);
    assert_eq!(c.counters(h).udp_filters, 1);

    c.inject_rx(h, &frame(b"in-sync", PORT), 0, 1_700_000_000, 123, 0b11);
    c.inject_rx(h, &frame(b"set-only", PORT), 0, 1_700_000_001, 5, 0b01);
    c.inject_rx(h, &frame(b"not-yet", PORT), ENOMSG, 0, 0, 0);
    c.inject_rx(h, &frame(b"no-stamp", PORT), ENODATA, 0, 0, 0);
    c.inject_rx(h, &frame(b"lost", PORT), EL2NSYNC, 0, 0, 0);
    c.inject_rx(h, &frame(b"other-port", PORT + 1), 0, 1, 1, 3);
    let got = poll_all(&mut rx);
    let payloads: Vec<&[u8]> = got.iter().map(|g| g.0.as_slice()).collect();
    assert_eq!(
        payloads,
        [
            &b"in-sync"[..],
            b"set-only",
            b"not-yet",
            b"no-stamp",
            b"lost"
        ],
        "the prefix is skipped and the port filter applied"
    );
    assert_eq!(
        (got[0].1, got[0].2),
        (TsSource::Hardware, 1_700_000_000_000_000_123)
    );
    assert_eq!(
        (got[1].1, got[1].2),
        (TsSource::Hardware, 1_700_000_001_000_000_005)
    );
    assert!(got[2..].iter().all(|g| g.1 == TsSource::None));
    let s = rx.stats();
    assert_eq!(
        (
            s.ts_in_sync,
            s.ts_not_in_sync,
            s.ts_not_synced,
            s.ts_missing,
            s.ts_sync_lost
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!((s.packets, s.rejected), (5, 1));
    // Six buffers came back: fewer than eight, so none is re-posted yet.
    assert_eq!(rx.rx_buffers_posted(), 58);
    for i in 0..2u8 {
        c.inject_rx(h, &frame(&[i; 3], PORT), 0, 2, 2, 3);
    }
    poll_all(&mut rx);
    assert_eq!(
        rx.rx_buffers_posted(),
        64,
        "eight free buffers are posted as one batch"
    );
    let fc = c.counters(h);
    assert_eq!(
        (fc.small_batches_ignored, fc.double_posts, fc.bad_ids),
        (0, 0, 0)
    );
}

#[test]
fn discards_are_counted_and_their_buffers_recycled() {
    let c = Controls::new();
    let mut rx = EfViRx::open(&config("fake1")).unwrap();
    let h = rx.shim_handle();
    for k in 0..100u32 {
        if k % 3 == 0 {
            c.inject_discard(h, &frame(b"bad-crc", PORT), 1);
        } else {
            c.inject_rx(h, &frame(&k.to_be_bytes(), PORT), 0, 1, 1, 3);
        }
        if k % 20 == 19 {
            poll_all(&mut rx);
        }
    }
    let s = rx.stats();
    assert_eq!(
        (s.rx_discards, s.packets, s.rx_no_desc, s.bad_ids),
        (34, 66, 0, 0)
    );
    assert!(
        rx.rx_buffers_posted() > 56,
        "discarded buffers went back to the NIC"
    );
    assert_eq!(c.counters(h).double_posts, 0);
}

#[test]
fn overflow_makes_the_vi_unusable() {
    let c = Controls::new();
    let mut rx = EfViRx::open(&config("fake2")).unwrap();
    let h = rx.shim_handle();
    c.inject_rx(h, &frame(b"before", PORT), 0, 1, 1, 3);
    c.inject_overflow(h);
    let mut got = Vec::new();
    let err = rx.poll(|d, _| got.push(d.to_vec())).unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
    assert_eq!(got, vec![b"before".to_vec()]);
    assert!(rx.poll(|_, _| {}).is_err(), "stays failed until reopened");
    assert_eq!(rx.stats().overflows, 1);
}

#[test]
fn bundled_tx_completions_and_eagain() {
    let c = Controls::new();
    let mut tx = EfViRx::open(&config("fake3")).unwrap();
    let h = tx.shim_handle();
    c.set_tx(h, 3, 8);
    for i in 0..8u8 {
        tx.send(&[i; 10]).unwrap();
    }
    let e = tx.send(b"ninth").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(tx.stats().tx_eagain, 1);
    // One bundle of three completions per poll.
    tx.poll_completions().unwrap();
    assert_eq!(tx.stats().tx_completed, 3);
    tx.poll_completions().unwrap();
    tx.poll_completions().unwrap();
    assert_eq!(tx.stats().tx_completed, 8);
    tx.send(b"ninth").unwrap();
    let fc = c.counters(h);
    assert_eq!((fc.sent_count, fc.bad_ids), (9, 0));
    let filter = UdpFilter {
        port: PORT,
        dst: Some(GROUP),
    };
    for i in 0..8u32 {
        let f = c.sent_frame(h, i);
        assert_eq!(parse_udp(&f, &filter).unwrap().payload, &[i as u8; 10]);
    }
    assert_eq!(
        parse_udp(&c.sent_frame(h, 8), &filter).unwrap().payload,
        b"ninth"
    );
    // All 32 TX buffers cycle: ids are returned exactly once.
    c.set_tx(h, 5, 32);
    for round in 0..10 {
        for _ in 0..20 {
            tx.send(b"x").unwrap();
        }
        for _ in 0..8 {
            tx.poll_completions().unwrap();
        }
        assert_eq!(tx.stats().bad_ids, 0, "round {round}");
    }
    assert_eq!(tx.stats().tx_completed, 9 + 200);
}

#[test]
fn x3_packet_references_are_released_once() {
    let c = Controls::new();
    let mut rx = EfViRx::open(&config("fakex3a")).unwrap();
    let h = rx.shim_handle();
    assert_ne!(rx.caps().caps & CAP_RX_REF, 0);
    assert_eq!(rx.rx_buffers_posted(), 0, "X3 has no posted RX buffers");
    for i in 0..100u32 {
        if i % 10 == 0 {
            c.inject_discard(h, &frame(b"d", PORT), 2);
        } else {
            c.inject_rx(h, &frame(&i.to_le_bytes(), PORT), 0, 9, i, 3);
        }
    }
    let got = poll_all(&mut rx);
    assert_eq!(got.len(), 90);
    assert!(got.iter().all(|g| g.1 == TsSource::Hardware));
    assert_eq!(got[0].2, 9_000_000_001);
    let fc = c.counters(h);
    assert_eq!(
        (
            fc.refs_outstanding,
            fc.releases,
            fc.bad_releases,
            fc.bad_ids
        ),
        (0, 100, 0, 0)
    );
    assert_eq!(
        (rx.stats().refs_released, rx.stats().rx_discards),
        (100, 10)
    );
}

#[test]
fn tcp_flow_filter() {
    let c = Controls::new();
    let mut rx = EfViRx::open(&config("fake4")).unwrap();
    let h = rx.shim_handle();
    rx.add_tcp_filter(
        "10.0.0.1:40001".parse().unwrap(),
        "10.0.0.2:9000".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(c.counters(h).tcp_filters, 1);
}

fn spec(ifname: &str, shim: PathBuf) -> RxSpec {
    RxSpec {
        ifname: ifname.into(),
        interface: Ipv4Addr::LOCALHOST,
        port: 0,
        group: None,
        xdp_mode: XdpMode::Auto,
        efvi_shim: Some(shim),
    }
}

#[test]
fn fallbacks_to_kernel_sockets() {
    assert!(matches!(
        EfViRx::open(&config("nodev0")),
        Err(EfViError::NoDevice)
    ));
    assert!(matches!(
        EfViRx::open(&config("eth0")),
        Err(EfViError::NoInterface(_))
    ));
    assert!(matches!(
        EfViRx::open(&config("fakenots0")),
        Err(EfViError::MissingCapability(_))
    ));
    let mut missing = config("fake0");
    missing.shim = Some(PathBuf::from("/nonexistent/libpymm_efvi.so"));
    assert!(matches!(EfViRx::open(&missing), Err(EfViError::NoShim(_))));

    let before = EFVI_FALLBACKS.load(std::sync::atomic::Ordering::Relaxed);
    let cases = [
        (spec("nodev0", fake()), "sfc_char"),
        (spec("fakenots0", fake()), "hardware RX timestamps"),
        (
            spec("fake0", PathBuf::from("/nonexistent/libpymm_efvi.so")),
            "not loadable",
        ),
    ];
    for (s, why) in &cases {
        let (rx, reason) = open_rx(TransportKind::EfVi, s).unwrap();
        assert_eq!(rx.kind(), TransportKind::Kernel);
        let reason = reason.expect("a fallback reason");
        assert!(
            reason.contains(why) && reason.contains("kernel sockets"),
            "{reason}"
        );
    }
    let after = EFVI_FALLBACKS.load(std::sync::atomic::Ordering::Relaxed);
    assert!(after - before >= 3);
    // And the real thing when the (fake) device is there.
    let mut ok = spec("fake0", fake());
    ok.port = PORT;
    let (rx, reason) = open_rx(TransportKind::EfVi, &ok).unwrap();
    assert_eq!((rx.kind(), reason), (TransportKind::EfVi, None));
}
