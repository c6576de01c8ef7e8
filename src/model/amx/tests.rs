//! The AMX products against plain f32 sums, packed at load and in place.

use super::*;

/// The tiles' product equals a plain f32 product of the same bf16 values (products of bf16 are exact in
/// f32; only the order of the sums differs), for shapes that are not multiples of the tiles, both layouts.
#[test]
fn amx_product_equals_f32_product_of_the_bf16_values() {
    if without_amx() {
        return;
    }
    let mut rng = crate::rng::Rng::new(7);
    for (m, k, n) in [
        (1, 1, 1),
        (5, 37, 19),
        (33, 64, 48),
        (70, 300, 290),
        (3, 2048, 600),
        (100, 8192, 40),
    ] {
        let a = values(m * k, &mut rng);
        let b = values(k * n, &mut rng);
        let af: Vec<f32> = a.iter().map(|v| v.to_f32()).collect();
        let tiles = Tiles::pack(&b, (k, n), Layout::KByN);
        let got = tiles.matmul(&af, m).unwrap_or_else(|e| panic!("{e}"));
        let bt: Vec<bf16> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let tiles_t = Tiles::pack(&bt, (k, n), Layout::NByK);
        let got_t = tiles_t.matmul(&af, m).unwrap_or_else(|e| panic!("{e}"));
        // The packed values read back as B's columns (a tied head's embedding rows).
        let mut col = vec![bf16::ZERO; k];
        for j in 0..n {
            tiles_t.column(j, &mut col);
            assert_eq!(col, bt[j * k..(j + 1) * k], "{m}x{k}x{n} column {j}");
        }
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| f64::from(a[i * k + p].to_f32()) * f64::from(b[p * n + j].to_f32()))
                    .sum();
                let tol = 1e-5 * (1.0 + want.abs()) * (k as f64).sqrt();
                assert!(
                    (f64::from(got[i * n + j]) - want).abs() <= tol,
                    "{m}x{k}x{n} [{i},{j}]"
                );
                assert_eq!(got[i * n + j], got_t[i * n + j], "{m}x{k}x{n} [{i},{j}]");
            }
        }
    }
}

/// Whether this CPU or kernel lacks AMX (the test is then skipped, saying so).
fn without_amx() -> bool {
    if available() {
        return false;
    }
    eprintln!("skipped: this CPU or kernel has no AMX");
    true
}

/// Random bf16 values in [-1, 1].
fn values(len: usize, rng: &mut crate::rng::Rng) -> Vec<bf16> {
    (0..len)
        .map(|_| bf16::from_f32((rng.next_u64() % 2001) as f32 / 1000.0 - 1.0))
        .collect()
}

