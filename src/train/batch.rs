//! Right-padded training batches from encoded sequences (the same tokenisation that scoring uses).

use crate::error::Result;
use crate::tokenize::EncodedSequence;
use candle_core::{Device, Tensor};

/// Inputs, next-token targets and the mask of scored positions, all `(batch, t)`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Input ids (u32), right-padded.
    pub ids: Tensor,
    /// The id each position predicts (u32).
    pub targets: Tensor,
    /// 1.0 where the target is a scored (response) token, else 0.0.
    pub mask: Tensor,
}

/// Packs `seqs` into one batch: position `t` of row `i` reads `ids[t]` and predicts `ids[t + 1]`, which counts when
/// it is a scored token. Right padding needs no attention mask: causal attention never lets a real position see the
/// padding after it, and padded positions are masked out of the loss.
pub fn make_batch(seqs: &[&EncodedSequence], pad: u32, device: &Device) -> Result<Batch> {
    let width = seqs
        .iter()
        .map(|s| s.ids.len().saturating_sub(1))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = seqs.len();
    let mut ids = vec![pad; n * width];
    let mut targets = vec![pad; n * width];
    let mut mask = vec![0f32; n * width];
    for (i, s) in seqs.iter().enumerate() {
        for t in 0..s.ids.len().saturating_sub(1) {
            ids[i * width + t] = s.ids[t];
            targets[i * width + t] = s.ids[t + 1];
            mask[i * width + t] = f32::from(u8::from(t + 1 >= s.scored_start));
        }
    }
    Ok(Batch {
        ids: Tensor::from_vec(ids, (n, width), device)?,
        targets: Tensor::from_vec(targets, (n, width), device)?,
        mask: Tensor::from_vec(mask, (n, width), device)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_pads_and_masks() {
        let seq = |ids: Vec<u32>, start| EncodedSequence {
            ids,
            scored_start: start,
            tokens: vec![],
        };
        let (a, b) = (seq(vec![1, 2, 3, 4], 2), seq(vec![5, 6, 7], 1));
        let batch = make_batch(&[&a, &b], 0, &Device::Cpu).unwrap();
        assert_eq!(
            batch.ids.to_vec2::<u32>().unwrap(),
            vec![vec![1, 2, 3], vec![5, 6, 0]]
        );
        assert_eq!(
            batch.targets.to_vec2::<u32>().unwrap(),
            vec![vec![2, 3, 4], vec![6, 7, 0]]
        );
        assert_eq!(
            batch.mask.to_vec2::<f32>().unwrap(),
            vec![vec![0.0, 1.0, 1.0], vec![1.0, 1.0, 0.0]]
        );
    }
}
