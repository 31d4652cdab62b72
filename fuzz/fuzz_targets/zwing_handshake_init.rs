//! Z-Wing `HandshakeInit` as a responder receives it: decode, decode keys, verify.
//!
//! The first input byte picks the mode: 0 feeds the rest as raw bytes; anything else
//! reads the rest as (u16 BE position, xor byte) edits to a valid message.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use zap_zwing::wire::SignedIdentity;
use zap_zwing::{Identity, Initiator, VerifiedInit};

fn valid() -> &'static Vec<u8> {
    static V: OnceLock<Vec<u8>> = OnceLock::new();
    V.get_or_init(|| {
        let id = Arc::new(Identity::from_seed(&[7u8; 160]).expect("identity"));
        Initiator::new(id).expect("initiator").message().to_vec()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode == 0 {
        rest.to_vec()
    } else {
        let mut edited = valid().clone();
        for edit in rest.chunks_exact(3) {
            let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % edited.len();
            edited[at] ^= edit[2];
        }
        edited
    };
    let _ = SignedIdentity::decode(&input);
    let result = VerifiedInit::verify(&input);
    if input != *valid() {
        assert!(result.is_err(), "an altered HandshakeInit was accepted");
    }
});
