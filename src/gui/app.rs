//! The app's state and frame: menus and toolbar, the models and dataset side panel, the editor and the paired
//! heatmaps in the centre, the pinned-token panel, the plots, export and the start-up screenshot mode.

use super::dataset::Dataset;
use super::dialogs::{Pending, Purpose};
use super::export::{self, ExportState, Format};
use super::heatmap_view::{ChipCache, TokenChips, colour_bar};
use super::models_panel::{self, Action, CardRects, ModelForm};
use super::plots::{self, TrainerCurve};
use super::settings::{STORAGE_KEY, Settings, push_recent};
use super::worker::{DriftJob, DriftPoint, Loaded, Reply, Worker};
use crate::chat::{Conversation, Message};
use crate::checkpoint::{TrainingCheckpoint, training_checkpoints};
use crate::data::{Record, read_entries};
use crate::demo_assets::DemoAssets;
use crate::heatmap::{Metric, Scale, ScaleMode, Theme};
use crate::score::{RecordScore, ScoreOptions};
use crate::textdiff::{DiffSpans, differing_spans};
use egui::{Key, KeyboardShortcut, Modifiers, Ui};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the window opens on. Without a policy and reference, the embedded demo.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Policy checkpoint folder (or a folder of `checkpoint-N/` subfolders).
    pub policy: Option<PathBuf>,
    /// Reference checkpoint folder.
    pub reference: Option<PathBuf>,
    /// Data file to open.
    pub data: Option<PathBuf>,
    /// Save a screenshot here once the first scores are drawn, then close.
    pub screenshot: Option<PathBuf>,
    /// Open with this theme instead of the remembered one.
    pub theme: Option<Theme>,
    /// Open with this plot tab.
    pub plot: Option<PlotTab>,
    /// Render conversations with this chat template file instead of the tokenizer's own.
    pub chat_template: Option<PathBuf>,
}

/// Which plot the bottom panel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlotTab {
    /// Per-token bars and cumulative reward.
    Tokens,
    /// Rewards across checkpoints.
    Drift,
    /// Token x checkpoint heatmap.
    TokenByCheckpoint,
}

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

    fn set(&mut self, record: &Record) {
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
fn bounded_text(
    ui: &mut Ui,
    id: &str,
    text: &mut String,
    rows: usize,
    max_height: f32,
    hint: &str,
) -> egui::Response {
    egui::ScrollArea::vertical()
        .id_salt(id)
        .max_height(max_height)
        .show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(text)
                    .desired_rows(rows)
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text(hint)
        })
        .inner
}

/// Height of the heatmaps, whatever else the centre holds (it scrolls to reach them).
const MIN_HEATMAP: f32 = 220.0;

/// Debounce between the last keystroke and rescoring.
const DEBOUNCE: Duration = Duration::from_millis(250);

struct ScreenshotMode {
    path: PathBuf,
    frames_with_scores: u32,
    requested: bool,
    started: Instant,
}

/// The app.
pub struct App {
    /// Persisted settings.
    pub settings: Settings,
    worker: Worker,
    /// The model path fields.
    pub form: ModelForm,
    /// Loaded models.
    pub loaded: Option<Loaded>,
    load_generation: u64,
    /// A load is running.
    pub loading: bool,
    /// Share of the current load done (0 to 1).
    pub load_progress: f32,
    /// Why the last load failed.
    pub load_error: Option<String>,
    /// The text being inspected.
    pub editor: Editor,
    /// Its scores (shared, so drawing a frame never copies them).
    pub shown: Option<Arc<RecordScore>>,
    scale_cache: std::cell::RefCell<Option<(usize, Metric, ScaleMode, Scale)>>,
    score_generation: u64,
    /// A scoring request is in flight.
    pub scoring: bool,
    /// Why the shown text could not be scored.
    pub score_error: Option<String>,
    diff: DiffSpans,
    /// The open data file.
    pub dataset: Option<Dataset>,
    /// Selected record of the data file.
    pub selected_row: Option<usize>,
    /// Pinned token: (response 0 = chosen/response, 1 = rejected; token index).
    pub pinned: Option<(usize, usize)>,
    caches: [ChipCache; 2],
    /// Training checkpoints of the policy (for drift).
    pub checkpoints: Vec<TrainingCheckpoint>,
    /// Drift points received.
    pub drift: Vec<DriftPoint>,
    drift_generation: u64,
    drift_cancel: Arc<AtomicBool>,
    /// A drift run is going.
    pub drift_running: bool,
    drift_error: Option<String>,
    drift_selected_stale: bool,
    trainer: Vec<TrainerCurve>,
    /// What a load in flight replaced (checkpoints, trainer curves, drift), put back if it fails.
    before_load: Option<(Vec<TrainingCheckpoint>, Vec<TrainerCurve>, Vec<DriftPoint>)>,
    /// Height given to the heatmaps in the last frame (for tests of the layout).
    pub heatmap_height: f32,
    /// Height of the text editor in the last frame (for tests of the layout).
    pub editor_height: f32,
    /// Edited texts of data-file records, by row, kept when another row is opened (cleared by Revert).
    edits: std::collections::HashMap<usize, Editor>,
    /// Policies opened with a run folder of `checkpoint-N/` elsewhere (the demo's), so reopening one keeps its drift.
    runs: Vec<(PathBuf, PathBuf)>,
    /// Bottom panel tab.
    pub plot_tab: PlotTab,
    /// Export window.
    pub export: ExportState,
    dialog: Option<Pending>,
    cards: CardRects,
    title: String,
    screenshot: Option<ScreenshotMode>,
    outcome: Arc<Mutex<Option<String>>>,
    /// Status line.
    pub notice: Option<String>,
    /// Frames drawn (for tests and the screenshot mode).
    pub frames: u64,
}

fn shortcut(modifiers: Modifiers, key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(modifiers, key)
}

const OPEN_DATA: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const EXPORT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
const THEME: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::T);

