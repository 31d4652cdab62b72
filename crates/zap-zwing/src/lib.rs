//! Z-Wing v1: a post-quantum secure channel, byte-compatible with Go's `luxfi/zwing`.
//!
//! Each peer has a long-term [`Identity`]: Ed25519 and ML-DSA-65 signing keys (every
//! signature carries both, and both must verify) and a static KEM key (ML-KEM-768 and
//! X25519, joined by Z-Wing's SHA3-256 combiner). A one-round-trip handshake
//! authenticates both sides and derives a ChaCha20-Poly1305 key per direction; after it,
//! a [`ZwingStream`] carries bytes in records of up to 1 MiB.
//!
//! * [`connect`] and [`accept`] run the handshake over any tokio `AsyncRead +
//!   AsyncWrite` and return a [`ZwingStream`] (itself `AsyncRead + AsyncWrite`) that
//!   knows the peer's verified [`IdentityPublic`].
//! * [`Listener`] serves TCP, running handshakes side by side so one slow client never
//!   holds up the others; [`dial`] is the TCP client.
//! * [`Config`] chooses who we are, which peers we accept ([`PeerPolicy`]: any
//!   authenticated peer, one pinned identity or an allow-list), the handshake timeout
//!   (5 s by default) and an optional [`ReplayCache`].
//! * [`keyfile`] saves and loads identities; [`handshake`], [`wire`], [`kem`] and [`kdf`]
//!   expose the protocol without I/O, for other transports and for interop checks.
//!
//! The bytes on the wire are exactly luxfi/zwing's. What this crate adds (timeouts, exact
//! pre-authentication read sizes, a replay cache, an allow-list, strict Ed25519
//! verification) changes no byte. What Z-Wing v1 does *not* give, whoever implements it,
//! is spelled out in the project's `docs/security.md`: chiefly no forward secrecy if an
//! initiator's long-term key leaks, and a replayable first message.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use zap_zwing::{accept, connect, Config, Identity};
//!
//! let server_identity = Identity::generate()?;
//! // The client talks only to this exact server identity.
//! let client = Config::new(Identity::generate()?)
//!     .with_expected_remote(server_identity.public().clone());
//! let server = Config::new(server_identity);
//!
//! // Any transport works; a real program would use TCP (see `dial` and `Listener`).
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//! let (mut c, mut s) = tokio::try_join!(connect(client_io, &client), accept(server_io, &server))?;
//! assert_eq!(s.remote_identity(), client.identity().public());
//!
//! c.write_all(b"hello over Z-Wing").await?;
//! c.flush().await?;
//! let mut got = [0u8; 17];
//! s.read_exact(&mut got).await?;
//! assert_eq!(&got, b"hello over Z-Wing");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod connect;
mod error;
mod identity;
mod listener;
mod random;
mod record;
mod replay;
mod stream;

pub mod handshake;
pub mod kdf;
pub mod kem;
pub mod keyfile;
pub mod labels;
pub mod sizes;
pub mod wire;

pub use config::{Config, DEFAULT_HANDSHAKE_TIMEOUT, PeerPolicy};
pub use connect::{accept, connect, dial};
pub use error::Error;
pub use handshake::{Established, Initiator, Role, VerifiedInit};
pub use identity::{Fingerprint, IDENTITY_SEED_LEN, Identity, IdentityPublic};
pub use keyfile::KeyFile;
pub use listener::{Listener, ListenerOptions, ListenerStats};
pub use replay::ReplayCache;
pub use stream::ZwingStream;
