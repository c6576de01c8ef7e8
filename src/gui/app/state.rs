//! The parts of the app's state, each the concern of a few views: the models, the record shown, the drift, the file
//! dialogs, what the window looks like, and the status line. They change only in [`App::apply`] and the handlers it
//! and the worker replies call.

use super::*;
use std::cell::{Cell, RefCell};

/// The models: their path fields, what is loaded, and the load in flight.
#[derive(Default)]
pub(super) struct ModelsState {
    /// The model path fields.
    pub(super) form: ModelForm,
    /// Loaded models.
    pub(super) loaded: Option<Loaded>,
    /// Loading the models (its error: why the last load failed).
    pub(super) load: Job,
    /// What a load in flight replaced (checkpoints, trainer curves, drift, beta), put back if it fails.
    pub(super) before_load: Option<BeforeLoad>,
    /// `gui --beta`, applied to the first models loaded.
    pub(super) launch_beta: Option<f64>,
    /// `gui --checkpoint`, applied to the first models loaded.
    pub(super) launch_checkpoint: Option<usize>,
    /// Open the Models section in the next frame (models are being opened).
    pub(super) open_models_section: bool,
    /// Policies opened with a run folder of `checkpoint-N/` elsewhere (the demo's), so reopening one keeps its drift.
    pub(super) runs: Vec<(PathBuf, PathBuf)>,
    /// Screen areas of the two model cards (drop targets).
    pub(super) cards: CardRects,
}

/// The record shown: its text, its scores and how they are drawn, the pinned token, edits kept per record.
pub(super) struct RecordState {
    /// The text being inspected.
    pub(super) editor: Editor,
    /// Its scores (shared, so drawing a frame never copies them).
    pub(super) shown: Option<Arc<RecordScore>>,
    /// The shown scores by words (made once per shown record, when the chips are words).
    pub(super) shown_words: std::cell::RefCell<Option<(usize, Arc<RecordScore>)>>,
    /// The colour scale of the shown record, metric and mode.
    pub(super) scale_cache: std::cell::RefCell<Option<(usize, Metric, ScaleMode, Scale)>>,
    /// Scoring the editor's text (its error: why the shown text could not be scored).
    pub(super) scoring: Job,
    /// Where a pair's texts differ.
    pub(super) diff: DiffSpans,
    /// Selected record of the data file.
    pub(super) selected_row: Option<usize>,
    /// Pinned token: (response 0 = chosen/response, 1 = rejected; token index).
    pub(super) pinned: Option<(usize, usize)>,
    /// The heatmaps' laid-out chips (a cache, filled while drawing).
    pub(super) caches: [RefCell<ChipCache>; 2],
    /// Edited texts of data-file records, by row, kept when another row is opened (cleared by Revert).
    pub(super) edits: std::collections::HashMap<usize, Editor>,
    /// How long the shown scores took, and what they reused of the scoring before.
    pub(super) timing: Option<Timing>,
}

impl Default for RecordState {
    fn default() -> Self {
        Self {
            editor: Editor {
                pair: true,
                ..Editor::default()
            },
            shown: None,
            shown_words: std::cell::RefCell::new(None),
            scale_cache: std::cell::RefCell::new(None),
            scoring: Job::default(),
            diff: DiffSpans::default(),
            selected_row: None,
            pinned: None,
            caches: Default::default(),
            edits: std::collections::HashMap::new(),
            timing: None,
        }
    }
}

/// Training checkpoints of the policy, `trainer_state.json`'s curves, and the drift over the checkpoints.
#[derive(Default)]
pub(super) struct DriftState {
    /// Training checkpoints of the policy.
    pub(super) checkpoints: Vec<TrainingCheckpoint>,
    /// Drift points received.
    pub(super) points: Vec<DriftPoint>,
    /// The drift over checkpoints.
    pub(super) job: Job,
    /// The selected record changed since its token x checkpoint values were computed.
    pub(super) selected_stale: bool,
    /// `trainer_state.json`'s curves.
    pub(super) trainer: Vec<TrainerCurve>,
    /// The training folder the checkpoints are in (the policy was opened from it).
    pub(super) run: Option<PathBuf>,
    /// Following the run while it trains: new complete checkpoints are scored as they are saved.
    pub(super) following: bool,
    /// When the folder was last looked at while following.
    pub(super) last_look: Option<Instant>,
}

/// File dialogs: the desktop's in flight, creditlens' own chooser, and the data file's path field.
#[derive(Default)]
pub(super) struct FileState {
    /// The desktop's file dialog in flight.
    pub(super) dialog: Option<Pending>,
    /// What creditlens' own file chooser is open for (its browsing state is in egui's memory).
    pub(super) browser: Option<Purpose>,
    /// Which file dialogs to use.
    pub(super) file_dialogs: FileDialogs,
    /// The data file path field, as typed.
    pub(super) data_path: String,
}

/// What the window looks like: its tabs, and where its parts were drawn in the last frame (for tests of the layout).
pub(super) struct ViewState {
    /// Height given to the heatmaps in the last frame (measured while drawing).
    pub(super) heatmap_height: Cell<f32>,
    /// Height of the text editor in the last frame (measured while drawing).
    pub(super) editor_height: Cell<f32>,
    /// Height of the plots panel's content in the last frame (measured while drawing).
    pub(super) plots_height: Cell<f32>,
    /// Where the window's parts were drawn in the last frame (measured while drawing).
    pub(super) rects: Cell<LayoutRects>,
    /// The window's content size in the last frame (the panels keep their share when it changes).
    pub(super) last_window: Option<egui::Vec2>,
    /// Bottom panel tab.
    pub(super) plot_tab: PlotTab,
    /// The window title set.
    pub(super) title: String,
    /// Frames drawn.
    pub(super) frames: u64,
    /// `gui --window-size`: asked of the window at the first frame (eframe restores a remembered size otherwise).
    pub(super) window_size: Option<egui::Vec2>,
    /// The credit tab's choices.
    pub(super) credit: super::super::credit_view::CreditState,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            heatmap_height: Cell::new(0.0),
            editor_height: Cell::new(0.0),
            plots_height: Cell::new(0.0),
            rects: Cell::new(LayoutRects::default()),
            last_window: None,
            plot_tab: PlotTab::Tokens,
            title: String::new(),
            frames: 0,
            window_size: None,
            credit: Default::default(),
        }
    }
}

/// The status line, the screenshot mode and saving the settings.
pub(super) struct StatusState {
    /// Status line.
    pub(super) notice: Option<String>,
    /// Whether the status line reports an error (drawn in the error colour).
    pub(super) notice_is_error: bool,
    /// `gui --screenshot`.
    pub(super) screenshot: Option<ScreenshotMode>,
    /// What went wrong in screenshot mode, for the caller of [`super::super::run`].
    pub(super) outcome: Arc<Mutex<Option<String>>>,
    /// The settings as last saved, and when.
    pub(super) saved_settings: (Settings, Instant),
}
