//! The floor: a raw framed echo over TCP with the best batching we can write.
//!
//! Frames are `u32 LE length ∥ u32 LE id ∥ payload`. The server echoes every whole frame
//! of a read straight from its read buffer (no copy), all queued echoes in one vectored
//! write, reading on while it writes. The client, with N in flight, keeps N frames
//! outstanding from one task: each batch of answers it reads is replaced by as many new
//! requests, all queued requests going out in one vectored write. Nothing here does
//! per-call work beyond framing: no tasks, no maps, no wake-ups but the socket's.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::Budget;
use crate::echo::{Echo, check_len};
use crate::error::BenchError;

const NAME: &str = "raw TCP floor";
const HEAD: usize = 8;
/// Read buffers are refilled to this much free space...
const READ_CHUNK: usize = 256 * 1024;
/// ...when less than this is left (not on every read: echoes still queued share the
/// buffer's allocation, and refilling only now and then keeps the floor allocation-free).
const MIN_READ_SPACE: usize = 16 * 1024;
/// Payloads up to this size are copied next to their header (one contiguous chunk per
/// batch); larger ones are sent from the caller's buffer (header and payload chunks).
const COPY_MAX: usize = 4096;
/// Echo bytes that may wait for the socket before the server stops reading.
const MAX_QUEUED: usize = 4 << 20;
/// Chunks per vectored write (Linux takes up to 1024).
const IOV: usize = 512;

/// Bytes waiting for the socket, written many chunks per system call.
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Bytes>,
    queued: usize,
}

impl Outbox {
    fn push(&mut self, chunk: Bytes) {
        self.queued += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Points `iov` at the queued chunks; returns how many.
    fn slices<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> usize {
        let mut k = 0;
        for (slot, chunk) in iov.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(chunk);
            k += 1;
        }
        k
    }

    /// Drops `n` written bytes from the front.
    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            let take = n.min(front.len());
            front.advance(take);
            n -= take;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }
}

/// Binds the echo server on the server side's runtime.
pub(crate) async fn server() -> Result<(SocketAddr, ()), BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("raw: bind", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("raw: local address", e))?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(echo_connection(s));
        }
    });
    Ok((addr, ()))
}

/// Index just past the last whole frame at the front of `buf`.
fn whole_frames(buf: &[u8]) -> usize {
    let mut at = 0;
    while buf.len() >= at + 4 {
        let len = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if buf.len() - at - 4 < len {
            break;
        }
        at += 4 + len;
    }
    at
}

fn refill(buf: &mut BytesMut, want: usize) {
    if buf.capacity() - buf.len() < MIN_READ_SPACE.max(want) {
        buf.reserve(READ_CHUNK.max(want));
    }
}

