//! JSON text exactly as Python's `json.dumps` writes it, which chat templates' `tojson` produce in transformers:
//! `", "` and `": "` separators (or `","` with an indent), floats as Python's `repr`, non-ASCII kept unless
//! `ensure_ascii`.

use serde_json::Value;

/// `json.dumps(value, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii)`.
pub fn python_json(
    value: &Value,
    indent: Option<&str>,
    separators: Option<(&str, &str)>,
    sort_keys: bool,
    ensure_ascii: bool,
) -> String {
    let (item, key) = separators.unwrap_or(if indent.is_some() {
        (",", ": ")
    } else {
        (", ", ": ")
    });
    let mut out = String::new();
    let style = Style {
        indent,
        item,
        key,
        sort_keys,
        ensure_ascii,
    };
    write_value(&mut out, value, &style, 0);
    out
}

struct Style<'a> {
    indent: Option<&'a str>,
    item: &'a str,
    key: &'a str,
    sort_keys: bool,
    ensure_ascii: bool,
}

fn newline(out: &mut String, style: &Style<'_>, level: usize) {
    if let Some(ind) = style.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn write_value(out: &mut String, value: &Value, style: &Style<'_>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(out, s, style.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item);
                }
                newline(out, style, level + 1);
                write_value(out, v, style, level + 1);
            }
            newline(out, style, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<_> = map.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item);
                }
                newline(out, style, level + 1);
                write_string(out, k, style.ensure_ascii);
                out.push_str(style.key);
                write_value(out, v, style, level + 1);
            }
            newline(out, style, level);
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation for exponents -4..16 and
/// scientific (`1e-05`, `1.5e+16`) otherwise; `NaN`, `Infinity`, `-Infinity` as `json.dumps` writes them.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            let padded = format!("{digits:0<point$}");
            let (int, frac) = padded.split_at(point);
            let frac = if frac.is_empty() { "0" } else { frac };
            format!("{sign}{int}.{frac}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_as_python_repr() {
        // Each expected string is what CPython 3.11's repr() prints.
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789.125, "123456789.125"),
            (1e15, "1000000000000000.0"),
            (0.0, "0.0"),
            (-1.25e-7, "-1.25e-07"),
            (1e300, "1e+300"),
        ] {
            assert_eq!(python_float(f), s, "{f}");
        }
    }

    #[test]
    fn dumps_like_python() {
        let v = json!({"b": [1, {"x": null}], "a": "q\"é\u{1}", "e": [], "f": {}});
        assert_eq!(
            python_json(&v, None, None, false, false),
            r#"{"b": [1, {"x": null}], "a": "q\"é\u0001", "e": [], "f": {}}"#
        );
        assert_eq!(
            python_json(&v, Some("  "), None, true, true),
            "{\n  \"a\": \"q\\\"\\u00e9\\u0001\",\n  \"b\": [\n    1,\n    {\n      \"x\": null\n    }\n  ],\n  \"e\": [],\n  \"f\": {}\n}"
        );
        assert_eq!(
            python_json(&json!([1, 2]), None, Some((",", ":")), false, false),
            "[1,2]"
        );
    }
}
