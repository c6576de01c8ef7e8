//! What the user (or a test driving the window) asks the app to do. Views return these; [`super::App::apply`]
//! carries them out, so the state changes in one place.

use super::dialogs::{Answer, Purpose};
use crate::heatmap::Metric;
use std::path::PathBuf;

/// One request to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a folder or file dialog.
    Browse(Purpose),
    /// A file dialog answered (the desktop's, or creditlens' own chooser).
    DialogAnswered {
        /// What it was opened for.
        purpose: Purpose,
        /// Its answer.
        answer: Answer,
    },
    /// (Re)load the models in the path fields.
    Load,
    /// Put these paths in the fields (the reference only if given) and load them.
    OpenModels {
        /// Policy checkpoint, adapter or GGUF file.
        policy: PathBuf,
        /// Reference; `None` keeps the field as it is.
        reference: Option<PathBuf>,
    },
    /// Scoring settings changed (tokenisation, top-k): rescore.
    SettingsChanged,
    /// Beta was changed in the settings: rewards are recomputed from the stored log-probabilities.
    BetaChanged,
    /// Set beta (no forward pass: rewards are linear in it).
    SetBeta(f64),
    /// Colour the tokens by this metric.
    SetMetric(Metric),
    /// Keep only the records holding this word in the table and outline it in the heatmap (`None`: every record).
    HoldWord(Option<String>),
    /// Show chips per token or per word.
    SetUnit(crate::words::Unit),
    /// Open a data file.
    OpenData(PathBuf),
    /// Show record `row` of the data file.
    SelectRow(usize),
    /// Move the selection by this many rows in the table's order.
    StepRow(isize),
    /// Pin a token (response 0 = chosen/response, 1 = rejected; token index), or unpin.
    Pin(Option<(usize, usize)>),
    /// Score the editor's text now.
    Rescore,
    /// Stop scoring the data file.
    CancelDataset,
    /// Stop the drift computation.
    CancelDrift,
    /// Open the Search window (its prompt taken from the editor when empty).
    OpenSearch,
    /// Put the shown record's prompt in the Search window.
    SearchShownPrompt,
    /// Run the search typed in the Search window.
    RunSearch,
    /// Stop the search (the runs received so far stay).
    CancelSearch,
    /// Show a search candidate in the heatmap.
    ShowCandidate {
        /// Which run (beam width) of the Search window.
        run: usize,
        /// Which candidate of it (0 = the best).
        candidate: usize,
    },
    /// Show two search candidates as a pair: `a` as chosen, `b` as rejected; each is (run, candidate).
    CompareCandidates {
        /// The first (shown as chosen).
        a: (usize, usize),
        /// The second (shown as rejected).
        b: (usize, usize),
    },
    /// Write the export window's file (`overwrite`: replace an existing one).
    Export {
        /// Replace a file that exists.
        overwrite: bool,
    },
}
