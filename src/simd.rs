//! Vector instructions for the hand-written kernels (attention softmax, the gated activation, dequantisation,
//! the per-token metrics), chosen when the program runs: the same binary uses AVX-512 on a CPU that has it, AVX2
//! and FMA on one that has those, and the x86-64 baseline (SSE2) elsewhere.
//!
//! A kernel is written once, as plain Rust over fixed-width lane arrays (`[f32; LANES]`) so that the compiler
//! vectorises it, and [`best_simd!`] compiles it once per instruction set and calls the best one the CPU has.
//! Every variant computes the same operations in the same order (Rust never fuses a multiply and an add on its
//! own), so the results are bit for bit the same on every machine; only the speed differs. `CREDITLENS_SIMD`
//! (`avx512`, `avx2` or `baseline`) caps the choice, to compare them.

use std::sync::OnceLock;

/// Lanes of the kernels' lane arrays: one AVX-512 register of f32 (two AVX2 ones).
pub const LANES: usize = 16;

/// The instruction sets the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// x86-64's baseline (SSE2), or any other architecture's default.
    Baseline,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F/BW/DQ/VL (x86-64-v4).
    Avx512,
}

impl Level {
    /// The name `CREDITLENS_SIMD` takes and the benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }
}

/// The widest instruction set this CPU has.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

/// The instruction set the kernels use: [`detected`], capped by `CREDITLENS_SIMD` when it names a narrower one
/// (an unknown name is ignored). Decided once per process.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("CREDITLENS_SIMD").as_deref() {
            Ok("baseline") => Level::Baseline,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        detected().min(cap)
    })
}

/// Defines `fn $name(args) -> ret` that runs the `#[inline(always)]` function `$body` compiled for the best
/// instruction set [`level`] allows (see the module documentation).
macro_rules! best_simd {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn v4($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level` reports only instruction sets the CPU has.
                    $crate::simd::Level::Avx512 => return unsafe { v4($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Level::Avx2 => return unsafe { v3($($arg),*) },
                    $crate::simd::Level::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use best_simd;

/// `e^x` in f32 without branches or library calls, so that loops over it vectorise: within 2e-7 relative of the
/// exact value (about 1.5 ulp) for `x` in [-87, 88], 0 below (the smallest normal f32 is e^-87.3), +inf above,
/// NaN for NaN. Cody-Waite range reduction (`x = n ln 2 + r`, `|r| <= ln 2 / 2`) and a degree-7 Taylor polynomial
/// for `e^r`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer in the default rounding mode.
    const ROUND: f32 = 12_582_912.0;
    let c = x.clamp(-87.0, 88.0);
    let shifted = c * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (c - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n from the integer held in the low bits of `shifted` (1.5 * 2^23 + n, n in [-126, 127]) by integer
    // operations: a float-to-int cast would not vectorise (Rust's `as` saturates and maps NaN to 0), and was most
    // of the time of the loops calling this.
    let scale = f32::from_bits(
        shifted
            .to_bits()
            .wrapping_sub(0x4B40_0000)
            .wrapping_add(127)
            << 23,
    );
    let y = p * scale;
    if x < -87.0 {
        0.0
    } else if x > 88.0 {
        f32::INFINITY
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_its_range() {
        let mut worst = 0f64;
        for i in 0..=4_000_000 {
            let x = -87.0 + (i as f32) * (175.0 / 4_000_000.0);
            let exact = f64::from(x).exp();
            let rel = (f64::from(exp(x)) - exact).abs() / exact;
            worst = worst.max(rel);
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(88.5), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
    }

    #[inline(always)]
    fn exps(xs: &mut [f32]) {
        for x in xs {
            *x = exp(*x);
        }
    }

    best_simd! {
        fn exps_best(xs: &mut [f32]) = exps;
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let xs: Vec<f32> = (0..10_000).map(|i| (i as f32 - 5000.0) * 0.0191).collect();
        let mut a = xs.clone();
        let mut b = xs;
        exps(&mut a);
        exps_best(&mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn the_level_is_one_the_cpu_has() {
        assert!(level() <= detected());
    }
}
