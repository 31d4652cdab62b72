//! Any bytes as the payload of a peer's handshake frame: the node-id message, then the
//! extension block zap-rpc reads after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_rpc::extension::Extensions;
use zap_wire::node::Handshake;

fuzz_target!(|data: &[u8]| {
    if let Ok(hs) = Handshake::decode(data) {
        if let Ok(Some(ext)) = Extensions::decode(hs.extension) {
            let _ = ext.max_frame_bytes();
            assert_eq!(Extensions::decode(&ext.encode()), Ok(Some(ext)));
        }
    }
    let _ = Extensions::decode(data);
});
