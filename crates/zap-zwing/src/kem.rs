//! The Z-Wing KEM: ML-KEM-768 and X25519 joined by Z-Wing's own SHA3-256 combiner.
//!
//! The combiner is `SHA3-256("\./X-Wing" ‖ ss_M ‖ ss_X ‖ ct_X ‖ pk_X)`. It resembles
//! X-Wing but is not the IETF construction (whose 6-byte label `\.//^\` comes last), so it
//! is written here rather than taken from an X-Wing library.

use ml_kem::{Decapsulate, DecapsulationKey, EncapsulationKey, MlKem768};
use sha3::{Digest, Sha3_256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::sizes::{KEM_CIPHERTEXT_LEN, ML_KEM_768_CIPHERTEXT_LEN, SHARED_SECRET_LEN};
use crate::{Error, labels};

/// The combiner: `SHA3-256(COMBINER_LABEL ‖ ss_m ‖ ss_x ‖ ct_x ‖ pk_x)`, where `ss_m` is
/// the ML-KEM shared secret, `ss_x` the X25519 shared secret, `ct_x` the encapsulator's
/// ephemeral X25519 public key and `pk_x` the recipient's static X25519 public key.
///
/// ```
/// let k = zap_zwing::kem::combine(&[1; 32], &[2; 32], &[3; 32], &[4; 32]);
/// assert_eq!(k[..4], [0x72, 0xdf, 0x20, 0x88]);
/// ```
pub fn combine(
    ss_m: &[u8; 32],
    ss_x: &[u8; 32],
    ct_x: &[u8; 32],
    pk_x: &[u8; 32],
) -> [u8; SHARED_SECRET_LEN] {
    let mut h = Sha3_256::new();
    h.update(labels::COMBINER_LABEL);
    h.update(ss_m);
    h.update(ss_x);
    h.update(ct_x);
    h.update(pk_x);
    h.finalize().into()
}

/// The recipient's static KEM secret: an ML-KEM-768 decapsulation key and an X25519 scalar.
pub(crate) struct KemSecret {
    pub(crate) ml_kem: Box<DecapsulationKey<MlKem768>>,
    pub(crate) x25519: StaticSecret,
    pub(crate) x25519_public: [u8; 32],
}

/// Randomness for one encapsulation, drawn by the caller.
pub(crate) struct EncapsulationRandomness {
    /// The ML-KEM message `m`.
    pub(crate) ml_kem: Zeroizing<[u8; 32]>,
    /// The ephemeral X25519 scalar.
    pub(crate) x25519: Zeroizing<[u8; 32]>,
}

impl EncapsulationRandomness {
    pub(crate) fn draw() -> Result<Self, Error> {
        Ok(Self {
            ml_kem: crate::random::random_array()?,
            x25519: crate::random::random_array()?,
        })
    }
}

/// Encapsulates to a recipient's static key: returns the 1120-byte ciphertext and the
/// shared secret.
pub(crate) fn encapsulate(
    recipient_ml_kem: &EncapsulationKey<MlKem768>,
    recipient_x25519: &[u8; 32],
    randomness: &EncapsulationRandomness,
) -> Result<([u8; KEM_CIPHERTEXT_LEN], Zeroizing<[u8; 32]>), Error> {
    let m = ml_kem::B32::from(*randomness.ml_kem);
    let (ct_m, ss_m) = recipient_ml_kem.encapsulate_deterministic(&m);
    let mut ss_m: Zeroizing<[u8; 32]> = Zeroizing::new(ss_m.into());

    let eph = StaticSecret::from(*randomness.x25519);
    let ct_x = PublicKey::from(&eph).to_bytes();
    let ss_x = eph.diffie_hellman(&PublicKey::from(*recipient_x25519));
    // A low-order recipient key would make the X25519 half worthless; Go's X25519 refuses
    // the all-zero result too, so refusing it keeps both sides in step.
    if !ss_x.was_contributory() {
        ss_m.zeroize();
        return Err(Error::NonContributory);
    }

    let shared = Zeroizing::new(combine(&ss_m, ss_x.as_bytes(), &ct_x, recipient_x25519));
    let mut ct = [0u8; KEM_CIPHERTEXT_LEN];
    ct[..ML_KEM_768_CIPHERTEXT_LEN].copy_from_slice(ct_m.as_slice());
    ct[ML_KEM_768_CIPHERTEXT_LEN..].copy_from_slice(&ct_x);
    Ok((ct, shared))
}

/// Decapsulates a 1120-byte ciphertext with the static secret.
pub(crate) fn decapsulate(
    secret: &KemSecret,
    ciphertext: &[u8; KEM_CIPHERTEXT_LEN],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let (ct_m, ct_x) = ciphertext.split_at(ML_KEM_768_CIPHERTEXT_LEN);
    let ct_m = ml_kem::Ciphertext::<MlKem768>::try_from(ct_m)
        .map_err(|_| Error::InvalidWireFormat("ML-KEM-768 ciphertext size"))?;
    let ct_x: [u8; 32] = ct_x
        .try_into()
        .map_err(|_| Error::InvalidWireFormat("X25519 ephemeral key size"))?;
    // ML-KEM rejects implicitly: any ciphertext gives some secret, and a forged one only
    // shows up later, when the sealed identity fails to open.
    let ss_m: Zeroizing<[u8; 32]> = Zeroizing::new(secret.ml_kem.decapsulate(&ct_m).into());
    let ss_x = secret.x25519.diffie_hellman(&PublicKey::from(ct_x));
    if !ss_x.was_contributory() {
        return Err(Error::NonContributory);
    }
    Ok(Zeroizing::new(combine(
        &ss_m,
        ss_x.as_bytes(),
        &ct_x,
        &secret.x25519_public,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(seed: u8) -> KemSecret {
        let dk = DecapsulationKey::<MlKem768>::from_seed([seed; 64].into());
        let x = StaticSecret::from([seed.wrapping_add(1); 32]);
        let x_pub = PublicKey::from(&x).to_bytes();
        KemSecret {
            ml_kem: Box::new(dk),
            x25519: x,
            x25519_public: x_pub,
        }
    }

    #[test]
    fn encapsulate_then_decapsulate_agree() {
        let sk = secret(9);
        let r = EncapsulationRandomness::draw().unwrap();
        let (ct, ss) = encapsulate(sk.ml_kem.encapsulation_key(), &sk.x25519_public, &r).unwrap();
        let back = decapsulate(&sk, &ct).unwrap();
        assert_eq!(*ss, *back);
    }

    #[test]
    fn a_tampered_ciphertext_changes_the_secret() {
        let sk = secret(3);
        let r = EncapsulationRandomness::draw().unwrap();
        let (mut ct, ss) =
            encapsulate(sk.ml_kem.encapsulation_key(), &sk.x25519_public, &r).unwrap();
        ct[10] ^= 1;
        let back = decapsulate(&sk, &ct).unwrap();
        assert_ne!(*ss, *back);
    }

    #[test]
    fn low_order_points_are_refused() {
        let sk = secret(5);
        let r = EncapsulationRandomness::draw().unwrap();
        // The all-zero u-coordinate is a low-order point.
        assert!(matches!(
            encapsulate(sk.ml_kem.encapsulation_key(), &[0u8; 32], &r),
            Err(Error::NonContributory)
        ));
        let mut ct = [0u8; KEM_CIPHERTEXT_LEN];
        ct[0] = 1;
        assert!(matches!(decapsulate(&sk, &ct), Err(Error::NonContributory)));
    }
}
