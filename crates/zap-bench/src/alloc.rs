//! The link between the harness and a counting global allocator.
//!
//! A library cannot install a global allocator for the program that uses it, and this
//! crate forbids `unsafe`, so the `zap-bench` binary owns the allocator (one counter per
//! [`Side`], each thread tagged with its side) and hands the harness two plain functions.
//! Without them, allocation columns are left empty rather than guessed.

/// Which half of the process layout a thread belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The thread(s) running the client runtime and the measuring loop.
    Client,
    /// The thread(s) running the servers.
    Server,
    /// Any other thread (tokio's blocking pool, threads a library starts).
    Other,
}

impl Side {
    /// A small index, for allocators that keep one counter per side.
    pub const fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
            Side::Other => 2,
        }
    }
}

/// Functions of a counting allocator (see the binary's `main.rs` for the one we use).
#[derive(Debug, Clone, Copy)]
pub struct AllocCounter {
    /// Tags the calling thread: its allocations count for this side from now on.
    pub tag_thread: fn(Side),
    /// Allocations (including reallocations) made so far by threads of this side.
    pub count: fn(Side) -> u64,
}

/// Allocations per call on each side, over a steady-state run of `calls` calls.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AllocsPerCall {
    /// On the client's threads.
    pub client: f64,
    /// On the server's threads.
    pub server: f64,
    /// On other threads (normally 0).
    pub other: f64,
    /// Calls the counts were divided by.
    pub calls: u64,
}
