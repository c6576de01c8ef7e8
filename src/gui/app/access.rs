//! What the views and tests may read of the state, and [`App::apply`], where the user's requests change it.

use super::*;
use crate::gui::action::Action;

impl App {
    /// Carries out one request.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Browse(purpose) => self.open_dialog(purpose),
            Action::DialogAnswered { purpose, answer } => self.dialog_answered(purpose, answer),
            Action::Load => self.load_models(None),
            Action::OpenModels { policy, reference } => {
                self.form.policy = policy.display().to_string();
                if let Some(r) = reference {
                    self.form.reference = r.display().to_string();
                }
                self.load_models(None);
            }
            Action::SettingsChanged => self.apply_settings(),
            Action::BetaChanged => self.apply_beta(),
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
                    self.pinned = None;
                }
            }
            Action::OpenData(path) => self.open_data(&path),
            Action::SelectRow(row) => self.select_row(row),
            Action::StepRow(delta) => self.step_row(delta),
            Action::Pin(pin) => self.pinned = pin,
            Action::Rescore => self.rescore_now(),
            Action::CancelDataset => {
                if let Some(d) = &self.dataset {
                    d.job.cancel();
                }
            }
            Action::CancelDrift => self.drift_job.cancel(),
            Action::Export { overwrite } => self.run_export(overwrite),
            Action::OpenSearch => {
                self.search.open = true;
                if self.search.prompt.trim().is_empty() {
                    self.search.prompt = self.editor.prompt.clone();
                    self.search.chat = self.editor.chat;
                }
            }
            Action::SearchShownPrompt => {
                self.search.prompt = self.editor.prompt.clone();
                self.search.chat = self.editor.chat;
            }
            Action::RunSearch => self.start_search(),
            Action::CancelSearch => self.search.job.cancel(),
            Action::ShowCandidate { run, candidate } => self.show_candidate((run, candidate), None),
            Action::CompareCandidates { a, b } => self.show_candidate(a, Some(b)),
        }
    }

    /// The Search window's state.
    pub fn search(&self) -> &SearchState {
        &self.search
    }

    /// The Search window's form (prompt, widths, lengths), as typed.
    pub fn search_mut(&mut self) -> &mut SearchState {
        &mut self.search
    }

    /// Shows search candidate `a` in the heatmap, or with `b` as a pair (`a` as chosen); the editor gets their
    /// texts, so an edit scores them afresh.
    pub(super) fn show_candidate(&mut self, a: (usize, usize), b: Option<(usize, usize)>) {
        let Some(run) = self.search.runs.get(a.0) else {
            return;
        };
        let other = b.and_then(|(r, c)| self.search.runs.get(r).map(|run| (run, c)));
        let prompt = run.prompt.clone();
        match run.record(a.1, other, self.settings.beta) {
            Ok(score) => {
                self.keep_edits();
                self.selected_row = None;
                self.editor.prompt = prompt;
                self.editor.chat = false;
                self.editor.conversation = None;
                self.editor.error_spans.clear();
                self.editor.dirty_since = None;
                match &score {
                    RecordScore::Pair(p) => {
                        self.editor.chosen = p.chosen.text.clone();
                        self.editor.rejected = p.rejected.text.clone();
                    }
                    RecordScore::Unpaired(u) => self.editor.chosen = u.response.text.clone(),
                }
                self.show_score(score);
                self.search.shown = Some(a);
            }
            Err(e) => self.search.job.set_error(Some(e.to_string())),
        }
    }

    /// Starts the search typed in the Search window on a worker.
    fn start_search(&mut self) {
        let Some(l) = &self.loaded else {
            self.search.job.fail("load the models first");
            return;
        };
        let widths = match self.search.parse_widths() {
            Ok(w) => w,
            Err(e) => {
                self.search.job.fail(e);
                return;
            }
        };
        let prompt = if self.search.chat {
            crate::search::SearchPrompt::Messages(vec![Message::new("user", &self.search.prompt)])
        } else {
            crate::search::SearchPrompt::Text(self.search.prompt.clone())
        };
        let ticket = self.search.job.start();
        self.search.runs.clear();
        self.search.ticked.clear();
        self.search.shown = None;
        self.search.source = None;
        self.worker.search(SearchJob {
            ticket,
            scorer: l.scorer.clone(),
            prompt,
            widths,
            max_new_tokens: self.search.max_new_tokens,
            length_norm: self.search.length_norm,
        });
    }

    /// What the heatmaps show: the shown scores per token, or per word (`Settings::unit`).
    pub fn displayed(&self) -> Option<Arc<RecordScore>> {
        let shown = self.shown.as_ref()?;
        if self.settings.unit == crate::words::Unit::Token {
            return Some(shown.clone());
        }
        let key = Arc::as_ptr(shown) as usize;
        let mut cache = self.shown_words.borrow_mut();
        match cache.as_ref() {
            Some((k, w)) if *k == key => Some(w.clone()),
            _ => {
                let w = Arc::new(crate::words::record_by_words(shown));
                *cache = Some((key, w.clone()));
                Some(w)
            }
        }
    }

    /// With words shown, the tokens of word `word` of response `response` (index in the response, score).
    pub fn word_members(
        &self,
        response: usize,
        word: usize,
    ) -> Vec<(usize, crate::score::TokenScore)> {
        if self.settings.unit == crate::words::Unit::Token {
            return Vec::new();
        }
        let Some(shown) = self.shown.as_ref() else {
            return Vec::new();
        };
        let responses = shown.responses();
        let Some((_, r)) = responses.get(response) else {
            return Vec::new();
        };
        crate::words::words(&r.text, &r.tokens)
            .get(word)
            .map(|w| {
                w.tokens
                    .clone()
                    .filter_map(|i| Some((i, r.tokens.get(i)?.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Shows a score computed elsewhere (a search candidate, a benchmark's large response) until the next edit.
    pub fn show_score(&mut self, score: RecordScore) {
        self.editor.pair = matches!(score, RecordScore::Pair(_));
        self.diff = match &score {
            RecordScore::Pair(p) => differing_spans(&p.chosen.text, &p.rejected.text),
            RecordScore::Unpaired(_) => DiffSpans::default(),
        };
        self.pinned = None;
        self.shown = Some(Arc::new(score));
    }

    /// Puts `dataset` (scored or not) in the table in place of the open data file, cancelling its scoring.
    pub fn set_dataset(&mut self, dataset: Dataset) {
        if let Some(d) = &self.dataset {
            d.job.cancel();
        }
        self.edits.clear();
        self.selected_row = None;
        self.dataset = Some(dataset);
    }

    /// Persisted settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The model path fields as typed.
    pub fn form(&self) -> &ModelForm {
        &self.form
    }

    /// The loaded models.
    pub fn loaded(&self) -> Option<&Loaded> {
        self.loaded.as_ref()
    }

    /// Whether a load is running.
    pub fn is_loading(&self) -> bool {
        self.load.running()
    }

    /// Share of the running load done (0 to 1).
    pub fn load_progress(&self) -> Option<f32> {
        self.load.progress()
    }

    /// Why the last load failed.
    pub fn load_error(&self) -> Option<&str> {
        self.load.error()
    }

    /// The text being inspected.
    pub fn editor(&self) -> &Editor {
        &self.editor
    }

    /// The text being inspected, to type into (scored after [`Action::Rescore`] or the debounce).
    pub fn editor_mut(&mut self) -> &mut Editor {
        &mut self.editor
    }

    /// The scores of the shown text.
    pub fn shown(&self) -> Option<&RecordScore> {
        self.shown.as_deref()
    }

    /// Whether the shown text is being scored.
    pub fn is_scoring(&self) -> bool {
        self.scoring.running()
    }

    /// Why the shown text could not be scored.
    pub fn score_error(&self) -> Option<&str> {
        self.scoring.error()
    }

    /// The open data file.
    pub fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_ref()
    }

    /// The open data file, to sort, filter and search (the table's own controls).
    pub fn dataset_mut(&mut self) -> Option<&mut Dataset> {
        self.dataset.as_mut()
    }

    /// The selected record of the data file.
    pub fn selected_row(&self) -> Option<usize> {
        self.selected_row
    }

    /// The pinned token (response, token index).
    pub fn pinned(&self) -> Option<(usize, usize)> {
        self.pinned
    }

    /// Training checkpoints of the policy (for drift).
    pub fn checkpoints(&self) -> &[TrainingCheckpoint] {
        &self.checkpoints
    }

    /// Drift points received so far.
    pub fn drift(&self) -> &[DriftPoint] {
        &self.drift
    }

    /// Whether the drift computation runs.
    pub fn drift_running(&self) -> bool {
        self.drift_job.running()
    }

    /// The export window's state.
    pub fn export(&self) -> &ExportState {
        &self.export
    }

    /// The export window's fields (format, path), as the user sets them.
    pub fn export_mut(&mut self) -> &mut ExportState {
        &mut self.export
    }

    /// creditlens' own file chooser, when open.
    pub fn file_browser(&self) -> Option<&FileBrowser> {
        self.browser.as_ref()
    }

    /// The settings to save now, when they changed since the last time this was asked.
    /// (At most one save a second: dragging beta does not write the file at every frame.)
    pub fn take_settings_to_save(&mut self) -> Option<Settings> {
        if self.settings == self.saved_settings.0 {
            return None;
        }
        let since = self.saved_settings.1.elapsed();
        if since < SAVE_EVERY {
            self.ctx.request_repaint_after(SAVE_EVERY - since);
            return None;
        }
        self.saved_settings = (self.settings.clone(), Instant::now());
        Some(self.settings.clone())
    }

    /// The status line.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Frames drawn so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Height given to the heatmaps in the last frame.
    pub fn heatmap_height(&self) -> f32 {
        self.heatmap_height
    }

    /// Height of the plots panel's content in the last frame.
    pub fn plots_height(&self) -> f32 {
        self.plots_height
    }

    /// Where the window's parts were drawn in the last frame.
    pub fn layout(&self) -> LayoutRects {
        self.layout
    }

    /// Where token `token` of response `response` (0 = chosen or the single response, 1 = rejected) was drawn in
    /// the last frame, cut to what was visible in the window; `None` when it was not visible.
    pub fn token_rect(&self, response: usize, token: usize) -> Option<egui::Rect> {
        let r = self.caches.get(response)?.visible_rect(token)?;
        let r = r.intersect(self.layout.centre);
        r.is_positive().then_some(r)
    }

    /// Height of the text editor in the last frame.
    pub fn editor_height(&self) -> f32 {
        self.editor_height
    }
}
