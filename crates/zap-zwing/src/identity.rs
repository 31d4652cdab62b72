//! Identities: the long-term keys of a peer and their 3200-byte public form.
//!
//! An identity holds three key pairs: Ed25519 and ML-DSA-65 for signing, and a static
//! KEM key (ML-KEM-768 + X25519) that initiators are encapsulated to. Every identity
//! signature carries both an Ed25519 and an ML-DSA-65 signature, and both must verify.

use std::fmt;
use std::hash::{Hash, Hasher};

use ed25519_dalek::Signer as _;
use ml_dsa::{EncodedVerifyingKey, ExpandedSigningKey, MlDsa65, VerifyingKey};
use ml_kem::{DecapsulationKey, EncapsulationKey, KeyExport, MlKem768};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::kem::KemSecret;
use crate::random::{PresetRng, random_array};
use crate::sizes::{
    ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN, IDENTITY_PUBLIC_LEN, ML_DSA_65_PUBLIC_KEY_LEN,
    ML_DSA_65_SIGNATURE_LEN, ML_KEM_768_ENCAPSULATION_KEY_LEN, SIGNATURE_LEN,
};
use crate::{Error, kdf, labels};

/// Length of an identity's secret seed: Ed25519 seed (32) ‖ ML-DSA-65 seed ξ (32) ‖
/// ML-KEM-768 seed d‖z (64) ‖ X25519 scalar (32).
pub const IDENTITY_SEED_LEN: usize = 32 + 32 + 64 + 32;

const ED_END: usize = ED25519_PUBLIC_KEY_LEN;
const DSA_END: usize = ED_END + ML_DSA_65_PUBLIC_KEY_LEN;
const KEM_END: usize = DSA_END + ML_KEM_768_ENCAPSULATION_KEY_LEN;

/// The SHA-256 of an identity's 3200-byte public form: a short, stable name for it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a public form.
    pub fn of(public_form: &[u8]) -> Self {
        Self(Sha256::digest(public_form).into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 bytes in hex: enough to tell identities apart in logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short())
    }
}

/// The public half of an identity, as sent on the wire (3200 bytes):
/// Ed25519 public key (32) ‖ ML-DSA-65 public key (1952) ‖ ML-KEM-768 encapsulation key
/// (1184) ‖ X25519 public key (32).
///
/// Equality compares all 3200 bytes in constant time.
#[derive(Clone)]
pub struct IdentityPublic {
    bytes: Box<[u8; IDENTITY_PUBLIC_LEN]>,
    ed25519: Box<ed25519_dalek::VerifyingKey>,
    ml_dsa: Box<VerifyingKey<MlDsa65>>,
    ml_kem: Box<EncapsulationKey<MlKem768>>,
    fingerprint: Fingerprint,
}

impl IdentityPublic {
    /// The size of the public form.
    pub const LEN: usize = IDENTITY_PUBLIC_LEN;

