//! Softmax attention in one pass per block of query rows, for inference in f32 on the CPU: the scores of a block
//! are computed only over the keys some row of it can see (a causal mask hides the later ones from every row of
//! the block: about half the work of a prompt attending to itself), scaled, masked and softmaxed in place, and
//! multiplied by the values straight into the output. gemm reads the queries, keys and values where they lie (no
//! transposed or narrowed copies) and each block's scores stay in the cache. The numbers are those of the whole
//! score matrix to the order of the sums (tested below and by the golden tests).

use super::in_place::{gemm_f32, gemm_f32_onto};
use super::kernels::{MaskRows, mask_ends, softmax_rows};
use crate::error::Result;
use crate::tensor_values::with_values;
use candle_core::Tensor;
use rayon::prelude::*;

/// Query rows per block: its scores (rows x keys) stay in a core's cache.
const BLOCK_ROWS: usize = 64;

/// `softmax(scale * q k^T + mask) v` for queries `q` `(batch, heads, n, head_dim)` over keys and values
/// `(batch, kv_heads, total, head_dim)` (grouped-query: head `h` uses KV head `h / (heads / kv_heads)`), with
/// the additive `mask` `(n, total)` shared by every head; returns `(batch, heads, n, head_dim)`. f32 CPU tensors.
pub(super) fn attention(
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    scale: f32,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, nh, n, hd) = q.dims4()?;
    let (_, nkv, total, _) = k.dims4()?;
    let rep = nh / nkv.max(1);
    let out = with_values(&[q, k, v], |qkv: &[&[f32]]| {
        let (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        let run = |mask: Option<(&[f32], &[usize])>| {
            let mut out = vec![0f32; b * nh * n * hd];
            out.par_chunks_mut((n * hd).max(1))
                .enumerate()
                .for_each(|(bh, out)| {
                    let (bi, h) = (bh / nh, bh % nh);
                    let kv = (bi * nkv + h / rep.max(1)) * total * hd;
                    let head = Head {
                        q: &q[bh * n * hd..][..n * hd],
                        k: &k[kv..][..total * hd],
                        v: &v[kv..][..total * hd],
                        hd,
                        total,
                    };
                    head.attend(scale, mask, out);
                });
            out
        };
        match mask {
            None => Ok(run(None)),
            Some(m) => with_values(&[m], |m: &[&[f32]]| {
                // Each row's visible keys end where its trailing run of -inf starts.
                let ends: Vec<usize> = (0..n)
                    .map(|i| {
                        let row = &m[0][i * total..][..total];
                        row.iter()
                            .rposition(|&x| x != f32::NEG_INFINITY)
                            .map_or(0, |last| last + 1)
                    })
                    .collect();
                run(Some((m[0], &ends)))
            }),
        }
    })??;
    Ok(Tensor::from_vec(out, (b, nh, n, hd), q.device())?)
}

/// Causal attention over a prefix and continuations of it packed after it, as the projections lay them out: `q`
/// `(rows, heads, head_dim)`, `k` and `v` `(rows, kv_heads, head_dim)` (rotated already), rows `0..prefix` the
/// prefix and then each continuation's `lens[i]` rows. The prefix attends to itself, each continuation to the
/// prefix and itself. Returns `(rows, heads * head_dim)`: what the output projection reads. Nothing is transposed,
/// concatenated or masked in memory: blocks of query rows take their scores from the prefix's keys and from their
/// own continuation's where they lie, each row's softmax runs over the keys it sees, and the values of both parts
/// add into the output. The numbers are those of [`attention`] over the concatenated keys with a causal mask, to
/// the order of the sums (tested below).
pub(crate) fn tree_attention(
    (q, k, v): (&[f32], &[f32], &[f32]),
    (nh, nkv, hd): (usize, usize, usize),
    (prefix, lens): (usize, &[usize]),
    scale: f32,
) -> Vec<f32> {
    let rows = prefix + lens.iter().sum::<usize>();
    let rep = (nh / nkv.max(1)).max(1);
    let (q_rs, kv_rs) = (nh * hd, nkv * hd);
    assert!(q.len() >= rows * q_rs && k.len() >= rows * kv_rs && v.len() >= rows * kv_rs);
    // Blocks of query rows within one part: (first row, rows, first row of its continuation; None in the prefix).
    let mut blocks = Vec::new();
    let mut part = |start: usize, len: usize, own: Option<usize>| {
        let mut at = 0;
        while at < len {
            let n = BLOCK_ROWS.min(len - at);
            blocks.push((start + at, n, own));
            at += n;
        }
    };
    part(0, prefix, None);
    let mut offset = prefix;
    for &len in lens {
        part(offset, len, Some(offset));
        offset += len;
    }
    let mut out = vec![0f32; rows * q_rs];
    let mut rest = out.as_mut_slice();
    let mut tasks = Vec::with_capacity(blocks.len());
    for &(r0, n, own) in &blocks {
        let (mine, after) = rest.split_at_mut(n * q_rs);
        tasks.push((r0, n, own, mine));
        rest = after;
    }
    tasks.into_par_iter().for_each(|(r0, n, own, out)| {
        // Keys seen from the prefix, and from the block's own continuation (up to its last row).
        let (from_prefix, from_own) = match own {
            None => (r0 + n, 0),
            Some(first) => (prefix, r0 + n - first),
        };
        let keys = from_prefix + from_own;
        let mut scores = vec![0f32; n * keys];
        for h in 0..nh {
            let kv = h / rep * hd;
            let qb = (&q[r0 * q_rs + h * hd..], q_rs, 1);
            gemm_f32(
                (n, from_prefix, hd),
                &mut scores,
                keys,
                qb,
                (&k[kv..], 1, kv_rs),
                gemm::Parallelism::None,
            );
            if let Some(first) = own {
                gemm_f32(
                    (n, from_own, hd),
                    &mut scores[from_prefix..],
                    keys,
                    qb,
                    (&k[first * kv_rs + kv..], 1, kv_rs),
                    gemm::Parallelism::None,
                );
            }
            for (i, row) in scores.chunks_exact_mut(keys).enumerate() {
                // Row r0 + i sees the keys up to itself.
                let end = match own {
                    None => r0 + i + 1,
                    Some(first) => prefix + r0 + i - first + 1,
                };
                let (seen, hidden) = row.split_at_mut(end);
                softmax_rows(seen, end, 0, scale, None);
                hidden.fill(0.0);
            }
            let dst = &mut out[h * hd..];
            gemm_f32(
                (n, hd, from_prefix),
                dst,
                q_rs,
                (&scores, keys, 1),
                (&v[kv..], kv_rs, 1),
                gemm::Parallelism::None,
            );
            if let Some(first) = own {
                gemm_f32_onto(
                    (n, hd, from_own),
                    (dst, q_rs, true),
                    (&scores[from_prefix..], keys, 1),
                    (&v[first * kv_rs + kv..], kv_rs, 1),
                    gemm::Parallelism::None,
                );
            }
        }
    });
    out
}

