//! The fixed sizes of Z-Wing v1, in bytes.
//!
//! Every Z-Wing v1 message has a fixed size, so a reader knows how many bytes a
//! message may take before it reads them: that is what bounds pre-authentication reads.

/// An Ed25519 public key.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// An ML-DSA-65 public (verifying) key, FIPS 204 encoding.
pub const ML_DSA_65_PUBLIC_KEY_LEN: usize = 1952;
/// An ML-KEM-768 encapsulation key, FIPS 203 encoding.
pub const ML_KEM_768_ENCAPSULATION_KEY_LEN: usize = 1184;
/// An X25519 public key.
pub const X25519_PUBLIC_KEY_LEN: usize = 32;
/// The static KEM public key: ML-KEM-768 encapsulation key ‖ X25519 public key.
pub const KEM_PUBLIC_KEY_LEN: usize = ML_KEM_768_ENCAPSULATION_KEY_LEN + X25519_PUBLIC_KEY_LEN;
/// The public form of an identity: Ed25519 ‖ ML-DSA-65 ‖ ML-KEM-768 ‖ X25519.
pub const IDENTITY_PUBLIC_LEN: usize =
    ED25519_PUBLIC_KEY_LEN + ML_DSA_65_PUBLIC_KEY_LEN + KEM_PUBLIC_KEY_LEN;

/// An Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
/// An ML-DSA-65 signature.
pub const ML_DSA_65_SIGNATURE_LEN: usize = 3309;
/// The dual identity signature: Ed25519 ‖ ML-DSA-65.
pub const SIGNATURE_LEN: usize = ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN;

/// An ML-KEM-768 ciphertext.
pub const ML_KEM_768_CIPHERTEXT_LEN: usize = 1088;
/// The combined KEM ciphertext: ML-KEM-768 ciphertext ‖ ephemeral X25519 public key.
pub const KEM_CIPHERTEXT_LEN: usize = ML_KEM_768_CIPHERTEXT_LEN + X25519_PUBLIC_KEY_LEN;
/// The combined KEM shared secret (SHA3-256 output).
pub const SHARED_SECRET_LEN: usize = 32;

/// A signed identity: u16 length ‖ public identity ‖ u16 length ‖ signature.
/// This is both the `HandshakeInit` message and the plaintext the responder seals.
pub const SIGNED_IDENTITY_LEN: usize = 2 + IDENTITY_PUBLIC_LEN + 2 + SIGNATURE_LEN;
/// The `HandshakeInit` message (initiator to responder).
pub const HANDSHAKE_INIT_LEN: usize = SIGNED_IDENTITY_LEN;
/// The sealed responder identity: the signed identity plus the AEAD tag.
pub const SEALED_IDENTITY_LEN: usize = SIGNED_IDENTITY_LEN + TAG_LEN;
/// The `HandshakeResponse` message: KEM ciphertext ‖ u16 length ‖ sealed identity.
pub const HANDSHAKE_RESPONSE_LEN: usize = KEM_CIPHERTEXT_LEN + 2 + SEALED_IDENTITY_LEN;

/// The frame header: a big-endian u32 payload length.
pub const FRAME_HEADER_LEN: usize = 4;
/// The largest frame payload a peer may send (1 MiB).
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// The ChaCha20-Poly1305 authentication tag.
pub const TAG_LEN: usize = 16;
/// The most plaintext one record carries: a write larger than this is cut into records.
pub const MAX_RECORD_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - TAG_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_reference() {
        assert_eq!(IDENTITY_PUBLIC_LEN, 3200);
        assert_eq!(SIGNATURE_LEN, 3373);
        assert_eq!(KEM_PUBLIC_KEY_LEN, 1216);
        assert_eq!(KEM_CIPHERTEXT_LEN, 1120);
        assert_eq!(HANDSHAKE_INIT_LEN, 6577);
        assert_eq!(SEALED_IDENTITY_LEN, 6593);
        assert_eq!(HANDSHAKE_RESPONSE_LEN, 7715);
        assert_eq!(MAX_RECORD_PLAINTEXT_LEN, 1_048_560);
    }
}