    /// Decodes and validates a 3200-byte public form.
    ///
    /// # Errors
    /// [`Error::InvalidIdentity`] for a wrong length, an Ed25519 key that is not a curve
    /// point, or an ML-KEM-768 key whose coefficients are out of range.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bytes: &[u8; IDENTITY_PUBLIC_LEN] = bytes
            .try_into()
            .map_err(|_| Error::InvalidIdentity("a public identity is exactly 3200 bytes"))?;
        let ed: &[u8; 32] = bytes[..ED_END]
            .try_into()
            .map_err(|_| Error::InvalidIdentity("Ed25519 key size"))?;
        let ed25519 = ed25519_dalek::VerifyingKey::from_bytes(ed)
            .map_err(|_| Error::InvalidIdentity("the Ed25519 key is not a curve point"))?;
        let dsa = EncodedVerifyingKey::<MlDsa65>::try_from(&bytes[ED_END..DSA_END])
            .map_err(|_| Error::InvalidIdentity("ML-DSA-65 key size"))?;
        let ml_dsa = VerifyingKey::<MlDsa65>::decode(&dsa);
        let kem = ml_kem::Key::<EncapsulationKey<MlKem768>>::try_from(&bytes[DSA_END..KEM_END])
            .map_err(|_| Error::InvalidIdentity("ML-KEM-768 key size"))?;
        let ml_kem = EncapsulationKey::<MlKem768>::new(&kem)
            .map_err(|_| Error::InvalidIdentity("the ML-KEM-768 key is not canonical"))?;
        Ok(Self {
            bytes: Box::new(*bytes),
            ed25519: Box::new(ed25519),
            ml_dsa: Box::new(ml_dsa),
            ml_kem: Box::new(ml_kem),
            fingerprint: Fingerprint::of(bytes),
        })
    }

    /// The 3200-byte public form.
    pub fn as_bytes(&self) -> &[u8; IDENTITY_PUBLIC_LEN] {
        &self.bytes
    }

    /// The SHA-256 of the public form.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The Ed25519 public key (32 bytes).
    pub fn ed25519_public_key(&self) -> &[u8] {
        &self.bytes[..ED_END]
    }

    /// The ML-DSA-65 public key (1952 bytes).
    pub fn ml_dsa_public_key(&self) -> &[u8] {
        &self.bytes[ED_END..DSA_END]
    }

    /// The ML-KEM-768 encapsulation key (1184 bytes).
    pub fn ml_kem_encapsulation_key(&self) -> &[u8] {
        &self.bytes[DSA_END..KEM_END]
    }

    /// The static X25519 public key (32 bytes).
    pub fn x25519_public_key(&self) -> &[u8; 32] {
        // The last 32 bytes of a fixed 3200-byte array.
        self.bytes[KEM_END..]
            .try_into()
            .expect("the public form ends with a 32-byte X25519 key")
    }

    pub(crate) fn ml_kem(&self) -> &EncapsulationKey<MlKem768> {
        &self.ml_kem
    }

    /// Verifies a dual identity signature (3373 bytes) made by [`Identity::sign`].
    ///
    /// Ed25519 is checked strictly (no small-order keys or `R` values, canonical `S`);
    /// every signature an honest signer makes passes this check.
    ///
    /// # Errors
    /// [`Error::SignatureInvalid`] unless the length is exactly 3373 bytes and both the
    /// Ed25519 and the ML-DSA-65 signature verify; [`Error::ContextTooLong`] for a context
    /// over 255 bytes.
    pub fn verify(&self, ctx: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let digest = kdf::identity_digest(ctx, message)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(Error::SignatureInvalid);
        }
        let (ed_sig, dsa_sig) = signature.split_at(ED25519_SIGNATURE_LEN);
        let ed_sig: &[u8; ED25519_SIGNATURE_LEN] =
            ed_sig.try_into().map_err(|_| Error::SignatureInvalid)?;
        let ed_sig = ed25519_dalek::Signature::from_bytes(ed_sig);
        self.ed25519
            .verify_strict(&digest, &ed_sig)
            .map_err(|_| Error::SignatureInvalid)?;
        let dsa_sig =
            ml_dsa::Signature::<MlDsa65>::try_from(dsa_sig).map_err(|_| Error::SignatureInvalid)?;
        if !self
            .ml_dsa
            .verify_with_context(&digest, labels::DOMAIN, &dsa_sig)
        {
            return Err(Error::SignatureInvalid);
        }
        Ok(())
    }
}

impl PartialEq for IdentityPublic {
    fn eq(&self, other: &Self) -> bool {
        self.bytes[..].ct_eq(&other.bytes[..]).into()
    }
}

impl Eq for IdentityPublic {}

impl Hash for IdentityPublic {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint.hash(state);
    }
}

impl fmt::Debug for IdentityPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityPublic")
            .field("fingerprint", &self.fingerprint.short())
            .finish()
    }
}

