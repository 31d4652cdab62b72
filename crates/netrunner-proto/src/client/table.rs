//! The client's table of calls waiting for answers, and the reader that fills it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::{Notify, oneshot};
use tokio_util::codec::FramedRead;
use zap_wire::typed::MsgType;

use crate::encoding::DecodeOptions;
use crate::encoding::WireMessage;
use crate::error::{Error, RpcError};
use crate::frame::{FrameDecoder, Inbound};
use crate::messages::StatusEvent;
use crate::opcode::Method;
use crate::types::ClusterInfo;

/// An answer as it arrived: its type byte and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) ty: MsgType,
    pub(crate) body: Bytes,
}

impl Reply {
    /// Checks the type byte against the request and turns error frames into errors.
    pub(crate) fn into_body(self, method: Method) -> Result<Bytes, Error> {
        check_type(method, self.ty)?;
        if self.ty.is_error() {
            return Err(Error::Remote(remote_error(&self.body)));
        }
        Ok(self.body)
    }
}

fn check_type(method: Method, ty: MsgType) -> Result<(), Error> {
    if ty.opcode() != method.opcode() {
        return Err(Error::UnexpectedResponse {
            method,
            expected: MsgType::response(method.opcode()).0,
            got: ty.0,
        });
    }
    Ok(())
}

fn remote_error(body: &[u8]) -> RpcError {
    RpcError::from_wire_text(&String::from_utf8_lossy(body))
}

enum Slot {
    Unary {
        method: Method,
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
    Stream(Arc<StreamState>),
}

struct Inner {
    next_id: u32,
    calls: HashMap<u32, Slot>,
    closed: Option<String>,
}

/// Calls waiting for answers, by request id.
pub(crate) struct Table {
    inner: Mutex<Inner>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_id: 1,
                calls: HashMap::new(),
                closed: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section is a single map operation; a poisoned lock holds a
        // consistent map.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next free id: never 0 and never one still waiting, so a long call cannot be
    /// confused with a new one after the counter wraps.
    fn allocate(inner: &mut Inner) -> u32 {
        loop {
            let id = inner.next_id;
            inner.next_id = inner.next_id.wrapping_add(1);
            if id != 0 && !inner.calls.contains_key(&id) {
                return id;
            }
        }
    }

