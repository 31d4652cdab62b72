//! Native ZAP RPC: the node protocol of Go's luxfi/zap over TCP, byte-compatible with Go
//! nodes, plus negotiated extensions between Rust peers.
//!
//! With a Go peer the bytes are exactly Go's: the 80-byte node-id handshake, `u32 LE`
//! frames, the `request id ∥ flag` call prefix and 8-bit procedure opcodes in the message
//! flags. Between Rust peers, an extension block after the handshake message (which Go
//! never reads) turns on what Go lacks: error responses with codes, cancellation of
//! in-flight calls, deadline propagation, keepalive with dead-peer detection, 32-bit
//! procedure ids and graceful goaway. Every byte is in `docs/wire.md`.
//!
//! Handlers run concurrently (a slow call never delays a fast one on the same
//! connection), bounded per connection; a panicking handler becomes an error response.
//!
//! The protocol runs over TCP (Go's transport), mutual TLS 1.3 (feature `tls`), QUIC with
//! a stream per call (feature `quic`) and Unix sockets ([`transport`]). Over TLS and QUIC
//! the peer's verified certificate is its identity ([`PeerInfo::identity`],
//! [`PeerInfo::certificate`]); over Unix sockets the kernel reports its uid and pid
//! ([`PeerInfo::credentials`]); over TCP the node id is only a claim.
//!
//! ```
//! use std::time::Duration;
//! use zap_rpc::{Client, ClientOptions, Context, ErrorKind, MessageBuf, Server, Status};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zap_rpc::Error> {
//! let server = Server::builder("_demo._tcp")
//!     .node_id("demo-1")
//!     .no_mdns()
//!     .register("Echo", |_ctx: Context, req: MessageBuf| async move { Ok::<_, Status>(req) })?
//!     .register("Fail", |_ctx: Context, _req: MessageBuf| async move {
//!         Err::<MessageBuf, _>(Status::handler_error("requested failure"))
//!     })?
//!     .start()
//!     .await?;
//!
//! let client = Client::connect(
//!     "_demo._tcp",
//!     ClientOptions::new().static_peers(server.tcp_addr()),
//! )
//! .await?;
//! let reply = client.call("Echo", MessageBuf::with_u32(42, 0)).await?;
//! assert_eq!(reply.parse()?.root().unwrap().u32(0)?, 42);
//!
//! // Errors cross the wire between Rust peers, at once, with a code.
//! let err = client.call("Fail", MessageBuf::empty()).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::HandlerError);
//! let err = client.call("Nope", MessageBuf::empty()).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::UnknownProcedure);
//!
//! client.close();
//! server.shutdown(Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! Modules and main types:
//!
//! * [`Server`] / [`ServerBuilder`]: register [`Handler`]s (async closures or tower
//!   services), limits, a [`PeerVerifier`], mDNS announcement, graceful shutdown.
//! * [`Client`]: discovery ([`zap_discovery::Discovery`]), a picker, one multiplexed
//!   [`Connection`] per peer with reconnect backoff; `call`, `send`, `broadcast`; a
//!   `tower::Service`.
//! * [`frame`] and [`extension`]: the bytes of the Rust wire (pure, fuzzed).
//! * [`transport`]: what carries it ([`Dialer`], [`Listener`], [`TransportAddr`]): TCP,
//!   mutual TLS, QUIC, Unix sockets; [`stream`]: the QUIC stream rules.
//! * [`PeerInfo`], [`PeerCertificate`], [`UnixCredentials`]: who the peer is, and what
//!   proves it; [`PeerVerifier`], [`LocalTrust`], [`AllowList`] decide on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod conn;
mod error;
pub mod extension;
pub mod frame;
mod identity;
mod message;
pub mod metrics;
mod options;
mod peer;
mod procedure;
mod server;
mod status;
pub mod stream;
mod switch;
pub mod transport;
mod verifier;

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use client::{Backoff, Call, Client, ClientOptions};
pub use conn::Connection;
pub use error::{ConnectionError, Error, ErrorKind};
pub use extension::Features;
#[cfg(feature = "tls")]
pub use identity::CertificateError;
pub use identity::{NodeIdStatus, PeerCertificate, TlsInfo, UnixCredentials};
pub use message::MessageBuf;
pub use options::{ConnectionOptions, Keepalive};
pub use peer::{PeerInfo, Wire};
pub use procedure::{IntoProcedure, Procedure};
pub use server::handler::{Context, Handler, Request, ServiceHandler};
pub use server::{Limits, Server, ServerBuilder, ServerStats, ShutdownReport};
pub use status::{ErrorCode, MAX_STATUS_TEXT, Status};
pub use transport::{Dialer, Listener, Scheme, TcpDialer, TcpListener, TransportAddr, Transported};
#[cfg(feature = "quic")]
pub use transport::{QuicDialer, QuicListener, QuicOptions};
#[cfg(feature = "tls")]
pub use transport::{TlsClientConfig, TlsDialer, TlsListener, TlsServerConfig};
#[cfg(unix)]
pub use transport::{UnixDialer, UnixListener};
pub use verifier::{AllowList, LocalTrust, PeerVerifier};
pub use zap_discovery;
pub use zap_wire;
/// Procedure ids and Go's opcodes (zapclient's `ProcedureOpcode`), from zap-wire.
pub use zap_wire::{ProcedureId, procedure_opcode};
