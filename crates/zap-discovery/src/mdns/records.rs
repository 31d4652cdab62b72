//! The mDNS records as ZAP uses them, and the decoding of what arrives from the network.
//!
//! An announcement of node `n1` of service type `_luxd._tcp` on port 9999 consists of:
//!
//! | record | name | data |
//! |---|---|---|
//! | PTR | `_luxd._tcp.local.` | `n1._luxd._tcp.local.` |
//! | SRV | `n1._luxd._tcp.local.` | priority 0, weight 0, port 9999, target `<host>.local.` |
//! | TXT | `n1._luxd._tcp.local.` | `id=n1`, then one `key=value` per metadata entry |
//! | A / AAAA | `<host>.local.` | the advertised addresses |
//!
//! which is what Go luxfi/mdns (grandcat/zeroconf) registers. A goodbye repeats the records
//! with TTL 0. Everything in this module that reads network data is total: it returns
//! errors or skips entries, it never panics, and its memory is bounded by the packet.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::error::Error;
use crate::names::{MAX_TXT_ENTRY_LEN, NODE_ID_KEY, validate_metadata_entry, validate_node_id};
use crate::peer::Metadata;

/// The largest mDNS packet (RFC 6762 §17); reads use a buffer of this size.
pub const MAX_PACKET: usize = 9000;

/// What a TXT record says about a peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxtInfo {
    /// The `id=` value, if present and usable.
    pub node_id: Option<String>,
    /// Every other entry; key-only entries get an empty value.
    pub metadata: Metadata,
    /// Entries that were dropped (values that are not UTF-8, an unusable `id`).
    pub skipped: usize,
}

/// The TXT entries announcing `node_id` with `metadata`: `id` first, as Go writes it.
pub fn encode_txt(node_id: &str, metadata: &Metadata) -> Result<Vec<(String, String)>, Error> {
    validate_node_id(node_id)?;
    let mut entries = Vec::with_capacity(metadata.len() + 1);
    entries.push((NODE_ID_KEY.to_string(), node_id.to_string()));
    for (k, v) in metadata {
        validate_metadata_entry(k, v)?;
        entries.push((k.clone(), v.clone()));
    }
    Ok(entries)
}

/// Reads TXT entries (key, optional value bytes) as Go does: the node id from `id`, every
/// other entry as metadata.
pub fn decode_txt<'a>(entries: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> TxtInfo {
    let mut info = TxtInfo::default();
    for (key, value) in entries {
        let value = match value {
            None => Some(String::new()),
            Some(bytes) if bytes.len() <= MAX_TXT_ENTRY_LEN => {
                std::str::from_utf8(bytes).ok().map(str::to_string)
            }
            Some(_) => None,
        };
        let Some(value) = value else {
            info.skipped += 1;
            continue;
        };
        if key == NODE_ID_KEY {
            if info.node_id.is_none() && !value.is_empty() && !value.chars().any(char::is_control) {
                info.node_id = Some(value);
            } else {
                info.skipped += 1;
            }
        } else if !key.is_empty() {
            info.metadata.insert(key.to_string(), value);
        } else {
            info.skipped += 1;
        }
    }
    info
}

/// The instance label of `fullname` (`<instance>.<service type>`), compared without regard
/// to case as DNS names are; `None` when `fullname` is not an instance of `service_fqdn`.
pub fn instance_label<'a>(fullname: &'a str, service_fqdn: &str) -> Option<&'a str> {
    let split = fullname.len().checked_sub(service_fqdn.len() + 1)?;
    if !fullname.is_char_boundary(split) {
        return None;
    }
    let (instance, rest) = fullname.split_at(split);
    let suffix = rest.strip_prefix('.')?;
    (suffix.eq_ignore_ascii_case(service_fqdn) && !instance.is_empty()).then_some(instance)
}

/// An IPv6 address with the index of the interface it was seen on, or an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenAddr {
    /// The address.
    pub ip: IpAddr,
    /// The interface index (needed to dial IPv6 link-local addresses).
    pub interface: u32,
}