impl App {
    /// The app inside eframe: fonts, persisted settings, then [`App::start`].
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        launch: Launch,
        outcome: Arc<Mutex<Option<String>>>,
    ) -> Self {
        let settings = if launch.screenshot.is_some() {
            Settings::default()
        } else {
            cc.storage
                .and_then(|s| eframe::get_value::<Settings>(s, STORAGE_KEY))
                .unwrap_or_default()
        };
        Self::start(&cc.egui_ctx, launch, settings, outcome)
    }

    /// The app on `ctx` (also used by tests, without eframe): installs fonts and theme, starts loading the
    /// launch's models (the embedded demo unless given) and opens its data file.
    pub fn start(
        ctx: &egui::Context,
        launch: Launch,
        settings: Settings,
        outcome: Arc<Mutex<Option<String>>>,
    ) -> Self {
        super::fonts::install(ctx);
        let worker = Worker::new();
        worker.set_context(ctx);
        let mut app = Self {
            settings,
            worker,
            form: ModelForm::default(),
            loaded: None,
            load_generation: 0,
            loading: false,
            load_progress: 0.0,
            load_error: None,
            editor: Editor {
                pair: true,
                ..Editor::default()
            },
            shown: None,
            scale_cache: std::cell::RefCell::new(None),
            score_generation: 0,
            scoring: false,
            score_error: None,
            diff: DiffSpans::default(),
            dataset: None,
            selected_row: None,
            pinned: None,
            caches: [ChipCache::default(), ChipCache::default()],
            checkpoints: Vec::new(),
            drift: Vec::new(),
            drift_generation: 0,
            drift_cancel: Arc::new(AtomicBool::new(false)),
            drift_running: false,
            drift_error: None,
            drift_selected_stale: false,
            trainer: Vec::new(),
            before_load: None,
            heatmap_height: 0.0,
            editor_height: 0.0,
            edits: std::collections::HashMap::new(),
            runs: Vec::new(),
            plot_tab: PlotTab::Tokens,
            export: ExportState::default(),
            dialog: None,
            cards: CardRects::default(),
            title: String::new(),
            screenshot: launch.screenshot.clone().map(|path| ScreenshotMode {
                path,
                frames_with_scores: 0,
                requested: false,
                started: Instant::now(),
            }),
            outcome,
            notice: None,
            frames: 0,
        };
        if let Some(t) = launch.theme {
            app.settings.theme = t;
        }
        if let Some(p) = launch.plot {
            app.plot_tab = p;
            app.settings.show_plots = true;
        }
        app.apply_theme(ctx);
        let (policy, reference, data, checkpoints_dir) = match (&launch.policy, &launch.reference) {
            (Some(p), Some(r)) => (Some(p.clone()), Some(r.clone()), launch.data.clone(), None),
            _ => match DemoAssets::locate() {
                Ok(demo) => (
                    Some(demo.policy()),
                    Some(demo.reference()),
                    launch.data.clone().or_else(|| Some(demo.pairs())),
                    Some(demo.checkpoints()),
                ),
                Err(e) => {
                    app.load_error = Some(e.to_string());
                    (None, None, launch.data.clone(), None)
                }
            },
        };
        if let Some(t) = &launch.chat_template {
            app.form.chat_template = t.display().to_string();
        }
        if let (Some(p), Some(r)) = (policy, reference) {
            app.form.policy = p.display().to_string();
            app.form.reference = r.display().to_string();
            app.load_models(checkpoints_dir);
        }
        if let Some(d) = data {
            app.open_data(&d);
        }
        app
    }

    fn apply_theme(&self, ctx: &egui::Context) {
        ctx.set_theme(match self.settings.theme {
            Theme::Light => egui::Theme::Light,
            Theme::Dark => egui::Theme::Dark,
        });
    }

    fn options(&self) -> ScoreOptions {
        ScoreOptions {
            beta: self.settings.beta,
            mode: self.settings.tokenization,
            top_k: self.settings.top_k,
            max_length: None,
        }
    }

    /// Loads the models named in the path fields. A policy folder holding `checkpoint-N/` subfolders (and no
    /// config.json of its own) opens its last checkpoint, and the others feed the drift plot; `checkpoints_dir`
    /// names such a folder explicitly (the demo's).
    pub fn load_models(&mut self, checkpoints_dir: Option<PathBuf>) {
        let mut policy = PathBuf::from(self.form.policy.trim());
        let mut reference = PathBuf::from(self.form.reference.trim());
        // A LoRA adapter's local base is its reference (PEFT + DPO) unless another one is given.
        if reference.as_os_str().is_empty()
            && let Ok(Some(base)) = crate::source::adapter_base(&policy)
        {
            self.form.reference = base.display().to_string();
            reference = base;
        }
        if policy.as_os_str().is_empty() || reference.as_os_str().is_empty() {
            self.load_error = Some("choose both a policy and a reference".into());
            return;
        }
        let checkpoints_dir = match checkpoints_dir {
            Some(dir) => {
                self.runs.retain(|(p, _)| p != &policy);
                self.runs.push((policy.clone(), dir.clone()));
                Some(dir)
            }
            None => self
                .runs
                .iter()
                .find(|(p, _)| p == &policy)
                .map(|(_, d)| d.clone()),
        };
        let mut checkpoints = training_checkpoints(checkpoints_dir.as_deref().unwrap_or(&policy));
        if !policy.join("config.json").is_file()
            && !crate::source::is_adapter(&policy)
            && let Some(last) = checkpoints.last()
        {
            policy = last.dir.clone();
        }
        if checkpoints.len() < 2 {
            checkpoints.clear();
        }
        let trainer = checkpoints
            .last()
            .map(|c| plots::trainer_curves(&c.dir.join("trainer_state.json")))
            .unwrap_or_default();
        self.before_load = Some((
            std::mem::replace(&mut self.checkpoints, checkpoints),
            std::mem::replace(&mut self.trainer, trainer),
            std::mem::take(&mut self.drift),
        ));
        self.drift_cancel.store(true, Ordering::Relaxed);
        self.load_generation += 1;
        self.loading = true;
        self.load_progress = 0.0;
        self.load_error = None;
        self.worker.load(
            self.load_generation,
            policy,
            reference,
            Some(PathBuf::from(self.form.chat_template.trim()))
                .filter(|p| !p.as_os_str().is_empty()),
            self.settings.dtype.clone(),
            self.options(),
        );
    }

    /// Opens a data file and selects its first record.
    pub fn open_data(&mut self, path: &Path) {
        match read_entries(path) {
            Ok(entries) => {
                if let Some(d) = &self.dataset {
                    d.cancel.store(true, Ordering::Relaxed);
                }
                push_recent(&mut self.settings.recent_data, path);
                self.edits.clear();
                self.selected_row = None;
                let mut d = Dataset::new(path.to_path_buf(), entries, self.settings.beta);
                let first = d.rows.iter().position(|r| r.record.is_ok());
                d.generation = self.dataset.as_ref().map_or(1, |o| o.generation + 1);
                self.dataset = Some(d);
                self.notice = None;
                if let Some(i) = first {
                    self.select_row(i);
                }
                self.score_dataset();
            }
            Err(e) => self.notice = Some(e.to_string()),
        }
    }

    /// Shows record `row` of the data file.
    pub fn select_row(&mut self, row: usize) {
        let Some(d) = &self.dataset else { return };
        let Some(Ok(record)) = d.rows.get(row).map(|r| &r.record) else {
            return;
        };
        let record = record.clone();
        self.keep_edits();
        self.selected_row = Some(row);
        match self.edits.get(&row) {
            Some(edited) => self.editor = edited.clone(),
            None => self.editor.set(&record),
        }
        self.pinned = None;
        self.drift_selected_stale = true;
        self.rescore_now();
    }

    /// The selected row's record as the data file has it.
    fn selected_record(&self) -> Option<&Record> {
        let row = self.selected_row?;
        self.dataset.as_ref()?.rows.get(row)?.record.as_ref().ok()
    }

    /// Whether the editor holds edits of the selected data-file record.
    pub fn selected_is_edited(&self) -> bool {
        self.selected_record()
            .is_some_and(|r| *r != self.editor.record())
    }

    /// Keeps the editor's text for the selected row when it differs from the file (forgets it otherwise).
    fn keep_edits(&mut self) {
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

    /// Moves the selection by `delta` in the table's current order.
    pub fn step_row(&mut self, delta: isize) {
        let Some(d) = &mut self.dataset else { return };
        let view = d.view().to_vec();
        if view.is_empty() {
            return;
        }
        let at = self
            .selected_row
            .and_then(|s| view.iter().position(|&v| v == s))
            .map_or(0, |p| {
                (p as isize + delta).clamp(0, view.len() as isize - 1) as usize
            });
        self.select_row(view[at]);
    }

    /// Scores the editor's text now.
    pub fn rescore_now(&mut self) {
        self.editor.dirty_since = None;
        let Some(l) = &self.loaded else { return };
        self.score_generation += 1;
        self.scoring = true;
        self.worker.score(
            self.score_generation,
            l.scorer.clone(),
            self.editor.record(),
        );
    }

    fn score_dataset(&mut self) {
        let (Some(l), Some(d)) = (&self.loaded, &mut self.dataset) else {
            return;
        };
        d.cancel.store(true, Ordering::Relaxed);
        d.cancel = Arc::new(AtomicBool::new(false));
        d.generation += 1;
        d.clear_scores();
        d.running = true;
        d.seconds = None;
        self.worker.score_rows(
            d.generation,
            l.scorer.clone(),
            d.scorable(),
            d.cancel.clone(),
        );
    }

    fn start_drift(&mut self, with_pairs: bool) {
        let Some(l) = &self.loaded else { return };
        if self.checkpoints.is_empty() {
            return;
        }
        self.drift_cancel.store(true, Ordering::Relaxed);
        self.drift_cancel = Arc::new(AtomicBool::new(false));
        self.drift_generation += 1;
        self.drift_running = true;
        self.drift_error = None;
        self.drift_selected_stale = false;
        let pairs: Vec<Record> = if with_pairs {
            self.dataset
                .as_ref()
                .map(|d| {
                    d.rows
                        .iter()
                        .filter_map(|r| match &r.record {
                            Ok(rec @ Record::Pair { .. }) => Some(rec.clone()),
                            _ => None,
                        })
                        .take(100)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let scorer = match l.scorer.with_options(ScoreOptions {
            top_k: 0,
            ..self.options()
        }) {
            Ok(s) => Arc::new(s),
            Err(_) => l.scorer.clone(),
        };
        self.worker.drift(DriftJob {
            generation: self.drift_generation,
            scorer,
            checkpoints: self.checkpoints.clone(),
            pairs,
            selected: Some(self.editor.record()),
            dtype: self.settings.dtype.clone(),
            cancel: self.drift_cancel.clone(),
        });
    }

    fn handle_replies(&mut self) {
        for reply in self.worker.poll() {
            match reply {
                Reply::Loaded { generation, result } if generation == self.load_generation => {
                    self.loading = false;
                    match result {
                        Ok(l) => {
                            self.before_load = None;
                            push_recent(&mut self.settings.recent_policies, &l.policy.path);
                            push_recent(&mut self.settings.recent_references, &l.reference.path);
                            self.notice = Some(format!("models loaded in {:.1} s", l.seconds));
                            self.loaded = Some(l);
                            self.rescore_now();
                            self.score_dataset();
                            self.start_drift(true);
                        }
                        Err(e) => {
                            // The models loaded before stay in use, with their checkpoints and drift.
                            if let Some((checkpoints, trainer, drift)) = self.before_load.take() {
                                self.checkpoints = checkpoints;
                                self.trainer = trainer;
                                self.drift = drift;
                            }
                            self.load_error = Some(match &self.loaded {
                                Some(l) => format!(
                                    "{e}\nStill using the models loaded before: {} and {}.",
                                    l.policy.path.display(),
                                    l.reference.path.display()
                                ),
                                None => e,
                            });
                        }
                    }
                }
                Reply::LoadProgress {
                    generation,
                    fraction,
                } if generation == self.load_generation => self.load_progress = fraction,
                Reply::LoadProgress { .. } => {}
                Reply::Loaded {
                    generation: 0,
                    result: Err(e),
                } => self.notice = Some(e),
                Reply::Loaded { .. } => {}
                Reply::Scored { generation, result } if generation == self.score_generation => {
                    self.scoring = false;
                    match result {
                        Ok(mut s) => {
                            // Scored before a change of beta: shown for the beta in force.
                            s.set_beta(self.settings.beta);
                            // Filed under the data-file row it shows (the CSV/JSON export's index).
                            if let Some(row) = self.selected_row {
                                s.set_index(row);
                            }
                            self.diff = match &s {
                                RecordScore::Pair(p) => {
                                    differing_spans(&p.chosen.text, &p.rejected.text)
                                }
                                RecordScore::Unpaired(_) => DiffSpans::default(),
                            };
                            self.shown = Some(Arc::new(s));
                            self.score_error = None;
                        }
                        Err(e) => self.score_error = Some(e),
                    }
                }
                Reply::Scored { .. } => {}
                Reply::Row {
                    generation,
                    row,
                    result,
                } => {
                    if let Some(d) = &mut self.dataset
                        && d.generation == generation
                    {
                        d.set_score(row, result);
                    }
                }
                Reply::RowsDone {
                    generation,
                    seconds,
                    cancelled,
                } => {
                    if let Some(d) = &mut self.dataset
                        && d.generation == generation
                    {
                        d.finish((!cancelled).then_some(seconds));
                    }
                }
                Reply::Drift {
                    generation,
                    mut point,
                } if generation == self.drift_generation => {
                    point.set_beta(self.settings.beta);
                    match self.drift.iter_mut().find(|d| d.step == point.step) {
                        Some(existing) if point.pairs == 0 => existing.selected = point.selected,
                        Some(existing) => *existing = point,
                        None => {
                            self.drift.push(point);
                            self.drift.sort_by_key(|d| d.step);
                        }
                    }
                }
                Reply::DriftDone { generation, error } if generation == self.drift_generation => {
                    self.drift_running = false;
                    self.drift_error = error;
                }
                Reply::Drift { .. } | Reply::DriftDone { .. } => {}
            }
        }
    }

    /// With a token pinned and no text field focused: Left/Right walk the response's tokens, Up/Down move between
    /// chosen and rejected, and Ctrl+C copies the token's numbers.
    fn pinned_keys(&mut self, ctx: &egui::Context) {
        let Some((side, idx)) = self.pinned else {
            return;
        };
        if ctx.memory(|m| m.focused().is_some()) {
            return;
        }
        let lens: Vec<usize> = self
            .shown
            .as_ref()
            .map(|s| s.responses().iter().map(|(_, r)| r.tokens.len()).collect())
            .unwrap_or_default();
        let (left, right, up, down, copy) = ctx.input_mut(|i| {
            let copy = i.events.iter().any(|e| matches!(e, egui::Event::Copy));
            (
                i.consume_key(Modifiers::NONE, Key::ArrowLeft),
                i.consume_key(Modifiers::NONE, Key::ArrowRight),
                i.consume_key(Modifiers::NONE, Key::ArrowUp),
                i.consume_key(Modifiers::NONE, Key::ArrowDown),
                copy,
            )
        });
        let len = |s: usize| lens.get(s).copied().unwrap_or(0);
        let mut at = (side, idx);
        if left {
            at.1 = at.1.saturating_sub(1);
        }
        if right && at.1 + 1 < len(at.0) {
            at.1 += 1;
        }
        if (up || down) && lens.len() == 2 {
            let other = 1 - at.0;
            if len(other) > 0 {
                at = (other, at.1.min(len(other) - 1));
            }
        }
        self.pinned = Some(at);
        if copy && let Some(text) = self.pinned_summary() {
            ctx.copy_text(text);
        }
    }

    /// How many times the heatmaps' chips have been laid out (they are cached across frames).
    pub fn chip_layouts(&self) -> u64 {
        self.caches.iter().map(ChipCache::builds).sum()
    }

    /// The pinned token's numbers as one line of text (for the clipboard).
    pub fn pinned_summary(&self) -> Option<String> {
        let (side, idx) = self.pinned?;
        let shown = self.shown.as_ref()?;
        let responses = shown.responses();
        let (name, r) = responses.get(side)?;
        Some(super::detail::summary(name, idx, r.tokens.get(idx)?))
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let (open, export, theme, next, prev, esc) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN_DATA),
                i.consume_shortcut(&EXPORT),
                i.consume_shortcut(&THEME),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowDown)),
                i.consume_shortcut(&shortcut(Modifiers::COMMAND, Key::ArrowUp)),
                i.consume_key(Modifiers::NONE, Key::Escape),
            )
        });
        if open {
            self.open_dialog(ctx, Purpose::Data);
        }
        if export {
            self.export.open = true;
        }
        if theme {
            self.toggle_theme(ctx);
        }
        if next {
            self.step_row(1);
        }
        if prev {
            self.step_row(-1);
        }
        if esc {
            self.pinned = None;
        }
        self.pinned_keys(ctx);
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        let pointer = ctx.input(|i| i.pointer.hover_pos());
        for path in dropped {
            if path.is_dir() || crate::source::has_gguf_extension(&path) {
                let onto_reference =
                    matches!((pointer, self.cards.reference), (Some(p), Some(r)) if r.contains(p));
                if onto_reference {
                    self.form.reference = path.display().to_string();
                } else {
                    self.form.policy = path.display().to_string();
                }
                self.load_models(None);
            } else {
                self.open_data(&path);
            }
        }
    }

    fn toggle_theme(&mut self, ctx: &egui::Context) {
        self.settings.theme = match self.settings.theme {
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::Light,
        };
        self.apply_theme(ctx);
    }

    fn open_dialog(&mut self, ctx: &egui::Context, purpose: Purpose) {
        if self.dialog.is_none() {
            let suggested = (purpose == Purpose::Export).then(|| PathBuf::from(&self.export.path));
            self.dialog = Some(Pending::open(purpose, ctx, suggested));
        }
    }

    fn poll_dialog(&mut self) {
        let Some(d) = &self.dialog else { return };
        let Some(answer) = d.poll() else { return };
        let purpose = d.purpose;
        self.dialog = None;
        let Some(path) = answer else { return };
        match purpose {
            Purpose::Policy | Purpose::PolicyFile => {
                self.form.policy = path.display().to_string();
                self.load_models(None);
            }
            Purpose::Reference | Purpose::ReferenceFile => {
                self.form.reference = path.display().to_string();
                self.load_models(None);
            }
            Purpose::Data => self.open_data(&path),
            Purpose::Export => self.export.path = path.display().to_string(),
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        let mut title = "creditlens".to_string();
        if let Some(l) = &self.loaded {
            title += &format!(" — {} vs {}", name(&l.policy.path), name(&l.reference.path));
        }
        if let Some(d) = &self.dataset {
            title += &format!(" — {}", name(&d.path));
        }
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    /// The colour scale over the shown tokens (computed once per shown record, metric and mode).
    pub fn scale(&self) -> Scale {
        let metric = self.settings.metric;
        let mode = self.settings.scale;
        let key = self.shown.as_ref().map_or(0, |s| Arc::as_ptr(s) as usize);
        if let Some((k, m, md, scale)) = *self.scale_cache.borrow()
            && k == key
            && m == metric
            && md == mode
        {
            return scale;
        }
        let scale = Scale::resolve(
            mode,
            self.shown
                .iter()
                .flat_map(|s| s.responses())
                .flat_map(|(_, r)| r.tokens.iter().map(move |t| metric.value(t))),
        );
        *self.scale_cache.borrow_mut() = Some((key, metric, mode, scale));
        scale
    }

    /// Draws one frame into `ui` (the whole window).
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.frames += 1;
        self.handle_replies();
        self.poll_dialog();
        self.handle_input(&ctx);
        if let Some(since) = self.editor.dirty_since {
            let left = DEBOUNCE.saturating_sub(since.elapsed());
            if left.is_zero() {
                self.rescore_now();
            } else {
                ctx.request_repaint_after(left);
            }
        }
        self.update_title(&ctx);

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::left("side")
            .resizable(true)
            .default_size(420.0)
            .min_size(320.0)
            .show(ui, |ui| self.side_panel(ui));
        if let Some((side, idx)) = self.pinned {
            let token = self.shown.as_ref().and_then(|s| {
                let responses = s.responses();
                let (name, r) = responses.get(side)?;
                Some((*name, r.tokens.get(idx)?.clone()))
            });
            match token {
                Some((name, t)) => {
                    egui::Panel::right("detail")
                        .resizable(true)
                        .default_size(330.0)
                        .show(ui, |ui| {
                            egui::ScrollArea::vertical().show(ui, |ui| {
                                if super::detail::show(ui, name, idx, &t) {
                                    self.pinned = None;
                                }
                            });
                        });
                }
                None => self.pinned = None,
            }
        }
        if self.settings.show_plots {
            egui::Panel::bottom("plots")
                .resizable(true)
                .default_size(260.0)
                .min_size(200.0)
                .show(ui, |ui| self.plots(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.centre(ui));
        self.export_window(&ctx);
        self.screenshot_step(&ctx);
    }

    fn menu_bar(&mut self, ui: &mut Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open policy…").clicked() {
                    self.open_dialog(ui.ctx(), Purpose::Policy);
                    ui.close();
                }
                if ui.button("Open reference…").clicked() {
                    self.open_dialog(ui.ctx(), Purpose::Reference);
                    ui.close();
                }
                if ui.button("Open policy GGUF file…").clicked() {
                    self.open_dialog(ui.ctx(), Purpose::PolicyFile);
                    ui.close();
                }
                if ui.button("Open reference GGUF file…").clicked() {
                    self.open_dialog(ui.ctx(), Purpose::ReferenceFile);
                    ui.close();
                }
                if ui
                    .add(
                        egui::Button::new("Open data…")
                            .shortcut_text(ui.ctx().format_shortcut(&OPEN_DATA)),
                    )
                    .clicked()
                {
                    self.open_dialog(ui.ctx(), Purpose::Data);
                    ui.close();
                }
                ui.menu_button("Recent data", |ui| {
                    let recent = self.settings.recent_data.clone();
                    if recent.is_empty() {
                        ui.weak("nothing yet");
                    }
                    for p in recent {
                        if ui.button(p.display().to_string()).clicked() {
                            self.open_data(&p);
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui
                    .add(
                        egui::Button::new("Export…")
                            .shortcut_text(ui.ctx().format_shortcut(&EXPORT)),
                    )
                    .clicked()
                {
                    self.export.open = true;
                    ui.close();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                let dark = self.settings.theme == Theme::Dark;
                if ui
                    .add(
                        egui::Button::new(if dark { "Light theme" } else { "Dark theme" })
                            .shortcut_text(ui.ctx().format_shortcut(&THEME)),
                    )
                    .clicked()
                {
                    self.toggle_theme(ui.ctx());
                    ui.close();
                }
                ui.checkbox(&mut self.settings.show_plots, "Plots panel");
            });
            ui.menu_button("Help", |ui| {
                ui.label("Ctrl+O open data · Ctrl+E export · Ctrl+T theme");
                ui.label("Ctrl+↓ / Ctrl+↑ next / previous record · Esc unpin");
                ui.label("Drop a checkpoint folder on a model card, or a data file anywhere");
                ui.separator();
                ui.label(format!("creditlens {}", env!("CARGO_PKG_VERSION")));
            });
        });
    }

    fn toolbar(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("colour by");
            egui::ComboBox::from_id_salt("metric")
                .selected_text(self.settings.metric.label())
                .show_ui(ui, |ui| {
                    for m in Metric::ALL {
                        ui.selectable_value(&mut self.settings.metric, m, m.label())
                            .on_hover_text(m.description());
                    }
                })
                .response
                .on_hover_text("The per-token quantity the chips are coloured by");
            ui.separator();
            let robust = matches!(self.settings.scale, ScaleMode::Robust(_));
            if ui
                .selectable_label(robust, "robust")
                .on_hover_text(
                    "Colour limit = the 98th percentile of |value| over the shown tokens",
                )
                .clicked()
            {
                self.settings.scale = ScaleMode::Robust(98.0);
            }
            let current = self.scale().limit;
            if ui
                .selectable_label(!robust, "fixed")
                .on_hover_text(
                    "A fixed colour limit, the same for every record (comparable across records)",
                )
                .clicked()
                && robust
            {
                self.settings.scale = ScaleMode::Fixed(current);
            }
            if let ScaleMode::Fixed(v) = &mut self.settings.scale {
                ui.add(
                    egui::DragValue::new(v)
                        .range(1e-6..=1e6)
                        .speed(0.01)
                        .prefix("±"),
                )
                .on_hover_text("Values at ± this limit reach the ends of the colormap");
            }
            ui.separator();
            colour_bar(ui, self.settings.metric, current, self.settings.theme);
            ui.separator();
            if let Some(n) = &self.notice {
                ui.weak(n);
            }
        });
    }

    fn side_panel(&mut self, ui: &mut Ui) {
        egui::ScrollArea::vertical()
            .id_salt("side-scroll")
            .show(ui, |ui| {
                egui::CollapsingHeader::new("Models")
                    .default_open(true)
                    .show(ui, |ui| {
                        let (actions, rects) = models_panel::show(
                            ui,
                            &mut self.form,
                            &mut self.settings,
                            self.loaded.as_ref().map(|l| &l.policy),
                            self.loaded.as_ref().map(|l| &l.reference),
                            self.loaded.as_ref().map(|l| l.tokenizer_vocab),
                            self.loading.then_some(self.load_progress),
                            self.load_error.as_deref(),
                        );
                        self.cards = rects;
                        for a in actions {
                            match a {
                                Action::Browse(p) => self.open_dialog(ui.ctx(), p),
                                Action::Load => self.load_models(None),
                                Action::SettingsChanged => self.apply_settings(),
                                Action::BetaChanged => self.apply_beta(),
                            }
                        }
                        if !self.checkpoints.is_empty() {
                            ui.label(format!(
                                "{} training checkpoints found (drift plot)",
                                self.checkpoints.len()
                            ));
                        }
                    });
                egui::CollapsingHeader::new("Data")
                    .default_open(true)
                    .show(ui, |ui| self.data_section(ui));
            });
    }

    /// Beta changed: rewards are linear in it, so everything shown is recomputed from the stored log-probabilities
    /// (no model runs, nothing is reloaded), and later scoring uses the new beta.
    pub fn apply_beta(&mut self) {
        let beta = self.settings.beta;
        let options = self.options();
        if let Some(l) = &mut self.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => l.scorer = Arc::new(s),
                Err(e) => {
                    self.notice = Some(e.to_string());
                    return;
                }
            }
        }
        if let Some(shown) = &self.shown {
            let mut s = (**shown).clone();
            s.set_beta(beta);
            self.shown = Some(Arc::new(s));
        }
        if let Some(d) = &mut self.dataset {
            d.set_beta(beta);
        }
        for p in &mut self.drift {
            p.set_beta(beta);
        }
    }

    /// Tokenisation changed: new scorer settings, rescore everything shown.
    fn apply_settings(&mut self) {
        let options = self.options();
        if let Some(l) = &mut self.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => {
                    l.scorer = Arc::new(s);
                    self.rescore_now();
                    self.score_dataset();
                    self.drift.clear();
                    self.start_drift(true);
                }
                Err(e) => self.notice = Some(e.to_string()),
            }
        }
    }

    fn data_section(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if ui
                .button("Open data…")
                .on_hover_text("A JSONL file (or JSON array) of {prompt, chosen, rejected} or {prompt, completion} records (Ctrl+O)")
                .clicked()
            {
                self.open_dialog(ui.ctx(), Purpose::Data);
            }
            if let Some(d) = &self.dataset {
                ui.label(d.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                    .on_hover_text(d.path.display().to_string());
            }
        });
        let Some(d) = &mut self.dataset else {
            ui.weak("no data file open");
            return;
        };
        let total = d.rows.iter().filter(|r| r.record.is_ok()).count();
        if d.running {
            ui.horizontal(|ui| {
                let frac = d.done as f32 / total.max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(frac)
                        .text(format!("scoring {}/{total}", d.done))
                        .desired_width(220.0),
                );
                if ui
                    .button("Cancel")
                    .on_hover_text("Stop scoring the file")
                    .clicked()
                {
                    d.cancel.store(true, Ordering::Relaxed);
                }
            });
        } else if let Some(s) = d.seconds {
            let correct = d
                .rows
                .iter()
                .filter(|r| matches!(&r.score, Some(Ok(s)) if s.margin > 0.0))
                .count();
            let pairs = d
                .rows
                .iter()
                .filter(|r| matches!(&r.score, Some(Ok(s)) if !s.margin.is_nan()))
                .count();
            ui.label(format!(
                "{} records scored in {s:.1} s; reward accuracy {}",
                d.done,
                if pairs > 0 {
                    format!("{:.3}", correct as f64 / pairs as f64)
                } else {
                    "–".into()
                }
            ));
        }
        if let Some(i) = d.show(ui, self.selected_row) {
            self.select_row(i);
        }
    }

    /// The centre scrolls as a whole, so the heatmaps (at least [`MIN_HEATMAP`] tall) are always reachable, however
    /// long the prompt or small the window.
    fn centre(&mut self, ui: &mut Ui) {
        let view = ui.available_rect_before_wrap();
        egui::ScrollArea::vertical()
            .id_salt("centre-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| self.centre_body(ui, view));
    }

    fn centre_body(&mut self, ui: &mut Ui, view: egui::Rect) {
        let top = ui.cursor().top();
        egui::CollapsingHeader::new("Prompt and responses (edit to rescore)")
            .default_open(true)
            .show(ui, |ui| self.editor_ui(ui));
        self.editor_height = ui.cursor().top() - top;
        if let Some(e) = &self.load_error
            && self.loaded.is_none()
        {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Models not loaded: {e}"),
            );
        }
        if let Some(e) = &self.score_error {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Cannot score this text: {e}"),
            );
        }
        let Some(shown) = self.shown.clone() else {
            if self.loading || self.scoring {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(if self.loading {
                        format!("loading models… {:.0}%", self.load_progress * 100.0)
                    } else {
                        "scoring…".to_string()
                    });
                });
            }
            return;
        };
        if let RecordScore::Pair(p) = shown.as_ref() {
            ui.horizontal_wrapped(|ui| {
                ui.label(
                    egui::RichText::new(format!("R_chosen {:+.4}", p.chosen.reward))
                        .color(plots::CHOSEN)
                        .strong(),
                );
                ui.label(
                    egui::RichText::new(format!("R_rejected {:+.4}", p.rejected.reward))
                        .color(plots::REJECTED)
                        .strong(),
                );
                ui.strong(format!("margin {:+.4}", p.margin))
                    .on_hover_text("R_chosen - R_rejected");
                ui.strong(format!("sigmoid(margin) {:.4}", p.preference_prob))
                    .on_hover_text(
                        "The implicit reward model's probability that chosen is preferred",
                    );
                ui.label(if p.margin > 0.0 {
                    "✓ reward prefers chosen"
                } else if p.margin < 0.0 {
                    "✗ reward prefers rejected"
                } else {
                    "= reward ties (policy and reference agree)"
                });
                if self.scoring {
                    ui.spinner();
                }
            });
        } else if self.scoring {
            ui.spinner();
        }
        super::prompt_view::prompt_tokens(ui, shown.prompt_tokens(), self.editor.chat);
        let scale = self.scale();
        let metric = self.settings.metric;
        let theme = self.settings.theme;
        let responses = shown.responses();
        let used = ui.cursor().top() - top;
        let height = (view.height() - used - 30.0).max(MIN_HEATMAP);
        self.heatmap_height = height;
        let mut clicked = None;
        let n = responses.len();
        let error_spans = self.editor.error_spans.clone();
        let diff = self.diff.clone();
        ui.columns(n, |cols| {
            for (k, (name, r)) in responses.iter().enumerate() {
                let ui = &mut cols[k];
                ui.label(
                    egui::RichText::new(format!(
                        "{name}: R = {:+.4} · {} tokens · log pi {:.2} · log pi_ref {:.2}",
                        r.reward, r.num_tokens, r.logp_policy, r.logp_reference
                    ))
                    .color(if *name == "rejected" {
                        plots::REJECTED
                    } else {
                        plots::CHOSEN
                    }),
                );
                let is_rejected = *name == "rejected";
                // Spans of the texts, moved onto the rendered completion of a conversation.
                let errors = if is_rejected {
                    r.locate_spans(&error_spans)
                } else {
                    Vec::new()
                };
                let diffs = match (n, is_rejected) {
                    (2, true) => r.locate_spans(&diff.b),
                    (2, false) => r.locate_spans(&diff.a),
                    _ => Vec::new(),
                };
                let chips = TokenChips {
                    id_salt: name,
                    tokens: &r.tokens,
                    metric,
                    limit: scale.limit,
                    theme,
                    error_spans: &errors,
                    diff_spans: &diffs,
                    pinned: self.pinned.filter(|(s, _)| *s == k).map(|(_, i)| i),
                    max_height: height,
                };
                if let Some(i) = chips.show(ui, &mut self.caches[k]) {
                    clicked = Some((k, i));
                }
            }
        });
        if clicked.is_some() {
            self.pinned = clicked;
        }
        let templated = responses
            .iter()
            .any(|(_, r)| r.tokens.iter().any(|t| t.template));
        let dashed = if templated {
            " · dashed: special or chat-template token"
        } else {
            ""
        };
        if n == 2 {
            ui.weak(format!("outlined: labelled error · underlined: where the two texts differ{dashed} · hover a token for its numbers, click to pin"));
        } else if templated {
            ui.weak("dashed: special or chat-template token · hover a token for its numbers, click to pin");
        }
    }

    fn editor_ui(&mut self, ui: &mut Ui) {
        let mut changed = false;
        if let Some(row) = self.selected_row
            && self.selected_is_edited()
        {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "record {row} edited: kept while you look at other records"
                ));
                if ui
                    .button("Revert")
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
            )
            .changed();
        });
        let before = self.editor.pair;
        ui.horizontal(|ui| {
            ui.radio_value(&mut self.editor.pair, true, "pair")
                .on_hover_text("Chosen and rejected side by side");
            ui.radio_value(&mut self.editor.pair, false, "one response")
                .on_hover_text("Score a single response");
        });
        changed |= before != self.editor.pair;
        ui.horizontal(|ui| {
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
            )
            .changed();
        }
        if changed {
            self.editor.dirty_since = Some(Instant::now());
            self.pinned = None;
        }
    }

    fn plots(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.plot_tab, PlotTab::Tokens, "Per token")
                .on_hover_text("The metric per token and the cumulative reward of the shown responses");
            ui.add_enabled_ui(!self.checkpoints.is_empty(), |ui| {
                ui.selectable_value(&mut self.plot_tab, PlotTab::Drift, "Drift over checkpoints")
                    .on_hover_text("Mean chosen and rejected rewards and the margin at each training checkpoint")
                    .on_disabled_hover_text("Open a policy folder that holds checkpoint-N subfolders");
                ui.selectable_value(&mut self.plot_tab, PlotTab::TokenByCheckpoint, "Token × checkpoint")
                    .on_hover_text("The selected response's per-token values at each checkpoint")
                    .on_disabled_hover_text("Open a policy folder that holds checkpoint-N subfolders");
            });
            if self.drift_running {
                ui.spinner();
                if ui.button("Cancel").on_hover_text("Stop the drift computation").clicked() {
                    self.drift_cancel.store(true, Ordering::Relaxed);
                }
            }
            if let Some(e) = &self.drift_error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        });
        let height = (ui.available_height() - 8.0).max(80.0);
        match self.plot_tab {
            PlotTab::Tokens => match self.shown.as_deref() {
                Some(s) => plots::tokens(ui, s, self.settings.metric, height),
                None => {
                    ui.weak("nothing scored yet");
                }
            },
            PlotTab::Drift => plots::drift(ui, &self.drift, &self.trainer, height),
            PlotTab::TokenByCheckpoint => {
                if self.drift_selected_stale && !self.drift_running {
                    self.start_drift(false);
                }
                plots::token_by_checkpoint(
                    ui,
                    &self.drift,
                    self.settings.metric,
                    self.settings.theme,
                );
            }
        }
    }

    fn export_window(&mut self, ctx: &egui::Context) {
        if !self.export.open {
            return;
        }
        let mut open = true;
        let mut do_export: Option<bool> = None;
        egui::Window::new("Export")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    for f in [Format::Png, Format::Svg, Format::Csv, Format::Json] {
                        if ui
                            .selectable_label(self.export.format == f, f.extension().to_uppercase())
                            .on_hover_text(match f {
                                Format::Png => {
                                    "The heatmap as a figure (the same as `creditlens render`)"
                                }
                                Format::Svg => {
                                    "The heatmap as vector graphics, for papers (the same layout as the PNG)"
                                }
                                Format::Csv => "One row per token with every metric",
                                Format::Json => "The record's scores as JSON",
                            })
                            .clicked()
                        {
                            self.export.format = f;
                            self.export.path = export::with_extension(&self.export.path, f);
                        }
                    }
                });
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut self.export.path).desired_width(300.0))
                        .on_hover_text(
                            "Where to write; relative paths are relative to the working directory",
                        );
                    if ui.button("Browse…").clicked() {
                        self.open_dialog(ui.ctx(), Purpose::Export);
                    }
                });
                if matches!(self.export.format, Format::Png | Format::Svg) {
                    ui.horizontal(|ui| {
                        ui.label("pixel ratio");
                        ui.add(
                            egui::DragValue::new(&mut self.export.pixel_ratio)
                                .range(1.0..=4.0)
                                .speed(0.1),
                        )
                        .on_hover_text("2 gives print resolution");
                        ui.radio_value(&mut self.export.theme, Theme::Light, "light");
                        ui.radio_value(&mut self.export.theme, Theme::Dark, "dark");
                    });
                }
                if let Some(path) = self.export.confirm.clone() {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("{} exists. Overwrite it?", path.display()),
                    );
                    ui.horizontal(|ui| {
                        if ui.button("Overwrite").clicked() {
                            do_export = Some(true);
                        }
                        if ui.button("Keep it").clicked() {
                            self.export.confirm = None;
                        }
                    });
                } else if ui
                    .add_enabled(self.shown.is_some(), egui::Button::new("Save"))
                    .on_hover_text("Write the shown record")
                    .clicked()
                {
                    do_export = Some(false);
                }
                match &self.export.status {
                    Some(Ok(m)) => {
                        ui.label(m);
                    }
                    Some(Err(e)) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    None => {}
                }
            });
        if !open {
            self.export.open = false;
            self.export.confirm = None;
        }
        if let Some(overwrite) = do_export {
            self.run_export(overwrite);
        }
    }

    /// Writes the shown record as configured in the export window; an existing file is only replaced when
    /// `overwrite` (after the user confirmed), otherwise the window asks.
    pub fn run_export(&mut self, overwrite: bool) {
        let Some(shown) = &self.shown else { return };
        let path = PathBuf::from(self.export.path.trim());
        if path.exists() && !overwrite {
            self.export.confirm = Some(path);
            return;
        }
        self.export.confirm = None;
        let mut fields = vec![("beta".to_string(), self.settings.beta.to_string())];
        if let Some(l) = &self.loaded {
            fields.push(("policy".into(), l.policy.path.display().to_string()));
            fields.push(("reference".into(), l.reference.path.display().to_string()));
        }
        fields.push((
            "tokenization".into(),
            self.settings.tokenization.to_string(),
        ));
        let context = export::ExportContext {
            fields,
            error_spans: self.editor.error_spans.clone(),
        };
        self.export.status = Some(
            export::write(
                shown,
                &path,
                self.export.format,
                (self.settings.metric, self.settings.scale),
                &self.export,
                &context,
                overwrite,
            )
            .map_err(|e| e.to_string()),
        );
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some(mode) = &mut self.screenshot else {
            return;
        };
        let failure = self
            .load_error
            .clone()
            .filter(|_| self.loaded.is_none() && !self.loading)
            .or_else(|| self.score_error.clone())
            .or_else(|| {
                (mode.started.elapsed() > Duration::from_secs(120))
                    .then(|| "no scores after 120 s".to_string())
            });
        if let Some(e) = failure {
            if let Ok(mut o) = self.outcome.lock() {
                *o = Some(format!("screenshot not taken: {e}"));
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        // On a checkpoint plot, wait for the drift too.
        let drift_ready =
            self.plot_tab == PlotTab::Tokens || (!self.drift_running && !self.drift.is_empty());
        if self.shown.is_some() && !self.scoring && drift_ready {
            mode.frames_with_scores += 1;
        }
        // A few frames after the scores arrive, so the layout has settled.
        if mode.frames_with_scores >= 3 && !mode.requested {
            mode.requested = true;
            let path = mode.path.clone();
            let outcome = self.outcome.clone();
            let ctx2 = ctx.clone();
            ctx.request_screenshot(move |image| {
                let [w, h] = image.size;
                let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
                let saved = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
                    .ok_or_else(|| "the screenshot has the wrong size".to_string())
                    .and_then(|img| {
                        img.save(&path)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))
                    });
                if let Err(e) = saved
                    && let Ok(mut o) = outcome.lock()
                {
                    *o = Some(e);
                }
                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx2.request_repaint();
            });
        }
        ctx.request_repaint_after(Duration::from_millis(50));
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_none() {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }
}