    fn check_open(inner: &Inner) -> Result<(), Error> {
        match &inner.closed {
            Some(reason) => Err(Error::closed(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn register_unary(
        &self,
        method: Method,
    ) -> Result<(u32, oneshot::Receiver<Result<Reply, Error>>), Error> {
        let mut inner = self.lock();
        Self::check_open(&inner)?;
        let id = Self::allocate(&mut inner);
        let (tx, rx) = oneshot::channel();
        inner.calls.insert(id, Slot::Unary { method, reply: tx });
        Ok((id, rx))
    }

    pub(crate) fn register_stream(&self, state: Arc<StreamState>) -> Result<u32, Error> {
        let mut inner = self.lock();
        Self::check_open(&inner)?;
        let id = Self::allocate(&mut inner);
        inner.calls.insert(id, Slot::Stream(state));
        Ok(id)
    }

    /// Forgets a call; true if it was still waiting (so the server may still be working
    /// on it).
    pub(crate) fn remove(&self, id: u32) -> bool {
        self.lock().calls.remove(&id).is_some()
    }

    /// The error for a call made on a closed connection.
    pub(crate) fn closed_error(&self) -> Error {
        let inner = self.lock();
        Error::closed(
            inner
                .closed
                .clone()
                .unwrap_or_else(|| "the connection's writer stopped".to_owned()),
        )
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Fails every waiting call with `reason`; later calls fail at once.
    pub(crate) fn close(&self, reason: &str) {
        let calls = {
            let mut inner = self.lock();
            if inner.closed.is_none() {
                inner.closed = Some(reason.to_owned());
            }
            std::mem::take(&mut inner.calls)
        };
        if !calls.is_empty() {
            tracing::debug!(
                waiting = calls.len(),
                reason,
                "netrunner: failing waiting calls"
            );
        }
        for (_, slot) in calls {
            match slot {
                Slot::Unary { reply, .. } => {
                    let _ = reply.send(Err(Error::closed(reason)));
                }
                Slot::Stream(state) => state.finish(Err(Error::closed(reason))),
            }
        }
    }

    /// Routes one answer.
    fn deliver(&self, id: u32, ty: MsgType, body: Bytes, decode: &DecodeOptions) {
        let mut inner = self.lock();
        let Some(slot) = inner.calls.get(&id) else {
            // A late answer to a call that timed out or was cancelled.
            tracing::debug!(
                request_id = id,
                ty = ty.0,
                "netrunner: answer for no waiting call"
            );
            return;
        };
        match slot {
            Slot::Unary { .. } => {
                if let Some(Slot::Unary { reply, .. }) = inner.calls.remove(&id) {
                    drop(inner);
                    let _ = reply.send(Ok(Reply { ty, body }));
                }
            }
            Slot::Stream(state) => {
                let state = state.clone();
                let event = check_type(Method::StreamStatus, ty).and_then(|()| {
                    if ty.is_error() {
                        return Err(Error::Remote(remote_error(&body)));
                    }
                    StatusEvent::from_bytes(&body, decode).map_err(|source| Error::Decode {
                        method: Method::StreamStatus,
                        source,
                    })
                });
                match event {
                    Ok(StatusEvent::Update(info)) => {
                        drop(inner);
                        state.push(info);
                    }
                    Ok(StatusEvent::End) => {
                        inner.calls.remove(&id);
                        drop(inner);
                        state.finish(Ok(()));
                    }
                    Err(e) => {
                        inner.calls.remove(&id);
                        drop(inner);
                        state.finish(Err(e));
                    }
                }
            }
        }
    }

    /// Fails one call whose answer was too large to read.
    fn fail(&self, id: u32, err: impl FnOnce(Method) -> Error) {
        let slot = self.lock().calls.remove(&id);
        match slot {
            Some(Slot::Unary { method, reply }) => {
                let _ = reply.send(Err(err(method)));
            }
            Some(Slot::Stream(state)) => state.finish(Err(err(Method::StreamStatus))),
            None => {}
        }
    }
}

/// Reads answers until the connection ends, then fails whatever still waits.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FramedRead<R, FrameDecoder>,
    table: Arc<Table>,
    decode: DecodeOptions,
    max_payload: usize,
) {
    let reason = loop {
        match frames.next().await {
            None => break "the server closed the connection".to_owned(),
            Some(Err(e)) => break format!("reading from the server failed: {e}"),
            Some(Ok(Inbound::Oversize {
                request_id, len, ..
            })) => {
                tracing::info!(request_id, len, "netrunner: oversize answer skipped");
                table.fail(request_id, |method| Error::ResponseTooLarge {
                    method,
                    len,
                    max: max_payload,
                });
            }
            Some(Ok(Inbound::Frame(frame))) => {
                let Ok((id, body)) = frame.split() else {
                    // Nothing to route it to, and a server that sends this is broken:
                    // end the connection so no call waits for an answer that will not come.
                    break format!(
                        "the server sent a {}-byte frame without a request id",
                        frame.payload.len()
                    );
                };
                if !frame.ty.is_response() {
                    tracing::warn!(
                        ty = frame.ty.0,
                        "netrunner: the server sent a request frame; ignored"
                    );
                    continue;
                }
                table.deliver(id, frame.ty, body, &decode);
            }
        }
    };
    tracing::debug!(%reason, "netrunner: client connection ended");
    table.close(&reason);
}

/// What a status stream has received and not yet handed out.
pub(crate) struct StreamState {
    inner: Mutex<StreamInner>,
    notify: Notify,
    capacity: usize,
}

struct StreamInner {
    queue: VecDeque<Option<ClusterInfo>>,
    terminal: Option<Result<(), Error>>,
    dropped: u64,
}

/// One item a status stream hands out.
pub(crate) enum StreamItem {
    Update(Option<ClusterInfo>),
    End,
    Failed(Error),
}

impl StreamState {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(StreamInner {
                queue: VecDeque::new(),
                terminal: None,
                dropped: 0,
            }),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StreamInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, info: Option<ClusterInfo>) {
        {
            let mut inner = self.lock();
            if inner.terminal.is_some() {
                return;
            }
            if inner.queue.len() == self.capacity {
                // Each update is a whole snapshot: the oldest is the one not to miss.
                inner.queue.pop_front();
                inner.dropped += 1;
            }
            inner.queue.push_back(info);
        }
        self.notify.notify_one();
    }

    pub(crate) fn finish(&self, outcome: Result<(), Error>) {
        {
            let mut inner = self.lock();
            if inner.terminal.is_none() {
                inner.terminal = Some(outcome);
            }
        }
        self.notify.notify_one();
    }

    /// The next item, if one is ready: updates first, then the end.
    pub(crate) fn pop(&self) -> Option<StreamItem> {
        let mut inner = self.lock();
        if let Some(info) = inner.queue.pop_front() {
            return Some(StreamItem::Update(info));
        }
        match inner.terminal.take() {
            Some(Ok(())) => {
                inner.terminal = Some(Ok(()));
                Some(StreamItem::End)
            }
            Some(Err(e)) => {
                inner.terminal = Some(Ok(()));
                Some(StreamItem::Failed(e))
            }
            None => None,
        }
    }

    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}
