//! Property tests: random and mutated input never panics a decoder, and a mutated
//! handshake message is always refused.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use zap_zwing::wire::{HandshakeResponse, SignedIdentity, frame_len};
use zap_zwing::{Identity, IdentityPublic, Initiator, KeyFile, VerifiedInit};

struct Fixture {
    client: Arc<Identity>,
    initiator: Initiator,
    response: Vec<u8>,
    key_file: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let client = Arc::new(Identity::from_seed(&[3u8; 160]).unwrap());
        let server = Identity::from_seed(&[4u8; 160]).unwrap();
        let initiator = Initiator::new(client.clone()).unwrap();
        let (response, _) = VerifiedInit::verify(initiator.message())
            .unwrap()
            .respond(&server)
            .unwrap();
        Fixture {
            key_file: client.to_file_bytes().to_vec(),
            client,
            initiator,
            response,
        }
    })
}

/// Applies byte flips, then possibly a truncation or an extension.
fn mutate(base: &[u8], flips: &[(usize, u8)], cut: Option<usize>, extra: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(i, x) in flips {
        let i = i % out.len();
        out[i] ^= x;
    }
    if let Some(c) = cut {
        out.truncate(c % (out.len() + 1));
    }
    out.extend_from_slice(extra);
    out
}

fn decode_everything(bytes: &[u8]) {
    let _ = SignedIdentity::decode(bytes);
    let _ = HandshakeResponse::decode(bytes);
    let _ = IdentityPublic::from_bytes(bytes);
    let _ = IdentityPublic::from_file_bytes(bytes);
    let _ = Identity::from_file_bytes(bytes);
    let _ = KeyFile::from_bytes(bytes);
    if let Some(h) = bytes.first_chunk::<4>() {
        let _ = frame_len(*h);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in prop::collection::vec(any::<u8>(), 0..8000)) {
        decode_everything(&bytes);
        let _ = VerifiedInit::verify(&bytes);
    }

    #[test]
    fn random_bytes_of_valid_sizes_never_panic(
        size in prop::sample::select(vec![3200usize, 3205, 3365, 6577, 7715]),
        seed in any::<u64>(),
    ) {
        // Valid lengths reach the deeper checks (key decoding, signature parsing).
        let mut state = seed;
        let bytes: Vec<u8> = (0..size).map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        }).collect();
        decode_everything(&bytes);
        prop_assert!(VerifiedInit::verify(&bytes).is_err());
    }

    #[test]
    fn mutated_inits_are_refused(
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in prop::option::of(any::<usize>()),
        extra in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let f = fixture();
        let bytes = mutate(f.initiator.message(), &flips, cut, &extra);
        decode_everything(&bytes);
        // Two flips of one byte can cancel out; anything else must be refused.
        if bytes != f.initiator.message() {
            prop_assert!(VerifiedInit::verify(&bytes).is_err());
        }
    }

}

proptest! {
    // Loading a key file derives every key from its seed: slow in debug builds.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn mutated_key_files_never_load_as_something_else(
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..3),
    ) {
        let f = fixture();
        let bytes = mutate(&f.key_file, &flips, None, &[]);
        if let Ok(id) = Identity::from_file_bytes(&bytes) {
            // Only a flip inside ML-KEM's z seed keeps the public form intact.
            prop_assert_eq!(id.public(), f.client.public());
        }
    }
}

proptest! {
    // Each case here runs a handshake step with public-key work: fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn mutated_responses_are_refused(
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in prop::option::of(any::<usize>()),
        extra in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let f = fixture();
        let bytes = mutate(&f.response, &flips, cut, &extra);
        decode_everything(&bytes);
        if bytes != f.response {
            prop_assert!(f.initiator.finish(&bytes).is_err());
        }
    }

    #[test]
    fn random_record_streams_never_panic_a_reader(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        headers in prop::collection::vec(any::<u32>(), 0..3),
    ) {
        let f = fixture();
        // Finishing the same valid response again gives a fresh session.
        let session = f.initiator.finish(&f.response).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async move {
            let (io, mut raw) = duplex(1 << 16);
            let mut stream = session.into_stream(io);
            let mut input = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                // Plausible headers now and then, so the reader gets past the length check.
                if let Some(h) = headers.get(i) {
                    input.extend_from_slice(&(h % 400).to_be_bytes());
                }
                input.extend_from_slice(chunk);
            }
            raw.write_all(&input).await.unwrap();
            drop(raw);
            let mut out = Vec::new();
            // Random bytes never authenticate: either nothing arrived (end of file) or
            // the read fails. No plaintext may come out.
            match stream.read_to_end(&mut out).await {
                Ok(_) => assert!(out.is_empty()),
                Err(_) => assert!(out.is_empty()),
            }
        });
    }
}
