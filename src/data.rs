//! Reading preference data: JSONL or a JSON array of TRL records, pairs `{"prompt","chosen","rejected"}` and
//! unpaired `{"prompt","completion"}` (or `"response"`), as plain text (standard) or as lists of
//! `{"role","content"}` messages (conversational, with an optional implicit prompt, `tools` and
//! `chat_template_kwargs`). Each record keeps the line it starts on, so every problem is reported as
//! `file:line: reason`.

use crate::chat::{Conversation, extract_prompt, kind, messages_from_json};
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// One record of a preference dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A preference pair.
    Pair {
        /// The prompt.
        prompt: String,
        /// The preferred response.
        chosen: String,
        /// The dispreferred response.
        rejected: String,
        /// Labelled errors in `rejected`: `[start, end)` in characters (optional field `"error_spans"`).
        error_spans: Vec<(usize, usize)>,
        /// The messages, for a conversational record (then the texts above are what a table shows: the last
        /// user message and the completions' texts).
        chat: Option<Box<Conversation>>,
    },
    /// A single response.
    Unpaired {
        /// The prompt.
        prompt: String,
        /// The response.
        completion: String,
        /// The messages, for a conversational record.
        chat: Option<Box<Conversation>>,
    },
}

impl Record {
    /// The prompt.
    pub fn prompt(&self) -> &str {
        match self {
            Record::Pair { prompt, .. } | Record::Unpaired { prompt, .. } => prompt,
        }
    }

    /// The responses in order (chosen then rejected for a pair).
    pub fn responses(&self) -> Vec<&str> {
        match self {
            Record::Pair {
                chosen, rejected, ..
            } => vec![chosen, rejected],
            Record::Unpaired { completion, .. } => vec![completion],
        }
    }

    /// Whether the record is a preference pair.
    pub fn is_pair(&self) -> bool {
        matches!(self, Record::Pair { .. })
    }

    /// The conversation of a conversational record.
    pub fn chat(&self) -> Option<&Conversation> {
        match self {
            Record::Pair { chat, .. } | Record::Unpaired { chat, .. } => chat.as_deref(),
        }
    }

    /// Builds a record from one JSON object, or says what is wrong with it.
    pub fn from_json(value: &Value) -> std::result::Result<Self, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("expected a JSON object, found {}", kind(value)))?;
        if TEXT_FIELDS
            .iter()
            .any(|k| matches!(obj.get(*k), Some(Value::Array(_))))
        {
            return conversational(obj);
        }
        let text = |key: &str| -> std::result::Result<Option<String>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(format!("field `{key}` must be a string, found {}", kind(v))),
            }
        };
        if obj.get("prompt") == Some(&Value::Null) {
            return Err(
                "field `prompt` is null; give the prompt as a string (\"\" for none)".into(),
            );
        }
        let prompt = text("prompt")?.ok_or("missing field `prompt`")?;
        match (text("chosen")?, text("rejected")?) {
            (Some(chosen), Some(rejected)) => {
                let error_spans = parse_spans(obj.get("error_spans"), rejected.chars().count())?;
                return Ok(Record::Pair {
                    prompt,
                    chosen,
                    rejected,
                    error_spans,
                    chat: None,
                });
            }
            (Some(_), None) => return Err("has `chosen` but no `rejected`".into()),
            (None, Some(_)) => return Err("has `rejected` but no `chosen`".into()),
            (None, None) => {}
        }
        let completion = match text("completion")? {
            Some(c) => c,
            None => text("response")?.ok_or(
                "needs `chosen` and `rejected` (a pair) or `completion`/`response` (unpaired)",
            )?,
        };
        Ok(Record::Unpaired {
            prompt,
            completion,
            chat: None,
        })
    }
}

/// The fields that hold a prompt or a response.
const TEXT_FIELDS: [&str; 5] = ["prompt", "chosen", "rejected", "completion", "response"];

