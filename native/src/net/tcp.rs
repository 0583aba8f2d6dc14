//! A kernel TCP client for order entry: `TCP_NODELAY`, non-blocking after connect.
//!
//! # Hot path
//! `send` is one `write` syscall on a non-blocking socket; a short write returns the count and the
//! caller keeps the rest (the gateway never drops order bytes). `poll` reads what is there into a
//! caller-owned buffer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::timestamp::RxTimestamp;
use super::transport::{RxTransport, TxTransport};

/// A connected, non-blocking TCP stream with Nagle off.
pub struct KernelTcpClient {
    stream: TcpStream,
    buf: Box<[u8]>,
}

impl KernelTcpClient {
    /// Connects (blocking, with `timeout`), then switches to non-blocking with `TCP_NODELAY`.
    pub fn connect(addr: SocketAddr, timeout: Duration, read_buffer: usize) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        Self::from_stream(stream, read_buffer)
    }

    /// Wraps an accepted or connected stream the same way.
    pub fn from_stream(stream: TcpStream, read_buffer: usize) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            buf: vec![0u8; read_buffer.max(64)].into_boxed_slice(),
        })
    }

    /// Whether Nagle is off (it always is).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.stream.nodelay()
    }
}

impl TxTransport for KernelTcpClient {
    #[inline]
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.stream.write(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            r => r,
        }
    }
}

impl RxTransport for KernelTcpClient {
    /// Delivers the bytes readable now as one chunk (no timestamp: TCP software stamps are per
    /// segment and not wired yet). A closed peer is an `UnexpectedEof` error.
    #[inline]
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, mut on_packet: F) -> io::Result<usize> {
        match self.stream.read(&mut self.buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection",
            )),
            Ok(n) => {
                on_packet(&self.buf[..n], RxTimestamp::NONE);
                Ok(1)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn round_trip_with_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = KernelTcpClient::connect(addr, Duration::from_secs(5), 4096).unwrap();
        assert!(client.nodelay().unwrap());
        let (peer, _) = listener.accept().unwrap();
        let mut server = KernelTcpClient::from_stream(peer, 4096).unwrap();
        assert_eq!(client.send(b"order").unwrap(), 5);
        let mut got = Vec::new();
        for _ in 0..1_000_000 {
            server.poll(|d, _| got.extend_from_slice(d)).unwrap();
            if got.len() >= 5 {
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(got, b"order");
        drop(client);
        let mut closed = false;
        for _ in 0..1_000_000 {
            match server.poll(|_, _| {}) {
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                    closed = true;
                    break;
                }
                Ok(_) => std::thread::yield_now(),
            }
        }
        assert!(closed);
    }
}
