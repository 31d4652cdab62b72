//! The netrunner control protocol — luxfi/netrunner's `zapwire`, byte for byte — over
//! the Z-Wing post-quantum secure channel.
//!
//! A control server manages a test network of nodes: start it, add, remove, pause,
//! resume and restart nodes, create chains, attach peers, save and load snapshots,
//! watch its status. The wire is zap-wire's typed frames (`u32 BE length ∥ type ∥
//! u32 BE request id ∥ body`) with opcodes 60 Ping, 61 RPCVersion, 62 (a fan-out whose
//! first body byte picks one of 23 RPCs) and 63 Stop; fields are big-endian and
//! length-prefixed. Every byte is described in the project's `docs/wire.md`.
//!
//! * [`Server`] serves a [`Backend`] over Z-Wing only — there is no cleartext mode.
//!   Many requests run at once per connection; unknown opcodes and malformed bodies get
//!   error frames and the connection carries on; long calls are never cut by an idle
//!   timeout; shutdown is graceful.
//! * [`Client`] dials over Z-Wing (optionally pinning the server's identity), has one
//!   method per RPC with per-call timeouts and cancellation, and a [`StatusStream`] for
//!   StreamStatus. [`Client::connect_cleartext`] is the explicit opt-in for today's Go
//!   zapwire servers, which speak plain TCP.
//! * [`SimBackend`] is an in-memory cluster whose state follows the calls, for tests,
//!   demos and trying the protocol without a network.
//! * [`Request`], [`Response`] and the message types encode and decode the bodies
//!   without any I/O; [`serve_connection`] and [`Client::over`] run the protocol over
//!   any `AsyncRead + AsyncWrite`.
//!
//! What this crate fixes relative to the Go code (each a behaviour a Go peer may
//! observe; none changes a byte Go sends or expects): counts are bounded by the bytes
//! present and a per-message budget; a frame over 16 MiB is skipped and answered with
//! an error instead of desynchronising the stream; a response that would exceed 16 MiB
//! becomes an error frame instead of silence; a frame too short for a request id is
//! answered and the connection closed; calls can be cancelled and time out
//! individually; the client checks the response's type byte; idle connections are not
//! closed. The extensions — Start (sub-opcode 6), StreamStatus with its end marker
//! (sub-opcode 5), Cancel (sub-opcode 0xF0) and the `code: message` error texts — are
//! answered by a Go server with its "unknown SubOp" error.
//!
//! # Observability
//!
//! `tracing` spans: `netrunner.server` (local_addr, identity), `netrunner.conn`
//! (peer_addr, remote), `netrunner.request` (request_id, method) on the server;
//! `netrunner.dial` / `netrunner.connect_cleartext` (addr, remote), `netrunner.client`
//! and `netrunner.call` (method, request_id) on the client. `metrics` (through the
//! facade): `netrunner_requests_total{method, outcome}`,
//! `netrunner_request_seconds{method}` and the gauge `netrunner_connections`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use netrunner_proto::{Client, Server, SimBackend, SimConfig};
//! use zap_zwing::{Config, Identity};
//!
//! // A control server over Z-Wing in front of a simulated 3-node cluster.
//! let sim = SimBackend::new(SimConfig::default().with_nodes(3).with_health_delay(Duration::from_millis(10)));
//! let server_identity = Identity::generate()?;
//! let server_public = server_identity.public().clone();
//! let server = Server::bind("127.0.0.1:0", Config::new(server_identity), sim).await?;
//!
//! // A client that talks only to that server identity.
//! let zwing = Config::new(Identity::generate()?).with_expected_remote(server_public);
//! let client = Client::dial(server.local_addr(), &zwing).await?;
//!
//! let info = client.wait_for_healthy().await?.expect("a running cluster");
//! assert!(info.healthy);
//! client.pause_node("node2").await?;
//! assert!(!client.health().await?.expect("running").healthy);
//!
//! let mut updates = client.stream_status(Duration::from_millis(20)).await?;
//! let first = updates.next().await.expect("an update")?;
//! assert_eq!(first.expect("running").node_names.len(), 3);
//! updates.cancel().await?;
//!
//! client.stop().await?;
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod client;
mod dispatch;
pub mod encoding;
mod error;
pub mod frame;
mod messages;
pub mod opcode;
mod server;
mod sim;
mod types;

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use backend::{Backend, ClusterResult, PeerInfo, RequestContext, StatusSink};
pub use client::{Client, ClientOptions, StatusStream};
pub use encoding::{DecodeOptions, Strictness, WireMessage};
pub use error::{DecodeError, Error, ErrorCode, RpcError};
pub use messages::{
    AddNodeRequest, AttachPeerResponse, ChainIdsResponse, LoadSnapshotRequest, Request,
    RequestError, Response, RestartNodeRequest, STREAM_END_MARKER, SendOutboundMessageRequest,
    StartRequest, StatusEvent, TransformElasticChainsResponse,
};
pub use opcode::{DEFAULT_ADDR, DEFAULT_PORT, Method, PROTOCOL_VERSION};
pub use server::{Server, ServerOptions, ServerStats, serve_connection};
pub use sim::{SimBackend, SimConfig};
pub use types::{
    AttachedPeerInfo, BlockchainSpec, ChainInfo, ChainSpec, ClusterInfo, ElasticChainSpec,
    NodeInfo, PermissionlessValidatorSpec, RemoveChainValidatorSpec,
};

/// tokio-util's `CancellationToken`, which [`serve_connection`] takes for shutdown.
pub use tokio_util::sync::CancellationToken;
/// zap-zwing, re-exported so callers name the same `Config` and `Identity` types.
pub use zap_zwing;
