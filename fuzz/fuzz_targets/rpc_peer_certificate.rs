//! Any bytes as a peer's DER certificate: reading its names, validity and fingerprint
//! never panics (the TLS stack verifies before zap-rpc reads, but the reader must hold
//! on any input anyway).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_rpc::PeerCertificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = PeerCertificate::from_der(data) {
        let _ = c.primary_name();
        let _ = c.names().count();
        let _ = c.fingerprint_hex();
    }
});
