//! A receive-only socket on the mDNS group, used to see goodbyes the moment they arrive.
//!
//! It never sends. It is bound to the group address itself (on Unix), so unicast replies
//! meant for the mdns-sd daemon, which shares the port, are never diverted to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::config::Interfaces;
use super::daemon::bind_shared;
use crate::error::Error;

/// The IPv4 mDNS group (RFC 6762).
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

/// The IPv4 addresses of the selected interfaces, on which to join the group.
fn join_addrs(interfaces: &Interfaces) -> Result<Vec<Ipv4Addr>, Error> {
    if interfaces.is_loopback() {
        return Ok(vec![Ipv4Addr::LOCALHOST]);
    }
    let all = if_addrs::get_if_addrs().map_err(|e| Error::io("list interfaces", e))?;
    let mut addrs: Vec<Ipv4Addr> = all
        .iter()
        .filter(|i| match interfaces {
            Interfaces::Named(names) => names.iter().any(|n| n == &i.name),
            _ => true,
        })
        .filter_map(|i| match i.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// Opens the observer socket; must run inside a Tokio runtime with I/O enabled.
pub(crate) fn open(port: u16, interfaces: &Interfaces) -> Result<tokio::net::UdpSocket, Error> {
    let bind_ip = if cfg!(unix) {
        GROUP_V4
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    let sock = bind_shared(SocketAddr::V4(SocketAddrV4::new(bind_ip, port)))?;
    // Only the groups this socket joined, not those any other socket on the host joined.
    #[cfg(target_os = "linux")]
    if let Err(e) = sock.set_multicast_all_v4(false) {
        tracing::debug!(error = %e, "IP_MULTICAST_ALL unsupported");
    }
    let mut joined = 0;
    for ip in join_addrs(interfaces)? {
        match sock.join_multicast_v4(&GROUP_V4, &ip) {
            Ok(()) => joined += 1,
            Err(e) => tracing::debug!(%ip, error = %e, "cannot join the mDNS group"),
        }
    }
    if joined == 0 {
        return Err(Error::Mdns {
            op: "observe goodbyes",
            message: "could not join the mDNS group on any selected IPv4 interface".into(),
        });
    }
    tokio::net::UdpSocket::from_std(sock.into()).map_err(|e| Error::io("register the socket", e))
}
