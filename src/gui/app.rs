//! The app's state and frame: menus and toolbar, the models and dataset side panel, the editor and the paired
//! heatmaps in the centre, the pinned-token panel, the plots, export and the start-up screenshot mode.

use super::action::Action;
use super::colour_bar::colour_bar;
use super::dataset::Dataset;
use super::dialogs::{self, Answer as DialogAnswer, Pending, Purpose};
use super::export::{self, ExportState, Format};
use super::file_browser::{self, FileBrowser};
use super::heatmap_view::{ChipCache, TokenChips};
use super::job::Job;
use super::models_panel::{self, CardRects, ModelForm};
use super::plots::{self, TrainerCurve};
use super::search_view::{SearchState, search_window};
use super::settings::{STORAGE_KEY, Settings, push_recent, recent_menu};
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
mod file_dialogs;
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
    /// Which file dialogs to use.
    pub file_dialogs: FileDialogs,
    /// Open with this beta (`gui --beta`) instead of the one remembered for the policy.
    pub beta: Option<f64>,
    /// With a training folder as the policy, open this `checkpoint-N/` instead of the last one.
    pub checkpoint: Option<usize>,
}

/// Which file dialogs the app opens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FileDialogs {
    /// The desktop's (xdg-desktop-portal or zenity) where it has one, else creditlens' own; one that fails to open
    /// is followed by creditlens' own.
    #[default]
    Auto,
    /// creditlens' own file chooser, always (`CREDITLENS_FILE_DIALOG=builtin`; tests).
    Builtin,
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
    /// The words that carry the most credit across the data file.
    Credit,
}

/// Where the parts of the window were drawn in the last frame (screen rects, logical pixels): for tests of the
/// layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutRects {
    /// The menu bar.
    pub menu: egui::Rect,
    /// The toolbar.
    pub toolbar: egui::Rect,
    /// The side panel (models, settings, data), when shown.
    pub side: Option<egui::Rect>,
    /// The pinned token's panel, when a token is pinned.
    pub detail: Option<egui::Rect>,
    /// The plots panel, when shown.
    pub plots: Option<egui::Rect>,
    /// The visible part of the centre (editor and heatmaps).
    pub centre: egui::Rect,
}

impl Default for LayoutRects {
    fn default() -> Self {
        Self {
            menu: egui::Rect::NOTHING,
            toolbar: egui::Rect::NOTHING,
            side: None,
            detail: None,
            plots: None,
            centre: egui::Rect::NOTHING,
        }
    }
}

/// The pair shown when models are opened without a data file: a factual error a DPO run on preference data
/// usually learns to penalise, to edit or replace.
pub fn starter_pair() -> Record {
    Record::Pair {
        prompt: "Question: What is the capital of Australia?\nAnswer:".into(),
        chosen: " The capital of Australia is Canberra.".into(),
        rejected: " The capital of Australia is Sydney.".into(),
        error_spans: Vec::new(),
        chat: None,
    }
}

/// What a load in flight replaced, put back if it fails.
struct BeforeLoad {
    checkpoints: Vec<TrainingCheckpoint>,
    trainer: Vec<TrainerCurve>,
    drift: Vec<DriftPoint>,
    beta: f64,
}

/// The plots panel's height in a window `height` tall: about 30% of it, less in a small window so the heatmaps
/// keep their room.
fn plots_height(height: f32) -> f32 {
    if height < 700.0 {
        (height * 0.25).clamp(120.0, 170.0)
    } else {
        (height * 0.3).clamp(170.0, 260.0)
    }
}

/// Settings are saved when they change, at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Debounce between the last keystroke and rescoring.
const DEBOUNCE: Duration = Duration::from_millis(250);

