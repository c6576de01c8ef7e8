//! How a single token is shown: the bytes a vocabulary piece stands for, and a readable string for them.

/// Turns vocabulary pieces into the bytes they stand for, following the tokenizer's decoder.
pub(crate) struct PieceDecoder {
    byte_level: Option<[u8; 0x180]>,
    byte_fallback: bool,
    metaspace: bool,
}

/// The decoder component types named anywhere in a serialised decoder.
fn decoder_types(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(t) = map.get("type").and_then(|t| t.as_str()) {
                out.push(t.to_string());
            }
            if let Some(pattern) = map
                .get("pattern")
                .and_then(|p| p.get("String"))
                .and_then(|s| s.as_str())
                && pattern == "\u{2581}"
            {
                out.push("Metaspace".into());
            }
            map.values().for_each(|v| decoder_types(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| decoder_types(v, out)),
        _ => {}
    }
}

/// GPT-2's byte-to-unicode table inverted: the byte each printable stand-in character encodes.
fn byte_level_table() -> [u8; 0x180] {
    let mut table = [0u8; 0x180];
    let mut next = 256u32;
    for b in 0u32..256 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let ch = if printable {
            b
        } else {
            let c = next;
            next += 1;
            c
        };
        table[ch as usize] = b as u8;
    }
    table
}

impl PieceDecoder {
    pub(crate) fn new(tokenizer: &tokenizers::Tokenizer) -> Self {
        let mut types = Vec::new();
        if let Some(decoder) = tokenizer.get_decoder()
            && let Ok(json) = serde_json::to_value(decoder)
        {
            decoder_types(&json, &mut types);
        }
        let has = |t: &str| types.iter().any(|x| x == t);
        Self {
            byte_level: has("ByteLevel").then(byte_level_table),
            byte_fallback: has("ByteFallback"),
            metaspace: has("Metaspace"),
        }
    }

    pub(crate) fn bytes(&self, piece: &str) -> Vec<u8> {
        if let Some(table) = &self.byte_level {
            return piece
                .chars()
                .map(|c| table.get(c as usize).copied().unwrap_or(b'?'))
                .collect();
        }
        if self.byte_fallback
            && let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>'))
            && hex.len() == 2
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            return vec![b];
        }
        if self.metaspace {
            return piece.replace('\u{2581}', " ").into_bytes();
        }
        piece.as_bytes().to_vec()
    }
}

/// The bytes as text; bytes that do not form whole UTF-8 characters are shown as `<0xNN>`.
pub(crate) fn bytes_to_display(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("<0x{b:02X}>"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_inverts_gpt2_mapping() {
        let t = byte_level_table();
        assert_eq!(t['a' as usize], b'a');
        assert_eq!(t['Ġ' as usize], b' ');
        assert_eq!(t['Ċ' as usize], b'\n');
    }

    #[test]
    fn partial_utf8_is_shown_as_bytes() {
        assert_eq!(bytes_to_display("é".as_bytes()), "é");
        assert_eq!(bytes_to_display(&[0xF0, 0x9F]), "<0xF0><0x9F>");
        assert_eq!(bytes_to_display(b"a\xE2"), "a<0xE2>");
    }
}
