//! Cluster secrets and the handshake's MACs.
//!
//! Each side proves it holds a shared secret by a MAC over the whole handshake transcript,
//! which includes a fresh nonce drawn by the *other* side: a recorded handshake is useless
//! on a new connection. Several secrets can be accepted at once so that a secret can be
//! rotated without splitting the cluster; the two sides agree on one by key id.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::frame::{KEY_ID_SIZE, KeyId, MAC_SIZE, MAX_KEY_IDS};

type HmacSha256 = Hmac<Sha256>;

const KEY_ID_LABEL: &[u8] = b"zap-relay-fabric key id";
/// Domain labels: a MAC made for one role can never be used for the other.
pub(crate) const ACK_LABEL: &[u8] = b"zap-relay-fabric/3 acceptor";
pub(crate) const FIN_LABEL: &[u8] = b"zap-relay-fabric/3 dialer";

/// The secrets a pod accepts on the fabric, the first being the one it prefers.
///
/// `Debug` never prints them.
#[derive(Clone, Default)]
pub struct ClusterSecrets {
    keys: Vec<(KeyId, Vec<u8>)>,
}

impl fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSecrets")
            .field("count", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The key id of a secret.
pub fn key_id(secret: &[u8]) -> KeyId {
    let digest = Sha256::new()
        .chain_update(KEY_ID_LABEL)
        .chain_update(secret)
        .finalize();
    let mut id = [0u8; KEY_ID_SIZE];
    id.copy_from_slice(&digest[..KEY_ID_SIZE]);
    id
}

impl ClusterSecrets {
    /// Accepts these secrets, preferring the first. Empty secrets are skipped; at most
    /// four are kept (current and up to three previous).
    pub fn new<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut keys: Vec<(KeyId, Vec<u8>)> = Vec::new();
        for s in secrets {
            let s = s.as_ref();
            if s.is_empty() || keys.len() == MAX_KEY_IDS {
                continue;
            }
            let id = key_id(s);
            if !keys.iter().any(|(k, _)| *k == id) {
                keys.push((id, s.to_vec()));
            }
        }
        Self { keys }
    }

    /// True when no secret is configured (an unsigned fabric).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many secrets are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key ids, in preference order.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|(k, _)| *k).collect()
    }

    /// Our most preferred secret that the other side also offers.
    pub(crate) fn choose(&self, offered: &[KeyId]) -> Option<(KeyId, &[u8])> {
        self.keys
            .iter()
            .find(|(k, _)| offered.contains(k))
            .map(|(k, s)| (*k, s.as_slice()))
    }

    /// The secret with this key id.
    pub(crate) fn get(&self, id: &KeyId) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, s)| s.as_slice())
    }
}

/// HMAC-SHA256 over the label and the parts, in order.
pub(crate) fn mac(secret: &[u8], label: &[u8], parts: &[&[u8]]) -> [u8; MAC_SIZE] {
    let mut m =
        <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    m.update(label);
    for p in parts {
        // Length-prefix every part so that moving bytes between parts changes the MAC.
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    let mut out = [0u8; MAC_SIZE];
    out.copy_from_slice(m.finalize().into_bytes().as_slice());
    out
}

/// Compares two MACs in constant time.
pub(crate) fn mac_eq(a: &[u8; MAC_SIZE], b: &[u8; MAC_SIZE]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_picks_the_preferred_common_secret() {
        let new_old = ClusterSecrets::new(["new", "old"]);
        let old = ClusterSecrets::new(["old"]);
        let new = ClusterSecrets::new(["new", "", "new"]);
        assert_eq!(new.len(), 1);
        assert_eq!(new_old.choose(&old.key_ids()).unwrap().1, b"old");
        assert_eq!(new_old.choose(&new.key_ids()).unwrap().1, b"new");
        assert!(old.choose(&new.key_ids()).is_none());
        assert!(format!("{new_old:?}").contains("count: 2"));
        assert!(!format!("{new_old:?}").contains("new"));
    }

    #[test]
    fn macs_separate_roles_and_parts() {
        let a = mac(b"k", ACK_LABEL, &[b"ab", b"c"]);
        assert_ne!(a, mac(b"k", FIN_LABEL, &[b"ab", b"c"]));
        assert_ne!(a, mac(b"k", ACK_LABEL, &[b"a", b"bc"]));
        assert!(mac_eq(&a, &mac(b"k", ACK_LABEL, &[b"ab", b"c"])));
    }
}
