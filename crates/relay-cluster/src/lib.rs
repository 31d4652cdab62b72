//! A relay server and client that speak the openZro relay protocol (version 1, shared with
//! NetBird), byte for byte, and the cross-pod fabric that makes several relay pods one
//! relay.
//!
//! Peers attach over WebSocket at `/relay` (optionally TLS) or over QUIC datagrams (ALPN
//! `nb-quic`), authenticate with an HMAC v2 token, and exchange opaque Transport messages
//! addressed by 36-byte [`PeerId`]s; the relay rewrites each message's peer slot from the
//! destination to the source. Peers can watch each other's presence. The relay probes
//! every peer with health checks and drops the silent ones.
//!
//! ```
//! use std::time::Duration;
//! use relay_cluster::{Client, ClientConfig, Event, HmacValidator, PeerId, Server, ServerConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> relay_cluster::Result<()> {
//! let auth = HmacValidator::new("shared-secret");
//! let server = Server::new(ServerConfig::new(
//!     "127.0.0.1:0".parse().unwrap(),
//!     "127.0.0.1",
//!     auth.clone(),
//! ))?;
//! let url = format!("rel://{}", server.listen().await?.websocket);
//!
//! let (alice, bob) = (PeerId::from_identity("alice"), PeerId::from_identity("bob"));
//! let token = auth.issue(Duration::from_secs(60));
//! let a = Client::connect(ClientConfig::new(&url, alice, token.clone())).await?;
//! let mut b = Client::connect(ClientConfig::new(&url, bob, token)).await?;
//!
//! a.send(&bob, b"hello bob").await?;
//! let event = tokio::time::timeout(Duration::from_secs(5), b.recv()).await.unwrap()?;
//! assert_eq!(event, Event::Transport { from: alice, payload: "hello bob".into() });
//!
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Parts:
//!
//! * [`wire`]: the messages, their limits, encoders and decoders (no I/O).
//! * [`PeerId`]: `sha-` and the SHA-256 of a peer's identity string.
//! * [`Validator`], [`HmacValidator`], [`AllowAll`]: who may attach.
//! * [`Server`] (listeners), [`Relay`] (the core, mountable in any HTTP server),
//!   [`Store`] and [`Peer`]: attached peers, with replace-on-reconnect.
//! * [`CrossPodForwarder`] and [`LocalPeerDispatcher`]: where a cluster fabric plugs in.
//! * `fabric` (feature `cluster`): that fabric, for pods found through a Kubernetes
//!   headless Service or a static list (`fabric::ClusterBootstrap`).
//! * [`Client`]: the client side of the protocol.
//! * `tls` (feature `tls`): rustls configurations from PEM.
//!
//! Differences from upstream that a peer can observe are listed in `docs/wire.md` of the
//! repository; in short, the relay adds deadlines (handshake, read, write), answers a
//! refused handshake with a close reason, closes connections that send malformed
//! messages, and queues per peer instead of writing from the sender's read loop.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod client;
mod cluster;
mod config;
mod conn;
mod error;
#[cfg(feature = "cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
pub mod fabric;
mod listener;
pub mod metrics;
mod notifier;
mod peer;
mod peer_id;
mod relay;
mod server;
mod store;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wire;

pub use auth::{AllowAll, AuthError, HmacValidator, TOKEN_ALGORITHM_HMAC_SHA256, Validator};
pub use client::{Client, ClientConfig, Event, Sender};
pub use cluster::{
    CrossPodForwarder, DispatchError, ForwardError, LocalPeerDispatcher, LocateFuture,
};
pub use config::{HealthCheckConfig, RelayConfig};
pub use conn::{CloseInfo, TransportKind};
pub use error::{Error, Result};
pub use listener::WS_PATH;
pub use peer::{Disconnect, Peer};
pub use peer_id::{PEER_ID_PREFIX, PEER_ID_SIZE, ParsePeerIdError, PeerId};
pub use relay::Relay;
pub use server::{ListenAddrs, Server, ServerConfig, instance_url};
pub use store::{PresenceEvent, Store};

/// The README's examples, compiled and run as doctests so that they stay correct.
#[cfg(all(doctest, feature = "cluster"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
