//! Rendering chat templates the way transformers does: Jinja with `trim_blocks` and `lstrip_blocks`, loop
//! controls, Python string and dict methods, and the globals and filters transformers' templates use
//! (`raise_exception`, `tojson`, `strftime_now`). A render is bounded in work (fuel), recursion and output size, so
//! a broken template fails with a message naming its line instead of hanging.

use super::json::python_json;
use super::message::Message;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// Work one render may do (minijinja fuel: about one unit per instruction): far above any real template on a
/// long conversation, small enough that a runaway loop stops within a second or so.
const RENDER_FUEL: u64 = 20_000_000;

/// Longest text one render may produce (bytes).
const MAX_OUTPUT: usize = 16 << 20;

/// Name of the template inside its environment.
const NAME: &str = "chat_template";

/// Variables every render defines (besides the special tokens and the globals).
const PROVIDED: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// Marks the message of an error raised by the template itself (`raise_exception`).
const RAISED: &str = "the template raised: ";

/// A chat template ready to render: its source, where it came from, and the special tokens it may use.
#[derive(Clone)]
pub struct ChatTemplate {
    source: String,
    origin: String,
    tool_use: Option<String>,
    special: Map<String, Json>,
    env: Arc<Environment<'static>>,
    tool_env: Option<Arc<Environment<'static>>>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("chars", &self.source.len())
            .finish()
    }
}

impl PartialEq for ChatTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.tool_use == other.tool_use
            && self.special == other.special
    }
}

/// What a render gets besides the messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions<'a> {
    /// Ends the text with the header of an assistant turn (for a prompt).
    pub add_generation_prompt: bool,
    /// The `tools` column: tool schemas.
    pub tools: Option<&'a Json>,
    /// Extra template variables (`chat_template_kwargs`).
    pub kwargs: Option<&'a Map<String, Json>>,
}

impl ChatTemplate {
    /// Compiles `source`; `origin` says where it came from in messages (e.g. `dir/tokenizer_config.json`).
    /// `special` holds the tokenizer's special tokens by name (`bos_token`, `eos_token`, ...), which templates
    /// read as variables. `tool_use` is the template transformers picks instead when a record has tools.
    pub fn new(
        source: String,
        origin: String,
        tool_use: Option<String>,
        special: Map<String, Json>,
    ) -> Result<Self, String> {
        let env = Arc::new(environment(&source).map_err(|e| describe(&origin, &e))?);
        let tool_env = match &tool_use {
            Some(t) => {
                Some(Arc::new(environment(t).map_err(|e| {
                    describe(&format!("{origin} (tool_use)"), &e)
                })?))
            }
            None => None,
        };
        Ok(Self {
            source,
            origin,
            tool_use,
            special,
            env,
            tool_env,
        })
    }

    /// The variables the template reads that neither the renderer nor `kwargs` define (sorted). They render as
    /// empty, as in transformers; the caller warns about them.
    pub fn undefined_variables(&self, options: RenderOptions<'_>) -> Vec<String> {
        let env = match (&self.tool_env, options.tools) {
            (Some(env), Some(_)) => env,
            _ => &self.env,
        };
        let Ok(template) = env.get_template(NAME) else {
            return Vec::new();
        };
        let mut names: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| {
                !PROVIDED.contains(&v.as_str())
                    && !self.special.contains_key(v)
                    && env.globals().all(|(k, _)| k != v)
                    && !options.kwargs.is_some_and(|k| k.contains_key(v))
                    && !optional(&self.source, v)
            })
            .collect();
        names.sort();
        names
    }

    /// Where the template came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The same template with other special tokens (e.g. those of another tokenizer).
    pub fn with_special(&self, special: Map<String, Json>) -> Self {
        Self {
            special,
            ..self.clone()
        }
    }

    /// Renders `messages`. The error names the template's origin and line and says what went wrong.
    pub fn render(
        &self,
        messages: &[Message],
        options: RenderOptions<'_>,
    ) -> Result<String, String> {
        let (env, origin) = match (&self.tool_env, options.tools) {
            (Some(env), Some(_)) => (env, format!("{} (tool_use)", self.origin)),
            _ => (&self.env, self.origin.clone()),
        };
        let mut ctx = Map::new();
        for (k, v) in &self.special {
            ctx.insert(k.clone(), v.clone());
        }
        ctx.insert(
            "messages".into(),
            Json::Array(messages.iter().map(Message::to_value).collect()),
        );
        ctx.insert("tools".into(), options.tools.cloned().unwrap_or(Json::Null));
        ctx.insert("documents".into(), Json::Null);
        ctx.insert(
            "add_generation_prompt".into(),
            Json::Bool(options.add_generation_prompt),
        );
        if let Some(kwargs) = options.kwargs {
            for (k, v) in kwargs {
                ctx.insert(k.clone(), v.clone());
            }
        }
        let template = env.get_template(NAME).map_err(|e| describe(&origin, &e))?;
        let mut out = LimitedWriter::default();
        match template.render_captured_to(Value::from(minijinja::value::Serde(&ctx)), &mut out) {
            Ok(_) => {}
            Err(_) if out.overflow => {
                return Err(format!(
                    "{origin}: the rendered conversation exceeds {} MiB; the template does not end (or the record is far too long)",
                    MAX_OUTPUT >> 20
                ));
            }
            Err(e) => return Err(describe(&origin, &e)),
        }
        String::from_utf8(out.buf)
            .map_err(|_| format!("{origin}: the template produced invalid UTF-8"))
    }
}

