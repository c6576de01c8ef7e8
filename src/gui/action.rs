//! What the user (or a test driving the window) asks the app to do. Views return these; [`super::App::apply`]
//! carries them out, so the state changes in one place.

use super::dataset::SortKey;
use super::dialogs::{Answer, Purpose};
use super::export::ExportOptions;
use super::forms::{CreditForm, PlotTab, SearchForm};
use crate::heatmap::{Metric, ScaleMode};
use crate::model::Dtype;
use crate::tokenize::TokenizationMode;
use std::path::PathBuf;

/// A text the user types into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// The prompt of the record shown.
    Prompt,
    /// Chosen, or the single response.
    Chosen,
    /// Rejected.
    Rejected,
    /// The system message of the chat switch.
    System,
    /// The policy's path field.
    Policy,
    /// The reference's path field.
    Reference,
    /// The chat template file field.
    ChatTemplate,
    /// The data file's path field.
    DataPath,
    /// The dataset table's search box.
    TableSearch,
}

/// One request to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A text field holds this text now (typing; the record shown is rescored after a pause).
    SetText(TextField, String),
    /// Score a pair (true) or one response.
    SetPair(bool),
    /// Score through the chat template.
    SetChat(bool),
    /// Put the selected record back as the data file has it.
    Revert,
    /// Show or hide the side panel.
    ToggleSide,
    /// Show or hide the plots panel.
    TogglePlots,
    /// Switch between the light and dark theme.
    ToggleTheme,
    /// Show this tab of the plots panel.
    SetPlotTab(PlotTab),
    /// Colour limit: robust or fixed.
    SetScale(ScaleMode),
    /// How prompt and response become tokens (rescores).
    SetTokenization(TokenizationMode),
    /// Compute dtype (reloads the models).
    SetDtype(Dtype),
    /// Open or close the Export window.
    OpenExport(bool),
    /// The Export window's choices (format, path, pixel ratio, theme).
    SetExport(ExportOptions),
    /// Keep the file the export would have replaced.
    KeepExportTarget,
    /// Sort the dataset table by a column (ascending when true).
    SortTable(SortKey, bool),
    /// Show only the pairs where the reward prefers rejected.
    SetOnlyDisagreements(bool),
    /// The credit tab's choices (side, order, fewest occurrences, save path).
    SetCredit(CreditForm),
    /// Save the credit tab's table or chart (`overwrite`: replace an existing file).
    SaveCredit {
        /// Replace a file that exists.
        overwrite: bool,
    },
    /// Keep the file the credit tab's save would have replaced.
    KeepCreditTarget,
    /// The Search window's request (prompt, widths, lengths) as typed.
    SetSearch(SearchForm),
    /// Close the Search window.
    CloseSearch,
    /// Tick or untick a search candidate (run, candidate) for a comparison.
    TickCandidate((usize, usize)),
    /// Close creditlens' own file chooser without a choice.
    CloseBrowser,
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
    /// Follow the training run while it trains (score its new checkpoints as they are saved), or stop.
    Follow(bool),
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
