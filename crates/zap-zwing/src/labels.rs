//! The protocol labels of Z-Wing v1: domain separators, signature contexts, KDF labels.
//!
//! These bytes are part of the wire: changing any of them breaks interoperability with
//! luxfi/zwing.

/// The protocol domain: hashed into every identity signature digest, and the ML-DSA
/// context string.
pub const DOMAIN: &[u8] = b"lux.zwing.v1";
/// Signature context of the `HandshakeInit` (the initiator signs its own public identity).
pub const CTX_HANDSHAKE_INIT: &[u8] = b"lux.zwing.v1/handshake-init";
/// Signature context of the responder's signature over the transcript hash.
pub const CTX_HANDSHAKE_RESPONSE: &[u8] = b"lux.zwing.v1/handshake-response";
/// Prefix of the transcript hash the responder signs.
pub const TRANSCRIPT: &[u8] = b"lux.zwing.v1/transcript";
/// HKDF info of the key that seals the responder's identity.
pub const KDF_RESPONSE_IDENTITY: &[u8] = b"lux.zwing.v1/resp-id";
/// HKDF info of the initiator-to-responder record key.
pub const KDF_INITIATOR_TO_RESPONDER: &[u8] = b"lux.zwing.v1/i2r";
/// HKDF info of the responder-to-initiator record key.
pub const KDF_RESPONDER_TO_INITIATOR: &[u8] = b"lux.zwing.v1/r2i";
/// The nonce that seals the responder's identity: the ASCII label `zwing-resp-id` cut to
/// the 12 bytes of a ChaCha20-Poly1305 nonce. Its key is fresh for every handshake, so a
/// fixed nonce is never reused under one key.
pub const RESPONSE_IDENTITY_NONCE: [u8; 12] = *b"zwing-resp-i";
/// The label that opens the KEM combiner's SHA3-256 input: `\./X-Wing`. It is not the
/// IETF X-Wing label (which is 6 bytes and comes last), so no X-Wing library can stand in.
pub const COMBINER_LABEL: &[u8; 9] = b"\\./X-Wing";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combiner_label_bytes() {
        assert_eq!(
            COMBINER_LABEL,
            &[0x5c, 0x2e, 0x2f, 0x58, 0x2d, 0x57, 0x69, 0x6e, 0x67]
        );
    }

    #[test]
    fn context_lengths_match_the_reference() {
        assert_eq!(CTX_HANDSHAKE_INIT.len(), 27);
        assert_eq!(CTX_HANDSHAKE_RESPONSE.len(), 31);
    }
}
