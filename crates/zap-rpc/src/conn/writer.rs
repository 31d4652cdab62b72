//! The writer task: one per connection, the only code that writes to the socket.
//!
//! It takes frames from a queue and writes as many as are waiting in one system call
//! (vectored when the stream supports it), so a busy connection costs one syscall per
//! batch, not per frame. Small bodies are copied next to their heads; large ones are
//! written from their own buffers, never copied.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::shared::{Outgoing, Reply, Shared};
use crate::error::ConnectionError;
use crate::transport::BoxWrite;

/// Bodies up to this size are copied into the batch buffer.
const INLINE_BODY: usize = 4096;
/// A batch is written once it holds this many bytes…
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// …or this many frames.
const MAX_BATCH_FRAMES: usize = 512;
/// Batches of up to this many chunks are written without allocating.
const STACK_SLICES: usize = 32;

struct Batch {
    staging: BytesMut,
    chunks: Vec<Bytes>,
    bytes: usize,
    frames: usize,
    vectored: bool,
}

impl Batch {
    fn new(vectored: bool) -> Self {
        Self {
            staging: BytesMut::with_capacity(16 * 1024),
            chunks: Vec::new(),
            bytes: 0,
            frames: 0,
            vectored,
        }
    }

    fn push(&mut self, head: &[u8], body: Bytes) {
        self.staging.put_slice(head);
        if body.len() <= INLINE_BODY || !self.vectored {
            self.staging.put_slice(&body);
        } else {
            self.chunks.push(self.staging.split().freeze());
            self.chunks.push(body.clone());
        }
        self.bytes += head.len() + body.len();
        self.frames += 1;
    }

    fn full(&self) -> bool {
        self.bytes >= MAX_BATCH_BYTES || self.frames >= MAX_BATCH_FRAMES
    }

    fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Writes the batch; each system call that makes no progress for `stall` fails it.
    async fn write(&mut self, w: &mut BoxWrite, stall: Duration) -> Result<(), ConnectionError> {
        if !self.staging.is_empty() {
            self.chunks.push(self.staging.split().freeze());
        }
        let result = write_chunks(w, &self.chunks, stall).await;
        self.chunks.clear();
        self.bytes = 0;
        self.frames = 0;
        result
    }
}

async fn write_chunks(
    w: &mut BoxWrite,
    chunks: &[Bytes],
    stall: Duration,
) -> Result<(), ConnectionError> {
    // Most batches have a few chunks: their slices live on the stack, so that a write
    // allocates nothing.
    let mut on_stack = [IoSlice::new(&[]); STACK_SLICES];
    let mut on_heap = Vec::new();
    let slices: &mut [IoSlice<'_>] = if chunks.len() <= STACK_SLICES {
        for (slice, chunk) in on_stack.iter_mut().zip(chunks) {
            *slice = IoSlice::new(chunk);
        }
        &mut on_stack[..chunks.len()]
    } else {
        on_heap.extend(chunks.iter().map(|c| IoSlice::new(c)));
        &mut on_heap[..]
    };
    let mut rest = slices;
    while !rest.is_empty() {
        let n = match tokio::time::timeout(stall, w.write_vectored(rest)).await {
            Ok(Ok(0)) => return Err(ConnectionError::io(io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(ConnectionError::io(e)),
            Err(_) => return Err(ConnectionError::WriteTimeout(stall)),
        };
        IoSlice::advance_slices(&mut rest, n);
    }
    match tokio::time::timeout(stall, w.flush()).await {
        Ok(r) => r.map_err(ConnectionError::io),
        Err(_) => Err(ConnectionError::WriteTimeout(stall)),
    }
}

/// Runs until the connection closes or is finished, then fails what is left: queued
/// requests as not sent, waiting calls with the close reason.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Outgoing>,
    mut w: BoxWrite,
    stall: Duration,
) {
    let mut batch = Batch::new(w.is_write_vectored());
    // Whether to wait one turn for more frames before writing: worth it when the last
    // batch carried several (others are queueing), a needless delay when frames come one
    // at a time (a caller waits for each answer).
    let mut gather = false;
    let outcome = loop {
        let first = tokio::select! {
            biased;
            _ = shared.closed.cancelled() => break None,
            next = rx.recv() => next,
        };
        let mut finish = false;
        match first {
            Some(Outgoing::Frame { head, body, .. }) => batch.push(head.as_bytes(), body),
            Some(Outgoing::Unanswered { .. }) => {}
            Some(Outgoing::Finish) | None => finish = true,
        }
        let mut yielded = !gather;
        while !finish && !batch.full() {
            match rx.try_recv() {
                Ok(Outgoing::Frame { head, body, .. }) => batch.push(head.as_bytes(), body),
                Ok(Outgoing::Unanswered { .. }) => {}
                Ok(Outgoing::Finish) => finish = true,
                Err(_) if !yielded => {
                    // Let the tasks that are ready to run (callers, handlers) queue their
                    // frames first: under load one write then carries many frames. It
                    // costs a turn of the scheduler (which polls the I/O driver), so it
                    // is taken only while batches carry several frames.
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        gather = batch.frames > 1;
        if !batch.is_empty() {
            let written = tokio::select! {
                biased;
                _ = shared.closed.cancelled() => break None,
                r = batch.write(&mut w, stall) => r,
            };
            if let Err(e) = written {
                break Some(e);
            }
        }
        if finish {
            // Best effort: the peer learns we are done from the FIN.
            let _ = tokio::time::timeout(stall, w.shutdown()).await;
            break Some(ConnectionError::Local);
        }
    };
    if let Some(reason) = outcome {
        shared.close(reason);
    }
    fail_unsent(&shared, &mut rx);
}

/// Ends a writer: frames still queued were never sent, so their calls fail with
/// [`ConnectionError::NotSent`] (safe to retry elsewhere), then every other waiting call
/// fails with the connection's close reason.
pub(super) fn fail_unsent(shared: &Shared, rx: &mut mpsc::Receiver<Outgoing>) {
    rx.close();
    while let Ok(left) = rx.try_recv() {
        if let Outgoing::Frame {
            request: Some(id), ..
        } = left
        {
            shared.deliver(id, Reply::Failed(ConnectionError::NotSent));
        }
    }
    shared.fail_all();
}