/// Orders a peer's addresses for dialing: routable IPv4, routable IPv6, link-local IPv6
/// (with its zone), then loopback if `accept_loopback`. Order within a class is by address,
/// so the same announcement always yields the same list.
pub fn choose_addrs(
    seen: impl IntoIterator<Item = SeenAddr>,
    port: u16,
    accept_loopback: bool,
) -> Vec<SocketAddr> {
    fn class(ip: &IpAddr) -> u8 {
        match ip {
            IpAddr::V4(v4) if v4.is_loopback() => 4,
            IpAddr::V4(v4) if v4.is_unspecified() || v4.is_multicast() => 9,
            IpAddr::V4(_) => 0,
            IpAddr::V6(v6) if v6.is_loopback() => 5,
            IpAddr::V6(v6) if v6.is_unspecified() || v6.is_multicast() => 9,
            IpAddr::V6(v6) if v6.is_unicast_link_local() => 2,
            IpAddr::V6(_) => 1,
        }
    }
    let mut addrs: Vec<(u8, SocketAddr)> = seen
        .into_iter()
        .filter_map(|s| {
            let c = class(&s.ip);
            if c == 9 || (c >= 4 && !accept_loopback) {
                return None;
            }
            let addr = match s.ip {
                IpAddr::V6(v6) if c == 2 => {
                    SocketAddr::V6(SocketAddrV6::new(v6, port, 0, s.interface))
                }
                ip => SocketAddr::new(ip, port),
            };
            Some((c, addr))
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs.into_iter().map(|(_, a)| a).collect()
}

/// One instance named in an mDNS response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// The instance is announced (a PTR or SRV record with a positive TTL).
    Alive(String),
    /// The instance said goodbye (its PTR or SRV record with TTL 0).
    Goodbye(String),
}

/// Finds the instances of `service_fqdn` that a raw mDNS packet announces or withdraws.
///
/// Queries and records of other services are ignored; a packet that is not DNS at all is an
/// error. Used to act on goodbyes at once instead of one second later (mdns-sd follows the
/// RFC 6762 §10.1 advice to keep a goodbye record for a second, which is right for shared
/// records in general but too slow for a node leaving a ZAP service).
pub fn scan_response(packet: &[u8], service_fqdn: &str) -> Result<Vec<Sighting>, Error> {
    let service = Name::from_ascii(service_fqdn).map_err(|e| Error::InvalidDnsName {
        name: service_fqdn.to_string(),
        reason: e.to_string(),
    })?;
    scan_response_for(packet, &service)
}

pub(crate) fn scan_response_for(packet: &[u8], service: &Name) -> Result<Vec<Sighting>, Error> {
    if packet.len() > MAX_PACKET {
        return Err(Error::Mdns {
            op: "decode packet",
            message: format!("{} bytes is larger than any mDNS packet", packet.len()),
        });
    }
    let msg = Message::from_vec(packet).map_err(|e| Error::Mdns {
        op: "decode packet",
        message: e.to_string(),
    })?;
    if msg.metadata.message_type != MessageType::Response {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for record in msg.answers.iter().chain(&msg.additionals) {
        let instance = match (&record.data, record.record_type()) {
            (RData::PTR(ptr), _) if record.name == *service => instance_of(&ptr.0, service),
            (_, RecordType::SRV) => instance_of(&record.name, service),
            _ => None,
        };
        if let Some(instance) = instance {
            out.push(if record.ttl == 0 {
                Sighting::Goodbye(instance)
            } else {
                Sighting::Alive(instance)
            });
        }
    }
    Ok(out)
}

/// The first label of `name` when `name` is `<label>.<service>`.
fn instance_of(name: &Name, service: &Name) -> Option<String> {
    if name.num_labels() != service.num_labels().checked_add(1)? || !service.zone_of(name) {
        return None;
    }
    let label = name.iter().next()?;
    String::from_utf8(label.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{PTR, SRV};
    use hickory_proto::rr::{DNSClass, Record};
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn txt_round_trips() {
        let mut meta = Metadata::new();
        meta.insert("role".into(), "api".into());
        meta.insert("version".into(), "1.2.3".into());
        let entries = encode_txt("node-1", &meta).unwrap();
        assert_eq!(entries[0], ("id".to_string(), "node-1".to_string()));
        let info = decode_txt(
            entries
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_bytes()))),
        );
        assert_eq!(info.node_id.as_deref(), Some("node-1"));
        assert_eq!(info.metadata, meta);
        assert_eq!(info.skipped, 0);
    }

    #[test]
    fn txt_decoding_skips_what_it_cannot_use() {
        let info = decode_txt([
            ("id", Some(&b""[..])),
            ("flag", None),
            ("bin", Some(&[0xff, 0xfe][..])),
            ("", Some(&b"x"[..])),
        ]);
        assert_eq!(info.node_id, None);
        assert_eq!(info.metadata.get("flag").map(String::as_str), Some(""));
        assert_eq!(info.skipped, 3);
    }

    #[test]
    fn instance_labels_strip_the_service_type() {
        assert_eq!(
            instance_label("n1._luxd._tcp.local.", "_luxd._tcp.local."),
            Some("n1")
        );
        assert_eq!(
            instance_label("my.node._LUXD._tcp.local.", "_luxd._tcp.local."),
            Some("my.node")
        );
        assert_eq!(
            instance_label("n1._other._tcp.local.", "_luxd._tcp.local."),
            None
        );
        assert_eq!(
            instance_label("._luxd._tcp.local.", "_luxd._tcp.local."),
            None
        );
        assert_eq!(instance_label("x", "_luxd._tcp.local."), None);
    }

    #[test]
    fn addresses_are_ordered_for_dialing() {
        let seen = [
            SeenAddr {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                interface: 1,
            },
            SeenAddr {
                ip: "fe80::1".parse().unwrap(),
                interface: 3,
            },
            SeenAddr {
                ip: "2001:db8::1".parse().unwrap(),
                interface: 3,
            },
            SeenAddr {
                ip: "192.168.1.5".parse().unwrap(),
                interface: 2,
            },
            SeenAddr {
                ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                interface: 2,
            },
        ];
        let got: Vec<String> = choose_addrs(seen, 9999, true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "192.168.1.5:9999",
                "[2001:db8::1]:9999",
                "[fe80::1%3]:9999",
                "127.0.0.1:9999"
            ]
        );
        assert_eq!(choose_addrs(seen, 9999, false).len(), 3);
    }

    fn response(records: Vec<Record>) -> Vec<u8> {
        let mut msg = Message::response(7, hickory_proto::op::OpCode::Query);
        msg.answers = records;
        msg.to_vec().unwrap()
    }

    #[test]
    fn goodbyes_and_announcements_are_found() {
        let service = Name::from_ascii("_luxd._tcp.local.").unwrap();
        let inst = Name::from_ascii("n1._luxd._tcp.local.").unwrap();
        let other = Name::from_ascii("n2._other._tcp.local.").unwrap();
        let mut srv = Record::from_rdata(
            inst.clone(),
            0,
            RData::SRV(SRV::new(0, 0, 9999, Name::from_ascii("h.local.").unwrap())),
        );
        srv.dns_class = DNSClass::IN;
        let packet = response(vec![
            Record::from_rdata(service.clone(), 120, RData::PTR(PTR(inst.clone()))),
            srv,
            Record::from_rdata(service.clone(), 0, RData::PTR(PTR(other))),
        ]);
        let got = scan_response(&packet, "_luxd._tcp.local.").unwrap();
        assert_eq!(
            got,
            [Sighting::Alive("n1".into()), Sighting::Goodbye("n1".into()),]
        );
        assert!(scan_response(&[1, 2, 3], "_luxd._tcp.local.").is_err());
    }
}
