//! GPT-NeoX (`GPTNeoXForCausalLM`: Pythia, the family the DPO paper's experiments used), after transformers'
//! `modeling_gpt_neox.py`: LayerNorm with biases, a fused `query_key_value` projection whose output holds q, k and
//! v per head (head 0's q, k, v, then head 1's, ...), rotary embeddings on the first `rotary_pct` of each head,
//! exact GELU in a plain MLP with biases, attention and MLP in parallel from the same input
//! (`use_parallel_residual`, the default) or one after the other, and an untied `embed_out` head. Tensors are named
//! `gpt_neox.embed_in`, `gpt_neox.layers.N.{input_layernorm, attention.{query_key_value, dense},
//! post_attention_layernorm, mlp.{dense_h_to_4h, dense_4h_to_h}}`, `gpt_neox.final_layer_norm`, `embed_out`.

use super::config::{
    DecoderConfig, Family, MlpKind, NormKind, parse_rope, require, require_layers,
};
use super::decoder::{Attention, Kernels, Layer, Linear, Mlp, Norm, Parts, Projections, lm_head};
use super::weights::TensorSource;
use crate::error::{Error, Result};
use candle_core::Tensor;
use serde::Deserialize;
use std::path::Path;

/// The fields of config.json GPT-NeoX reads, with transformers' `GPTNeoXConfig` defaults; both the transformers 4
/// layout (`rotary_pct`, `rotary_emb_base`) and the 5 layout (`rope_parameters` with `partial_rotary_factor` and
/// `rope_theta`) are read.
#[derive(Debug, Deserialize)]
struct GptNeoXConfig {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    vocab_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    rotary_pct: Option<f64>,
    rotary_emb_base: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    #[serde(default = "default_positions")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default = "yes")]
    use_parallel_residual: bool,
    #[serde(default = "yes")]
    attention_bias: bool,
    hidden_act: Option<String>,
}

fn default_eps() -> f64 {
    1e-5
}

fn default_positions() -> usize {
    2048
}

fn yes() -> bool {
    true
}

/// Reads a GPT-NeoX config.json.
pub(super) fn config(
    json: &serde_json::Value,
    family: Family,
    path: &Path,
) -> Result<DecoderConfig> {
    let raw = GptNeoXConfig::deserialize(json)
        .map_err(|e| Error::config(path, format!("not valid config.json: {e}")))?;
    let hidden_size = require(raw.hidden_size, "hidden_size", path)?;
    let heads = require(raw.num_attention_heads, "num_attention_heads", path)?;
    if hidden_size % heads != 0 {
        return Err(Error::config(
            path,
            format!(
                "hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({heads})"
            ),
        ));
    }
    let head_dim = hidden_size / heads;
    if let Some(act) = raw.hidden_act.as_deref()
        && act != "gelu"
    {
        return Err(Error::config(
            path,
            format!("hidden_act `{act}` is not supported for GPT-NeoX; creditlens runs `gelu`"),
        ));
    }
    let params = raw.rope_parameters.as_ref();
    let pct = params
        .and_then(|p| p.get("partial_rotary_factor"))
        .and_then(|v| v.as_f64())
        .or(raw.rotary_pct)
        .unwrap_or(0.25);
    if !(pct > 0.0 && pct <= 1.0) {
        return Err(Error::config(
            path,
            format!("rotary_pct (partial_rotary_factor) is {pct}; it must be in (0, 1]"),
        ));
    }
    // transformers: int(head_size * partial_rotary_factor).
    let rotary_dim = (head_dim as f64 * pct) as usize;
    if rotary_dim == 0 || !rotary_dim.is_multiple_of(2) {
        return Err(Error::config(
            path,
            format!(
                "rotary_pct {pct} of head size {head_dim} rotates {rotary_dim} features; rotary embeddings need an even, positive number"
            ),
        ));
    }
    let (rope_theta, rope_scaling) = parse_rope(
        raw.rope_theta.or(raw.rotary_emb_base),
        raw.rope_scaling.as_ref(),
        params,
        10_000.0,
        path,
    )?;
    let num_hidden_layers = require_layers(raw.num_hidden_layers, "num_hidden_layers", path)?;
    Ok(DecoderConfig {
        family,
        hidden_size,
        intermediate_size: require(raw.intermediate_size, "intermediate_size", path)?,
        vocab_size: require(raw.vocab_size, "vocab_size", path)?,
        num_hidden_layers,
        num_attention_heads: heads,
        num_key_value_heads: heads,
        head_dim,
        norm: NormKind::Layer,
        rms_norm_eps: raw.layer_norm_eps,
        rotary_dim,
        parallel_residual: raw.use_parallel_residual,
        mlp: MlpKind::Gelu,
        norm_unit_offset: false,
        sandwich_norms: false,
        embed_scale: None,
        query_pre_attn_scalar: None,
        attn_softcap: None,
        final_softcap: None,
        rope_local_theta: None,
        rope_theta,
        rope_scaling,
        max_position_embeddings: raw.max_position_embeddings,
        tie_word_embeddings: raw.tie_word_embeddings,
        qkv_bias: raw.attention_bias,
        o_bias: raw.attention_bias,
        mlp_bias: true,
        qk_norm: false,
        sliding_window: vec![None; num_hidden_layers],
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
    let norm = Norm::load(src, "gpt_neox.final_layer_norm", h, NormKind::Layer, eps)?;
    let lm_head = lm_head(cfg, src, &embed, "embed_out.weight")?;
    Ok(Parts {
        embed,
        layers,
        norm,
        lm_head,
        positions: None,
    })
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
        assert_eq!(c.family, Family::GptNeoX);
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
