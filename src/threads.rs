//! Worker threads. The scorer parallelises with rayon: the policy and the reference run side by side, gemm splits
//! each matrix product, and the per-token metrics run in parallel. candle adds a second pool of its own for
//! element-wise operations (activations, residual sums, softmax), as many threads again, which spin while they
//! wait and slow scoring and generation down on small machines (measured in
//! [docs/performance.md](../docs/performance.md)). The programs of this crate therefore size candle's pool to one
//! thread, the caller, unless `CANDLE_NUM_THREADS` says otherwise.

/// The `CANDLE_NUM_THREADS` the programs run with when the environment does not set one.
pub const CANDLE_ELEMENTWISE_THREADS: &str = "1";

/// Sizes candle's element-wise pool (see the module documentation), unless `CANDLE_NUM_THREADS` is already set.
///
/// # Safety
/// Call it at the start of `main`, before any thread is spawned: it writes the process environment, which must
/// not be read or written by another thread at the same time.
pub unsafe fn configure() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees that no other thread exists yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", CANDLE_ELEMENTWISE_THREADS) };
    }
}
