//! What service types, node ids and metadata keys may look like.
//!
//! The rules come from the records they end up in: the node id is the mDNS instance label
//! (at most 63 bytes) and a TXT value, metadata entries are TXT strings (`key=value`, at most
//! 255 bytes, key printable ASCII without `=`), and the service type is an RFC 6763 service
//! name (`_name._tcp`, name at most 15 characters).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, clip};

/// The longest DNS label, and so the longest node id we announce.
pub const MAX_NODE_ID_LEN: usize = 63;
/// The longest TXT string: one length byte counts up to 255.
pub const MAX_TXT_ENTRY_LEN: usize = 255;
/// The longest service name label (RFC 6763 §7.2), which mdns-sd also enforces.
pub const MAX_SERVICE_NAME_LEN: usize = 15;
/// The TXT key that carries the node id, as Go luxfi/mdns writes it.
pub const NODE_ID_KEY: &str = "id";

/// An mDNS service type such as `_luxd._tcp`.
///
/// Parsing accepts `_name._tcp`, `_name._udp`, either followed by `.local` or `.local.`, and
/// a bare `name`, which becomes `_name._tcp` (Go zapclient documentation uses bare names).
/// [`as_str`](Self::as_str) gives the short form that Go passes to zeroconf and that peers
/// carry; [`fqdn`](Self::fqdn) gives the form on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceType {
    short: String,
}

impl ServiceType {
    /// Parses and validates a service type.
    pub fn new(text: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidServiceType {
            service_type: clip(text),
            reason,
        };
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let trimmed = trimmed.strip_suffix(".local").unwrap_or(trimmed);
        let (name, proto) = if let Some(rest) = trimmed.strip_prefix('_') {
            let (name, proto) = rest
                .rsplit_once("._")
                .ok_or_else(|| bad("expected `_name._tcp` or `_name._udp`"))?;
            (name, proto)
        } else if trimmed.contains('.') {
            return Err(bad("expected `_name._tcp`, `_name._udp` or a bare name"));
        } else {
            (trimmed, "tcp")
        };
        if proto != "tcp" && proto != "udp" {
            return Err(bad("the protocol label must be `_tcp` or `_udp`"));
        }
        if name.is_empty() {
            return Err(bad("the service name is empty"));
        }
        if name.len() > MAX_SERVICE_NAME_LEN {
            return Err(bad("the service name is longer than 15 characters"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad(
                "the service name may hold only letters, digits and `-`",
            ));
        }
        if name.starts_with('-') || name.ends_with('-') {
            return Err(bad("the service name may not start or end with `-`"));
        }
        if !name.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(bad("the service name needs at least one letter"));
        }
        Ok(Self {
            short: format!("_{name}._{proto}"),
        })
    }

    /// The short form, e.g. `_luxd._tcp`.
    pub fn as_str(&self) -> &str {
        &self.short
    }

    /// The fully qualified form used on the wire, e.g. `_luxd._tcp.local.`.
    pub fn fqdn(&self) -> String {
        format!("{}.local.", self.short)
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short)
    }
}

impl FromStr for ServiceType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// Checks that `id` can be announced as an mDNS instance label and TXT value.
pub fn validate_node_id(id: &str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidNodeId {
        node_id: clip(id),
        reason,
    };
    if id.is_empty() {
        return Err(bad("it is empty"));
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Err(bad("it is longer than 63 bytes (one DNS label)"));
    }
    if id.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    Ok(())
}

/// Checks that a metadata entry fits one TXT string and does not shadow the node id.
pub fn validate_metadata_entry(key: &str, value: &str) -> Result<(), Error> {
    let bad = |reason| Error::InvalidMetadata {
        key: clip(key),
        reason,
    };
    if key.is_empty() {
        return Err(bad("the key is empty"));
    }
    // RFC 6763 §6.4: keys are printable US-ASCII other than `=`.
    if !key.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'=') {
        return Err(bad("keys must be printable ASCII without `=`"));
    }
    if key.eq_ignore_ascii_case(NODE_ID_KEY) {
        return Err(bad("`id` is reserved for the node id"));
    }
    if key.len() + 1 + value.len() > MAX_TXT_ENTRY_LEN {
        return Err(bad("`key=value` is longer than 255 bytes"));
    }
    Ok(())
}

/// Splits `KEY=VALUE` (as given on a command line) and validates the entry.
pub fn parse_metadata_arg(arg: &str) -> Result<(String, String), Error> {
    let (key, value) = arg.split_once('=').ok_or_else(|| Error::InvalidMetadata {
        key: clip(arg),
        reason: "expected KEY=VALUE",
    })?;
    validate_metadata_entry(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_types_normalise_to_the_short_form() {
        for (input, short) in [
            ("_luxd._tcp", "_luxd._tcp"),
            ("_luxd._tcp.local.", "_luxd._tcp"),
            ("_luxd._tcp.local", "_luxd._tcp"),
            ("_game._udp", "_game._udp"),
            ("liquidity-ta", "_liquidity-ta._tcp"),
        ] {
            let st = ServiceType::new(input).unwrap();
            assert_eq!(st.as_str(), short, "{input}");
            assert_eq!(st.fqdn(), format!("{}.local.", st.as_str()));
        }
    }

    #[test]
    fn bad_service_types_are_refused_with_a_reason() {
        for input in [
            "",
            "_._tcp",
            "_luxd._sctp",
            "_waytoolongservicename._tcp",
            "_bad name._tcp",
            "_-x._tcp",
            "_123._tcp",
            "a.b",
            "_luxd",
        ] {
            let err = ServiceType::new(input).unwrap_err();
            assert!(
                matches!(err, Error::InvalidServiceType { .. }),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn node_ids_must_fit_a_label() {
        assert!(validate_node_id("node-1").is_ok());
        assert!(validate_node_id(&"x".repeat(63)).is_ok());
        assert!(validate_node_id(&"x".repeat(64)).is_err());
        assert!(validate_node_id("").is_err());
        assert!(validate_node_id("a\nb").is_err());
    }

    #[test]
    fn metadata_entries_follow_rfc_6763() {
        assert!(validate_metadata_entry("version", "1.2.3").is_ok());
        assert!(validate_metadata_entry("a=b", "c").is_err());
        assert!(validate_metadata_entry("ID", "x").is_err());
        assert!(validate_metadata_entry("k", &"v".repeat(253)).is_ok());
        assert!(validate_metadata_entry("k", &"v".repeat(254)).is_err());
        assert_eq!(
            parse_metadata_arg("role=api=v2").unwrap(),
            ("role".to_string(), "api=v2".to_string())
        );
        assert!(parse_metadata_arg("novalue").is_err());
    }
}
