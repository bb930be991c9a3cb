//! Integration tests of `abf-format`, one binary: the public samples, the pbixray cross-check, writer round trips,
//! synthetic XPress9 streams, and hostile input.
//!
//! Memory bound: the whole binary runs under a `cap::Cap` global allocator limited to [`MEMORY_LIMIT`], so an
//! allocation sized from a damaged length field (up to 4 GiB from a `u32`, more from a `u64`) aborts the run instead
//! of passing; `hostile` also asserts the peak it saw. The XPress9 decoder's own C allocations (a fixed window per
//! session) are outside this count.

mod bombs;
mod containers;
mod hostile;
mod pbixray;
mod roundtrip;
mod samples;
mod support;
mod xpress9;

/// Peak heap for the whole test binary (all tests run in parallel under it).
pub(crate) const MEMORY_LIMIT: usize = 768 << 20;

#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, MEMORY_LIMIT);

/// The peak heap seen so far by the whole binary.
pub(crate) fn peak_allocated() -> usize {
    ALLOC.max_allocated()
}
