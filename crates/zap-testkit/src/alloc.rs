//! A counting global allocator.
//!
//! A test binary installs [`Counting`] as its global allocator; [`allocations`] then
//! reads how many allocations (and reallocations) the calling thread has made, and
//! [`allocations_during`] counts those of one closure. The count is per thread, so tests
//! running in parallel threads do not disturb each other's counts, and a test that runs
//! code on several threads reads each thread's count on that thread.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: zap_testkit::Counting = zap_testkit::Counting;
//!
//! let n = zap_testkit::allocations_during(|| drop(Vec::<u8>::with_capacity(8)));
//! assert_eq!(n, 1);
//! ```
#![allow(unsafe_code)] // a global allocator is an `unsafe impl`; it only counts and forwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each allocation and reallocation on the calling
/// thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initializer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far on this thread (zero unless [`Counting`] is the global
/// allocator).
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The allocations `f` makes on this thread.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}
