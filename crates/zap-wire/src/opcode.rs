//! Procedure opcodes: how a procedure name becomes the message type Go nodes route on.
//!
//! Go's zapclient hashes the name with FNV-1a (32 bit), maps the hash onto 1..=254 and
//! puts that in the high byte of the flags. 254 codes collide quickly (even odds at 19
//! names), so we also expose the full 32-bit hash: zap-rpc uses it as a wide procedure
//! id between Rust peers and falls back to the 8-bit code with Go peers.

use crate::error::{Error, Result};

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bit, of `bytes`.
///
/// Written out rather than taken from a crate because it must be a `const fn` (so
/// opcodes can be constants) and the common crates only offer the 64-bit variant.
pub const fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h = FNV_OFFSET_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u32;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// The 16-bit opcode for a 32-bit procedure hash: `((h % 254) + 1) << 8`.
///
/// The high byte is always 1..=254: 0 (control) and 255 (keepalive) cannot occur.
pub const fn opcode_from_hash(hash: u32) -> u16 {
    (((hash % 254) + 1) as u16) << 8
}

/// A procedure, identified by its name's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcedureId {
    hash: u32,
}

impl ProcedureId {
    /// The id of a procedure name; the empty name is refused.
    pub const fn new(name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::EmptyProcedureName);
        }
        Ok(Self {
            hash: fnv1a32(name.as_bytes()),
        })
    }

    /// The full 32-bit FNV-1a hash (the wide id Rust peers use).
    pub const fn hash(self) -> u32 {
        self.hash
    }

    /// The 16-bit opcode Go's zapclient writes into the flags.
    pub const fn opcode(self) -> u16 {
        opcode_from_hash(self.hash)
    }

    /// The message type byte (`opcode >> 8`) a Go node routes on.
    pub const fn msg_type(self) -> u8 {
        (self.opcode() >> 8) as u8
    }
}

/// The 16-bit opcode of a procedure name, as Go's `zapclient.ProcedureOpcode`.
pub fn procedure_opcode(name: &str) -> Result<u16> {
    ProcedureId::new(name).map(ProcedureId::opcode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_answers() {
        // FNV-1a 32 of the empty input is the offset basis; "a" is a published value.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    }

    #[test]
    fn empty_name_is_refused() {
        assert_eq!(procedure_opcode(""), Err(Error::EmptyProcedureName));
    }

    #[test]
    fn opcodes_never_use_reserved_high_bytes() {
        for h in [0u32, 253, 254, 255, u32::MAX, 0x7fb7_f0a9] {
            let hi = opcode_from_hash(h) >> 8;
            assert!((1..=254).contains(&hi), "hash {h:#x} gave high byte {hi}");
            assert_eq!(opcode_from_hash(h) & 0xff, 0);
        }
    }
}
