//! Conversational records, tokenised as TRL 1.16's `DPOTrainer._prepare_dataset` does: the chat template applied
//! to the prompt with `add_generation_prompt=True` and to prompt + each completion, each rendered text tokenised
//! without the tokenizer's own special tokens (the template writes its BOS), the prompt being the common prefix of
//! the ids, and no EOS appended (the template's end-of-turn tokens belong to the completion). The `joint` mode
//! renders the prompt the same way and appends the completion's text verbatim.

use super::modes::{
    EncodedRecord, EncodedSequence, TokenizationMode, char_len, common_prefix, encode_joint,
    finish, prompt_tokens, scored_token,
};
use super::{Encoding, TextTokenizer};
use crate::chat::{ChatTemplate, Conversation, Message, RenderOptions};
use crate::error::{Error, Result};

/// Tokenises a conversation with `template` according to `mode`, keeping at most `max_length` ids per sequence.
/// Template errors become record errors naming the template and its line.
pub fn encode_conversation(
    tok: &TextTokenizer,
    template: &ChatTemplate,
    mode: TokenizationMode,
    conv: &Conversation,
    max_length: Option<usize>,
) -> Result<EncodedRecord> {
    let options = |add_generation_prompt| RenderOptions {
        add_generation_prompt,
        tools: conv.tools.as_ref(),
        kwargs: Some(&conv.kwargs),
    };
    let render = |messages: &[Message], generation| {
        template
            .render(messages, options(generation))
            .map_err(Error::Record)
    };
    let mut warnings = Vec::new();
    // A message far longer than max_length tokens could need is cut before the template renders it: its end lies
    // beyond the ids kept anyway, and rendering and tokenising it whole could take gigabytes.
    let cut;
    let conv = match max_length.and_then(|m| cut_long_messages(tok, conv, m, &mut warnings)) {
        Some(c) => {
            cut = c;
            &cut
        }
        None => conv,
    };
    let prompt_text = render(&conv.prompt, true)?;
    let undefined = template.undefined_variables(options(false));
    if !undefined.is_empty() {
        warnings.push(format!(
            "the chat template reads {} which nothing defines; it renders as empty (as in transformers); set it in the record's `chat_template_kwargs` if the template needs it",
            undefined.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let prompt_enc = tok.encode_with(&prompt_text, false)?;
    let prompt_content = content_spans(&prompt_text, &conv.prompt);
    let (sequences, texts, offsets) = match mode {
        TokenizationMode::Trl => {
            let mut fulls = Vec::with_capacity(conv.completions.len());
            for completion in &conv.completions {
                let messages: Vec<Message> =
                    conv.prompt.iter().chain(completion).cloned().collect();
                let text = render(&messages, false)?;
                let enc = tok.encode_with(&text, false)?;
                fulls.push((text, enc));
            }
            let prompt_len = fulls
                .iter()
                .map(|(_, f)| common_prefix(&prompt_enc.ids, &f.ids))
                .min()
                .unwrap_or(0);
            if prompt_len < prompt_enc.ids.len() {
                warnings.push(format!(
                    "the tokenised prompt is not a prefix of the tokenised prompt+completion (the chat template renders the generation prompt differently from the same turn inside the conversation); as in TRL, the last {} prompt token(s) are scored as part of the completion",
                    prompt_enc.ids.len() - prompt_len
                ));
            }
            let mut sequences = Vec::new();
            let mut texts = Vec::new();
            let mut offsets = Vec::new();
            for ((text, full), completion) in fulls.into_iter().zip(&conv.completions) {
                let (seq, shown, offset) =
                    completion_sequence(tok, &text, full, prompt_len, completion);
                sequences.push(seq);
                texts.push(shown);
                offsets.push(offset);
            }
            (sequences, texts, offsets)
        }
        TokenizationMode::Joint => {
            let mut sequences = Vec::new();
            let mut texts = Vec::new();
            for i in 0..conv.completions.len() {
                let response = conv.completion_text(i);
                if response.is_empty() {
                    return Err(Error::Record(format!(
                        "completion {} has no text to append to the prompt (joint mode scores the completion's text)",
                        i + 1
                    )));
                }
                sequences.push(encode_joint(
                    tok,
                    &prompt_text,
                    &response,
                    false,
                    &mut warnings,
                )?);
                texts.push(response);
            }
            let n = texts.len();
            (sequences, texts, vec![Some(0); n])
        }
    };
    let prompt = prompt_tokens(tok, &sequences, &prompt_enc, &prompt_content);
    finish(sequences, warnings, texts, offsets, prompt, max_length)
}

/// The conversation with every string content longer than `max_length` tokens could need cut to what holds
/// them ([`TextTokenizer::enough_for`]), with a warning for each; `None` when no message is that long.
fn cut_long_messages(
    tok: &TextTokenizer,
    conv: &Conversation,
    max_length: usize,
    warnings: &mut Vec<String>,
) -> Option<Conversation> {
    let long = |m: &Message| {
        m.fields
            .get("content")
            .and_then(serde_json::Value::as_str)
            .and_then(|c| tok.enough_for(c, max_length))
    };
    let all = || conv.prompt.iter().chain(conv.completions.iter().flatten());
    if all().all(|m| long(m).is_none()) {
        return None;
    }
    let mut cut = conv.clone();
    let messages = cut
        .prompt
        .iter_mut()
        .chain(cut.completions.iter_mut().flatten());
    for m in messages {
        if let Some(end) = long(m)
            && let Some(serde_json::Value::String(content)) = m.fields.get_mut("content")
        {
            warnings.push(format!(
                "a {} message is {} bytes long; only its first {end} bytes were rendered and tokenised (they hold more than the {max_length} tokens scored)",
                m.role,
                content.len()
            ));
            content.truncate(end);
        }
    }
    Some(cut)
}

/// One templated prompt+completion from the first scored token on: the sequence (tokens outside the messages'
/// texts marked as template), the text its spans refer to, and where the completion's text starts in it.
fn completion_sequence(
    tok: &TextTokenizer,
    full_text: &str,
    full: Encoding,
    prompt_len: usize,
    completion: &[Message],
) -> (EncodedSequence, String, Option<usize>) {
    let cut = full
        .offsets
        .get(prompt_len)
        .map_or(char_len(full_text), |o| o.0);
    let shown: String = full_text.chars().skip(cut).collect();
    let len = char_len(&shown);
    let content = content_spans(&shown, completion);
    let tokens = (prompt_len..full.ids.len())
        .map(|i| {
            let mut t = scored_token(tok, &full, i, cut, len);
            t.template |= !content.iter().any(|&(a, b)| t.start < b && a < t.end);
            t
        })
        .collect();
    let joined = completion
        .iter()
        .map(Message::text)
        .collect::<Vec<_>>()
        .join("\n\n");
    let offset = if completion.len() == 1 {
        content.first().map(|c| c.0)
    } else {
        shown.find(&joined).map(|b| shown[..b].chars().count())
    };
    (
        EncodedSequence {
            ids: full.ids,
            scored_start: prompt_len,
            tokens,
        },
        shown,
        offset,
    )
}

/// The character ranges of the messages' texts in `text`, searched in order (a message whose text the template
/// changed, e.g. stripped, is matched on its stripped text, or not at all).
fn content_spans(text: &str, messages: &[Message]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0; // byte position in `text`
    for m in messages {
        let body = m.text();
        for candidate in [body.as_str(), body.trim()] {
            if candidate.is_empty() {
                continue;
            }
            if let Some(pos) = text[from..].find(candidate) {
                let start = from + pos;
                let end = start + candidate.len();
                spans.push((text[..start].chars().count(), text[..end].chars().count()));
                from = end;
                break;
            }
        }
    }
    spans
}
