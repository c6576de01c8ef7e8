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
        let row = self.record.selected_row?;
        self.dataset.as_ref()?.rows.get(row)?.record.as_ref().ok()
    }

    /// Whether the editor holds edits of the selected data-file record.
    pub fn selected_is_edited(&self) -> bool {
        self.selected_record()
            .is_some_and(|r| *r != self.record.editor.record())
    }

    /// Keeps the editor's text for the selected row when it differs from the file (forgets it otherwise).
    pub(super) fn keep_edits(&mut self) {
        let Some(row) = self.record.selected_row else {
            return;
        };
        if self.selected_is_edited() {
            let mut e = self.record.editor.clone();
            e.dirty_since = None;
            self.record.edits.insert(row, e);
        } else {
            self.record.edits.remove(&row);
        }
    }

    /// Puts the selected record back as the data file has it, dropping its edits.
    pub(super) fn revert_selected(&mut self) {
        let Some(record) = self.selected_record().cloned() else {
            return;
        };
        if let Some(row) = self.record.selected_row {
            self.record.edits.remove(&row);
        }
        self.record.editor.set(&record);
        self.record.pinned = None;
        self.rescore_now();
    }

    /// The editor: the record's line, the prompt, the switches and the response boxes, edited as copies; what
    /// changed comes back as actions (the text is rescored a moment after the last one).
    pub(super) fn editor_ui(&self, ui: &mut Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        let e = &self.record.editor;
        // The record's line is there whether or not it is edited, so nothing below it moves when an edit starts.
        if let Some(row) = self.record.selected_row {
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
                    actions.push(Action::Revert);
                }
            });
        }
        let mut text = |ui: &mut Ui, field, id, now: &str, rows, height, hint, placeholder| {
            let mut edited = now.to_string();
            if bounded_text(ui, id, &mut edited, rows, height, hint, placeholder).changed() {
                actions.push(Action::SetText(field, edited));
            }
        };
        ui.horizontal(|ui| {
            ui.label("prompt");
            text(
                ui,
                TextField::Prompt,
                "prompt-edit",
                &e.prompt,
                1,
                90.0,
                "The prompt (scored tokens start after it)",
                "a prompt",
            );
        });
        // One row for the switches, so the heatmaps stay in view in a small window.
        let mut switches = Vec::new();
        ui.horizontal(|ui| {
            let mut pair = e.pair;
            ui.radio_value(&mut pair, true, "pair")
                .on_hover_text("Chosen and rejected side by side");
            ui.radio_value(&mut pair, false, "one response")
                .on_hover_text("Score a single response");
            if pair != e.pair {
                switches.push(Action::SetPair(pair));
            }
            ui.separator();
            let mut chat = e.chat;
            if ui
                .checkbox(&mut chat, "chat")
                .on_hover_text(
                    "Score through the tokenizer's chat template: the prompt as a user message, each response as the assistant's turn (as TRL trains on conversational data)",
                )
                .changed()
            {
                switches.push(Action::SetChat(chat));
            }
            if e.chat && e.conversation.is_none() {
                ui.label("system");
                let mut system = e.system.clone();
                if ui
                    .add(
                        egui::TextEdit::singleline(&mut system)
                            .id_salt("system-edit")
                            .hint_text("optional system message")
                            .desired_width(f32::INFINITY),
                    )
                    .changed()
                {
                    switches.push(Action::SetText(TextField::System, system));
                }
            } else if let Some(conv) = e.conversation.as_deref() {
                ui.weak(format!(
                    "conversation: {} prompt message(s){}",
                    conv.prompt.len(),
                    if conv.implicit_prompt { " (implicit prompt)" } else { "" }
                ));
            }
        });
        if e.pair {
            ui.columns(2, |cols| {
                cols[0].label("chosen");
                text(
                    &mut cols[0],
                    TextField::Chosen,
                    "chosen-edit",
                    &e.chosen,
                    2,
                    120.0,
                    "The preferred response",
                    "type the preferred response",
                );
                cols[1].label("rejected");
                text(
                    &mut cols[1],
                    TextField::Rejected,
                    "rejected-edit",
                    &e.rejected,
                    2,
                    120.0,
                    "The dispreferred response",
                    "type the dispreferred response",
                );
            });
        } else {
            text(
                ui,
                TextField::Chosen,
                "response-edit",
                &e.chosen,
                2,
                120.0,
                "The response to score",
                "type a response",
            );
        }
        actions.extend(switches);
        actions
    }

    /// An edit of the editor: `change` applied, the text marked for rescoring after the pause, the pin dropped.
    pub(super) fn edit(&mut self, change: impl FnOnce(&mut Editor)) {
        change(&mut self.record.editor);
        self.record.editor.dirty_since = Some(Instant::now());
        self.record.pinned = None;
    }
}
