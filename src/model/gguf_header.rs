//! A bounds-checked reader of a GGUF file's tensor table (names and ggml storage types), independent of candle's:
//! it explains what candle's reader refuses only by number ("unknown dtype 16"), naming the tensor, the type and
//! what can be read instead. Every length is checked against the bytes left, so a corrupt file is an error, never
//! a huge allocation or a panic.

/// One tensor of the table: its name and ggml type number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// The tensor's GGUF name (`blk.0.attn_q.weight`).
    pub name: String,
    /// The ggml type number (0 = F32, 2 = Q4_0, 16 = IQ2_XXS, ...).
    pub ggml_type: u32,
}

/// Why the table could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// GGUF version 1 stores lengths and counts in 32 bits, later versions in 64.
    wide: bool,
}

impl Reader<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], HeaderError> {
        let n = usize::try_from(n).map_err(|_| HeaderError("a length beyond memory".into()))?;
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                HeaderError(format!(
                    "the header needs {n} byte(s) at offset {} but the file ends at {}: it is truncated",
                    self.at,
                    self.bytes.len()
                ))
            })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, HeaderError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, HeaderError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len(&mut self) -> Result<u64, HeaderError> {
        if self.wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    fn string(&mut self) -> Result<String, HeaderError> {
        let n = self.len()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    /// Skips one metadata value of type `kind`.
    fn skip_value(&mut self, kind: u32, depth: usize) -> Result<(), HeaderError> {
        let size = match kind {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => {
                let n = self.len()?;
                self.take(n)?;
                return Ok(());
            }
            9 => {
                if depth > 8 {
                    return Err(HeaderError("metadata arrays nested too deep".into()));
                }
                let inner = self.u32()?;
                let n = self.len()?;
                // Each element takes at least one byte: a count beyond the bytes left is corrupt.
                if n > (self.bytes.len() - self.at) as u64 {
                    return Err(HeaderError(format!(
                        "a metadata array claims {n} elements, more than the file's bytes"
                    )));
                }
                for _ in 0..n {
                    self.skip_value(inner, depth + 1)?;
                }
                return Ok(());
            }
            other => {
                return Err(HeaderError(format!(
                    "metadata value type {other} does not exist in GGUF"
                )));
            }
        };
        self.take(size)?;
        Ok(())
    }
}

/// Reads the tensor table of the GGUF file `bytes`, skipping its metadata.
pub fn tensor_table(bytes: &[u8]) -> Result<Vec<TensorEntry>, HeaderError> {
    let mut r = Reader {
        bytes,
        at: 0,
        wide: true,
    };
    if r.take(4)? != b"GGUF" {
        return Err(HeaderError("the file does not start with `GGUF`".into()));
    }
    let version = r.u32()?;
    if !(1..=3).contains(&version) {
        return Err(HeaderError(format!(
            "GGUF version {version} is unknown (1 to 3 exist)"
        )));
    }
    r.wide = version >= 2;
    let tensors = r.len()?;
    let entries = r.len()?;
    for _ in 0..entries {
        r.string()?;
        let kind = r.u32()?;
        r.skip_value(kind, 0)?;
    }
    // A tensor entry takes at least 4 + 4 + 4 + 8 bytes.
    if tensors > (bytes.len() - r.at) as u64 / 20 {
        return Err(HeaderError(format!(
            "the header claims {tensors} tensors, more than the file can describe"
        )));
    }
    let mut table = Vec::new();
    for _ in 0..tensors {
        let name = r.string()?;
        let dims = r.u32()?;
        if dims > 8 {
            return Err(HeaderError(format!(
                "tensor `{name}` claims {dims} dimensions"
            )));
        }
        for _ in 0..dims {
            r.len()?;
        }
        let ggml_type = r.u32()?;
        r.u64()?;
        table.push(TensorEntry { name, ggml_type });
    }
    Ok(table)
}

/// The storage types creditlens (candle) reads, by ggml type number.
pub const READABLE_TYPES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (30, "BF16"),
];