/// A peer's long-term secret keys, with their public form.
///
/// Secrets are wiped from memory when the identity is dropped. `Debug` shows only the
/// fingerprint.
pub struct Identity {
    seed: Zeroizing<[u8; IDENTITY_SEED_LEN]>,
    ed25519: ed25519_dalek::SigningKey,
    ml_dsa: Box<ExpandedSigningKey<MlDsa65>>,
    kem: KemSecret,
    public: IdentityPublic,
}

impl Identity {
    /// A new identity from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Randomness`] if the system generator fails.
    pub fn generate() -> Result<Self, Error> {
        let seed = random_array::<IDENTITY_SEED_LEN>()?;
        Self::from_seed(&seed)
    }

    /// The identity that a 160-byte seed determines: Ed25519 seed (32) ‖ ML-DSA-65 seed ξ
    /// (32) ‖ ML-KEM-768 seed d‖z (64) ‖ X25519 scalar (32). Each part is the standard
    /// seed form of its algorithm (RFC 8032, FIPS 204, FIPS 203, RFC 7748).
    ///
    /// # Errors
    /// [`Error::InvalidIdentity`] if the derived public form does not decode, which a
    /// correct implementation of the algorithms never produces.
    pub fn from_seed(seed: &[u8; IDENTITY_SEED_LEN]) -> Result<Self, Error> {
        let seed = Zeroizing::new(*seed);
        let ed_seed: Zeroizing<[u8; 32]> = Zeroizing::new(part(&seed[..32]));
        let dsa_seed: Zeroizing<[u8; 32]> = Zeroizing::new(part(&seed[32..64]));
        let kem_seed: Zeroizing<[u8; 64]> = Zeroizing::new(part(&seed[64..128]));
        let x_seed: Zeroizing<[u8; 32]> = Zeroizing::new(part(&seed[128..]));

        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&ed_seed);
        let ml_dsa = ExpandedSigningKey::<MlDsa65>::from_seed(&ml_dsa::Seed::from(*dsa_seed));
        let ml_kem = DecapsulationKey::<MlKem768>::from_seed(ml_kem::Seed::from(*kem_seed));
        let x25519 = StaticSecret::from(*x_seed);
        let x25519_public = PublicKey::from(&x25519).to_bytes();

        let mut public = Vec::with_capacity(IDENTITY_PUBLIC_LEN);
        public.extend_from_slice(ed25519.verifying_key().as_bytes());
        public.extend_from_slice(ml_dsa.verifying_key().encode().as_slice());
        public.extend_from_slice(ml_kem.encapsulation_key().to_bytes().as_slice());
        public.extend_from_slice(&x25519_public);
        let public = IdentityPublic::from_bytes(&public)?;

        Ok(Self {
            seed,
            ed25519,
            ml_dsa: Box::new(ml_dsa),
            kem: KemSecret {
                ml_kem: Box::new(ml_kem),
                x25519,
                x25519_public,
            },
            public,
        })
    }

    /// The 160-byte seed this identity is derived from. It is the whole secret: keep it
    /// as carefully as the identity itself.
    pub fn to_seed(&self) -> Zeroizing<[u8; IDENTITY_SEED_LEN]> {
        Zeroizing::new(*self.seed)
    }

    /// The public half.
    pub fn public(&self) -> &IdentityPublic {
        &self.public
    }

    /// The fingerprint of the public half.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }

    /// A dual identity signature (3373 bytes): Ed25519 ‖ ML-DSA-65 over
    /// [`kdf::identity_digest`]`(ctx, message)`, ML-DSA-65 signing hedged with fresh
    /// randomness and the context `lux.zwing.v1`.
    ///
    /// # Errors
    /// [`Error::ContextTooLong`] for a context over 255 bytes, [`Error::Randomness`] if
    /// the system generator fails.
    pub fn sign(&self, ctx: &[u8], message: &[u8]) -> Result<Vec<u8>, Error> {
        let rnd = random_array::<32>()?;
        self.sign_with(ctx, message, &rnd)
    }

    pub(crate) fn sign_with(
        &self,
        ctx: &[u8],
        message: &[u8],
        rnd: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        let digest = kdf::identity_digest(ctx, message)?;
        let ed_sig = self.ed25519.sign(&digest);
        let dsa_sig = self
            .ml_dsa
            .sign_randomized(&digest, labels::DOMAIN, &mut PresetRng::new(rnd))
            .map_err(|_| Error::Randomness("ML-DSA-65 signing failed".into()))?;
        let mut out = Vec::with_capacity(SIGNATURE_LEN);
        out.extend_from_slice(&ed_sig.to_bytes());
        out.extend_from_slice(dsa_sig.encode().as_slice());
        debug_assert_eq!(out.len(), ED25519_SIGNATURE_LEN + ML_DSA_65_SIGNATURE_LEN);
        Ok(out)
    }

    pub(crate) fn kem_secret(&self) -> &KemSecret {
        &self.kem
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.public.fingerprint().short())
            .finish_non_exhaustive()
    }
}

