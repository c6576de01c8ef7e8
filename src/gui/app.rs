//! The app's state and frame: menus and toolbar, the models and dataset side panel, the editor and the paired
//! heatmaps in the centre, the pinned-token panel, the plots, export and the start-up screenshot mode.

use super::action::{Action, TextField};
use super::colour_bar::colour_bar;
use super::dataset::Dataset;
use super::dialogs::{self, Answer as DialogAnswer, Pending, Purpose};
use super::export::{self, ExportState, Format};
use super::file_browser::{self, FileBrowser};
pub use super::forms::PlotTab;
use super::heatmap_view::{ChipCache, TokenChips};
use super::job::Job;
pub use super::layout::LayoutRects;
use super::models_panel::{self, CardRects, ModelForm};
use super::plots::{self, TrainerCurve};
use super::search_view::{SearchState, search_window};
use super::settings::{STORAGE_KEY, Settings, push_recent, recent_menu};
use super::worker::{DriftJob, DriftPoint, Loaded, Reply, SearchJob, Timing, Worker};
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
mod apply;
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
mod state;
mod work;

pub use editor::Editor;
use state::{DriftState, FileState, ModelsState, RecordState, StatusState, ViewState};

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
    run: Option<PathBuf>,
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
/// How often a followed training run's folder is looked at for new checkpoints.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

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
    /// The models: their path fields, what is loaded, the load in flight.
    models: ModelsState,
    /// The record shown: its text, its scores, the pinned token, edits kept per data-file record.
    record: RecordState,
    /// The open data file.
    dataset: Option<Dataset>,
    /// Training checkpoints of the policy and the drift over them.
    drift: DriftState,
    /// Search window.
    search: SearchState,
    /// Export window.
    export: ExportState,
    /// File dialogs in flight.
    files: FileState,
    /// What the window looks like: panels, tabs, the last frame's rects.
    view: ViewState,
    /// The status line, the screenshot mode, saving the settings.
    status: StatusState,
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
            status: StatusState {
                notice: None,
                notice_is_error: false,
                screenshot: launch.screenshot.clone().map(|path| ScreenshotMode {
                    path,
                    frames_with_scores: 0,
                    requested: false,
                    started: Instant::now(),
                    progress: (false, 0, false, 0, 0),
                }),
                outcome,
                saved_settings: (settings.clone(), Instant::now()),
            },
            settings,
            worker,
            ctx: ctx.clone(),
            models: ModelsState {
                launch_beta: launch.beta,
                launch_checkpoint: launch.checkpoint,
                ..ModelsState::default()
            },
            record: RecordState::default(),
            dataset: None,
            drift: DriftState::default(),
            search: SearchState::default(),
            export: ExportState::default(),
            files: FileState {
                file_dialogs: launch.file_dialogs,
                ..FileState::default()
            },
            view: ViewState {
                window_size: launch.window_size.map(egui::Vec2::from),
                ..ViewState::default()
            },
        };
        if let Some(t) = launch.theme {
            app.settings.theme = t;
        }
        if let Some(p) = launch.plot {
            app.view.plot_tab = p;
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
                    app.models.load.fail(e.to_string());
                    (None, None, launch.data.clone(), None)
                }
            },
        };
        if let Some(t) = &launch.chat_template {
            app.models.form.chat_template = t.display().to_string();
        }
        if let (Some(p), Some(r)) = (policy, reference) {
            app.models.form.policy = p.display().to_string();
            app.models.form.reference = r.display().to_string();
            app.load_models(checkpoints_dir);
        }
        match data {
            Some(d) => app.open_data(&d),
            // Your own models without a data file: a starter pair to edit, scored as soon as they load.
            None => app.record.editor.set(&starter_pair()),
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
        let Some(last) = self.view.last_window.replace(window) else {
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
        self.status.notice = Some(text.into());
        self.status.notice_is_error = false;
    }

    /// Puts the error `text` in the status line, in the error colour.
    fn warn(&mut self, text: impl Into<String>) {
        self.status.notice = Some(text.into());
        self.status.notice_is_error = true;
    }

    /// Empties the status line.
    fn clear_notice(&mut self) {
        self.status.notice = None;
        self.status.notice_is_error = false;
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        let mut title = "creditlens".to_string();
        if let Some(l) = &self.models.loaded {
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
        if title != self.view.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.view.title = title;
        }
    }

    /// Draws one frame into `ui` (the whole window).
    pub fn show(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.view.frames += 1;
        if self.view.frames == 1
            && let Some(size) = self.view.window_size
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        }
        self.handle_replies();
        if self.drift.following {
            self.follow_run();
            ctx.request_repaint_after(FOLLOW_EVERY);
        }
        for action in self.input_actions(&ctx) {
            self.apply(action);
        }
        if let Some(since) = self.record.editor.dirty_since {
            let left = DEBOUNCE.saturating_sub(since.elapsed());
            if left.is_zero() {
                self.rescore_now();
            } else {
                ctx.request_repaint_after(left);
            }
        }
        self.update_title(&ctx);

        if self.view.plot_tab == PlotTab::TokenByCheckpoint
            && self.drift.selected_stale
            && !self.drift.job.running()
        {
            self.start_drift(false);
        }

        // The views read the state and say what the user asked for; the actions are carried out once the frame is
        // drawn (`App::apply`), so the state changes in one place.
        let mut actions = Vec::new();
        // The content's own rects (not the panels'), so a test sees a toolbar that overflows the window.
        let menu = egui::Panel::top("menu")
            .show(ui, |ui| {
                actions.extend(self.menu_bar(ui));
                ui.min_rect()
            })
            .inner;
        let toolbar = egui::Panel::top("toolbar")
            .show(ui, |ui| {
                actions.extend(self.toolbar(ui));
                ui.min_rect()
            })
            .inner;
        let mut rects = LayoutRects {
            menu,
            toolbar,
            ..LayoutRects::default()
        };
        // Panels start in proportion to the window (a 1024x640 one keeps most of its width for the heatmaps),
        // keep their share when the window is resized, can be resized, and the side and plot panels hidden (View
        // menu, Ctrl+B / Ctrl+P). Their content never widens them: what does not fit scrolls or is cut.
        let window = ui.available_rect_before_wrap().size();
        self.keep_panel_shares(ui, window);
        let open_models = std::mem::take(&mut self.models.open_models_section);
        rects.side = self.settings.show_side.then(|| {
            let panel = egui::Panel::left("side")
                .resizable(true)
                .default_size((window.x * 0.36).clamp(320.0, 540.0))
                .size_range(300.0..=(window.x * 0.6).max(300.0))
                .show(ui, |ui| self.side_panel(ui, open_models));
            let (asked, cards) = panel.inner;
            actions.extend(asked);
            self.models.cards = cards;
            panel.response.rect
        });
        if let Some((side, idx)) = self.record.pinned {
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
                                .show(ui, |ui| super::detail::show(ui, name, idx, &t, &members))
                                .inner
                        });
                    match panel.inner {
                        super::detail::Answer::Stay => {}
                        super::detail::Answer::Close => actions.push(Action::Pin(None)),
                        super::detail::Answer::OpenToken(i) => {
                            actions.push(Action::SetUnit(crate::words::Unit::Token));
                            actions.push(Action::Pin(Some((side, i))));
                        }
                    }
                    rects.detail = Some(panel.response.rect);
                }
                None => self.record.pinned = None,
            }
        }
        rects.plots = self.settings.show_plots.then(|| {
            let panel = egui::Panel::bottom("plots")
                .resizable(true)
                .default_size(plots_height(window.y))
                .min_size(120.0)
                .show(ui, |ui| self.plots(ui));
            actions.extend(panel.inner);
            panel.response.rect
        });
        // The centre records its own rect.
        rects.centre = self.view.rects.get().centre;
        self.view.rects.set(rects);
        let centre = egui::CentralPanel::default().show(ui, |ui| self.centre(ui));
        actions.extend(centre.inner);
        actions.extend(self.export_window(&ctx));
        actions.extend(self.poll_dialog(&ctx));
        actions.extend(search_window(
            &ctx,
            &self.search,
            self.models.loaded.is_some(),
            &self.view.rects.get(),
        ));
        for action in actions {
            self.apply(action);
        }
        self.screenshot_step(&ctx);
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        self.show(ui);
        // Saved as they change: closing the window some other way than File > Quit, or a kill, keeps them.
        if self.status.screenshot.is_none()
            && let Some(settings) = self.take_settings_to_save()
            && let Some(storage) = frame.storage_mut()
        {
            eframe::set_value(storage, STORAGE_KEY, &settings);
            storage.flush();
        }
    }

    fn persist_egui_memory(&self) -> bool {
        self.status.screenshot.is_none()
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.status.screenshot.is_none() {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }
}
