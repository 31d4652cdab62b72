//! Announcing a node: the records Go luxfi/mdns expects, and the goodbye when it leaves.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mdns_sd::{ServiceInfo, UnregisterStatus};
use tracing::Instrument;

use super::daemon::{Mdns, mdns_err};
use super::records::encode_txt;
use crate::error::Error;
use crate::names::ServiceType;
use crate::peer::Metadata;

/// The most TXT bytes one announcement may carry, so that it fits one mDNS packet.
const MAX_TXT_BYTES: usize = 8192;
/// How long [`Announcer::withdraw`] waits for the daemon to confirm the goodbye went out.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(2);

/// What to announce: a node of a service type, listening on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Announcement {
    /// The service type, e.g. `_luxd._tcp`.
    pub service_type: ServiceType,
    /// The node id: the instance name and the TXT `id=` value.
    pub node_id: String,
    /// The port the node listens on (not 0).
    pub port: u16,
    /// Extra TXT entries, one `key=value` each.
    pub metadata: Metadata,
    /// The addresses to advertise. Empty means: 127.0.0.1 on loopback, otherwise the
    /// addresses of the selected interfaces (kept up to date as they change).
    pub addresses: Vec<IpAddr>,
}

impl Announcement {
    /// Announces `node_id` of `service_type` on `port`, with no metadata.
    pub fn new(service_type: ServiceType, node_id: impl Into<String>, port: u16) -> Self {
        Self {
            service_type,
            node_id: node_id.into(),
            port,
            metadata: Metadata::new(),
            addresses: Vec::new(),
        }
    }

    /// Adds one metadata entry.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Advertises these addresses instead of the interfaces' own.
    pub fn with_addresses(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.addresses = addresses.into_iter().collect();
        self
    }
}

/// A live announcement. Dropping it (or [`stop`](Self::stop)) withdraws it with a goodbye,
/// so browsers drop the node at once instead of waiting for it to go stale.
#[derive(Debug)]
pub struct Announcer {
    mdns: Mdns,
    fullname: String,
    announcement: Announcement,
    withdrawn: AtomicBool,
}

impl Mdns {
    /// Announces a node until the returned [`Announcer`] is stopped or dropped.
    ///
    /// The announcement goes out in the background: at once without probing, about a
    /// second later with it.
    pub fn announce(&self, announcement: Announcement) -> Result<Announcer, Error> {
        let a = &announcement;
        let span = tracing::info_span!(
            "mdns.announce",
            service_type = %a.service_type,
            node_id = %a.node_id,
            port = a.port,
        );
        let _guard = span.enter();
        if a.port == 0 {
            return Err(Error::InvalidPort);
        }
        let txt = encode_txt(&a.node_id, &a.metadata)?;
        let txt_bytes: usize = txt.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if txt_bytes > MAX_TXT_BYTES {
            return Err(Error::InvalidMetadata {
                key: "*".into(),
                reason: "the TXT record would be larger than 8 KiB",
            });
        }
        let config = &self.shared.config;
        let mut addresses = a.addresses.clone();
        if addresses.is_empty() && config.interfaces.is_loopback() {
            addresses.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let host = host_name(&a.node_id);
        let mut info = ServiceInfo::new(
            &a.service_type.fqdn(),
            &a.node_id,
            &host,
            &addresses[..],
            a.port,
            &txt[..],
        )
        .map_err(mdns_err("describe service"))?;
        if addresses.is_empty() {
            info = info.enable_addr_auto();
        }
        info.set_requires_probe(config.probe);
        let fullname = info.get_fullname().to_string();
        self.shared
            .daemon
            .register(info)
            .map_err(mdns_err("register service"))?;
        tracing::debug!(%fullname, %host, "announced");
        Ok(Announcer {
            mdns: self.clone(),
            fullname,
            announcement,
            withdrawn: AtomicBool::new(false),
        })
    }
}

impl Announcer {
    /// What is announced.
    pub fn announcement(&self) -> &Announcement {
        &self.announcement
    }

    /// The node id announced.
    pub fn node_id(&self) -> &str {
        &self.announcement.node_id
    }

    /// The instance's full DNS name, e.g. `n1._luxd._tcp.local.`.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }

    fn unregister(&self) -> Option<mdns_sd::Receiver<UnregisterStatus>> {
        if self.withdrawn.swap(true, Ordering::AcqRel) {
            return None;
        }
        match self.mdns.shared.daemon.unregister(&self.fullname) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::debug!(fullname = %self.fullname, error = %e, "unregister failed");
                None
            }
        }
    }

    /// Withdraws the announcement (a goodbye goes out in the background). Idempotent.
    pub fn stop(&self) {
        drop(self.unregister());
    }

    /// Withdraws the announcement and waits (at most 2 s) until the goodbye has been sent,
    /// which a process that is about to exit needs. Idempotent.
    pub async fn withdraw(&self) -> Result<(), Error> {
        let span = tracing::info_span!("mdns.withdraw", fullname = %self.fullname);
        let Some(rx) = self.unregister() else {
            return Ok(());
        };
        let confirmed = tokio::time::timeout(WITHDRAW_TIMEOUT, rx.recv_async())
            .instrument(span)
            .await;
        match confirmed {
            Ok(Ok(UnregisterStatus::OK | UnregisterStatus::NotFound)) => Ok(()),
            Ok(Err(_)) => Err(Error::Mdns {
                op: "withdraw",
                message: "the mDNS daemon stopped before confirming the goodbye".into(),
            }),
            Err(_) => Err(Error::Mdns {
                op: "withdraw",
                message: format!("no confirmation of the goodbye within {WITHDRAW_TIMEOUT:?}"),
            }),
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A host name for the address records of one node: its id made DNS-safe, plus a hash of
/// the exact id so that ids differing only in unsafe characters do not share a host.
fn host_name(node_id: &str) -> String {
    let mut label: String = node_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    label = label.trim_matches('-').to_string();
    if label.is_empty() {
        label.push_str("zap");
    }
    // FNV-1a: stable across runs and platforms, which a std hasher is not.
    let hash = node_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{label}-{hash:08x}.local.")
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_are_dns_safe_and_distinct() {
        assert_eq!(
            host_name("Node_1"),
            format!("node-1-{:08x}.local.", {
                b"Node_1".iter().fold(0x811c_9dc5_u32, |h, b| {
                    (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
                })
            })
        );
        assert_ne!(host_name("node.1"), host_name("node_1"));
        assert!(host_name("é").starts_with("zap-"));
        let long = host_name(&"x".repeat(63));
        assert!(long.len() < 63);
    }
}
