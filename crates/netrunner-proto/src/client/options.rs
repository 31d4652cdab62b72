//! [`ClientOptions`]: timeouts and limits of a client.

use std::time::Duration;

use crate::encoding::DecodeOptions;
use crate::frame::DEFAULT_MAX_PAYLOAD;

/// Timeouts and limits of a [`Client`](crate::Client).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// How long a call may wait for its answer (the default for every RPC but
    /// WaitForHealthy). When it passes the call fails with
    /// [`Error::Timeout`](crate::Error::Timeout) and the request is cancelled on the
    /// server.
    pub call_timeout: Duration,
    /// The timeout of WaitForHealthy, which legitimately takes minutes.
    pub wait_for_healthy_timeout: Duration,
    /// How long opening the connection may take (TCP connect and, for Z-Wing, the
    /// handshake, which the Z-Wing configuration bounds as well).
    pub connect_timeout: Duration,
    /// The largest frame payload sent or accepted (16 MiB, as Go). A larger response is
    /// skipped and fails only its own call.
    pub max_payload: usize,
    /// How responses are decoded.
    pub decode: DecodeOptions,
    /// Status updates kept for a slow reader of a
    /// [`StatusStream`](crate::StatusStream); older ones are dropped first (each
    /// update is a full snapshot, so only the newest matter).
    pub stream_buffer: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            wait_for_healthy_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_payload: DEFAULT_MAX_PAYLOAD,
            decode: DecodeOptions::default(),
            stream_buffer: 64,
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::call_timeout`].
    pub fn with_call_timeout(mut self, t: Duration) -> Self {
        self.call_timeout = t;
        self
    }

    /// Sets [`ClientOptions::wait_for_healthy_timeout`].
    pub fn with_wait_for_healthy_timeout(mut self, t: Duration) -> Self {
        self.wait_for_healthy_timeout = t;
        self
    }

    /// Sets [`ClientOptions::connect_timeout`].
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Sets [`ClientOptions::max_payload`] (at least 64 bytes).
    pub fn with_max_payload(mut self, n: usize) -> Self {
        self.max_payload = n.max(64);
        self
    }

    /// Sets [`ClientOptions::decode`].
    pub fn with_decode(mut self, decode: DecodeOptions) -> Self {
        self.decode = decode;
        self
    }

    /// Sets [`ClientOptions::stream_buffer`] (at least 1).
    pub fn with_stream_buffer(mut self, n: usize) -> Self {
        self.stream_buffer = n.max(1);
        self
    }
}
