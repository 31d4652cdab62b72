//! Z-Wing `HandshakeResponse` as an initiator receives it: decode, decapsulate, open the
//! sealed identity, decode and verify it.
//!
//! The first input byte picks the mode: 0 feeds the rest as raw bytes; anything else
//! reads the rest as (u16 BE position, xor byte) edits to a valid response, so the fuzzer
//! gets past the size checks into the cryptography.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use zap_zwing::wire::HandshakeResponse;
use zap_zwing::{Identity, Initiator, VerifiedInit};

fn fixture() -> &'static (Initiator, Vec<u8>) {
    static F: OnceLock<(Initiator, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let client = Arc::new(Identity::from_seed(&[9u8; 160]).expect("identity"));
        let server = Identity::from_seed(&[8u8; 160]).expect("identity");
        let init = Initiator::new(client).expect("initiator");
        let (response, _) = VerifiedInit::verify(init.message())
            .expect("verify")
            .respond(&server)
            .expect("respond");
        (init, response)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (init, valid) = fixture();
    let input = if mode == 0 {
        rest.to_vec()
    } else {
        let mut edited = valid.clone();
        for edit in rest.chunks_exact(3) {
            let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % edited.len();
            edited[at] ^= edit[2];
        }
        if mode == 1 {
            edited.truncate(rest.len() * 5 % (edited.len() + 1));
        }
        edited
    };
    let _ = HandshakeResponse::decode(&input);
    let result = init.finish(&input);
    if input != *valid {
        assert!(result.is_err(), "an altered response was accepted");
    }
});
