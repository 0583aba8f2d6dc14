//! `WsClient` delivers every message of a read, in order: several frames in one TCP segment (even
//! in the same segment as the upgrade response), and `poll_until` leaves what follows the message
//! it stops at for the next poll (the connect handshake waits for one answer; the user-stream
//! events behind it must not be lost).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use _native::engine::ws_client::{Url, WsClient};
use _native::net::websocket::accept_key;

fn text_frame(p: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81, p.len() as u8];
    f.extend_from_slice(p);
    f
}

#[test]
fn every_frame_of_one_read_is_delivered_and_poll_until_keeps_the_rest() {
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
        let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ".to_vec();
        out.extend_from_slice(&accept_key(key.as_bytes()));
        out.extend_from_slice(b"\r\n\r\n");
        // The answer and two events in the same write as the upgrade response.
        for p in [&b"answer"[..], b"event-1", b"event-2"] {
            out.extend_from_slice(&text_frame(p));
        }
        s.write_all(&out).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        // A fragmented message (text without FIN, then a continuation): refused, not half-read.
        s.write_all(&[0x01, 1, b'a', 0x80, 1, b'b']).unwrap();
        std::thread::sleep(Duration::from_millis(500));
    });
    let url = Url::parse(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    let mut ws = WsClient::connect(&url, Duration::from_secs(5), 1 << 16, 7).unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    // Stop at the answer, as the connect handshake does (bounded wait: 5 s of 1 ms naps).
    let mut naps = 0;
    while got.is_empty() && naps < 5_000 {
        naps += 1;
        std::thread::sleep(Duration::from_millis(1));
        ws.poll_until(|p| {
            got.push(p.to_vec());
            p != b"answer"
        })
        .unwrap();
    }
    assert_eq!(got, [b"answer".to_vec()]);
    // The events behind it come with the next poll, without new bytes on the socket.
    let n = ws.poll(|p| got.push(p.to_vec())).unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        got,
        [b"answer".to_vec(), b"event-1".to_vec(), b"event-2".to_vec()]
    );
    // The fragmented message is an error (the session reconnects and reconciles).
    let mut err = None;
    let mut naps = 0;
    while err.is_none() && naps < 5_000 {
        naps += 1;
        std::thread::sleep(Duration::from_millis(1));
        if let Err(e) = ws.poll(|p| got.push(p.to_vec())) {
            err = Some(e);
        }
    }
    assert!(err.is_some(), "a fragmented message must not pass silently");
    assert_eq!(got.len(), 3);
    server.join().unwrap();
}
