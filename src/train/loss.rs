//! Training objectives, from differentiable candle ops: the SFT cross-entropy on response tokens and DPO's sigmoid
//! loss (Rafailov et al. 2023), `-log sigmoid(beta * ((lp_c - lr_c) - (lp_r - lr_r)))`.

use crate::error::Result;
use candle_core::{D, Tensor};

/// Per-row sums of the log-probabilities of `targets` (`(batch, t)` u32) under `logits` (`(batch, t, vocab)`),
/// over the positions where `mask` (`(batch, t)` f32) is 1.
pub fn sequence_logps(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp
        .gather(&targets.unsqueeze(D::Minus1)?, D::Minus1)?
        .squeeze(D::Minus1)?;
    Ok((picked * mask)?.sum(D::Minus1)?)
}

/// Mean negative log-likelihood per masked token.
pub fn sft_loss(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let total = sequence_logps(logits, targets, mask)?.sum_all()?;
    Ok((total.neg()? / mask.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64)?)
}

/// `log(1 + e^x)`, stable for large |x|: `max(x, 0) + log(1 + e^-|x|)`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? + tail)?)
}

/// DPO's sigmoid loss averaged over the batch, and the per-pair implicit rewards `beta * (lp - lr)` of chosen and
/// rejected (detached). All inputs are `(batch,)` summed log-probabilities; the reference ones carry no gradient.
pub fn dpo_loss(
    policy_chosen: &Tensor,
    policy_rejected: &Tensor,
    reference_chosen: &Tensor,
    reference_rejected: &Tensor,
    beta: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let chosen = ((policy_chosen - reference_chosen)? * beta)?;
    let rejected = ((policy_rejected - reference_rejected)? * beta)?;
    let loss = softplus(&(&rejected - &chosen)?)?.mean_all()?;
    Ok((loss, chosen.detach(), rejected.detach()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn dpo_loss_and_gradient_match_hand_computation() {
        let d = &Device::Cpu;
        let beta = 0.1;
        // Two pairs. Pair 0: policy moved toward chosen; pair 1: the other way.
        let pc = Var::new(&[-10.0f32, -12.0], d).unwrap();
        let pr = Var::new(&[-14.0f32, -9.0], d).unwrap();
        let rc = Tensor::new(&[-11.0f32, -11.0], d).unwrap();
        let rr = Tensor::new(&[-12.0f32, -10.0], d).unwrap();
        let (loss, chosen, rejected) =
            dpo_loss(pc.as_tensor(), pr.as_tensor(), &rc, &rr, beta).unwrap();
        // margins: pair 0: 0.1*((-10+11) - (-14+12)) = 0.3; pair 1: 0.1*((-12+11) - (-9+10)) = -0.2.
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let expected = (-(sig(0.3)).ln() - (sig(-0.2)).ln()) / 2.0;
        assert!((loss.to_scalar::<f32>().unwrap() as f64 - expected).abs() < 1e-6);
        assert_eq!(chosen.to_vec1::<f32>().unwrap(), vec![0.1, -0.1]);
        let r = rejected.to_vec1::<f32>().unwrap();
        assert!((r[0] + 0.2).abs() < 1e-6 && (r[1] - 0.1).abs() < 1e-6);
        // dL/d pc_i = -beta * sigmoid(-m_i) / n ; dL/d pr_i = +beta * sigmoid(-m_i) / n.
        let grads = loss.backward().unwrap();
        let gc = grads.get(pc.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        let gr = grads.get(pr.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        for (i, m) in [0.3f64, -0.2].into_iter().enumerate() {
            let g = beta * sig(-m) / 2.0;
            assert!((gc[i] as f64 + g).abs() < 1e-6, "{} vs {}", gc[i], -g);
            assert!((gr[i] as f64 - g).abs() < 1e-6, "{} vs {g}", gr[i]);
        }
    }

    #[test]
    fn softplus_is_stable() {
        let x = Tensor::new(&[-100.0f32, 0.0, 100.0], &Device::Cpu).unwrap();
        let y = softplus(&x).unwrap().to_vec1::<f32>().unwrap();
        assert!(y[0] >= 0.0 && y[0] < 1e-30);
        assert!((y[1] - 2f32.ln()).abs() < 1e-7);
        assert_eq!(y[2], 100.0);
    }

    #[test]
    fn sequence_logps_sums_masked_positions() {
        let d = &Device::Cpu;
        // One row, two positions, vocab 2: logits (ln 3, 0) -> p = (3/4, 1/4).
        let logits = Tensor::new(&[[[3f32.ln(), 0.0], [0.0, 0.0]]], d).unwrap();
        let targets = Tensor::new(&[[1u32, 0]], d).unwrap();
        let both = Tensor::new(&[[1f32, 1.0]], d).unwrap();
        let first = Tensor::new(&[[1f32, 0.0]], d).unwrap();
        let s = sequence_logps(&logits, &targets, &both)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((s[0] as f64 - (0.25f64.ln() + 0.5f64.ln())).abs() < 1e-6);
        let s = sequence_logps(&logits, &targets, &first)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((s[0] as f64 - 0.25f64.ln()).abs() < 1e-6);
        let l = sft_loss(&logits, &targets, &both)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((l as f64 + (0.25f64.ln() + 0.5f64.ln()) / 2.0).abs() < 1e-6);
    }
}
