//! Any bytes as a netrunner request: the first byte is the frame type, the rest the
//! body; decoded leniently and strictly, and as a fan-out body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netrunner_proto::{DecodeOptions, Request};

fuzz_target!(|data: &[u8]| {
    let Some((&ty, body)) = data.split_first() else {
        return;
    };
    for options in [DecodeOptions::default(), DecodeOptions::strict()] {
        for (ty, body) in [(ty, body), (62, data)] {
            if let Ok(request) = Request::decode(ty, body, &options) {
                // Whatever decodes re-encodes to bytes that decode to the same request
                // (not always the same bytes: maps are written sorted).
                let again = request.body();
                let back = Request::decode(request.method().opcode(), &again, &DecodeOptions::strict());
                assert_eq!(back.as_ref(), Ok(&request));
            }
        }
    }
});
