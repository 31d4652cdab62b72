//! Known answers: the KEM combiner (luxfi/zwing's own KAT), and the KDF labels, the
//! transcript hash and the identity digest as computed by an independent Python
//! implementation (tests/data/gen_vectors.py).

use zap_zwing::{kdf, kem, labels};

fn hex32(s: &str) -> [u8; 32] {
    let v = hex_decode(s);
    v.try_into().expect("32 bytes")
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn combiner_matches_the_luxfi_zwing_known_answer() {
    let shared = kem::combine(&[0x01; 32], &[0x02; 32], &[0x03; 32], &[0x04; 32]);
    assert_eq!(
        shared,
        hex32("72df2088314a73de80c21d9593f13fcd5629c800c70b1507f0dd918fde5fe4ed")
    );
}

#[test]
fn combiner_is_not_the_ietf_x_wing_combiner() {
    // IETF X-Wing hashes ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\" with the label last; the
    // same inputs give a different secret, so an X-Wing library cannot stand in.
    use sha3::Digest as _;
    let mut h = sha3::Sha3_256::new();
    for b in [0x01u8, 0x02, 0x03, 0x04] {
        h.update([b; 32]);
    }
    h.update(b"\\.//^\\");
    let ietf: [u8; 32] = h.finalize().into();
    assert_eq!(ietf[..4], [0x5c, 0x6b, 0xfa, 0xf8]);
    assert_ne!(
        ietf,
        kem::combine(&[0x01; 32], &[0x02; 32], &[0x03; 32], &[0x04; 32])
    );
}

#[test]
fn kdf_labels_give_the_known_keys() {
    let shared: [u8; 32] = core::array::from_fn(|i| i as u8);
    let cases = [
        (
            labels::KDF_RESPONSE_IDENTITY,
            "e42c9120173202c58da161957cc304ce0cd8b8d6af3fc48d953d23567801c088",
        ),
        (
            labels::KDF_INITIATOR_TO_RESPONDER,
            "414fe83bc008dd3dd41d98da1f54f9e6509ccff666943eb7b3dfe4d53f8dfe2a",
        ),
        (
            labels::KDF_RESPONDER_TO_INITIATOR,
            "605eddb3e07276578cdb504627fb5b48f049e1da77bd65747810dccbc2547521",
        ),
    ];
    for (label, want) in cases {
        assert_eq!(
            *kdf::derive_key(&shared, label),
            hex32(want),
            "label {}",
            String::from_utf8_lossy(label)
        );
    }
}

#[test]
fn transcript_hash_gives_the_known_answer() {
    let t = kdf::transcript_hash(&[0x01; 3200], &[0x02; 1120]);
    assert_eq!(
        t,
        hex32("8f11816acc85620df670ecf2f07c82170b5b10aba1a485d58df1cb7ad89cb8a5")
    );
}

#[test]
fn identity_digest_gives_the_known_answer() {
    let d = kdf::identity_digest(labels::CTX_HANDSHAKE_INIT, b"abc").unwrap();
    assert_eq!(
        d,
        hex32("e8f74d5bbf017a87208f125b8d517e60181fb4b63c75e159bc57688e9678111c")
    );
}

#[test]
fn labels_are_the_exact_wire_strings() {
    assert_eq!(labels::DOMAIN, b"lux.zwing.v1");
    assert_eq!(labels::CTX_HANDSHAKE_INIT, b"lux.zwing.v1/handshake-init");
    assert_eq!(
        labels::CTX_HANDSHAKE_RESPONSE,
        b"lux.zwing.v1/handshake-response"
    );
    assert_eq!(labels::TRANSCRIPT, b"lux.zwing.v1/transcript");
    assert_eq!(labels::KDF_RESPONSE_IDENTITY, b"lux.zwing.v1/resp-id");
    assert_eq!(labels::KDF_INITIATOR_TO_RESPONDER, b"lux.zwing.v1/i2r");
    assert_eq!(labels::KDF_RESPONDER_TO_INITIATOR, b"lux.zwing.v1/r2i");
    assert_eq!(&labels::RESPONSE_IDENTITY_NONCE, b"zwing-resp-i");
}
