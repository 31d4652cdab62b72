//! Any bytes as the body of a netrunner response: the first byte picks the method
//! whose response it is read as.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netrunner_proto::{DecodeOptions, Method, Response};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let method = Method::ALL[usize::from(pick) % Method::ALL.len()];
    let _ = Response::decode(method, body, &DecodeOptions::default());
    if let Ok(response) = Response::decode(method, body, &DecodeOptions::strict()) {
        assert_eq!(response.body(), body, "strict decoding is exact");
    }
});
