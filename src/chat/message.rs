//! Conversational records as TRL reads them: lists of `{"role", "content"}` messages for the prompt and each
//! completion, with the optional `tools` and `chat_template_kwargs` columns.

use serde_json::{Map, Value};

/// Roles a message may have (those the chat templates of current models know).
pub const ROLES: [&str; 7] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "ipython",
    "function",
];

/// One chat message: its role, and the whole JSON object as the template sees it (`content`, and any
/// `tool_calls`, `name`, `reasoning_content`, ... it carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// The message object as given, passed to the template unchanged.
    pub fields: Map<String, Value>,
}

impl Message {
    /// A message with string content.
    pub fn new(role: &str, content: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("role".into(), Value::String(role.into()));
        fields.insert("content".into(), Value::String(content.into()));
        Self {
            role: role.into(),
            fields,
        }
    }

    /// The message's text: its string content, or the `text` of its content parts joined (multimodal lists);
    /// empty for a message without content (e.g. only tool calls).
    pub fn text(&self) -> String {
        match self.fields.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
            _ => String::new(),
        }
    }

    /// The message as the template sees it: its fields, less those that are null (as transformers drops them).
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Reads message `i` of field `field`, or says what is wrong with it.
    fn from_json(field: &str, i: usize, value: &Value) -> Result<Self, String> {
        let at = format!("message {} of `{field}`", i + 1);
        let obj = value.as_object().ok_or_else(|| {
            format!(
                "{at} must be an object with `role` and `content`, found {}",
                kind(value)
            )
        })?;
        let role = match obj.get("role") {
            Some(Value::String(r)) => r.clone(),
            None | Some(Value::Null) => return Err(format!("{at} has no `role`")),
            Some(v) => return Err(format!("{at}: `role` must be a string, found {}", kind(v))),
        };
        if !ROLES.contains(&role.as_str()) {
            return Err(format!(
                "{at} has the unknown role `{role}`; roles are {}",
                ROLES.join(", ")
            ));
        }
        match obj.get("content") {
            Some(Value::String(_)) | Some(Value::Array(_)) => {}
            None | Some(Value::Null) if obj.contains_key("tool_calls") => {}
            None | Some(Value::Null) => {
                return Err(format!(
                    "{at} has no `content` (a message needs a `role` and a `content` string)"
                ));
            }
            Some(v) => {
                return Err(format!(
                    "{at}: `content` must be a string or a list of parts, found {}",
                    kind(v)
                ));
            }
        }
        Ok(Self {
            role,
            fields: obj.clone(),
        })
    }
}

/// Reads a list of messages, or says what is wrong with it.
pub fn messages_from_json(field: &str, value: &Value) -> Result<Vec<Message>, String> {
    let list = value
        .as_array()
        .ok_or_else(|| format!("field `{field}` must be a list of messages"))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| Message::from_json(field, i, m))
        .collect()
}

/// A conversational record: the prompt messages, one completion per response (chosen then rejected for a
/// pair), and what the template gets besides the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The prompt's messages (for an implicit prompt: those chosen and rejected share).
    pub prompt: Vec<Message>,
    /// The completion messages of each response, in order.
    pub completions: Vec<Vec<Message>>,
    /// The record's `tools` column (a list of tool schemas), passed to the template.
    pub tools: Option<Value>,
    /// The record's `chat_template_kwargs`, passed to the template as variables.
    pub kwargs: Map<String, Value>,
    /// Whether the prompt was extracted from chosen and rejected (TRL's `extract_prompt`).
    pub implicit_prompt: bool,
}

impl Conversation {
    /// The conversation the "chat" switch makes of plain texts: an optional system message and the prompt as one
    /// user message, each response as one assistant message.
    pub fn from_texts(system: Option<&str>, prompt: &str, responses: &[&str]) -> Self {
        let mut messages = Vec::new();
        if let Some(s) = system.filter(|s| !s.is_empty()) {
            messages.push(Message::new("system", s));
        }
        messages.push(Message::new("user", prompt));
        Self {
            prompt: messages,
            completions: responses
                .iter()
                .map(|r| vec![Message::new("assistant", r)])
                .collect(),
            tools: None,
            kwargs: Map::new(),
            implicit_prompt: false,
        }
    }

    /// The text the dataset table shows as the prompt: the last user message (or the last message).
    pub fn prompt_text(&self) -> String {
        self.prompt
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .or(self.prompt.last())
            .map(Message::text)
            .unwrap_or_default()
    }

