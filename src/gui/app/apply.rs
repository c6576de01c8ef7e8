//! [`App::apply`]: the one place where the user's requests change the state. Views read the state and return
//! [`Action`]s; the frame carries them out once it is drawn.

use super::*;

impl App {
    /// Carries out one request.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Browse(purpose) => self.open_dialog(purpose),
            Action::DialogAnswered { purpose, answer } => self.dialog_answered(purpose, answer),
            Action::CloseBrowser => self.files.browser = None,
            Action::Load => self.load_models(None),
            Action::OpenModels { policy, reference } => {
                self.models.form.policy = policy.display().to_string();
                if let Some(r) = reference {
                    self.models.form.reference = r.display().to_string();
                }
                self.load_models(None);
            }
            Action::SetText(field, text) => self.set_text(field, text),
            Action::SetPair(pair) => self.edit(|e| e.pair = pair),
            Action::SetChat(chat) => self.edit(|e| e.chat = chat),
            Action::Revert => self.revert_selected(),
            Action::ToggleSide => self.settings.show_side = !self.settings.show_side,
            Action::TogglePlots => self.settings.show_plots = !self.settings.show_plots,
            Action::ToggleTheme => self.toggle_theme(),
            Action::SetPlotTab(tab) => self.view.plot_tab = tab,
            Action::SetScale(scale) => self.settings.scale = scale,
            Action::SetTokenization(mode) => {
                self.settings.tokenization = mode;
                self.apply_settings();
            }
            Action::SetDtype(dtype) => {
                self.settings.dtype = dtype;
                self.load_models(None);
            }
            Action::SetBeta(beta) => {
                self.settings.beta = beta;
                self.apply_beta();
            }
            Action::SetMetric(metric) => self.settings.metric = metric,
            Action::HoldWord(word) => {
                if let Some(d) = &mut self.dataset {
                    d.set_holding(word);
                }
            }
            Action::SetUnit(unit) => {
                if unit != self.settings.unit {
                    self.settings.unit = unit;
                    self.record.pinned = None;
                }
            }
            Action::OpenData(path) => self.open_data(&path),
            Action::SelectRow(row) => self.select_row(row),
            Action::StepRow(delta) => self.step_row(delta),
            Action::SortTable(key, ascending) => {
                if let Some(d) = &mut self.dataset {
                    d.set_sort(key, ascending);
                }
            }
            Action::SetOnlyDisagreements(only) => {
                if let Some(d) = &mut self.dataset {
                    d.only_disagreements = only;
                }
            }
            Action::Pin(pin) => self.record.pinned = pin,
            Action::Rescore => self.rescore_now(),
            Action::CancelDataset => {
                if let Some(d) = &self.dataset {
                    d.job.cancel();
                }
            }
            Action::CancelDrift => self.drift.job.cancel(),
            Action::Follow(on) => {
                self.drift.following = on && self.drift.run.is_some();
                self.drift.last_look = None;
            }
            Action::OpenExport(open) => {
                self.export.open = open;
                if !open {
                    self.export.confirm = None;
                }
            }
            Action::SetExport(options) => self.export.set_options(options),
            Action::KeepExportTarget => self.export.confirm = None,
            Action::Export { overwrite } => self.run_export(overwrite),
            Action::SetCredit(form) => self.view.credit.set_form(form),
            Action::SaveCredit { overwrite } => {
                if let Some(credit) = self.dataset.as_ref().and_then(|d| d.credit.as_ref()) {
                    self.view.credit.save(credit, overwrite, self.settings.beta);
                }
            }
            Action::KeepCreditTarget => self.view.credit.confirm = None,
            Action::OpenSearch => {
                self.search.open = true;
                if self.search.prompt.trim().is_empty() {
                    self.search.prompt = self.record.editor.prompt.clone();
                    self.search.chat = self.record.editor.chat;
                }
            }
            Action::CloseSearch => self.search.open = false,
            Action::SetSearch(form) => self.search.set_form(form),
            Action::TickCandidate(c) => self.search.tick(c),
            Action::SearchShownPrompt => {
                self.search.prompt = self.record.editor.prompt.clone();
                self.search.chat = self.record.editor.chat;
            }
            Action::RunSearch => self.start_search(),
            Action::CancelSearch => self.search.job.cancel(),
            Action::ShowCandidate { run, candidate } => self.show_candidate((run, candidate), None),
            Action::CompareCandidates { a, b } => self.show_candidate(a, Some(b)),
        }
    }

    /// A text field holds `text` now.
    fn set_text(&mut self, field: TextField, text: String) {
        match field {
            TextField::Prompt => self.edit(|e| e.prompt = text),
            TextField::Chosen => self.edit(|e| e.chosen = text),
            TextField::Rejected => self.edit(|e| {
                // The labelled error spans are of the text as the file has it.
                e.rejected = text;
                e.error_spans.clear();
            }),
            TextField::System => self.edit(|e| e.system = text),
            TextField::Policy => self.models.form.policy = text,
            TextField::Reference => self.models.form.reference = text,
            TextField::ChatTemplate => self.models.form.chat_template = text,
            TextField::DataPath => self.files.data_path = text,
            TextField::TableSearch => {
                if let Some(d) = &mut self.dataset {
                    d.search = text;
                }
            }
        }
    }
}
