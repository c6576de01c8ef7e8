//! The text being inspected: the editor's state, its view (prompt and responses, bounded text boxes), and the
//! edits kept per data-file record.

use super::*;

/// The prompt and response(s) being inspected.
#[derive(Debug, Clone, Default)]
pub struct Editor {
    /// The prompt.
    pub prompt: String,
    /// Chosen (or the single response).
    pub chosen: String,
    /// Rejected.
    pub rejected: String,
    /// A pair (chosen and rejected) or one response.
    pub pair: bool,
    /// Labelled error spans of rejected (from the data file; cleared when rejected is edited).
    pub error_spans: Vec<(usize, usize)>,
    /// When the text last changed and has not been scored yet.
    pub dirty_since: Option<Instant>,
    /// Score through the chat template: the prompt as a user message (after `system`, if any), each response as an
    /// assistant message.
    pub chat: bool,
    /// The system message of the chat switch.
    pub system: String,
    /// The conversation of a conversational record opened from a data file: edits replace its last user message
    /// and its completions' text, keeping the other turns.
    pub conversation: Option<Box<Conversation>>,
}

impl Editor {
    /// The record to score.
    pub fn record(&self) -> Record {
        let responses: Vec<&str> = if self.pair {
            vec![&self.chosen, &self.rejected]
        } else {
            vec![&self.chosen]
        };
        let chat = self.chat.then(|| Box::new(self.conversation(&responses)));
        if self.pair {
            Record::Pair {
                prompt: self.prompt.clone(),
                chosen: self.chosen.clone(),
                rejected: self.rejected.clone(),
                error_spans: self.error_spans.clone(),
                chat,
            }
        } else {
            Record::Unpaired {
                prompt: self.prompt.clone(),
                completion: self.chosen.clone(),
                chat,
            }
        }
    }

    /// Whether there is no response text to score yet (every response box empty).
    pub fn is_blank(&self) -> bool {
        self.chosen.trim().is_empty() && (!self.pair || self.rejected.trim().is_empty())
    }

    /// The conversation being edited: the opened one with the edited texts put in, or one built from the texts.
    fn conversation(&self, responses: &[&str]) -> Conversation {
        let fresh = || Conversation::from_texts(Some(&self.system), &self.prompt, responses);
        let Some(loaded) = self.conversation.as_deref() else {
            return fresh();
        };
        if loaded.completions.len() != responses.len() {
            return fresh();
        }
        let mut conv = loaded.clone();
        if conv.prompt_text() != self.prompt
            && let Some(m) = conv.prompt.iter_mut().rev().find(|m| m.role == "user")
        {
            *m = Message::new("user", &self.prompt);
        }
        for (i, text) in responses.iter().enumerate() {
            if conv.completion_text(i) != *text {
                conv.completions[i] = vec![Message::new("assistant", text)];
            }
        }
        conv
    }

    /// Puts `record`'s texts in the editor.
    pub fn set(&mut self, record: &Record) {
        self.conversation = record.chat().map(|c| Box::new(c.clone()));
        self.chat = self.conversation.is_some();
        match record {
            Record::Pair {
                prompt,
                chosen,
                rejected,
                error_spans,
                ..
            } => {
                self.prompt = prompt.clone();
                self.chosen = chosen.clone();
                self.rejected = rejected.clone();
                self.error_spans = error_spans.clone();
                self.pair = true;
            }
            Record::Unpaired {
                prompt, completion, ..
            } => {
                self.prompt = prompt.clone();
                self.chosen = completion.clone();
                self.rejected.clear();
                self.error_spans.clear();
                self.pair = false;
            }
        }
    }
}

