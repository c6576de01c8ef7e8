//! The memory allocator. A forward pass allocates and frees megabyte-sized tensors by the hundred; glibc's malloc
//! hands such blocks back to the operating system at once, and the page faults of getting them back cost a large
//! share of the scoring time (measured in [docs/performance.md](../docs/performance.md)). mimalloc, told to keep freed memory,
//! reuses it instead. The library does not impose an allocator on the programs that use it: the `creditlens`
//! binary and the benchmarks install [`Allocator`] with `#[global_allocator]`.

/// The allocator the `creditlens` binary and the benchmarks run with.
pub type Allocator = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3): how long freed memory waits before it goes back to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process for reuse (peak memory stays reserved). Called once when a scorer is built;
/// it only sets a mimalloc option, which does nothing where another allocator is installed.
pub fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: mi_option_set only stores an integer option; any value is valid for purge_delay (-1: never).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    });
}