/// A Jinja environment configured as transformers' (`ImmutableSandboxedEnvironment(trim_blocks=True,
/// lstrip_blocks=True, extensions=[loopcontrols])`) holding `source`.
fn environment(source: &str) -> Result<Environment<'static>, JinjaError> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_fuel(Some(RENDER_FUEL));
    env.set_recursion_limit(200);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
    env.add_template_owned(NAME, strip_generation_tags(source))?;
    Ok(env)
}

/// Whether the template treats `name` as optional: it tests `name is defined` (or `is not defined`) or gives it a
/// `default`, as templates do for switches such as `enable_thinking`.
fn optional(source: &str, name: &str) -> bool {
    let pattern = format!(
        r"\b{}\s*(is\s+(not\s+)?defined|\|\s*(default|d)\b)",
        regex::escape(name)
    );
    regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(source))
}

/// transformers' `{% generation %}` blocks only mark assistant text for masks; they render their body as is.
fn strip_generation_tags(source: &str) -> String {
    let re =
        regex::Regex::new(r"\{%-?\s*(end)?generation\s*-?%\}").expect("a valid constant regex");
    re.replace_all(source, "").into_owned()
}

fn raise_exception(message: String) -> Result<Value, JinjaError> {
    Err(JinjaError::new(
        ErrorKind::InvalidOperation,
        format!("{RAISED}{message}"),
    ))
}

fn strftime_now(format: String) -> Result<Value, JinjaError> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", chrono::Local::now().format(&format)).map_err(|_| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: invalid format {format:?}"),
        )
    })?;
    Ok(Value::from(out))
}

/// transformers' `tojson`: Python's `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)`, keys in insertion order.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match (v.as_i64(), v.as_str()) {
            (Some(n), _) => Some(" ".repeat(n.max(0) as usize)),
            (None, Some(s)) => Some(s.to_string()),
            _ => None,
        },
    };
    let seps = separators.and_then(|v| {
        let a = v.get_item_by_index(0).ok()?;
        let b = v.get_item_by_index(1).ok()?;
        Some((a.as_str()?.to_string(), b.as_str()?.to_string()))
    });
    let text = python_json(
        &json,
        indent.as_deref(),
        seps.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        sort_keys.unwrap_or(false),
        ensure_ascii.unwrap_or(false),
    );
    Ok(Value::from_safe_string(text))
}

