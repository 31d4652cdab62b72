//! HTTP over ZAP: the zap-proto/http "Gen C" wire, a tower HTTP client, a server for any
//! tower HTTP service, and a client that finds its peers through discovery.
//!
//! Each HTTP message travels as one ZAP message behind a 4-byte big-endian length: a
//! whole request, a whole response, or a response streamed as a head, data chunks and
//! an end frame with trailers. The bytes match Go's zap-proto/http v0.3.2 and later, so
//! Rust and Go clients and servers talk to each other; the behaviour is fixed where Go's
//! is unsafe (truncated streams that looked complete, auth that failed open, unbounded
//! headers, no TLS).
//!
//! * [`wire`]: encode and decode frames (no I/O); [`codec`]: the length-prefix framing.
//! * [`Client`]: a pooled `tower::Service<http::Request<B>>` returning
//!   `http::Response<`[`Incoming`]`>`; tower-http client layers wrap it as they wrap any
//!   HTTP client.
//! * [`serve`] and [`server::Builder`]: serve any tower HTTP service, an axum `Router`
//!   as it is, with limits, timeouts, streaming, trailers and graceful shutdown.
//! * [`discovery::DiscoveryClient`]: zap-discovery + a picker + a dialer + auth.
//! * `tls` (feature `tls`): rustls on both sides, mutual TLS for local trust.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An axum app, served over ZAP-HTTP with no adapter.
//! let app = Router::new().route("/health", get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(zap_http::serve(listener, app));
//!
//! // A client: the URI's authority says where to connect, and becomes the Host field.
//! let client = zap_http::Client::new();
//! let req = http::Request::get(format!("http://{addr}/health")).body(Empty::<Bytes>::new())?;
//! let resp = client.request(req).await?;
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.into_body().collect().await?.to_bytes(), "ok");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
pub mod codec;
mod conn;
pub mod discovery;
mod error;
pub mod server;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;
mod wake;
pub mod wire;

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use body::Incoming;
pub use client::{
    BoxFuture, Client, ClientBuilder, Connect, DEFAULT_PORT, Endpoint, ResponseFuture, TcpConnector,
};
pub use conn::{BoxIo, Io};
pub use error::{BoxError, Error, TimeoutKind};
pub use server::serve;