/// Copies a slice whose length the caller fixed into an array.
fn part<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_determine_identities() {
        let seed = [42u8; IDENTITY_SEED_LEN];
        let a = Identity::from_seed(&seed).unwrap();
        let b = Identity::from_seed(&seed).unwrap();
        assert_eq!(a.public(), b.public());
        assert_eq!(*a.to_seed(), seed);
        // Every part of the seed shapes the public form except ML-KEM's z (bytes
        // 96..128), which only feeds implicit rejection.
        for (byte, changes_public) in [(0, true), (40, true), (70, true), (100, false), (140, true)]
        {
            let mut other = seed;
            other[byte] ^= 1;
            let c = Identity::from_seed(&other).unwrap();
            assert_eq!(a.public() != c.public(), changes_public, "seed byte {byte}");
        }
    }

    #[test]
    fn signatures_verify_and_bind_context_and_message() {
        let id = Identity::generate().unwrap();
        let sig = id.sign(b"ctx", b"message").unwrap();
        assert_eq!(sig.len(), SIGNATURE_LEN);
        id.public().verify(b"ctx", b"message", &sig).unwrap();
        assert!(id.public().verify(b"ctx2", b"message", &sig).is_err());
        assert!(id.public().verify(b"ctx", b"messagf", &sig).is_err());
        for i in [0, 63, 64, 500, SIGNATURE_LEN - 1] {
            let mut bad = sig.clone();
            bad[i] ^= 0x10;
            assert!(matches!(
                id.public().verify(b"ctx", b"message", &bad),
                Err(Error::SignatureInvalid)
            ));
        }
        assert!(id.public().verify(b"ctx", b"message", &sig[1..]).is_err());
    }

    #[test]
    fn hedged_signatures_differ_each_time() {
        let id = Identity::from_seed(&[1u8; IDENTITY_SEED_LEN]).unwrap();
        let a = id.sign(b"c", b"m").unwrap();
        let b = id.sign(b"c", b"m").unwrap();
        // Ed25519 is deterministic, ML-DSA is hedged.
        assert_eq!(a[..64], b[..64]);
        assert_ne!(a[64..], b[64..]);
    }

    #[test]
    fn public_form_rejects_bad_lengths_and_keys() {
        let id = Identity::generate().unwrap();
        let bytes = id.public().as_bytes();
        assert!(IdentityPublic::from_bytes(&bytes[1..]).is_err());
        let mut bad = *bytes;
        // An ML-KEM coefficient of 0xFFF is above q = 3329.
        bad[DSA_END] = 0xff;
        bad[DSA_END + 1] = 0xff;
        assert!(matches!(
            IdentityPublic::from_bytes(&bad),
            Err(Error::InvalidIdentity(_))
        ));
        let back = IdentityPublic::from_bytes(bytes).unwrap();
        assert_eq!(&back, id.public());
        assert_eq!(back.fingerprint(), Fingerprint::of(bytes));
    }
}
