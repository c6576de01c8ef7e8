//! GPT-NeoX (`GPTNeoXForCausalLM`: Pythia, the family the DPO paper's experiments used), after transformers'
//! `modeling_gpt_neox.py`: LayerNorm with biases, a fused `query_key_value` projection whose output holds q, k and
//! v per head (head 0's q, k, v, then head 1's, ...), rotary embeddings on the first `rotary_pct` of each head,
//! exact GELU in a plain MLP with biases, attention and MLP in parallel from the same input
//! (`use_parallel_residual`, the default) or one after the other, and an untied `embed_out` head. Tensors are named
//! `gpt_neox.embed_in`, `gpt_neox.layers.N.{input_layernorm, attention.{query_key_value, dense},
//! post_attention_layernorm, mlp.{dense_h_to_4h, dense_4h_to_h}}`, `gpt_neox.final_layer_norm`, `embed_out`.

use super::config::{DecoderConfig, Family, MlpKind, NormKind};
use super::config_json::{Common, HeadDim, read};
use super::decoder::{Attention, Kernels, Layer, Linear, Mlp, Norm, Parts, Projections};
use super::rope;
use super::weights::TensorSource;
use crate::error::Result;
use candle_core::Tensor;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

impl Family {
    /// `GPTNeoXForCausalLM`.
    pub const GPT_NEOX: Family = Family::new("GPTNeoXForCausalLM");
}

/// The fields of config.json GPT-NeoX reads besides the common ones, with transformers' `GPTNeoXConfig` defaults;
/// both the transformers 4 layout (`rotary_pct`, `rotary_emb_base`) and the 5 layout (`rope_parameters` with
/// `partial_rotary_factor` and `rope_theta`) are read.
#[derive(Debug, Deserialize)]
struct GptNeoXConfig {
    #[serde(flatten)]
    common: Common,
    rotary_pct: Option<f64>,
    rotary_emb_base: Option<f64>,
}

/// Reads a GPT-NeoX config.json.
pub(super) fn config(json: &Value, family: Family, path: &Path) -> Result<DecoderConfig> {
    let mut raw: GptNeoXConfig = read(json, path)?;
    // As many key/value heads as query heads, whatever the file says; the base may be named rotary_emb_base.
    raw.common.num_key_value_heads = None;
    raw.common.rope_theta = raw.common.rope_theta.or(raw.rotary_emb_base);
    let c = &raw.common;
    let shape = c.shape(HeadDim::Split, path)?;
    c.expect_act("gelu", "GPT-NeoX", path)?;
    let factor = rope::rotary_factor(c, raw.rotary_pct, 0.25);
    let (rope_theta, rope_scaling) = rope::read(c, 10_000.0, path)?;
    let attention_bias = c.attention_bias.unwrap_or(true);
    Ok(DecoderConfig {
        norm: NormKind::Layer,
        rms_norm_eps: c.layer_norm_eps.unwrap_or(1e-5),
        rotary_dim: rope::rotary_dim("rotary_pct", factor, shape.head_dim, path)?,
        parallel_residual: c.use_parallel_residual.unwrap_or(true),
        mlp: MlpKind::Gelu,
        rope_theta,
        rope_scaling,
        max_position_embeddings: c.max_position_embeddings.unwrap_or(2048),
        tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
        qkv_bias: attention_bias,
        o_bias: attention_bias,
        mlp_bias: true,
        ..DecoderConfig::new(family, shape)
    })
}

/// q, k and v weights `(heads * head_dim, in)` (or biases, without `in`) from the fused tensor, whose rows are
/// grouped by head: `[q_0, k_0, v_0, q_1, k_1, v_1, ...]`, each `head_dim` rows.
fn split_per_head(fused: &Tensor, heads: usize, head_dim: usize) -> Result<[Tensor; 3]> {
    let rest: Vec<usize> = fused.dims()[1..].to_vec();
    let mut grouped = vec![heads, 3, head_dim];
    grouped.extend(&rest);
    let t = fused.reshape(grouped)?;
    let mut out_shape = vec![heads * head_dim];
    out_shape.extend(&rest);
    let part = |i: usize| -> Result<Tensor> {
        Ok(t.narrow(1, i, 1)?
            .contiguous()?
            .reshape(out_shape.clone())?)
    };
    Ok([part(0)?, part(1)?, part(2)?])
}