struct ScreenshotMode {
    path: PathBuf,
    frames_with_scores: u32,
    requested: bool,
    /// When the last progress was seen.
    started: Instant,
    /// What progress looked like then: loading, its percent, scores shown, drift points, the drift's progress.
    progress: (bool, u32, bool, usize, u32),
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
    /// The shown scores by words (made once per shown record, when the chips are words).
    shown_words: std::cell::RefCell<Option<(usize, Arc<RecordScore>)>>,
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
    before_load: Option<BeforeLoad>,
    /// The settings as last saved, and when.
    saved_settings: (Settings, Instant),
    /// `gui --window-size`: asked of the window at the first frame (eframe restores a remembered size otherwise).
    window_size: Option<egui::Vec2>,
    /// `gui --beta`, applied to the first models loaded.
    launch_beta: Option<f64>,
    /// `gui --checkpoint`, applied to the first models loaded.
    launch_checkpoint: Option<usize>,
    /// Open the Models section in the next frame (models are being opened).
    open_models_section: bool,
    /// Height given to the heatmaps in the last frame (for tests of the layout).
    heatmap_height: f32,
    /// Height of the text editor in the last frame (for tests of the layout).
    editor_height: f32,
    /// Height of the plots panel's content in the last frame (for tests of the layout).
    plots_height: f32,
    /// Where the window's parts were drawn in the last frame (for tests of the layout).
    layout: LayoutRects,
    /// The window's content size in the last frame (the panels keep their share when it changes).
    last_window: Option<egui::Vec2>,
    /// Edited texts of data-file records, by row, kept when another row is opened (cleared by Revert).
    edits: std::collections::HashMap<usize, Editor>,
    /// Policies opened with a run folder of `checkpoint-N/` elsewhere (the demo's), so reopening one keeps its drift.
    runs: Vec<(PathBuf, PathBuf)>,
    /// Bottom panel tab.
    plot_tab: PlotTab,
    /// The credit tab's choices.
    credit: super::credit_view::CreditState,
    /// Export window.
    export: ExportState,
    /// Search window.
    search: SearchState,
    /// The desktop's file dialog in flight.
    dialog: Option<Pending>,
    /// creditlens' own file chooser, when open.
    browser: Option<FileBrowser>,
    /// Which file dialogs to use.
    file_dialogs: FileDialogs,
    /// The data file path field, as typed.
    data_path: String,
    cards: CardRects,
    title: String,
    screenshot: Option<ScreenshotMode>,
    outcome: Arc<Mutex<Option<String>>>,
    /// Status line.
    notice: Option<String>,
    /// Whether the status line reports an error (drawn in the error colour).
    notice_is_error: bool,
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
            saved_settings: (settings.clone(), Instant::now()),
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
            shown_words: std::cell::RefCell::new(None),
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
            launch_beta: launch.beta,
            launch_checkpoint: launch.checkpoint,
            window_size: launch.window_size.map(egui::Vec2::from),
            open_models_section: false,
            heatmap_height: 0.0,
            editor_height: 0.0,
            plots_height: 0.0,
            layout: LayoutRects::default(),
            last_window: None,
            edits: std::collections::HashMap::new(),
            runs: Vec::new(),
            plot_tab: PlotTab::Tokens,
            credit: Default::default(),
            export: ExportState::default(),
            search: SearchState::default(),
            dialog: None,
            browser: None,
            file_dialogs: launch.file_dialogs,
            data_path: String::new(),
            cards: CardRects::default(),
            title: String::new(),
            screenshot: launch.screenshot.clone().map(|path| ScreenshotMode {
                path,
                frames_with_scores: 0,
                requested: false,
                started: Instant::now(),
                progress: (false, 0, false, 0, 0),
            }),
            outcome,
            notice: None,
            notice_is_error: false,
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
        match data {
            Some(d) => app.open_data(&d),
            // Your own models without a data file: a starter pair to edit, scored as soon as they load.
            None => app.editor.set(&starter_pair()),
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

    /// When the window changes size, the side panel keeps its share of the width and the plots panel its share of
    /// the height (egui keeps a panel's size in pixels, so a shrunk window would be mostly side panel).
    fn keep_panel_shares(&mut self, ui: &Ui, window: egui::Vec2) {
        let Some(last) = self.last_window.replace(window) else {
            return;
        };
        if last == window || last.x <= 0.0 || last.y <= 0.0 {
            return;
        }
        let ctx = ui.ctx();
        for (salt, horizontal) in [("side", true), ("plots", false)] {
            let id = ui.scope_id().with(salt);
            if let Some(mut state) = egui::containers::panel::PanelState::load(ctx, id) {
                let r = &mut state.outer_rect;
                if horizontal {
                    r.set_width((r.width() * window.x / last.x).max(300.0));
                } else {
                    r.set_height((r.height() * window.y / last.y).max(120.0));
                }
                ctx.data_mut(|d| d.insert_persisted(id, state));
            }
        }
    }

    /// Puts `text` in the status line.
    fn say(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
        self.notice_is_error = false;
    }

    /// Puts the error `text` in the status line, in the error colour.
    fn warn(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
        self.notice_is_error = true;
    }

    /// Empties the status line.
    fn clear_notice(&mut self) {
        self.notice = None;
        self.notice_is_error = false;
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        let mut title = "creditlens".to_string();
        if let Some(l) = &self.loaded {
            title += &format!(
                " — {} vs {} (β {})",
                name(&l.policy.path),
                name(&l.reference.path),
                self.settings.beta
            );
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
        if self.frames == 1
            && let Some(size) = self.window_size
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        }
        self.handle_replies();
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

        // The content's own rects (not the panels'), so a test sees a toolbar that overflows the window.
        self.layout.menu = egui::Panel::top("menu")
            .show(ui, |ui| {
                self.menu_bar(ui);
                ui.min_rect()
            })
            .inner;
        self.layout.toolbar = egui::Panel::top("toolbar")
            .show(ui, |ui| {
                self.toolbar(ui);
                ui.min_rect()
            })
            .inner;
        // Panels start in proportion to the window (a 1024x640 one keeps most of its width for the heatmaps),
        // keep their share when the window is resized, can be resized, and the side and plot panels hidden (View
        // menu, Ctrl+B / Ctrl+P). Their content never widens them: what does not fit scrolls or is cut.
        let window = ui.available_rect_before_wrap().size();
        self.keep_panel_shares(ui, window);
        self.layout.side = self.settings.show_side.then(|| {
            egui::Panel::left("side")
                .resizable(true)
                .default_size((window.x * 0.36).clamp(320.0, 540.0))
                .size_range(300.0..=(window.x * 0.6).max(300.0))
                .show(ui, |ui| self.side_panel(ui))
                .response
                .rect
        });
        self.layout.detail = None;
        if let Some((side, idx)) = self.pinned {
            let token = self.displayed().and_then(|s| {
                let responses = s.responses();
                let (name, r) = responses.get(side)?;
                Some((*name, r.tokens.get(idx)?.clone()))
            });
            let members = self.word_members(side, idx);
            match token {
                Some((name, t)) => {
                    let panel = egui::Panel::right("detail")
                        .resizable(true)
                        .default_size(330.0)
                        .size_range(260.0..=(window.x * 0.5).max(260.0))
                        .show(ui, |ui| {
                            egui::ScrollArea::both()
                                .id_salt("detail-scroll")
                                .auto_shrink([false, false])
                                .show(ui, |ui| {
                                    match super::detail::show(ui, name, idx, &t, &members) {
                                        super::detail::Answer::Stay => {}
                                        super::detail::Answer::Close => self.pinned = None,
                                        super::detail::Answer::OpenToken(i) => {
                                            self.settings.unit = crate::words::Unit::Token;
                                            self.pinned = Some((side, i));
                                        }
                                    }
                                });
                        });
                    self.layout.detail = Some(panel.response.rect);
                }
                None => self.pinned = None,
            }
        }
        self.layout.plots = self.settings.show_plots.then(|| {
            egui::Panel::bottom("plots")
                .resizable(true)
                .default_size(plots_height(window.y))
                .min_size(120.0)
                .show(ui, |ui| self.plots(ui))
                .response
                .rect
        });
        egui::CentralPanel::default().show(ui, |ui| self.centre(ui));
        self.export_window(&ctx);
        self.poll_dialog(&ctx);
        for action in search_window(&ctx, &mut self.search, self.loaded.is_some(), &self.layout) {
            self.apply(action);
        }
        self.screenshot_step(&ctx);
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        self.show(ui);
        // Saved as they change: closing the window some other way than File > Quit, or a kill, keeps them.
        if self.screenshot.is_none()
            && let Some(settings) = self.take_settings_to_save()
            && let Some(storage) = frame.storage_mut()
        {
            eframe::set_value(storage, STORAGE_KEY, &settings);
            storage.flush();
        }
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
