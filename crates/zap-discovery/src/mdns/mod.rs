//! Multicast DNS: announce a node and browse for peers, interoperable with Go luxfi/mdns.
//!
//! A Go `Node` registers its node id as the instance name of its service type in domain
//! `local.`, with a TXT record `id=<node id>`; [`Mdns::announce`] does the same (plus one
//! `key=value` per metadata entry) and [`Mdns::browse`] reads such announcements from Go and
//! Rust nodes alike. See [`records`] for the exact records.
//!
//! Compared with Go: a goodbye removes a peer at once (Go waits for its next browse), a
//! silent peer is asked to confirm it is alive before it is dropped after the stale time,
//! IPv6 addresses keep their zone, and loopback is the default interface.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zap_discovery::Error> {
//! use zap_discovery::mdns::{Announcement, Mdns, MdnsConfig};
//! use zap_discovery::{Discovery, ServiceType};
//!
//! let mdns = Mdns::new(MdnsConfig::new().with_port(15353).without_probing())?;
//! let service = ServiceType::new("_luxd._tcp")?;
//! let browse = mdns.browse(&service)?;
//! let _me = mdns.announce(Announcement::new(service.clone(), "node-1", 9999))?;
//! let peers = browse.subscribe().wait_for_peers(1, std::time::Duration::from_secs(1)).await?;
//! assert_eq!(peers[0].node_id(), Some("node-1"));
//! # Ok(()) }
//! ```

mod announce;
mod browse;
mod config;
mod daemon;
mod observer;
pub mod records;

pub use announce::{Announcement, Announcer};
pub use browse::MdnsDiscovery;
pub use config::{DEFAULT_STALE_AFTER, Interfaces, MDNS_PORT, MdnsConfig};
pub use daemon::Mdns;