/// One query head's rows and its KV head's keys and values, each `(rows, hd)` row-major.
struct Head<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    hd: usize,
    total: usize,
}

impl Head<'_> {
    /// The attention of all its query rows into `out` `(n, hd)`, block by block; `mask` is the additive mask
    /// `(n, total)` with each row's visible end.
    fn attend(&self, scale: f32, mask: Option<(&[f32], &[usize])>, out: &mut [f32]) {
        let (hd, total) = (self.hd, self.total);
        let n = self.q.len() / hd.max(1);
        let mut scores = Vec::new();
        let mut at = 0;
        while at < n {
            let rows = BLOCK_ROWS.min(n - at);
            // The keys some row of the block sees (all of them without a mask).
            let keys = mask.map_or(total, |(_, ends)| {
                ends[at..at + rows].iter().copied().max().unwrap_or(0)
            });
            let block_out = &mut out[at * hd..(at + rows) * hd];
            if keys == 0 {
                // No row sees a key (a fully masked block): softmax over nothing, as the whole matrix gives.
                block_out.fill(f32::NAN);
                at += rows;
                continue;
            }
            scores.clear();
            scores.resize(rows * keys, 0f32);
            // scores = q_block (rows, hd) @ k[..keys]^T (hd, keys)
            gemm_f32(
                (rows, keys, hd),
                &mut scores,
                keys,
                (&self.q[at * hd..], hd, 1),
                (self.k, 1, hd),
                gemm::Parallelism::None,
            );
            match mask {
                Some((values, _)) => {
                    let values = &values[at * total..];
                    let ends = mask_ends(values, rows, total, keys);
                    let rows_mask = MaskRows {
                        values,
                        n: rows,
                        stride: total,
                        ends: &ends,
                    };
                    softmax_rows(&mut scores, keys, 0, scale, Some(rows_mask));
                }
                None => softmax_rows(&mut scores, keys, 0, scale, None),
            }
            // out_block = scores (rows, keys) @ v[..keys] (keys, hd)
            gemm_f32(
                (rows, hd, keys),
                block_out,
                hd,
                (&scores, keys, 1),
                (self.v, hd, 1),
                gemm::Parallelism::None,
            );
            at += rows;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// The whole score matrix by candle's own operations: `softmax(scale * q k^T + mask) @ v`, each query head
    /// attending to its KV head's keys.
    fn whole(q: &Tensor, k: &Tensor, v: &Tensor, scale: f32, mask: Option<&Tensor>) -> Tensor {
        let (_, nh, _, _) = q.dims4().unwrap();
        let nkv = k.dim(1).unwrap();
        let heads: Vec<Tensor> = (0..nh)
            .map(|h| {
                let q = q.narrow(1, h, 1).unwrap();
                let k = k.narrow(1, h / (nh / nkv), 1).unwrap();
                let v = v.narrow(1, h / (nh / nkv), 1).unwrap();
                let scores = (q.matmul(&k.t().unwrap()).unwrap() * f64::from(scale)).unwrap();
                let scores = match mask {
                    Some(m) => scores.broadcast_add(m).unwrap(),
                    None => scores,
                };
                candle_nn::ops::softmax_last_dim(&scores)
                    .unwrap()
                    .matmul(&v)
                    .unwrap()
            })
            .collect();
        Tensor::cat(&heads, 1).unwrap()
    }

    /// The additive mask of `n` queries starting at position `start` over `total` keys, seeing keys
    /// `pos - window < j <= pos`.
    fn mask(n: usize, start: usize, total: usize, window: Option<usize>) -> Tensor {
        let values: Vec<f32> = (0..n)
            .flat_map(|i| {
                (0..total).map(move |j| {
                    let pos = start + i;
                    let hidden = j > pos || window.is_some_and(|w| j + w <= pos);
                    if hidden { f32::NEG_INFINITY } else { 0.0 }
                })
            })
            .collect();
        Tensor::from_vec(values, (n, total), &Device::Cpu).unwrap()
    }

    /// Block by block over the visible keys gives the whole matrix's numbers: causal segments longer than a block,
    /// continuations after a cached prefix, a sliding window, grouped-query heads, no mask; key counts that are
    /// not multiples of the lanes.
    #[test]
    fn blocks_over_visible_keys_equal_the_whole_score_matrix() {
        let dev = Device::Cpu;
        for (b, nh, nkv, n, prefix, hd, window, masked) in [
            (1, 9, 3, 150, 0, 64, None, true),
            (1, 4, 4, 37, 300, 32, None, true),
            (2, 6, 2, 70, 5, 16, Some(20), true),
            (1, 2, 1, 1, 40, 8, None, false),
            (1, 3, 1, 65, 0, 24, None, false),
        ] {
            let total = prefix + n;
            let q = Tensor::randn(0f32, 1.0, (b, nh, n, hd), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (b, nkv, total, hd), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (b, nkv, total, hd), &dev).unwrap();
            let m = masked.then(|| mask(n, prefix, total, window));
            let scale = 1.0 / (hd as f32).sqrt();
            let got = attention((&q, &k, &v), scale, m.as_ref()).unwrap();
            let want = whole(&q, &k, &v, scale, m.as_ref());
            let diff = crate::tensor_values::max_abs_difference(&got, &want);
            assert!(
                diff < 1e-5,
                "{nh}/{nkv} heads, {n} rows after {prefix}: {diff}"
            );
        }
    }

    /// A prefix and continuations in the projections' layout give, row for row, the whole score matrix's numbers
    /// of the prefix attending to itself and of each continuation attending to the prefix and itself (keys
    /// concatenated, causal mask): blocks across the prefix, continuations shorter and longer than a block,
    /// grouped-query heads.
    #[test]
    fn tree_in_the_projections_layout_equals_each_part_attending_alone() {
        let dev = Device::Cpu;
        for (nh, nkv, hd, prefix, lens) in [
            (9, 3, 64, 150, vec![37, 70]),
            (4, 4, 32, 5, vec![1, 130, 2]),
            (2, 1, 16, 64, vec![64]),
        ] {
            let rows = prefix + lens.iter().sum::<usize>();
            let q = Tensor::randn(0f32, 1.0, (rows, nh, hd), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (rows, nkv, hd), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (rows, nkv, hd), &dev).unwrap();
            let scale = 1.0 / (hd as f32).sqrt();
            let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let got = tree_attention(
                (&values(&q), &values(&k), &values(&v)),
                (nh, nkv, hd),
                (prefix, &lens),
                scale,
            );
            let got = Tensor::from_vec(got, (rows, nh, hd), &dev).unwrap();
            // (rows, heads, hd) -> (1, heads, rows, hd)
            let heads = |t: &Tensor| {
                t.transpose(0, 1)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap()
                    .contiguous()
                    .unwrap()
            };
            let rows_of = |t: &Tensor, at: usize, n: usize| t.narrow(0, at, n).unwrap();
            let check = |at: usize, n: usize, keys: Tensor, values_: Tensor, start: usize| {
                let m = mask(n, start, start + n, None);
                let want = whole(
                    &heads(&rows_of(&q, at, n)),
                    &heads(&keys),
                    &heads(&values_),
                    scale,
                    Some(&m),
                );
                let part = heads(&rows_of(&got, at, n));
                let diff = crate::tensor_values::max_abs_difference(&part, &want);
                assert!(
                    diff < 1e-5,
                    "{nh}/{nkv} heads, rows {at}..{}: {diff}",
                    at + n
                );
            };
            check(0, prefix, rows_of(&k, 0, prefix), rows_of(&v, 0, prefix), 0);
            let mut at = prefix;
            for &len in &lens {
                let cat = |t: &Tensor| {
                    Tensor::cat(&[rows_of(t, 0, prefix), rows_of(t, at, len)], 0).unwrap()
                };
                check(at, len, cat(&k), cat(&v), prefix);
                at += len;
            }
        }
    }
}
