//! `WsClient` reads frames (in place, in its fixed buffer) and sends frames without allocating per
//! message after warm-up, over a real loopback TCP connection to a minimal WebSocket server thread.
//!
//! The counting allocator counts per thread: the server thread's allocations do not count.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use _native::engine::ws_client::{Url, WsClient};
use _native::net::websocket::accept_key;

#[global_allocator]
static GLOBAL: common::CountingAllocator = common::CountingAllocator;

const FRAMES: usize = 20_000;

#[test]
fn ws_client_poll_and_send_allocate_nothing_after_warm_up() {
    common::assert_counting();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut n = 0;
        while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            n += s.read(&mut buf[n..]).unwrap();
        }
        let head = String::from_utf8_lossy(&buf[..n]).into_owned();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_string();
        let accept = accept_key(key.as_bytes());
        let mut resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ".to_vec();
        resp.extend_from_slice(&accept);
        resp.extend_from_slice(b"\r\n\r\n");
        s.write_all(&resp).unwrap();
        let payload = br#"{"e":"depthUpdate","E":1,"s":"DOGEUSDT","U":1,"u":2,"b":[["0.16900","100"]],"a":[]}"#;
        let mut frame = vec![0x81, payload.len() as u8];
        frame.extend_from_slice(payload);
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend_from_slice(&frame);
        }
        for _ in 0..FRAMES / 100 {
            s.write_all(&batch).unwrap();
        }
        // Drain what the client sends, then close.
        let mut sink = [0u8; 65536];
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        while let Ok(n) = s.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    });
    let url = Url::parse(&format!("ws://127.0.0.1:{port}/ws/dogeusdt@depth")).unwrap();
    let mut ws = WsClient::connect(&url, Duration::from_secs(5), 1 << 20, 99).unwrap();
    let mut got = 0usize;
    let mut bytes = 0usize;
    let warm = 1_000;
    while got < warm {
        got += ws.poll(|p| bytes += p.len()).unwrap();
    }
    let before = common::allocations();
    while got < FRAMES {
        got += ws
            .poll(|p| {
                bytes += p.len();
            })
            .unwrap();
        if got % 1_000 == 0 {
            ws.send_text(br#"{"id":"1","method":"ping"}"#).unwrap();
        }
    }
    let allocs = common::allocations() - before;
    assert_eq!(got, FRAMES);
    assert!(bytes > 0);
    assert_eq!(
        allocs,
        0,
        "allocations while reading {} frames",
        FRAMES - warm
    );
    ws.close();
    drop(ws);
    server.join().unwrap();
}