/// Loads a GPT-NeoX checkpoint's tensors.
pub(super) fn load(cfg: &DecoderConfig, src: &dyn TensorSource, kernels: Kernels) -> Result<Parts> {
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (nh, hd) = (cfg.num_attention_heads, cfg.head_dim);
    let eps = cfg.rms_norm_eps;
    let embed = src.matrix("gpt_neox.embed_in.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("gpt_neox.layers.{l}");
        let qkv_name = format!("{p}.attention.query_key_value");
        let [wq, wk, wv] = split_per_head(
            &src.tensor(&format!("{qkv_name}.weight"), &[3 * h, h])?,
            nh,
            hd,
        )?;
        let [bq, bk, bv] = if cfg.qkv_bias {
            split_per_head(&src.tensor(&format!("{qkv_name}.bias"), &[3 * h])?, nh, hd)?.map(Some)
        } else {
            [None, None, None]
        };
        let attn = Attention {
            qkv: Projections::from_tensors(vec![(wq, bq), (wk, bk), (wv, bv)], kernels)?,
            o: Linear::load(
                src,
                &format!("{p}.attention.dense"),
                (h, h),
                cfg.o_bias,
                kernels,
            )?,
            q_norm: None,
            k_norm: None,
            heads: nh,
            kv_heads: nh,
            head_dim: hd,
            rotary_dim: cfg.rotary_dim,
            sliding_window: None,
            rope: 0,
            scale: cfg.attention_scale(),
            softcap: None,
        };
        layers.push(Layer {
            input_norm: Some(Norm::load(
                src,
                &format!("{p}.input_layernorm"),
                h,
                NormKind::Layer,
                eps,
            )?),
            attn,
            attn_out_norm: None,
            post_norm: Some(Norm::load(
                src,
                &format!("{p}.post_attention_layernorm"),
                h,
                NormKind::Layer,
                eps,
            )?),
            mlp: Mlp {
                up: Projections::load(
                    src,
                    &[(format!("{p}.mlp.dense_h_to_4h"), i)],
                    h,
                    true,
                    kernels,
                )?,
                down: Linear::load(
                    src,
                    &format!("{p}.mlp.dense_4h_to_h"),
                    (h, i),
                    true,
                    kernels,
                )?,
                kind: MlpKind::Gelu,
            },
            mlp_out_norm: None,
            parallel: cfg.parallel_residual,
        });
    }
    let final_norm = Norm::load(src, "gpt_neox.final_layer_norm", h, NormKind::Layer, eps)?;
    Parts::new(cfg, src, embed, layers, final_norm, "embed_out.weight")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn parse(json: &str) -> Result<DecoderConfig> {
        DecoderConfig::from_json(json, Path::new("config.json"))
    }

    const PYTHIA: &str = r#"{"architectures":["GPTNeoXForCausalLM"],"hidden_size":64,"intermediate_size":256,
        "vocab_size":100,"num_hidden_layers":2,"num_attention_heads":4,"rotary_pct":0.25,"rotary_emb_base":10000,
        "max_position_embeddings":128}"#;

    #[test]
    fn pythia_config_as_transformers_reads_it() {
        let c = parse(PYTHIA).unwrap();
        assert_eq!(c.family, Family::GPT_NEOX);
        assert_eq!((c.head_dim, c.rotary_dim), (16, 4));
        assert!(c.parallel_residual && c.qkv_bias && !c.tie_word_embeddings);
        assert_eq!(c.norm, NormKind::Layer);
        assert_eq!(c.rms_norm_eps, 1e-5);
        // transformers 5 writes rope_parameters instead.
        let v5 = PYTHIA.replace(
            r#""rotary_pct":0.25,"rotary_emb_base":10000"#,
            r#""rope_parameters":{"rope_type":"default","rope_theta":500.0,"partial_rotary_factor":0.5},"use_parallel_residual":false"#,
        );
        let c = parse(&v5).unwrap();
        assert_eq!((c.rotary_dim, c.rope_theta), (8, 500.0));
        assert!(!c.parallel_residual);
    }

    #[test]
    fn bad_fields_are_named() {
        let err = parse(&PYTHIA.replace("0.25", "0.1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rotary_pct"), "{err}");
        let err =
            parse(&PYTHIA.replace(r#""max_position"#, r#""hidden_act":"relu","max_position"#))
                .unwrap_err()
                .to_string();
        assert!(err.contains("hidden_act `relu`"), "{err}");
        let err =
            parse(&PYTHIA.replace(r#""num_attention_heads":4"#, r#""num_attention_heads":5"#))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("not a multiple of num_attention_heads"),
            "{err}"
        );
    }

    #[test]
    fn per_head_split_takes_each_heads_rows() {
        // 2 heads of size 2 over 1 input: rows q0 q0 k0 k0 v0 v0 q1 q1 k1 k1 v1 v1.
        let rows: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let fused = Tensor::from_vec(rows, (12, 1), &Device::Cpu).unwrap();
        let [q, k, v] = split_per_head(&fused, 2, 2).unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&q), vec![0.0, 1.0, 6.0, 7.0]);
        assert_eq!(flat(&k), vec![2.0, 3.0, 8.0, 9.0]);
        assert_eq!(flat(&v), vec![4.0, 5.0, 10.0, 11.0]);
    }
}