/// A record whose fields are lists of messages (TRL's conversational format).
fn conversational(obj: &Map<String, Value>) -> std::result::Result<Record, String> {
    let list_field = TEXT_FIELDS
        .iter()
        .find(|k| matches!(obj.get(**k), Some(Value::Array(_))))
        .copied()
        .unwrap_or("prompt");
    if let Some(k) = TEXT_FIELDS
        .iter()
        .find(|k| matches!(obj.get(**k), Some(Value::String(_))))
    {
        return Err(format!(
            "the record mixes plain text and messages: `{k}` is a string but `{list_field}` is a list of messages; give every field in one format"
        ));
    }
    let messages = |key: &str| -> std::result::Result<Option<Vec<_>>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => messages_from_json(key, v).map(Some),
        }
    };
    let prompt = messages("prompt")?;
    let completion = match messages("completion")? {
        Some(c) => Some(c),
        None => messages("response")?,
    };
    let (conv, paired) = match (messages("chosen")?, messages("rejected")?, prompt) {
        (Some(c), Some(r), prompt) => {
            let implicit = prompt.is_none();
            let (prompt, c, r) = match prompt {
                Some(p) => (p, c, r),
                None => extract_prompt(c, r)?,
            };
            for (key, list) in [("chosen", &c), ("rejected", &r)] {
                if list.is_empty() {
                    return Err(format!(
                        "`{key}` has no message after the prompt; there is nothing to score"
                    ));
                }
            }
            (
                Conversation {
                    prompt,
                    completions: vec![c, r],
                    tools: None,
                    kwargs: Map::new(),
                    implicit_prompt: implicit,
                },
                true,
            )
        }
        (Some(_), None, _) => return Err("has `chosen` but no `rejected`".into()),
        (None, Some(_), _) => return Err("has `rejected` but no `chosen`".into()),
        (None, None, prompt) => {
            let completion = completion.ok_or(
                "needs `chosen` and `rejected` (a pair) or `completion` (unpaired) message lists",
            )?;
            let prompt =
                prompt.ok_or("missing field `prompt` (the messages before the completion)")?;
            (
                Conversation {
                    prompt,
                    completions: vec![completion],
                    tools: None,
                    kwargs: Map::new(),
                    implicit_prompt: false,
                },
                false,
            )
        }
    };
    if conv.prompt.is_empty() {
        return Err("`prompt` has no message".into());
    }
    let mut conv = conv;
    conv.read_extras(obj)?;
    let prompt = conv.prompt_text();
    if paired {
        let (chosen, rejected) = (conv.completion_text(0), conv.completion_text(1));
        let error_spans = parse_spans(obj.get("error_spans"), rejected.chars().count())?;
        Ok(Record::Pair {
            prompt,
            chosen,
            rejected,
            error_spans,
            chat: Some(Box::new(conv)),
        })
    } else {
        Ok(Record::Unpaired {
            prompt,
            completion: conv.completion_text(0),
            chat: Some(Box::new(conv)),
        })
    }
}

/// `"error_spans": [[start, end], ...]`: character offsets into the rejected response, `start < end <= len`.
fn parse_spans(
    value: Option<&Value>,
    len: usize,
) -> std::result::Result<Vec<(usize, usize)>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let bad = || {
        "field `error_spans` must be a list of [start, end] character offsets into `rejected`"
            .to_string()
    };
    let list = value.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|span| {
            let pair = span.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
            let (start, end) = match (pair[0].as_u64(), pair[1].as_u64()) {
                (Some(a), Some(b)) => (a as usize, b as usize),
                _ => return Err(bad()),
            };
            if start >= end || end > len {
                return Err(format!(
                    "error span [{start}, {end}] does not fit `rejected` ({len} characters); spans are [start, end) with start < end <= length"
                ));
            }
            Ok((start, end))
        })
        .collect()
}

/// A record as read from a file: where it starts, and the record or why it is unusable.
#[derive(Debug)]
pub struct Entry {
    /// 0-based position of the record in the file.
    pub index: usize,
    /// 1-based line the record starts on.
    pub line: usize,
    /// The record, or what is wrong with it (already prefixed with `file:line`).
    pub record: std::result::Result<Record, Error>,
}

/// Reads every record of a JSONL file or JSON array. A file that cannot be read at all is an error; a bad record
/// is an [`Entry`] holding its error, so that callers can stop or skip.
pub fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    if path == Path::new(STDIN) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|e| Error::io(path, e))?;
        return parse_entries("<stdin>", bytes);
    }
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    if path.is_dir() {
        return Err(Error::Data {
            location: path.display().to_string(),
            message: "is a directory; pass a .jsonl or .json file".into(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_entries(&path.display().to_string(), bytes)
}

/// The data path that stands for standard input (`--data -`).
pub const STDIN: &str = "-";

/// The records of a data file's `bytes` (JSONL or a JSON array); `name` is how messages call the file.
pub fn parse_entries(name: &str, mut bytes: Vec<u8>) -> Result<Vec<Entry>> {
    let name = name.to_string();
    // A UTF-8 byte-order mark (as some Windows editors write) is not part of the data.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(Error::Data {
            location: name,
            message: "the file is empty; it should hold one JSON record per line".into(),
        }),
        Some(b'[') => read_array(&name, &bytes),
        Some(_) => Ok(read_lines(&name, &bytes)),
    }
}

fn data_error(name: &str, line: usize, message: impl Into<String>) -> Error {
    Error::Data {
        location: format!("{name}:{line}"),
        message: message.into(),
    }
}

