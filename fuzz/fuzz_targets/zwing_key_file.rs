//! Z-Wing key files and public identities as read from disk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zap_zwing::{IdentityPublic, KeyFile};

fuzz_target!(|data: &[u8]| {
    let _ = KeyFile::from_bytes(data);
    let _ = IdentityPublic::from_bytes(data);
});
