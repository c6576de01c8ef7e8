//! Where a tokenizer's chat template comes from: `chat_template.jinja` beside tokenizer.json (transformers 5 reads
//! it first), `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates), a GGUF file's
//! `tokenizer.chat_template`, or a file the user names (`--chat-template FILE`).

use super::template::ChatTemplate;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// The special tokens a template may read, by name, from tokenizer_config.json (strings or AddedToken objects).
pub fn special_tokens(config: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for key in [
        "bos_token",
        "eos_token",
        "unk_token",
        "pad_token",
        "sep_token",
        "cls_token",
        "mask_token",
    ] {
        let value = config.and_then(|c| c.get(key)).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
            _ => None,
        });
        if let Some(v) = value {
            out.insert(key.into(), Value::String(v));
        }
    }
    out
}

/// The chat template of a checkpoint whose tokenizer files are in `dir`: `chat_template.jinja`, else the
/// `chat_template` of `config` (tokenizer_config.json, read from `config_path`). `None` when there is none.
pub fn from_checkpoint(
    dir: &Path,
    config_path: Option<&Path>,
    config: Option<&Value>,
) -> Result<Option<ChatTemplate>> {
    let special = special_tokens(config);
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return from_file(&jinja, special).map(Some);
    }
    let (Some(config), Some(path)) = (config, config_path) else {
        return Ok(None);
    };
    let origin = format!("{} `chat_template`", path.display());
    let err = |message: String| Error::config(path, message);
    match config.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => ChatTemplate::new(s.clone(), origin, None, special)
            .map(Some)
            .map_err(Error::Record),
        Some(Value::Array(list)) => {
            let mut named = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str);
                let template = item.get("template").and_then(Value::as_str);
                match (name, template) {
                    (Some(n), Some(t)) => named.push((n.to_string(), t.to_string())),
                    _ => {
                        return Err(err(format!(
                            "`chat_template` entry {} must be an object with `name` and `template` strings",
                            i + 1
                        )));
                    }
                }
            }
            let get = |n: &str| named.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone());
            let Some(default) = get("default") else {
                let names: Vec<_> = named.iter().map(|(k, _)| k.as_str()).collect();
                return Err(err(format!(
                    "`chat_template` holds named templates ({}) but none is called `default`; give one with --chat-template FILE",
                    names.join(", ")
                )));
            };
            ChatTemplate::new(default, origin, get("tool_use"), special)
                .map(Some)
                .map_err(Error::Record)
        }
        Some(_) => Err(err(
            "`chat_template` must be a string or a list of {name, template} objects".into(),
        )),
    }
}

/// A template file given by the user (or `chat_template.jinja`), with the tokenizer's special tokens.
pub fn from_file(path: &Path, special: Map<String, Value>) -> Result<ChatTemplate> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::config(
            path,
            format!(
                "the chat template is not valid UTF-8 (at byte {}); save it as UTF-8",
                e.utf8_error().valid_up_to() + 1
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
    ChatTemplate::new(text, path.display().to_string(), None, special).map_err(Error::Record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_templates_pick_default_and_tool_use() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("tokenizer_config.json");
        let cfg = json!({"eos_token": {"content": "</s>"}, "chat_template": [
            {"name": "default", "template": "D{{ eos_token }}"},
            {"name": "tool_use", "template": "T"}]});
        let t = from_checkpoint(dir.path(), Some(&cfg_path), Some(&cfg))
            .unwrap()
            .unwrap();
        let tools = json!([]);
        let plain = t.render(&[], Default::default()).unwrap();
        let with_tools = t
            .render(
                &[],
                super::super::RenderOptions {
                    tools: Some(&tools),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((plain.as_str(), with_tools.as_str()), ("D</s>", "T"));
        let none = json!({"chat_template": [{"name": "rag", "template": "R"}]});
        let err = from_checkpoint(dir.path(), Some(&cfg_path), Some(&none)).unwrap_err();
        assert!(
            err.to_string().contains("none is called `default`"),
            "{err}"
        );
        assert!(
            from_checkpoint(dir.path(), Some(&cfg_path), Some(&json!({})))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn jinja_file_comes_first_and_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("tokenizer_config.json");
        let cfg = json!({"chat_template": "config"});
        std::fs::write(dir.path().join("chat_template.jinja"), "file").unwrap();
        let t = from_checkpoint(dir.path(), Some(&cfg_path), Some(&cfg))
            .unwrap()
            .unwrap();
        assert_eq!(t.render(&[], Default::default()).unwrap(), "file");
        std::fs::write(dir.path().join("chat_template.jinja"), b"ok\xff").unwrap();
        let err = from_checkpoint(dir.path(), Some(&cfg_path), Some(&cfg)).unwrap_err();
        assert!(
            err.to_string()
                .contains("chat_template.jinja: the chat template is not valid UTF-8"),
            "{err}"
        );
    }
}