async fn echo_connection(mut s: TcpStream) {
    if s.set_nodelay(true).is_err() {
        return;
    }
    let (mut r, mut w) = s.split();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Outbox::default();
    loop {
        let mut iov = [IoSlice::new(&[]); IOV];
        let k = out.slices(&mut iov);
        tokio::select! {
            n = w.write_vectored(&iov[..k]), if k > 0 => match n {
                Ok(n) => out.consume(n),
                Err(_) => return,
            },
            n = r.read_buf(&mut buf), if out.queued < MAX_QUEUED => {
                if !matches!(n, Ok(n) if n > 0) {
                    return;
                }
                let whole = whole_frames(&buf);
                if whole > 0 {
                    out.push(buf.split_to(whole).freeze());
                }
                refill(&mut buf, 0);
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    /// Headers (and small payloads) of requests being queued.
    wbuf: BytesMut,
    /// Requests waiting for the socket (kept, so its queue is allocated once).
    out: Outbox,
    next_id: u32,
}

/// Queues `k` requests carrying `payload`: headers (and small payloads) are written into
/// `wbuf` and split off as one chunk; a large payload is queued as it is, uncopied.
fn queue(wbuf: &mut BytesMut, next_id: &mut u32, out: &mut Outbox, payload: &Bytes, k: u64) {
    let small = payload.len() <= COPY_MAX;
    for _ in 0..k {
        wbuf.put_u32_le((payload.len() + 4) as u32);
        wbuf.put_u32_le(*next_id);
        *next_id = next_id.wrapping_add(1);
        if small {
            wbuf.extend_from_slice(payload);
        } else {
            out.push(wbuf.split().freeze());
            out.push(payload.clone());
        }
    }
    if !wbuf.is_empty() {
        out.push(wbuf.split().freeze());
    }
    refill(wbuf, 0);
}

impl Conn {
    /// Takes whole answers off the read buffer, checking each one's length; returns
    /// how many there were.
    fn take_answers(&mut self, want: usize) -> Result<u64, BenchError> {
        let mut n = 0;
        while self.rbuf.len() >= 4 {
            let rb = &self.rbuf;
            let len = u32::from_le_bytes([rb[0], rb[1], rb[2], rb[3]]) as usize;
            if self.rbuf.len() < 4 + len {
                break;
            }
            check_len(NAME, want + 4, len)?;
            self.rbuf.advance(4 + len);
            n += 1;
        }
        Ok(n)
    }
}

/// A client of the raw echo. Its calls are driven by one task at a time.
pub(crate) struct RawEcho {
    conn: RefCell<Conn>,
}

impl RawEcho {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::io("raw: connect", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::io("raw: TCP_NODELAY", e))?;
        Ok(Self {
            conn: RefCell::new(Conn {
                stream,
                rbuf: BytesMut::with_capacity(READ_CHUNK),
                wbuf: BytesMut::with_capacity(READ_CHUNK),
                out: Outbox::default(),
                next_id: 0,
            }),
        })
    }

    fn conn(&self) -> Result<std::cell::RefMut<'_, Conn>, BenchError> {
        self.conn
            .try_borrow_mut()
            .map_err(|_| BenchError::contender(NAME, "one driver at a time"))
    }
}

impl Echo for RawEcho {
    type Payload = Bytes;
    type Worker = ();

    fn name(&self) -> &'static str {
        NAME
    }

    fn prepare(&self, data: &Bytes) -> Result<Bytes, BenchError> {
        Ok(data.clone())
    }

    fn worker(&self) {}

    #[allow(clippy::await_holding_refcell_ref)] // one driver at a time, checked by `conn()`
    async fn call(&self, _: &mut (), payload: &Bytes) -> Result<(), BenchError> {
        let mut guard = self.conn()?;
        let c = &mut *guard;
        queue(&mut c.wbuf, &mut c.next_id, &mut c.out, payload, 1);
        while let Some(chunk) = c.out.chunks.pop_front() {
            c.stream
                .write_all(&chunk)
                .await
                .map_err(|e| BenchError::io("raw: write", e))?;
        }
        c.out.queued = 0;
        loop {
            if c.take_answers(payload.len())? == 1 {
                return Ok(());
            }
            refill(&mut c.rbuf, payload.len() + HEAD);
            let n = c
                .stream
                .read_buf(&mut c.rbuf)
                .await
                .map_err(|e| BenchError::io("raw: read", e))?;
            if n == 0 {
                return Err(BenchError::contender(NAME, "server closed the connection"));
            }
        }
    }

    #[allow(clippy::await_holding_refcell_ref)] // one driver at a time, checked by `conn()`
    async fn saturate(
        &self,
        payload: &Bytes,
        in_flight: usize,
        budget: Budget,
    ) -> Result<u64, BenchError> {
        let mut guard = self.conn()?;
        let c = &mut *guard;
        let until = Instant::now() + budget.time;
        let Conn {
            stream,
            rbuf,
            wbuf,
            out,
            next_id,
        } = c;
        let first = (in_flight.max(1) as u64).min(budget.calls);
        queue(wbuf, next_id, out, payload, first);
        let (mut issued, mut done) = (first, 0u64);
        let (mut r, mut w) = stream.split();
        // Reads and writes proceed together: with large payloads and many in flight both
        // directions' socket buffers fill, and a client that only wrote would deadlock.
        while done < issued {
            let mut iov = [IoSlice::new(&[]); IOV];
            let k = out.slices(&mut iov);
            tokio::select! {
                n = w.write_vectored(&iov[..k]), if k > 0 => {
                    out.consume(n.map_err(|e| BenchError::io("raw: write", e))?);
                }
                n = r.read_buf(rbuf) => {
                    if n.map_err(|e| BenchError::io("raw: read", e))? == 0 {
                        return Err(BenchError::contender(NAME, "server closed the connection"));
                    }
                    let mut answered = 0u64;
                    while rbuf.len() >= 4 {
                        let len = u32::from_le_bytes([rbuf[0], rbuf[1], rbuf[2], rbuf[3]]) as usize;
                        if rbuf.len() < 4 + len {
                            break;
                        }
                        check_len(NAME, payload.len() + 4, len)?;
                        rbuf.advance(4 + len);
                        answered += 1;
                    }
                    done += answered;
                    refill(rbuf, payload.len() + HEAD);
                    if Instant::now() < until {
                        let more = answered.min(budget.calls.saturating_sub(issued));
                        queue(wbuf, next_id, out, payload, more);
                        issued += more;
                    }
                }
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_stops_at_a_partial_frame() {
        let mut b = Vec::new();
        for len in [4u32, 10] {
            b.extend_from_slice(&len.to_le_bytes());
            b.extend(std::iter::repeat_n(7u8, len as usize));
        }
        let full = b.len();
        assert_eq!(whole_frames(&b), full);
        b.extend_from_slice(&100u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(whole_frames(&b), full);
        assert_eq!(whole_frames(&b[..3]), 0);
    }

    #[test]
    fn outbox_consumes_across_chunks() {
        let mut out = Outbox::default();
        out.push(Bytes::from_static(b"abc"));
        out.push(Bytes::from_static(b"defg"));
        let mut iov = [IoSlice::new(&[]); 4];
        assert_eq!(out.slices(&mut iov), 2);
        out.consume(5);
        assert_eq!(out.queued, 2);
        assert_eq!(out.chunks.len(), 1);
        assert_eq!(&out.chunks[0][..], b"fg");
        out.consume(2);
        assert!(out.chunks.is_empty());
    }
}
