//! Any text as a transport address (`zap://`, `zaps://`, `zapq://`, `unix:`): parsing
//! never panics, and what parses prints back to text that parses to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_rpc::transport::TransportAddr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(a) = text.parse::<TransportAddr>() {
        let again: TransportAddr = a.to_string().parse().expect("printed addresses parse");
        assert_eq!(again, a);
    }
});
