//! What the views and tests may read of the state.

use super::*;

impl App {
    /// The Search window's state.
    pub fn search(&self) -> &SearchState {
        &self.search
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
                self.record.selected_row = None;
                self.record.editor.prompt = prompt;
                self.record.editor.chat = false;
                self.record.editor.conversation = None;
                self.record.editor.error_spans.clear();
                self.record.editor.dirty_since = None;
                match &score {
                    RecordScore::Pair(p) => {
                        self.record.editor.chosen = p.chosen.text.clone();
                        self.record.editor.rejected = p.rejected.text.clone();
                    }
                    RecordScore::Unpaired(u) => self.record.editor.chosen = u.response.text.clone(),
                }
                self.show_score(score);
                self.search.shown = Some(a);
            }
            Err(e) => self.search.job.set_error(Some(e.to_string())),
        }
    }

    /// Starts the search typed in the Search window on a worker.
    pub(super) fn start_search(&mut self) {
        let Some(l) = &self.models.loaded else {
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
        let shown = self.record.shown.as_ref()?;
        if self.settings.unit == crate::words::Unit::Token {
            return Some(shown.clone());
        }
        let key = Arc::as_ptr(shown) as usize;
        let mut cache = self.record.shown_words.borrow_mut();
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
        let Some(shown) = self.record.shown.as_ref() else {
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
        self.record.editor.pair = matches!(score, RecordScore::Pair(_));
        self.record.diff = match &score {
            RecordScore::Pair(p) => differing_spans(&p.chosen.text, &p.rejected.text),
            RecordScore::Unpaired(_) => DiffSpans::default(),
        };
        self.record.pinned = None;
        self.record.shown = Some(Arc::new(score));
    }

    /// Puts `dataset` (scored or not) in the table in place of the open data file, cancelling its scoring.
    pub fn set_dataset(&mut self, dataset: Dataset) {
        if let Some(d) = &self.dataset {
            d.job.cancel();
        }
        self.record.edits.clear();
        self.record.selected_row = None;
        self.dataset = Some(dataset);
    }

    /// Persisted settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The model path fields as typed.
    pub fn form(&self) -> &ModelForm {
        &self.models.form
    }

    /// The loaded models.
    pub fn loaded(&self) -> Option<&Loaded> {
        self.models.loaded.as_ref()
    }

    /// Whether a load is running.
    pub fn is_loading(&self) -> bool {
        self.models.load.running()
    }

    /// Share of the running load done (0 to 1).
    pub fn load_progress(&self) -> Option<f32> {
        self.models.load.progress()
    }

    /// Why the last load failed.
    pub fn load_error(&self) -> Option<&str> {
        self.models.load.error()
    }

    /// The text being inspected.
    pub fn editor(&self) -> &Editor {
        &self.record.editor
    }

    /// How long the shown scores took, and what they reused of the scoring before.
    pub fn timing(&self) -> Option<Timing> {
        self.record.timing
    }

    /// The scores of the shown text.
    pub fn shown(&self) -> Option<&RecordScore> {
        self.record.shown.as_deref()
    }

    /// Whether the shown text is being scored.
    pub fn is_scoring(&self) -> bool {
        self.record.scoring.running()
    }

    /// Why the shown text could not be scored.
    pub fn score_error(&self) -> Option<&str> {
        self.record.scoring.error()
    }

    /// The open data file.
    pub fn dataset(&self) -> Option<&Dataset> {
        self.dataset.as_ref()
    }

    /// The selected record of the data file.
    pub fn selected_row(&self) -> Option<usize> {
        self.record.selected_row
    }

    /// The pinned token (response, token index).
    pub fn pinned(&self) -> Option<(usize, usize)> {
        self.record.pinned
    }

    /// Training checkpoints of the policy (for drift).
    pub fn checkpoints(&self) -> &[TrainingCheckpoint] {
        &self.drift.checkpoints
    }

    /// Drift points received so far.
    pub fn drift(&self) -> &[DriftPoint] {
        &self.drift.points
    }

    /// Whether the drift computation runs.
    pub fn drift_running(&self) -> bool {
        self.drift.job.running()
    }

    /// The training folder being followed, while the app follows it.
    pub fn following(&self) -> Option<&std::path::Path> {
        self.drift.run.as_deref().filter(|_| self.drift.following)
    }

    /// The export window's state.
    pub fn export(&self) -> &ExportState {
        &self.export
    }

    /// creditlens' own file chooser, when open.
    pub fn file_browser(&self) -> Option<FileBrowser> {
        self.files.browser?;
        file_browser::stored(&self.ctx)
    }

    /// The settings to save now, when they changed since the last time this was asked.
    /// (At most one save a second: dragging beta does not write the file at every frame.)
    pub fn take_settings_to_save(&mut self) -> Option<Settings> {
        if self.settings == self.status.saved_settings.0 {
            return None;
        }
        let since = self.status.saved_settings.1.elapsed();
        if since < SAVE_EVERY {
            self.ctx.request_repaint_after(SAVE_EVERY - since);
            return None;
        }
        self.status.saved_settings = (self.settings.clone(), Instant::now());
        Some(self.settings.clone())
    }

    /// The status line.
    pub fn notice(&self) -> Option<&str> {
        self.status.notice.as_deref()
    }

    /// Frames drawn so far.
    pub fn frames(&self) -> u64 {
        self.view.frames
    }

    /// Height given to the heatmaps in the last frame.
    pub fn heatmap_height(&self) -> f32 {
        self.view.heatmap_height.get()
    }

    /// Height of the plots panel's content in the last frame.
    pub fn plots_height(&self) -> f32 {
        self.view.plots_height.get()
    }

    /// Where the window's parts were drawn in the last frame.
    pub fn layout(&self) -> LayoutRects {
        self.view.rects.get()
    }

    /// Where token `token` of response `response` (0 = chosen or the single response, 1 = rejected) was drawn in
    /// the last frame, cut to what was visible in the window; `None` when it was not visible.
    pub fn token_rect(&self, response: usize, token: usize) -> Option<egui::Rect> {
        let r = self
            .record
            .caches
            .get(response)?
            .borrow()
            .visible_rect(token)?;
        let r = r.intersect(self.view.rects.get().centre);
        r.is_positive().then_some(r)
    }

    /// Height of the text editor in the last frame.
    pub fn editor_height(&self) -> f32 {
        self.view.editor_height.get()
    }
}
