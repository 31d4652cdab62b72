//! Test support for the ZAP workspace (not published).
//!
//! * [`Counting`], [`allocations`], [`allocations_during`]: a counting global allocator,
//!   for tests that assert how many allocations a code path makes;
//! * `dns::TestDns` (feature `dns`): a real authoritative DNS server on 127.0.0.1 whose
//!   zone a test edits.
#![deny(missing_docs)]

pub mod alloc;
#[cfg(feature = "dns")]
pub mod dns;

pub use alloc::{Counting, allocations, allocations_during};
