//! Any bytes, read as a ZAP message: every accessor at every small offset, strictly
//! and leniently, following pointers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    zap_wire::exercise::message(data);
});