fn read_lines(name: &str, bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match std::str::from_utf8(raw) {
            Err(e) => Err(data_error(
                name,
                line,
                format!(
                    "not valid UTF-8 (at byte {} of the line); save the file as UTF-8",
                    e.valid_up_to() + 1
                ),
            )),
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Err(e) => Err(data_error(
                    name,
                    line,
                    format!("not valid JSON ({e}); each line must be one JSON object"),
                )),
                Ok(v) => Record::from_json(&v).map_err(|m| data_error(name, line, m)),
            },
        };
        entries.push(Entry {
            index: entries.len(),
            line,
            record,
        });
    }
    entries
}

fn line_of(text: &str, byte: usize) -> usize {
    1 + text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn read_array(name: &str, bytes: &[u8]) -> Result<Vec<Entry>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        data_error(name, line, "not valid UTF-8; save the file as UTF-8")
    })?;
    let open = text.find('[').unwrap_or(0);
    let mut pos = open + 1;
    let mut entries = Vec::new();
    loop {
        let rest = &text[pos..];
        let skipped = rest.len() - rest.trim_start().len();
        pos += skipped;
        match text[pos..].chars().next() {
            Some(']') => break,
            Some(',') if !entries.is_empty() => {
                pos += 1;
                continue;
            }
            None => {
                return Err(data_error(
                    name,
                    line_of(text, pos),
                    "the JSON array is not closed with `]` (truncated file?)",
                ));
            }
            _ => {}
        }
        let line = line_of(text, pos);
        let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                pos += stream.byte_offset();
                entries.push(Entry {
                    index: entries.len(),
                    line,
                    record: Record::from_json(&v).map_err(|m| data_error(name, line, m)),
                });
            }
            Some(Err(e)) => {
                return Err(data_error(
                    name,
                    line + e.line().saturating_sub(1),
                    format!("malformed JSON: {e}"),
                ));
            }
            None => break,
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> std::result::Result<Record, String> {
        Record::from_json(&serde_json::from_str(v).unwrap())
    }

    #[test]
    fn pair_and_unpaired() {
        assert!(matches!(
            parse(r#"{"prompt":"p","chosen":"a","rejected":"b"}"#),
            Ok(Record::Pair { .. })
        ));
        assert!(matches!(
            parse(r#"{"prompt":"p","completion":"a"}"#),
            Ok(Record::Unpaired { .. })
        ));
        assert!(matches!(
            parse(r#"{"prompt":"p","response":"a"}"#),
            Ok(Record::Unpaired { .. })
        ));
        let labelled =
            parse(r#"{"prompt":"p","chosen":"a","rejected":"é 42.","error_spans":[[2,4]]}"#);
        assert!(
            matches!(labelled, Ok(Record::Pair { error_spans, .. }) if error_spans == vec![(2, 4)])
        );
    }

    #[test]
    fn reasons_name_the_field() {
        assert!(
            parse(r#"{"chosen":"a","rejected":"b"}"#)
                .unwrap_err()
                .contains("prompt")
        );
        assert!(
            parse(r#"{"prompt":"p","chosen":"a"}"#)
                .unwrap_err()
                .contains("rejected")
        );
        assert!(
            parse(r#"{"prompt":1,"completion":"a"}"#)
                .unwrap_err()
                .contains("must be a string")
        );
        assert!(
            parse(r#"{"prompt":"p","chosen":[{"role":"user","content":"a"}],"rejected":"b"}"#)
                .unwrap_err()
                .contains(
                    "mixes plain text and messages: `prompt` is a string but `chosen` is a list"
                )
        );
        assert!(parse(r#"[1]"#).unwrap_err().contains("object"));
        assert!(
            parse(r#"{"prompt":"p","chosen":"a","rejected":"bc","error_spans":[[1,3]]}"#)
                .unwrap_err()
                .contains("does not fit")
        );
        assert!(
            parse(r#"{"prompt":"p","chosen":"a","rejected":"bc","error_spans":[1]}"#)
                .unwrap_err()
                .contains("[start, end]")
        );
    }

    #[test]
    fn conversational_records() {
        let explicit = parse(
            r#"{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"q1"},{"role":"assistant","content":"a1"},{"role":"user","content":"q2"}],
                "chosen":[{"role":"assistant","content":"yes"}],"rejected":[{"role":"assistant","content":"no 42"}],
                "error_spans":[[3,5]],"tools":[{"type":"function"}],"chat_template_kwargs":{"enable_thinking":false}}"#,
        )
        .unwrap();
        let Record::Pair {
            prompt,
            chosen,
            rejected,
            error_spans,
            chat,
        } = &explicit
        else {
            panic!("a pair")
        };
        assert_eq!(
            (prompt.as_str(), chosen.as_str(), rejected.as_str()),
            ("q2", "yes", "no 42")
        );
        assert_eq!(error_spans, &vec![(3, 5)]);
        let conv = chat.as_deref().unwrap();
        assert_eq!(conv.prompt.len(), 4);
        assert!(conv.tools.is_some() && conv.kwargs.contains_key("enable_thinking"));
        assert!(!conv.implicit_prompt);

        let implicit = parse(
            r#"{"chosen":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],
                "rejected":[{"role":"user","content":"q"},{"role":"assistant","content":"b"}]}"#,
        )
        .unwrap();
        let conv = implicit.chat().unwrap();
        assert!(conv.implicit_prompt);
        assert_eq!(
            (conv.prompt.len(), conv.completions[1][0].text()),
            (1, "b".to_string())
        );

        let unpaired = parse(
            r#"{"prompt":[{"role":"user","content":"q"}],"completion":[{"role":"assistant","content":"a"}]}"#,
        )
        .unwrap();
        assert!(matches!(unpaired, Record::Unpaired { ref completion, .. } if completion == "a"));
    }

    #[test]
    fn bad_conversational_records_name_the_field() {
        let err = |s: &str| parse(s).unwrap_err();
        assert!(
            err(
                r#"{"prompt":[{"content":"q"}],"completion":[{"role":"assistant","content":"a"}]}"#
            )
            .contains("message 1 of `prompt` has no `role`")
        );
        assert!(
            err(
                r#"{"prompt":[{"role":"user"}],"completion":[{"role":"assistant","content":"a"}]}"#
            )
            .contains("no `content`")
        );
        assert!(
            err(r#"{"prompt":[{"role":"wizard","content":"q"}],"completion":[]}"#)
                .contains("unknown role `wizard`")
        );
        assert!(err(r#"{"completion":[{"role":"assistant","content":"a"}]}"#).contains("`prompt`"));
        assert!(err(r#"{"prompt":[{"role":"user","content":"q"}],"chosen":[],"rejected":[{"role":"assistant","content":"a"}]}"#)
            .contains("`chosen` has no message"));
        assert!(err(r#"{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}],"tools":"x"}"#)
            .contains("`tools` is a string but not a JSON list"));
        assert!(err(r#"{"chosen":[{"role":"user","content":"q"}],"rejected":[{"role":"user","content":"z"}]}"#)
            .contains("no leading message"));
    }

    #[test]
    fn array_elements_keep_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.json");
        std::fs::write(
            &p,
            "[\n {\"prompt\":\"a\",\"completion\":\"b\"},\n\n {\"prompt\":\"c\"}\n]\n",
        )
        .unwrap();
        let e = read_entries(&p).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].line, e[1].line), (2, 4));
        let err = e[1].record.as_ref().unwrap_err().to_string();
        assert!(err.contains("d.json:4"), "{err}");
    }

    /// A UTF-8 byte-order mark at the start of a JSONL or JSON file is skipped (issue 18: it used to be an error
    /// that did not say BOM).
    #[test]
    fn a_byte_order_mark_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for (file, text) in [
            ("d.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}\n"),
            ("d.json", "[{\"prompt\":\"a\",\"completion\":\"b\"}]"),
        ] {
            let p = dir.path().join(file);
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend_from_slice(text.as_bytes());
            std::fs::write(&p, bytes).unwrap();
            let entries = read_entries(&p).unwrap();
            assert_eq!(entries.len(), 1, "{file}");
            assert!(entries[0].record.is_ok(), "{file}: {:?}", entries[0].record);
        }
    }

    #[test]
    fn unclosed_array_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.json");
        std::fs::write(&p, "[{\"prompt\":\"a\",\"completion\":\"b\"},").unwrap();
        assert!(
            read_entries(&p)
                .unwrap_err()
                .to_string()
                .contains("not closed")
        );
    }

    #[test]
    fn jsonl_lines_and_bad_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        let mut bytes = b"{\"prompt\":\"a\",\"completion\":\"b\"}\n\n".to_vec();
        bytes.extend_from_slice(b"{\"prompt\":\"\xff\",\"completion\":\"b\"}\n{oops\n");
        std::fs::write(&p, bytes).unwrap();
        let e = read_entries(&p).unwrap();
        assert_eq!(e.len(), 3);
        assert!(e[0].record.is_ok());
        assert!(
            e[1].record
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("d.jsonl:3: not valid UTF-8")
        );
        assert!(
            e[2].record
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("d.jsonl:4: not valid JSON")
        );
        assert_eq!(e[2].index, 2);
    }
}