/// Weights left in place in a mapped file (at an offset that is even but not 8-aligned, parts stacked as fused
/// projections are) multiply exactly as the same weights packed at load, and read back the same rows; odd or
/// out-of-file offsets are refused.
#[test]
fn in_place_weights_multiply_as_packed_ones() {
    if without_amx() {
        return;
    }
    let mut rng = crate::rng::Rng::new(11);
    for (m, k, sizes) in [
        (5, 37, vec![19]),
        (33, 64, vec![48, 16, 37]),
        (70, 300, vec![290]),
        (40, 2048, vec![256, 64, 300]),
    ] {
        let parts: Vec<Vec<bf16>> = sizes.iter().map(|n| values(n * k, &mut rng)).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = vec![0u8; 6];
        let mut offsets = Vec::new();
        for p in &parts {
            offsets.push(bytes.len());
            bytes.extend(p.iter().flat_map(|v| v.to_le_bytes()));
        }
        std::io::Write::write_all(&mut file, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let map = Arc::new(MappedFile::open(file.path()).unwrap_or_else(|e| panic!("{e}")));
        let in_place: Vec<Tiles> = sizes
            .iter()
            .zip(&offsets)
            .map(|(&n, &at)| {
                Tiles::in_place(map.clone(), at, (n, k)).unwrap_or_else(|| panic!("{n}"))
            })
            .collect();
        let stacked =
            Tiles::stack(&in_place.iter().collect::<Vec<_>>()).unwrap_or_else(|| panic!("stack"));
        let packed = Tiles::pack_rows(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>(), k);
        assert!(stacked.is_in_place() && !packed.is_in_place());
        assert_eq!(stacked.dims(), packed.dims());
        assert_eq!(
            stacked.bytes(),
            (sizes.iter().sum::<usize>() * k * 2) as u64
        );
        let a: Vec<f32> = values(m * k, &mut rng).iter().map(|v| v.to_f32()).collect();
        // Twice: the second product packs into buffers the first left full of other values.
        for _ in 0..2 {
            assert_eq!(
                stacked.matmul(&a, m).unwrap_or_else(|e| panic!("{e}")),
                packed.matmul(&a, m).unwrap_or_else(|e| panic!("{e}")),
                "{m}x{k}x{sizes:?}"
            );
        }
        let (mut x, mut y) = (vec![bf16::ZERO; k], vec![bf16::ZERO; k]);
        for j in 0..packed.dims().0 {
            stacked.column(j, &mut x);
            packed.column(j, &mut y);
            assert_eq!(x, y, "{m}x{k}x{sizes:?} row {j}");
        }
        assert!(
            Tiles::in_place(map.clone(), 7, (1, k)).is_none(),
            "odd offset"
        );
        assert!(
            Tiles::in_place(map.clone(), 6, (sizes.iter().sum::<usize>() + 1, k)).is_none(),
            "past the end"
        );
        // Saved over (truncated) after mapping: refused with the file's name, never read.
        assert!(stacked.readable().is_ok());
        file.as_file().set_len(6).unwrap_or_else(|e| panic!("{e}"));
        let err = stacked
            .readable()
            .err()
            .unwrap_or_else(|| panic!("a truncated file was readable"));
        assert!(
            err.contains(&file.path().display().to_string()) && err.contains("changed on disk"),
            "{err}"
        );
        let x = candle_core::Tensor::from_vec(a.clone(), (m, k), &candle_core::Device::Cpu)
            .unwrap_or_else(|e| panic!("{e}"));
        let err = x
            .apply_op1_no_bwd(&TilesProduct(&stacked, Input::Rounded))
            .err()
            .unwrap_or_else(|| panic!("multiplied"));
        assert!(err.to_string().contains("changed on disk"), "{err}");
    }
}

/// The activations' rounding to bf16 is `half`'s, bit for bit: ties to even, the largest finite values (to
/// infinity or not), subnormals, infinities and NaNs.
#[test]
fn rounding_to_bf16_is_halfs() {
    let mut rng = crate::rng::Rng::new(5);
    let mut values: Vec<f32> = (0..100_000)
        .map(|_| f32::from_bits((rng.next_u64() >> 32) as u32))
        .collect();
    values.extend([
        0.0,
        -0.0,
        1.0,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        1e-40,
        f32::from_bits(0x3F80_8000),
        f32::from_bits(0x3F81_8000),
        f32::from_bits(0x3F80_8001),
        f32::from_bits(0x7F7F_8000),
        f32::from_bits(0xFFC0_0001),
    ]);
    let mut got = vec![bf16::ZERO; values.len()];
    super::pack::round_bf16(&values, &mut got);
    for (v, g) in values.iter().zip(&got) {
        assert_eq!(
            g.to_bits(),
            bf16::from_f32(*v).to_bits(),
            "{:#x}",
            v.to_bits()
        );
    }
}

/// Every finite f32 from 2^-110 up is the exact sum of its three bf16 parts (the extremes and ties included),
/// smaller ones to bf16's subnormal spacing; values that round to infinity, infinities and NaNs go whole into the
/// first part.
#[test]
fn three_bf16_parts_sum_to_the_f32_exactly() {
    let mut rng = crate::rng::Rng::new(13);
    let mut values: Vec<f32> = (0..100_000)
        .map(|_| f32::from_bits((rng.next_u64() >> 32) as u32))
        .collect();
    values.extend([
        0.0,
        -0.0,
        1.0,
        f32::MIN_POSITIVE,
        1e-40,
        f32::from_bits(1),
        f32::from_bits(0x3F80_8000),
        f32::from_bits(0x3F81_8000),
        f32::from_bits(0x3F80_8001),
        f32::from_bits(0x7F7F_7FFF),
        f32::from_bits(0x7F7F_8000),
        f32::MAX,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    let n = values.len();
    let (mut hi, mut mid, mut lo) = (
        vec![bf16::ZERO; n],
        vec![bf16::ZERO; n],
        vec![bf16::ZERO; n],
    );
    super::pack::split_bf16(&values, &mut hi, &mut mid, &mut lo);
    for (i, v) in values.iter().enumerate() {
        let rounded = bf16::from_f32(*v);
        if !rounded.is_finite() {
            assert_eq!(hi[i].to_bits(), rounded.to_bits(), "{:#x}", v.to_bits());
            assert_eq!(
                (mid[i], lo[i]),
                (bf16::ZERO, bf16::ZERO),
                "{:#x}",
                v.to_bits()
            );
            continue;
        }
        assert_eq!(hi[i], rounded, "{:#x}", v.to_bits());
        let sum =
            f64::from(hi[i].to_f32()) + f64::from(mid[i].to_f32()) + f64::from(lo[i].to_f32());
        if v.abs() >= 2f32.powi(-110) {
            assert_eq!(sum, f64::from(*v), "{:#x}", v.to_bits());
        } else {
            // Parts below 2^-126 are subnormal, with fewer bits (spacing 2^-133).
            assert!(
                (sum - f64::from(*v)).abs() <= 2f64.powi(-134),
                "{:#x}",
                v.to_bits()
            );
        }
    }
}

/// An f32 input taken exactly (three bf16 parts) times bf16 weights is the f32 product: within the error of f32
/// sums of the exact products (`4 u k rms(a b)`, u = 2^-24), in place and packed alike; the same input rounded to
/// bf16 misses that bound by far (the test can tell the two apart).
#[test]
fn exact_input_multiplies_as_f32() {
    if without_amx() {
        return;
    }
    let mut rng = crate::rng::Rng::new(17);
    for (m, k, n) in [
        (1, 5, 3),
        (33, 64, 48),
        (70, 300, 290),
        (40, 2048, 300),
        (64, 576, 100),
    ] {
        // Full f32 inputs (24 significant bits), spread over a few binades.
        let a: Vec<f32> = (0..m * k)
            .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0)
            .collect();
        let bt = values(n * k, &mut rng);
        let packed = Tiles::pack(&bt, (k, n), Layout::NByK);
        let mut file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        let bytes: Vec<u8> = bt.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::io::Write::write_all(&mut file, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let map = Arc::new(MappedFile::open(file.path()).unwrap_or_else(|e| panic!("{e}")));
        let in_place = Tiles::in_place(map, 0, (n, k)).unwrap_or_else(|| panic!("in place"));
        let exact = packed
            .matmul_taking(&a, m, Input::Exact)
            .unwrap_or_else(|e| panic!("{e}"));
        let exact_in_place = in_place
            .matmul_taking(&a, m, Input::Exact)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(exact, exact_in_place, "{m}x{k}x{n}");
        let rounded = packed.matmul(&a, m).unwrap_or_else(|e| panic!("{e}"));
        let mut rounded_misses = false;
        for i in 0..m {
            for j in 0..n {
                let terms: Vec<f64> = (0..k)
                    .map(|p| f64::from(a[i * k + p]) * f64::from(bt[j * k + p].to_f32()))
                    .collect();
                let want: f64 = terms.iter().sum();
                let rms = (terms.iter().map(|t| t * t).sum::<f64>() / k as f64).sqrt();
                let tol = 4.0 * f64::from(f32::EPSILON) / 2.0 * k as f64 * rms + 1e-30;
                let err = (f64::from(exact[i * n + j]) - want).abs();
                assert!(err <= tol, "{m}x{k}x{n} [{i},{j}]: {err} > {tol}");
                rounded_misses |= (f64::from(rounded[i * n + j]) - want).abs() > 10.0 * tol;
            }
        }
        assert!(
            rounded_misses || k < 8,
            "{m}x{k}x{n}: bf16 inputs within the f32 bound"
        );
    }
}
