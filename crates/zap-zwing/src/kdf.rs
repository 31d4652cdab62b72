//! The hashes and key derivations of Z-Wing v1: the identity digest, the transcript hash
//! and the HKDF-SHA256 session keys.
//!
//! These are public so that another implementation can be checked against them byte for
//! byte; the handshake uses them internally.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, labels};

/// The digest an identity signature covers:
/// `SHA-256(DOMAIN ‖ u8(len ctx) ‖ ctx ‖ message)`.
///
/// # Errors
/// [`Error::ContextTooLong`] if `ctx` is longer than 255 bytes: its length must fit the
/// one-byte prefix (luxfi/zwing would silently wrap it, making two contexts collide).
pub fn identity_digest(ctx: &[u8], message: &[u8]) -> Result<[u8; 32], Error> {
    let ctx_len = u8::try_from(ctx.len()).map_err(|_| Error::ContextTooLong)?;
    let mut h = Sha256::new();
    h.update(labels::DOMAIN);
    h.update([ctx_len]);
    h.update(ctx);
    h.update(message);
    Ok(h.finalize().into())
}

/// The transcript hash the responder signs:
/// `SHA-256("lux.zwing.v1/transcript" ‖ u32 BE len ‖ initiator identity ‖ u32 BE len ‖ KEM ciphertext)`.
///
/// Both inputs are at most a few kilobytes in Z-Wing (3200 and 1120 bytes); a longer
/// input has its length cut to 32 bits, as the wire format allows no more.
pub fn transcript_hash(initiator_identity: &[u8], kem_ciphertext: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(labels::TRANSCRIPT);
    h.update(len_u32(initiator_identity).to_be_bytes());
    h.update(initiator_identity);
    h.update(len_u32(kem_ciphertext).to_be_bytes());
    h.update(kem_ciphertext);
    h.finalize().into()
}

fn len_u32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

/// A 32-byte key: HKDF-SHA256 with an empty salt, the KEM shared secret as input key
/// material and `label` as info.
pub fn derive_key(shared_secret: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(None, shared_secret);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(label, okm.as_mut())
        .expect("a 32-byte HKDF-SHA256 output is far below its 8160-byte limit");
    okm
}

/// The three keys a handshake derives from the shared secret.
pub(crate) struct HandshakeKeys {
    /// Seals the responder's identity inside the `HandshakeResponse`.
    pub(crate) response_identity: Zeroizing<[u8; 32]>,
    /// Initiator-to-responder records.
    pub(crate) initiator_to_responder: Zeroizing<[u8; 32]>,
    /// Responder-to-initiator records.
    pub(crate) responder_to_initiator: Zeroizing<[u8; 32]>,
}

impl HandshakeKeys {
    pub(crate) fn derive(shared_secret: &[u8; 32]) -> Self {
        Self {
            response_identity: derive_key(shared_secret, labels::KDF_RESPONSE_IDENTITY),
            initiator_to_responder: derive_key(shared_secret, labels::KDF_INITIATOR_TO_RESPONDER),
            responder_to_initiator: derive_key(shared_secret, labels::KDF_RESPONDER_TO_INITIATOR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_contexts_are_refused() {
        assert!(matches!(
            identity_digest(&[0u8; 256], b"m"),
            Err(Error::ContextTooLong)
        ));
        assert!(identity_digest(&[0u8; 255], b"m").is_ok());
    }

    #[test]
    fn labels_give_distinct_keys() {
        let keys = HandshakeKeys::derive(&[7u8; 32]);
        assert_ne!(*keys.response_identity, *keys.initiator_to_responder);
        assert_ne!(*keys.initiator_to_responder, *keys.responder_to_initiator);
    }
}
