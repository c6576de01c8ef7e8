//! The app's state and frame: menus and toolbar, the models and dataset side panel, the editor and the paired
//! heatmaps in the centre, the pinned-token panel, the plots, export and the start-up screenshot mode.

use super::action::Action;
use super::colour_bar::colour_bar;
use super::dataset::Dataset;
use super::dialogs::{Pending, Purpose};
use super::export::{self, ExportState, Format};
use super::heatmap_view::{ChipCache, TokenChips};
use super::job::Job;
use super::models_panel::{self, CardRects, ModelForm};
use super::plots::{self, TrainerCurve};
use super::search_view::{SearchState, search_window};
use super::settings::{STORAGE_KEY, Settings, push_recent};
use super::worker::{DriftJob, DriftPoint, Loaded, Reply, SearchJob, Worker};
use crate::chat::{Conversation, Message};
use crate::checkpoint::{TrainingCheckpoint, training_checkpoints};
use crate::data::{Record, read_entries};
use crate::demo_assets::DemoAssets;
use crate::heatmap::{Metric, Scale, ScaleMode, Theme};
use crate::score::{RecordScore, ScoreOptions};
use crate::textdiff::{DiffSpans, differing_spans};
use egui::{Key, KeyboardShortcut, Modifiers, Ui};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod access;
mod centre;
mod chrome;
mod editor;
mod export_view;
mod input;
mod plots_panel;
mod replies;
mod screenshot;
mod side;
mod work;

pub use editor::Editor;

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
    /// Open the window at this size (logical pixels) instead of the default or remembered one.
    pub window_size: Option<[f32; 2]>,
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
    settings: Settings,
    worker: Worker,
    /// The window's context (to open dialogs and wake it).
    ctx: egui::Context,
    /// The model path fields.
    form: ModelForm,
    /// Loaded models.
    loaded: Option<Loaded>,
    /// Loading the models (its error: why the last load failed).
    load: Job,
    /// The text being inspected.
    editor: Editor,
    /// Its scores (shared, so drawing a frame never copies them).
    shown: Option<Arc<RecordScore>>,
    scale_cache: std::cell::RefCell<Option<(usize, Metric, ScaleMode, Scale)>>,
    /// Scoring the editor's text (its error: why the shown text could not be scored).
    scoring: Job,
    diff: DiffSpans,
    /// The open data file.
    dataset: Option<Dataset>,
    /// Selected record of the data file.
    selected_row: Option<usize>,
    /// Pinned token: (response 0 = chosen/response, 1 = rejected; token index).
    pinned: Option<(usize, usize)>,
    caches: [ChipCache; 2],
    /// Training checkpoints of the policy (for drift).
    checkpoints: Vec<TrainingCheckpoint>,
    /// Drift points received.
    drift: Vec<DriftPoint>,
    /// The drift over checkpoints.
    drift_job: Job,
    drift_selected_stale: bool,
    trainer: Vec<TrainerCurve>,
    /// What a load in flight replaced (checkpoints, trainer curves, drift), put back if it fails.
    before_load: Option<(Vec<TrainingCheckpoint>, Vec<TrainerCurve>, Vec<DriftPoint>)>,
    /// Height given to the heatmaps in the last frame (for tests of the layout).
    heatmap_height: f32,
    /// Height of the text editor in the last frame (for tests of the layout).
    editor_height: f32,
    /// Height of the plots panel's content in the last frame (for tests of the layout).
    plots_height: f32,
    /// Edited texts of data-file records, by row, kept when another row is opened (cleared by Revert).
    edits: std::collections::HashMap<usize, Editor>,
    /// Policies opened with a run folder of `checkpoint-N/` elsewhere (the demo's), so reopening one keeps its drift.
    runs: Vec<(PathBuf, PathBuf)>,
    /// Bottom panel tab.
    plot_tab: PlotTab,
    /// Export window.
    export: ExportState,
    /// Search window.
    search: SearchState,
    dialog: Option<Pending>,
    cards: CardRects,
    title: String,
    screenshot: Option<ScreenshotMode>,
    outcome: Arc<Mutex<Option<String>>>,
    /// Status line.
    notice: Option<String>,
    /// Frames drawn (for tests and the screenshot mode).
    frames: u64,
}

fn shortcut(modifiers: Modifiers, key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(modifiers, key)
}

const OPEN_DATA: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const EXPORT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
const THEME: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::T);
const SIDE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::B);
const PLOTS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::P);
const SEARCH: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::G);

impl App {
    /// The app inside eframe: fonts, persisted settings, then [`App::start`].
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        launch: Launch,
        outcome: Arc<Mutex<Option<String>>>,
    ) -> Self {
        let settings = if launch.screenshot.is_some() {
            // A screenshot shows the app as a new user opens it: no remembered panel sizes either.
            cc.egui_ctx.memory_mut(|m| *m = egui::Memory::default());
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
            ctx: ctx.clone(),
            form: ModelForm::default(),
            loaded: None,
            load: Job::default(),
            editor: Editor {
                pair: true,
                ..Editor::default()
            },
            shown: None,
            scale_cache: std::cell::RefCell::new(None),
            scoring: Job::default(),
            diff: DiffSpans::default(),
            dataset: None,
            selected_row: None,
            pinned: None,
            caches: [ChipCache::default(), ChipCache::default()],
            checkpoints: Vec::new(),
            drift: Vec::new(),
            drift_job: Job::default(),
            drift_selected_stale: false,
            trainer: Vec::new(),
            before_load: None,
            heatmap_height: 0.0,
            editor_height: 0.0,
            plots_height: 0.0,
            edits: std::collections::HashMap::new(),
            runs: Vec::new(),
            plot_tab: PlotTab::Tokens,
            export: ExportState::default(),
            search: SearchState::default(),
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
                    app.load.fail(e.to_string());
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
            max_memory: None,
        }
    }

    fn open_dialog(&mut self, purpose: Purpose) {
        if self.dialog.is_none() {
            let suggested = (purpose == Purpose::Export).then(|| PathBuf::from(&self.export.path));
            self.dialog = Some(Pending::open(purpose, &self.ctx, suggested));
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
        // Panels start in proportion to the window (a 1024x640 one keeps most of its width for the heatmaps);
        // each can be resized, and the side and plot panels hidden (View menu, Ctrl+B / Ctrl+P).
        let window = ui.available_rect_before_wrap().size();
        if self.settings.show_side {
            egui::Panel::left("side")
                .resizable(true)
                .default_size((window.x * 0.36).clamp(320.0, 540.0))
                .min_size(300.0)
                .show(ui, |ui| self.side_panel(ui));
        }
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
                .default_size((window.y * 0.3).clamp(170.0, 260.0))
                .min_size(150.0)
                .show(ui, |ui| self.plots(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.centre(ui));
        self.export_window(&ctx);
        for action in search_window(&ctx, &mut self.search, self.loaded.is_some()) {
            self.apply(action);
        }
        self.screenshot_step(&ctx);
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn persist_egui_memory(&self) -> bool {
        self.screenshot.is_none()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.screenshot.is_none() {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }
}
