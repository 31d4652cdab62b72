//! The cross-pod fabric: several relay pods behind one address act as one relay.
//!
//! Every pod keeps one authenticated TCP link to every sibling it finds (a Kubernetes
//! headless Service, a static list, or any [`zap_discovery::Discovery`]). A peer's
//! Transport message for a peer attached to another pod crosses one link as a FWD frame;
//! where that peer is comes from presence news each pod pushes to its siblings, or else
//! from a WHO_HAS lookup. Subscribers hear about peers coming and going on every pod.
//!
//! The frames are openZro's (a 3-byte header; WHO_HAS, I_HAVE, FWD with its destination
//! and a complete relay Transport message), with extensions where the Go fabric is
//! unsound: a handshake authenticated both ways over fresh nonces, NOT_HERE answers,
//! keepalive, presence, GOODBYE. [`frame`] has every layout; `docs/wire.md` describes
//! every byte and `docs/security.md` the trust model.
//!
//! Faults the fabric survives, unlike the Go one: simultaneous dials (one link per pair,
//! always), dropped links and partitions (redial with backoff while the sibling is in
//! discovery; keepalive finds silent links), peers moving between pods (followed at once
//! through presence, or on the first NOT_HERE), slow receivers (bounded queues per sibling
//! and per peer; nothing waits on a socket), and secret rotation (a list of secrets).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Siblings};
//! use relay_cluster::{HmacValidator, Server, ServerConfig};
//!
//! // Pod 127.0.0.2 of a three-pod cluster on one machine (siblings on .3 and .4 would run
//! // the same with their own address; here they are not started, so none is linked).
//! let server = Server::new(ServerConfig::new(
//!     "127.0.0.2:0".parse()?,
//!     "relay.example.com:443",
//!     HmacValidator::new("peer-secret"),
//! ))?;
//! let siblings = Siblings::Static(vec![
//!     "127.0.0.2:7090".parse()?, // ourselves: skipped
//!     "127.0.0.3:7090".parse()?,
//!     "127.0.0.4:7090".parse()?,
//! ]);
//! let config = ClusterConfig::new("127.0.0.2".parse()?, siblings, "cluster-secret");
//! let cluster = ClusterBootstrap::start(config, server.relay()).await?; // the fabric first,
//! server.listen().await?; //                                              then the relay
//! let wait = std::time::Duration::from_secs(5);
//! let status = cluster.fabric().wait_until(wait, |s| s.siblings.len() == 2).await?;
//! assert_eq!(status.announce.to_string(), "127.0.0.2:7090");
//! assert!(status.links.is_empty(), "nobody to link with");
//! cluster.stop().await; // GOODBYE to every sibling,
//! server.shutdown().await; // then Close to every peer
//! # Ok(()) }
//! ```

mod bootstrap;
mod config;
mod core;
pub mod frame;
mod handshake;
mod link;
mod locator;
mod membership;
mod presence;
mod queue;
mod registry;
mod secrets;
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

pub use bootstrap::{ClusterBootstrap, Fabric, FabricStatus, LinkInfo};
pub use config::{ClusterConfig, LISTEN_EVERYWHERE, Siblings};
pub use frame::{DEFAULT_CLUSTER_PORT, NodeId};
pub use handshake::HandshakeError;
pub use secrets::{ClusterSecrets, key_id};
pub use stats::FabricStats;

/// Why the fabric could not start, or a wait on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FabricError {
    /// A configuration that cannot work.
    #[error("invalid cluster configuration: {0}")]
    Config(String),
    /// The fabric port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
    /// Sibling discovery could not be set up.
    #[error("sibling discovery failed: {0}")]
    Discovery(#[source] zap_discovery::Error),
    /// The system's random source failed (node ids and nonces need it).
    #[error("no randomness available: {0}")]
    Random(String),
    /// A wait passed its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The fabric stopped.
    #[error("the fabric stopped")]
    Stopped,
}
