//! A raw WebSocket client over a std `TcpStream` for hostile-input tests: it
//! sends exactly the bytes a test asks for (garbage, lying lengths, frames
//! out of order) and reads the server's frames back, so close codes and
//! reasons can be checked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Opcodes used by the tests.
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;

/// A raw connection that has finished (or tried) the upgrade.
pub struct RawWs {
    pub stream: TcpStream,
    /// Bytes read past the end of the upgrade response.
    buffered: Vec<u8>,
}

/// The upgrade request for `path`, with the wsresume subprotocol.
pub fn upgrade_request(addr: SocketAddr, path: &str, extra_headers: &str) -> String {
    upgrade_request_offering(addr, path, "wsresume.v1", extra_headers)
}

/// The upgrade request for `path`, offering `protocols` (comma-separated).
pub fn upgrade_request_offering(
    addr: SocketAddr,
    path: &str,
    protocols: &str,
    extra_headers: &str,
) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n{extra_headers}\r\n"
    )
}

/// The subprotocol a response head names (`Sec-WebSocket-Protocol`).
pub fn chosen_protocol(head: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-protocol")
            .then(|| value.trim().to_string())
    })
}

impl RawWs {
    /// Connect and send `request`; returns the connection and the response head.
    pub fn open(addr: SocketAddr, request: &str) -> (RawWs, String) {
        let mut ws = RawWs::connect(addr);
        ws.stream.write_all(request.as_bytes()).unwrap();
        let head = ws.read_head(Duration::from_secs(10));
        (ws, head)
    }

    /// Connect and send nothing yet.
    pub fn connect(addr: SocketAddr) -> RawWs {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        RawWs {
            stream,
            buffered: Vec::new(),
        }
    }

    /// The response head that arrives within `timeout` (what arrived, or
    /// nothing, when the server closes first).
    pub fn response_head(&mut self, timeout: Duration) -> String {
        self.read_head(timeout)
    }

    /// Connect and upgrade; panics unless the answer is 101.
    pub fn upgrade(addr: SocketAddr) -> RawWs {
        let (ws, head) = RawWs::open(addr, &upgrade_request(addr, "/", ""));
        assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
        ws
    }

    fn read_head(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(end) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buffered.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            if !self.fill() {
                break;
            }
        }
        String::from_utf8_lossy(&self.buffered).into_owned()
    }

    /// Reads more; false at EOF or error.
    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.buffered.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    /// Sends raw bytes (errors ignored: the server may already have closed).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Sends one masked frame.
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let frame = encode_frame(opcode, payload, payload.len() as u64);
        self.send_raw(&frame);
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send_frame(TEXT, text.as_bytes());
    }

    /// Reads frames until a close frame (its code and reason) or EOF (None),
    /// within `timeout`.
    pub fn read_close(&mut self, timeout: Duration) -> Option<(u16, String)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            while let Some((opcode, payload)) = self.take_frame() {
                if opcode == CLOSE {
                    let code = payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
                    let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                    return Some((code, reason));
                }
            }
            if !self.fill() {
                return None;
            }
        }
        None
    }

    /// Reads the next text frame within `timeout`.
    pub fn read_text(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            while let Some((opcode, payload)) = self.take_frame() {
                if opcode == TEXT {
                    return Some(String::from_utf8_lossy(&payload).into_owned());
                }
            }
            if !self.fill() {
                return None;
            }
        }
        None
    }

    /// Reads the next frame of any kind (opcode, payload) within `timeout`;
    /// None at EOF or when the time is up.
    pub fn read_frame(&mut self, timeout: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(frame) = self.take_frame() {
                return Some(frame);
            }
            if !self.fill() {
                return None;
            }
        }
        None
    }

    /// One whole unmasked server frame from the buffer, if there is one.
    fn take_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let b = &self.buffered;
        if b.len() < 2 {
            return None;
        }
        let (len, start) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < start + len {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let payload = b[start..start + len].to_vec();
        self.buffered.drain(..start + len);
        Some((opcode, payload))
    }
}

/// A masked client frame whose header claims `claimed_len` bytes.
pub fn encode_frame(opcode: u8, payload: &[u8], claimed_len: u64) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match claimed_len {
        0..=125 => frame.push(0x80 | claimed_len as u8),
        126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(claimed_len as u16).to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&claimed_len.to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
