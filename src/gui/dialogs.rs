//! Native file dialogs (rfd) on their own thread, so the window keeps drawing while one is open.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

/// What a pending dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A policy checkpoint folder.
    Policy,
    /// A reference checkpoint folder.
    Reference,
    /// A policy GGUF file.
    PolicyFile,
    /// A reference GGUF file.
    ReferenceFile,
    /// A data file.
    Data,
    /// Where to export.
    Export,
}

/// A dialog in flight.
pub struct Pending {
    /// What the answer is for.
    pub purpose: Purpose,
    rx: Receiver<Option<PathBuf>>,
}

impl Pending {
    /// Opens the dialog for `purpose` (a folder picker for checkpoints and adapters, a file picker for GGUF files
    /// and data, a save dialog for exports, starting from `suggested`).
    pub fn open(purpose: Purpose, ctx: &egui::Context, suggested: Option<PathBuf>) -> Self {
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let dialog = rfd::FileDialog::new();
            let picked = match purpose {
                Purpose::Policy => dialog
                    .set_title("Open the policy checkpoint folder")
                    .pick_folder(),
                Purpose::Reference => dialog
                    .set_title("Open the reference checkpoint folder")
                    .pick_folder(),
                Purpose::PolicyFile | Purpose::ReferenceFile => dialog
                    .set_title(if purpose == Purpose::PolicyFile {
                        "Open the policy GGUF file"
                    } else {
                        "Open the reference GGUF file"
                    })
                    .add_filter("GGUF", &["gguf"])
                    .pick_file(),
                Purpose::Data => dialog
                    .set_title("Open a data file")
                    .add_filter("JSON Lines or JSON", &["jsonl", "json"])
                    .pick_file(),
                Purpose::Export => {
                    let mut d = dialog.set_title("Export");
                    if let Some(s) = &suggested {
                        if let Some(dir) = s.parent() {
                            d = d.set_directory(dir);
                        }
                        if let Some(name) = s.file_name() {
                            d = d.set_file_name(name.to_string_lossy());
                        }
                    }
                    d.save_file()
                }
            };
            let _ = tx.send(picked);
            ctx.request_repaint();
        });
        Self { purpose, rx }
    }

    /// The answer once the dialog closed: `Some(None)` when cancelled.
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        match self.rx.try_recv() {
            Ok(v) => Some(v),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Some(None),
        }
    }
}
