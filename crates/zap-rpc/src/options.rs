//! Settings every connection shares, on the client and the server side.

use std::time::Duration;

use zap_wire::node::DEFAULT_MAX_FRAME;

use crate::error::Error;
use crate::extension::Features;

/// How often to probe an idle peer, and when to give it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Send a ping after this long without receiving anything.
    pub interval: Duration,
    /// Close the connection (failing its calls) after this long without receiving
    /// anything, pongs included.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Settings of one connection.
///
/// The defaults follow Go where Go has a value (10 MiB frames, 10 s handshake) and are
/// bounded everywhere Go is not (writes, keepalive, in-flight calls, queues).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// Offer the Rust extensions in the handshake. Off gives exactly Go's bytes.
    /// Default: on.
    pub extensions: bool,
    /// Which extensions to offer. Default: all.
    pub features: Features,
    /// The largest frame payload accepted from the peer; a larger one closes the
    /// connection before its body is read. Default: 10 MiB, as Go.
    pub max_frame: usize,
    /// How long the handshake may take (connect excluded). Default: 10 s.
    pub handshake_timeout: Duration,
    /// How long one write may make no progress before the connection is given up.
    /// Default: 10 s.
    pub write_timeout: Duration,
    /// Keepalive between Rust peers; `None` turns it off (and stops offering it).
    /// Default: ping after 10 s idle, give up after 30 s of silence.
    pub keepalive: Option<Keepalive>,
    /// Handlers one connection may run at once; further requests wait (and, once the
    /// queue is full, the connection stops reading). Default: 256.
    pub max_in_flight: usize,
    /// Bytes of requests that may wait for a handler slot per connection (at least one
    /// request always fits). Default: 4 MiB.
    pub max_queued_bytes: usize,
    /// Frames that may wait for the writer; callers wait beyond that. Default: 1024.
    pub send_queue: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            extensions: true,
            features: Features::ALL,
            max_frame: DEFAULT_MAX_FRAME,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive::default()),
            max_in_flight: 256,
            max_queued_bytes: 4 * 1024 * 1024,
            send_queue: 1024,
        }
    }
}

impl ConnectionOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Speaks exactly Go's wire: no extension block in the handshake.
    pub fn go_wire(mut self) -> Self {
        self.extensions = false;
        self
    }

    /// Offers only these extensions.
    pub fn with_features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }

    /// Accepts frames up to `max_frame` bytes.
    pub fn with_max_frame(mut self, max_frame: usize) -> Self {
        self.max_frame = max_frame;
        self
    }

    /// Bounds the handshake.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Bounds a stalled write.
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets keepalive timings.
    pub fn with_keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive = Some(Keepalive { interval, timeout });
        self
    }

    /// Turns keepalive off.
    pub fn without_keepalive(mut self) -> Self {
        self.keepalive = None;
        self
    }

    /// Runs at most `n` handlers per connection at once.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Lets requests of up to `bytes` (in total) wait for a handler slot per connection.
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// Lets `frames` frames wait for the writer before callers wait.
    pub fn with_send_queue(mut self, frames: usize) -> Self {
        self.send_queue = frames;
        self
    }

    /// The features this side offers, given the settings.
    pub(crate) fn offered(&self) -> Features {
        if self.keepalive.is_some() {
            self.features
        } else {
            self.features.without(Features::KEEPALIVE)
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_string()));
        if self.max_frame < 1024 || self.max_frame > u32::MAX as usize {
            return bad("max_frame must be between 1 KiB and 4 GiB");
        }
        if self.handshake_timeout.is_zero() || self.write_timeout.is_zero() {
            return bad("timeouts must be longer than zero");
        }
        if let Some(k) = self.keepalive
            && (k.interval.is_zero() || k.timeout <= k.interval)
        {
            return bad("keepalive timeout must exceed a non-zero interval");
        }
        if self.max_in_flight == 0 || self.send_queue == 0 {
            return bad("max_in_flight and send_queue must be at least 1");
        }
        Ok(())
    }
}