/// A multi-line text box that grows with its text up to `max_height`, then scrolls: a long prompt or response
/// never takes the whole window.
pub(super) fn bounded_text(
    ui: &mut Ui,
    id: &str,
    text: &mut String,
    rows: usize,
    max_height: f32,
    hint: &str,
    placeholder: &str,
) -> egui::Response {
    egui::ScrollArea::vertical()
        .id_salt(id)
        .max_height(max_height)
        .show(ui, |ui| {
            // An id of its own: a line appearing above the box (the "edited" note) must not move the keyboard focus.
            ui.add(
                egui::TextEdit::multiline(text)
                    .id_salt(id)
                    .hint_text(placeholder)
                    .desired_rows(rows)
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text(hint)
        })
        .inner
}

impl App {
    /// The selected row's record as the data file has it.
    pub(super) fn selected_record(&self) -> Option<&Record> {
        let row = self.selected_row?;
        self.dataset.as_ref()?.rows.get(row)?.record.as_ref().ok()
    }

    /// Whether the editor holds edits of the selected data-file record.
    pub fn selected_is_edited(&self) -> bool {
        self.selected_record()
            .is_some_and(|r| *r != self.editor.record())
    }

    /// Keeps the editor's text for the selected row when it differs from the file (forgets it otherwise).
    pub(super) fn keep_edits(&mut self) {
        let Some(row) = self.selected_row else { return };
        if self.selected_is_edited() {
            let mut e = self.editor.clone();
            e.dirty_since = None;
            self.edits.insert(row, e);
        } else {
            self.edits.remove(&row);
        }
    }

    /// Puts the selected record back as the data file has it, dropping its edits.
    pub fn revert_selected(&mut self) {
        let Some(record) = self.selected_record().cloned() else {
            return;
        };
        if let Some(row) = self.selected_row {
            self.edits.remove(&row);
        }
        self.editor.set(&record);
        self.pinned = None;
        self.rescore_now();
    }

    pub(super) fn editor_ui(&mut self, ui: &mut Ui) {
        let mut changed = false;
        // The record's line is there whether or not it is edited, so nothing below it moves when an edit starts.
        if let Some(row) = self.selected_row {
            let edited = self.selected_is_edited();
            ui.horizontal(|ui| {
                if edited {
                    ui.label(format!(
                        "record {row} edited: kept while you look at other records"
                    ));
                } else {
                    ui.weak(format!("record {row} of the data file"));
                }
                if ui
                    .add_enabled(edited, egui::Button::new("Revert").small())
                    .on_hover_text("Put the record back as the data file has it")
                    .clicked()
                {
                    self.revert_selected();
                }
            });
        }
        ui.horizontal(|ui| {
            ui.label("prompt");
            changed |= bounded_text(
                ui,
                "prompt-edit",
                &mut self.editor.prompt,
                1,
                90.0,
                "The prompt (scored tokens start after it)",
                "a prompt",
            )
            .changed();
        });
        let before = self.editor.pair;
        // One row for the switches, so the heatmaps stay in view in a small window.
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.editor.pair, true, "pair")
                .on_hover_text("Chosen and rejected side by side");
            ui.radio_value(&mut self.editor.pair, false, "one response")
                .on_hover_text("Score a single response");
            ui.separator();
            changed |= ui
                .checkbox(&mut self.editor.chat, "chat")
                .on_hover_text(
                    "Score through the tokenizer's chat template: the prompt as a user message, each response as the assistant's turn (as TRL trains on conversational data)",
                )
                .changed();
            if self.editor.chat && self.editor.conversation.is_none() {
                ui.label("system");
                changed |= ui
                    .add(
                        egui::TextEdit::singleline(&mut self.editor.system)
                            .id_salt("system-edit")
                            .hint_text("optional system message")
                            .desired_width(f32::INFINITY),
                    )
                    .changed();
            } else if let Some(conv) = self.editor.conversation.as_deref() {
                ui.weak(format!(
                    "conversation: {} prompt message(s){}",
                    conv.prompt.len(),
                    if conv.implicit_prompt { " (implicit prompt)" } else { "" }
                ));
            }
        });
        changed |= before != self.editor.pair;
        if self.editor.pair {
            ui.columns(2, |cols| {
                cols[0].label("chosen");
                changed |= bounded_text(
                    &mut cols[0],
                    "chosen-edit",
                    &mut self.editor.chosen,
                    2,
                    120.0,
                    "The preferred response",
                    "type the preferred response",
                )
                .changed();
                cols[1].label("rejected");
                let r = bounded_text(
                    &mut cols[1],
                    "rejected-edit",
                    &mut self.editor.rejected,
                    2,
                    120.0,
                    "The dispreferred response",
                    "type the dispreferred response",
                );
                if r.changed() {
                    self.editor.error_spans.clear();
                    changed = true;
                }
            });
        } else {
            changed |= bounded_text(
                ui,
                "response-edit",
                &mut self.editor.chosen,
                2,
                120.0,
                "The response to score",
                "type a response",
            )
            .changed();
        }
        if changed {
            self.editor.dirty_since = Some(Instant::now());
            self.pinned = None;
        }
    }
}
