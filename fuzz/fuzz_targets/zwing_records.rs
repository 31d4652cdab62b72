//! Z-Wing records as a `ZwingStream` reads them from the network.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;
use zap_zwing::{Identity, Initiator, VerifiedInit};

/// An initiator and a valid response for it: finishing again gives a fresh session.
fn session_source() -> &'static (Initiator, Vec<u8>) {
    static SRC: OnceLock<(Initiator, Vec<u8>)> = OnceLock::new();
    SRC.get_or_init(|| {
        let client = Arc::new(Identity::from_seed(&[1u8; 160]).expect("identity"));
        let server = Identity::from_seed(&[2u8; 160]).expect("identity");
        let init = Initiator::new(client).expect("initiator");
        let verified = VerifiedInit::verify(init.message()).expect("verify");
        let (response, _) = verified.respond(&server).expect("respond");
        (init, response)
    })
}

fuzz_target!(|data: &[u8]| {
    let (init, response) = session_source();
    let session = init.finish(response).expect("a valid response");
    let mut stream = session.into_stream(std::io::Cursor::new(data.to_vec()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    let _ = rt.block_on(stream.read_to_end(&mut out));
    // Bytes that were not sealed by the peer never come out as plaintext.
    assert!(out.is_empty());
});
