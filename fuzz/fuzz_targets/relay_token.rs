//! Any bytes, checked as an HMAC v2 relay token and parsed as a peer id's text form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_cluster::{HmacValidator, PeerId};

fuzz_target!(|data: &[u8]| {
    let v = HmacValidator::new("fuzz-secret");
    let _ = v.check_at(data, 1_764_000_000);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = text.parse::<PeerId>() {
            assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
        }
    }
});
