//! Raw packets from the mDNS group: scanning for announcements and goodbyes never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_discovery::mdns::records::{Sighting, scan_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(sightings) = scan_response(data, "_luxd._tcp.local.") {
        for s in sightings {
            let (Sighting::Alive(instance) | Sighting::Goodbye(instance)) = s;
            assert!(instance.len() <= 63, "an instance is one DNS label");
        }
    }
});
