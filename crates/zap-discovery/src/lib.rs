//! Service discovery for ZAP: who offers a service, where, and which one to call.
//!
//! Clients hold a [`Discovery`] (usually as `Arc<dyn Discovery>`) and a [`Picker`]:
//!
//! * [`Discovery::peers`] returns a cheap, sorted [`Snapshot`] of the current [`Peer`]s;
//! * [`Discovery::subscribe`] reports peers added, updated and removed as it happens, so a
//!   client re-balances without polling;
//! * a [`Picker`] ([`RoundRobin`], [`PowerOfTwoChoices`]) chooses the peer for one call.
//!
//! Backends:
//!
//! * [`StaticDiscovery`]: a fixed (replaceable) list of addresses, with or without node ids;
//! * [`mdns::MdnsDiscovery`] (feature `mdns`): multicast DNS, byte-compatible with Go
//!   luxfi/mdns nodes, loopback-only unless asked otherwise;
//! * [`dns::DnsDiscovery`] (feature `dns`): A/AAAA or SRV records, such as a Kubernetes
//!   headless service, re-resolved on an interval and on demand;
//! * your own: feed a [`PeerSet`] and implement [`Discovery`] over it.
//!
//! ```
//! use std::sync::Arc;
//! use zap_discovery::{Discovery, Peer, Picker, RoundRobin, StaticDiscovery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), zap_discovery::Error> {
//! let discovery: Arc<dyn Discovery> = Arc::new(StaticDiscovery::parse(
//!     "_luxd._tcp",
//!     ["node-a@127.0.0.1:9000", "node-b@127.0.0.1:9001"],
//! )?);
//! let mut changes = discovery.subscribe();
//!
//! let picker = RoundRobin::new();
//! let first = picker.pick_from(&*discovery)?;
//! let second = picker.pick_from(&*discovery)?;
//! assert_eq!((first.node_id(), second.node_id()), (Some("node-a"), Some("node-b")));
//!
//! discovery.stop();
//! assert!(changes.recv().await.is_none(), "subscriptions end when discovery stops");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod discovery;
mod error;
mod names;
mod peer;
mod peer_set;
mod picker;
mod static_list;

#[cfg(feature = "dns")]
pub mod dns;
#[cfg(feature = "mdns")]
pub mod mdns;

pub use discovery::{BoxFuture, Discovery};
pub use error::{DnsErrorKind, Error};
pub use names::{
    MAX_NODE_ID_LEN, MAX_SERVICE_NAME_LEN, MAX_TXT_ENTRY_LEN, NODE_ID_KEY, ServiceType,
    parse_metadata_arg, validate_metadata_entry, validate_node_id,
};
pub use peer::{Metadata, Peer};
pub use peer_set::{DEFAULT_MAX_PEERS, PeerEvent, PeerSet, Snapshot, Subscription};
pub use picker::{Picker, PowerOfTwoChoices, RoundRobin};
pub use static_list::StaticDiscovery;

/// The README's example, compiled and run as a doctest so that it stays correct.
#[cfg(all(doctest, feature = "mdns"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