/// ggml's name of type number `t` (llama.cpp's `ggml_type`), or `None` for a number ggml does not define.
pub fn type_name(t: u32) -> Option<&'static str> {
    const OTHER: &[(u32, &str)] = &[
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (24, "I8"),
        (25, "I16"),
        (26, "I32"),
        (27, "I64"),
        (28, "F64"),
        (29, "IQ1_M"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
        (39, "MXFP4"),
    ];
    READABLE_TYPES
        .iter()
        .chain(OTHER)
        .find(|(n, _)| *n == t)
        .map(|(_, name)| *name)
}

/// The first tensor of `bytes`'s table stored in a type candle cannot read, as a sentence for the user; `None`
/// when the table cannot be read or every type is readable.
pub fn unreadable_type(bytes: &[u8]) -> Option<String> {
    let table = tensor_table(bytes).ok()?;
    let bad = table
        .iter()
        .find(|t| !READABLE_TYPES.iter().any(|(n, _)| *n == t.ggml_type))?;
    let count = table
        .iter()
        .filter(|t| t.ggml_type == bad.ggml_type)
        .count();
    let kind = type_name(bad.ggml_type).map_or_else(
        || format!("ggml type {}, which ggml does not define", bad.ggml_type),
        |n| format!("{n} (ggml type {})", bad.ggml_type),
    );
    let supported = READABLE_TYPES
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "tensor `{}` ({count} tensor(s) in all) is stored as {kind}, which creditlens cannot read; readable types: \
         {supported}. Quantise the original model again to one of them (llama.cpp's llama-quantize, e.g. Q4_K_M \
         or Q8_0), or open its safetensors checkpoint",
        bad.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF v3 file with one string metadata entry, one array entry and the given tensors.
    fn header(tensors: &[(&str, u32)]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend((tensors.len() as u64).to_le_bytes());
        b.extend(2u64.to_le_bytes());
        let s = |b: &mut Vec<u8>, t: &str| {
            b.extend((t.len() as u64).to_le_bytes());
            b.extend(t.as_bytes());
        };
        s(&mut b, "general.architecture");
        b.extend(8u32.to_le_bytes());
        s(&mut b, "llama");
        s(&mut b, "tokenizer.ggml.scores");
        b.extend(9u32.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend(1.0f32.to_le_bytes());
        b.extend(2.0f32.to_le_bytes());
        for (name, t) in tensors {
            s(&mut b, name);
            b.extend(2u32.to_le_bytes());
            b.extend(32u64.to_le_bytes());
            b.extend(4u64.to_le_bytes());
            b.extend(t.to_le_bytes());
            b.extend(0u64.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_names_and_types() {
        let b = header(&[("token_embd.weight", 2), ("blk.0.attn_q.weight", 16)]);
        let table = tensor_table(&b).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table[1].name, "blk.0.attn_q.weight");
        assert_eq!(table[1].ggml_type, 16);
    }

    #[test]
    fn an_unreadable_type_is_named_with_its_tensor_and_the_readable_ones() {
        let b = header(&[("token_embd.weight", 2), ("blk.0.attn_q.weight", 16)]);
        let msg = unreadable_type(&b).unwrap();
        assert!(msg.contains("`blk.0.attn_q.weight`"), "{msg}");
        assert!(msg.contains("IQ2_XXS (ggml type 16)"), "{msg}");
        assert!(msg.contains("Q4_K") && msg.contains("Q8_0"), "{msg}");
        assert_eq!(unreadable_type(&header(&[("a", 12)])), None);
    }

    #[test]
    fn every_cut_of_a_header_is_an_error_not_a_panic() {
        let b = header(&[("token_embd.weight", 2), ("blk.0.attn_q.weight", 16)]);
        for end in 0..b.len() {
            assert!(tensor_table(&b[..end]).is_err(), "cut at {end}");
        }
    }
}
