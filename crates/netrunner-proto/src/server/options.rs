//! [`ServerOptions`]: the limits and timeouts of a control server.

use std::time::Duration;

use crate::encoding::DecodeOptions;
use crate::frame::DEFAULT_MAX_PAYLOAD;

/// Limits and timeouts of a control server. The defaults suit a control plane: few
/// clients, long calls.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The largest frame payload accepted and sent (16 MiB, as Go). A larger request is
    /// skipped and answered with an error; a larger response is replaced by one.
    pub max_payload: usize,
    /// How request bodies are decoded.
    pub decode: DecodeOptions,
    /// Requests running at once on one connection. Beyond this the server stops reading
    /// that connection until one finishes (backpressure; nothing is refused, and cancel
    /// frames behind the waiting request wait too).
    pub max_in_flight: usize,
    /// Connections served at once; more are closed right after their handshake.
    pub max_connections: usize,
    /// Close a connection with no request in flight after this long without a frame.
    /// `None` (the default) keeps idle connections open. A request in flight (a
    /// minutes-long WaitForHealthy, a status stream) never counts as idle.
    pub idle_timeout: Option<Duration>,
    /// A peer that takes no bytes for this long is dropped (it stopped reading).
    pub write_timeout: Duration,
    /// On shutdown, how long running requests may take to finish before they are
    /// answered with `unavailable`.
    pub shutdown_grace: Duration,
    /// StreamStatus intervals shorter than this are raised to it.
    pub min_push_interval: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            decode: DecodeOptions::default(),
            max_in_flight: 256,
            max_connections: 1024,
            idle_timeout: None,
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            min_push_interval: Duration::from_millis(10),
        }
    }
}

impl ServerOptions {
    /// Sets [`ServerOptions::max_payload`] (at least 64 bytes, so error texts fit).
    pub fn with_max_payload(mut self, n: usize) -> Self {
        self.max_payload = n.max(64);
        self
    }

    /// Sets [`ServerOptions::decode`].
    pub fn with_decode(mut self, decode: DecodeOptions) -> Self {
        self.decode = decode;
        self
    }

    /// Sets [`ServerOptions::max_in_flight`] (at least 1).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`ServerOptions::max_connections`] (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets [`ServerOptions::idle_timeout`].
    pub fn with_idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Sets [`ServerOptions::write_timeout`].
    pub fn with_write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }

    /// Sets [`ServerOptions::shutdown_grace`].
    pub fn with_shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }

    /// Sets [`ServerOptions::min_push_interval`].
    pub fn with_min_push_interval(mut self, t: Duration) -> Self {
        self.min_push_interval = t;
        self
    }
}
