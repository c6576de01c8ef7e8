//! The desktop app (eframe/egui): open a policy and its reference, inspect responses token by token, compare
//! chosen and rejected, browse and score a dataset, plot drift across training checkpoints, export figures.
//!
//! The app is a client of the scoring core: heavy work (loading, scoring, drift) runs on worker threads
//! ([`worker`]) and comes back through a channel, so the window never waits on a model.

pub mod action;
mod app;
mod colour_bar;
pub mod credit_view;
mod dataset;
mod dataset_table;
mod detail;
mod dialogs;
mod export;
mod file_browser;
mod fonts;
mod forms;
mod heatmap_view;
mod job;
mod layout;
mod models_panel;
mod plots;
mod plots_checkpoints;
mod plots_drift;
mod prompt_view;
mod search_view;
mod settings;
mod worker;

pub use action::{Action, TextField};
pub use app::{App, Editor, FileDialogs, Launch, LayoutRects, PlotTab};
pub use dataset::Dataset;
pub use dialogs::{Answer as DialogAnswer, Purpose};
pub use export::Format as ExportFormat;
pub use export::{ExportOptions, ExportState};
pub use file_browser::FileBrowser;
pub use models_panel::ModelForm;
pub use plots::{LegendEntry, PlotRecord, SeriesRecord, SeriesStyle};
pub use search_view::{SearchForm, SearchState};
pub use settings::Settings;
pub use worker::Loaded;
pub use worker::{RowScore, Timing};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// Opens the window and runs until it is closed. With [`Launch::screenshot`], saves a screenshot once the first
/// scores are drawn and closes; an error met on the way (models that do not load, no display) is returned.
pub fn run(launch: Launch) -> Result<()> {
    let outcome: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let title = "creditlens";
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size(launch.window_size.unwrap_or([1400.0, 880.0]))
            .with_min_inner_size([720.0, 480.0])
            .with_drag_and_drop(true),
        persist_window: launch.screenshot.is_none() && launch.window_size.is_none(),
        ..Default::default()
    };
    let failure = outcome.clone();
    eframe::run_native(
        title,
        options,
        Box::new(move |cc| Ok(Box::new(App::new(cc, launch, failure)))),
    )
    .map_err(|e| Error::Window(format!("cannot open the window: {e}")))?;
    let failed = outcome.lock().ok().and_then(|mut o| o.take());
    match failed {
        Some(message) => Err(Error::Window(message)),
        None => Ok(()),
    }
}