/// An error as one line: where (origin and template line) and what.
fn describe(origin: &str, e: &JinjaError) -> String {
    let line = e
        .line()
        .map_or(String::new(), |l| format!(", template line {l}"));
    let what = match e.detail() {
        Some(d) if d.starts_with(RAISED) => d.to_string(),
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let hint = match e.kind() {
        ErrorKind::OutOfFuel => {
            "; the template does too much work for one record (a runaway loop?)"
        }
        ErrorKind::SyntaxError => "; fix the template or give another with --chat-template FILE",
        _ => "",
    };
    format!("chat template ({origin}{line}): {what}{hint}")
}

/// A byte buffer that refuses to grow past [`MAX_OUTPUT`].
#[derive(Default)]
struct LimitedWriter {
    buf: Vec<u8>,
    overflow: bool,
}

impl std::io::Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_OUTPUT {
            self.overflow = true;
            return Err(std::io::Error::other("output limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(src: &str) -> ChatTemplate {
        let mut special = Map::new();
        special.insert("bos_token".into(), json!("<s>"));
        special.insert("eos_token".into(), json!("</s>"));
        ChatTemplate::new(src.into(), "test".into(), None, special).unwrap()
    }

    fn chat() -> Vec<Message> {
        vec![
            Message::new("system", "Be brief."),
            Message::new("user", " Hi? "),
        ]
    }

    #[test]
    fn renders_with_trim_and_python_methods() {
        let t = template(
            "{{ bos_token }}{% for m in messages %}\n  {% if loop.first and m.role != 'system' %}{{ raise_exception('no system') }}{% endif %}\n[{{ m['role'] }}]{{ m.content.strip() | upper }}\n{% endfor %}\n{% if add_generation_prompt %}[assistant]{% endif %}",
        );
        let out = t
            .render(
                &chat(),
                RenderOptions {
                    add_generation_prompt: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out, "<s>[system]BE BRIEF.\n[user]HI?\n[assistant]");
        let err = t
            .render(&chat()[1..], RenderOptions::default())
            .unwrap_err();
        assert!(err.contains("the template raised: no system"), "{err}");
        assert!(err.contains("template line 2"), "{err}");
    }

    #[test]
    fn loop_controls_kwargs_and_tools() {
        let t = template(
            "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{{ m.content }}{% endfor %}{{ flavour }}{% if tools %}{{ tools | tojson }}{% endif %}",
        );
        let tools = json!([{"name": "f", "b": [1, 2.5, null], "a": "é\n"}]);
        let mut kwargs = Map::new();
        kwargs.insert("flavour".into(), json!("!"));
        let out = t
            .render(
                &chat(),
                RenderOptions {
                    tools: Some(&tools),
                    kwargs: Some(&kwargs),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            out,
            " Hi? ![{\"name\": \"f\", \"b\": [1, 2.5, null], \"a\": \"é\\n\"}]"
        );
    }

    #[test]
    fn tojson_indent_and_sort() {
        let t = template("{{ messages[0] | tojson(indent=2, sort_keys=true) }}");
        let out = t.render(&chat(), RenderOptions::default()).unwrap();
        assert_eq!(
            out,
            "{\n  \"content\": \"Be brief.\",\n  \"role\": \"system\"\n}"
        );
    }

    #[test]
    fn strftime_now_formats_today() {
        let t = template("{{ strftime_now('%Y') }}");
        let out = t.render(&chat(), RenderOptions::default()).unwrap();
        assert_eq!(out.len(), 4);
        assert!(out.starts_with("20"), "{out}");
    }

    #[test]
    fn generation_tags_render_their_body() {
        let t = template(
            "{% for m in messages %}{% generation %}{{ m.role }}{% endgeneration %}{% endfor %}",
        );
        assert_eq!(
            t.render(&chat(), RenderOptions::default()).unwrap(),
            "systemuser"
        );
    }

    #[test]
    fn runaway_templates_stop_with_a_message() {
        let t = template(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        );
        let err = t.render(&chat(), RenderOptions::default()).unwrap_err();
        assert!(err.contains("test"), "{err}");
        let t = template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        let err = t.render(&chat(), RenderOptions::default()).unwrap_err();
        assert!(err.contains("chat template (test"), "{err}");
        let big = template(
            "{% for i in range(99999) %}{{ messages | tojson }}{{ messages | tojson }}{{ messages | tojson }}{% endfor %}",
        );
        assert!(big.render(&chat(), RenderOptions::default()).is_err());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = ChatTemplate::new("a\n{% if %}".into(), "t.jinja".into(), None, Map::new())
            .unwrap_err();
        assert!(
            err.contains("chat template (t.jinja, template line 2)"),
            "{err}"
        );
        assert!(err.contains("--chat-template"), "{err}");
    }

    #[test]
    fn missing_variables_are_lenient_but_their_attributes_fail() {
        let t = template(
            "[{{ nothing }}{{ bos_token }}{% for m in messages %}{{ m.role }}{% endfor %}{{ namespace(a=1).a }}{{ range(2) | length }}]",
        );
        assert_eq!(
            t.render(&chat(), RenderOptions::default()).unwrap(),
            "[<s>systemuser12]"
        );
        assert_eq!(
            t.undefined_variables(RenderOptions::default()),
            vec!["nothing".to_string()]
        );
        let optional =
            template("{% if flag is not defined %}{{ other | default('o') }}{% endif %}");
        assert!(
            optional
                .undefined_variables(RenderOptions::default())
                .is_empty()
        );
        let mut kwargs = Map::new();
        kwargs.insert("nothing".into(), json!("x"));
        let with = RenderOptions {
            kwargs: Some(&kwargs),
            ..Default::default()
        };
        assert!(t.undefined_variables(with).is_empty());
        let t = template("{{ nothing.at.all }}");
        let err = t.render(&chat(), RenderOptions::default()).unwrap_err();
        assert!(err.contains("template line 1"), "{err}");
    }
}