    /// The text of completion `i`: its messages' texts, joined by blank lines.
    pub fn completion_text(&self, i: usize) -> String {
        self.completions.get(i).map_or_else(String::new, |c| {
            c.iter().map(Message::text).collect::<Vec<_>>().join("\n\n")
        })
    }

    /// Reads the `tools` and `chat_template_kwargs` columns of a record.
    pub fn read_extras(&mut self, obj: &Map<String, Value>) -> Result<(), String> {
        match obj.get("tools") {
            None | Some(Value::Null) => {}
            Some(v @ Value::Array(_)) => self.tools = Some(v.clone()),
            // TRL accepts the column as JSON text too.
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Array(_)) => self.tools = Some(v),
                _ => {
                    return Err(
                        "field `tools` is a string but not a JSON list of tool schemas".into(),
                    );
                }
            },
            Some(v) => {
                return Err(format!(
                    "field `tools` must be a list of tool schemas, found {}",
                    kind(v)
                ));
            }
        }
        match obj.get("chat_template_kwargs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => self.kwargs = m.clone(),
            Some(v) => {
                return Err(format!(
                    "field `chat_template_kwargs` must be an object, found {}",
                    kind(v)
                ));
            }
        }
        Ok(())
    }
}

/// A record's messages split into prompt, chosen completion and rejected completion.
pub type SplitConversation = (Vec<Message>, Vec<Message>, Vec<Message>);

/// TRL's `extract_prompt` on two message lists: the prompt is the messages before the first one where they
/// differ. As in TRL, when one list is a prefix of the other, the last shared message still goes to the
/// completions (Python's loop variable stops at the last index).
pub fn extract_prompt(
    chosen: Vec<Message>,
    rejected: Vec<Message>,
) -> Result<SplitConversation, String> {
    let n = chosen.len().min(rejected.len());
    if n == 0 {
        return Err(
            "`chosen` and `rejected` need at least one message each to extract a prompt from"
                .into(),
        );
    }
    let idx = (0..n).find(|&i| chosen[i] != rejected[i]).unwrap_or(n - 1);
    if idx == 0 {
        return Err("`chosen` and `rejected` share no leading message, so there is no prompt; add a `prompt` field".into());
    }
    let prompt = chosen[..idx].to_vec();
    Ok((prompt, chosen[idx..].to_vec(), rejected[idx..].to_vec()))
}

/// A short name for a JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(v: Value) -> Vec<Message> {
        messages_from_json("x", &v).unwrap()
    }

    #[test]
    fn messages_are_checked_field_by_field() {
        let err = |v: Value| messages_from_json("chosen", &v).unwrap_err();
        assert!(err(json!([{"content": "a"}])).contains("message 1 of `chosen` has no `role`"));
        assert!(err(json!([{"role": "user"}])).contains("no `content`"));
        assert!(err(json!([{"role": "robot", "content": "a"}])).contains("unknown role `robot`"));
        assert!(err(json!([{"role": "user", "content": 3}])).contains("must be a string"));
        assert!(err(json!(["hi"])).contains("must be an object"));
        assert!(messages_from_json("c", &json!([{"role": "assistant", "tool_calls": []}])).is_ok());
    }

    #[test]
    fn extract_prompt_as_trl() {
        let c = msgs(json!([{"role":"user","content":"q"},{"role":"assistant","content":"a"}]));
        let r = msgs(json!([{"role":"user","content":"q"},{"role":"assistant","content":"b"}]));
        let (p, c2, r2) = extract_prompt(c.clone(), r).unwrap();
        assert_eq!((p.len(), c2.len(), r2.len()), (1, 1, 1));
        // Identical lists: TRL's loop ends on the last index, which goes to the completions.
        let (p, c3, _) = extract_prompt(c.clone(), c.clone()).unwrap();
        assert_eq!((p.len(), c3.len()), (1, 1));
        let other = msgs(json!([{"role":"user","content":"z"}]));
        assert!(
            extract_prompt(c, other)
                .unwrap_err()
                .contains("no leading message")
        );
    }

    #[test]
    fn texts_for_display() {
        let conv = Conversation::from_texts(Some("be brief"), "Hi?", &["Hello.", "Go away."]);
        assert_eq!(conv.prompt.len(), 2);
        assert_eq!(conv.prompt_text(), "Hi?");
        assert_eq!(conv.completion_text(1), "Go away.");
        let parts = msgs(
            json!([{"role":"user","content":[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]}]),
        );
        assert_eq!(parts[0].text(), "ab");
    }
}
