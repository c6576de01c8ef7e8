//! Borrowing a tensor's values as a slice without copying them (candle's `to_vec` copies): for work done on
//! the values in plain Rust, the logits' vocabulary-wide metrics and the packing of weights into AMX tiles.

use crate::error::Result;
use candle_core::{Storage, Tensor, WithDType};

/// Runs `f` on the values of `tensors` as `T`, borrowed where a tensor already holds them so (on the CPU,
/// contiguous), else converted first.
pub(crate) fn with_values<T: WithDType, R>(
    tensors: &[&Tensor],
    f: impl FnOnce(&[&[T]]) -> R,
) -> Result<R> {
    let held = tensors
        .iter()
        .map(|t| Ok(t.to_dtype(T::DTYPE)?.contiguous()?))
        .collect::<Result<Vec<_>>>()?;
    let guards: Vec<_> = held.iter().map(Tensor::storage_and_layout).collect();
    let values = guards
        .iter()
        .map(|(storage, layout)| {
            let (Storage::Cpu(cpu), Some((a, b))) = (&**storage, layout.contiguous_offsets())
            else {
                return Err(candle_core::Error::Msg("values on the CPU expected".into()).into());
            };
            Ok(&T::cpu_storage_as_slice(cpu)?[a..b])
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(f(&values))
}

/// The largest absolute difference between two f32 tensors of one shape (tests compare numbers with it).
#[cfg(test)]
pub(crate) fn max_abs_difference(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
        .unwrap_or_else(|e| panic!("{e}"))
}
