//! File dialogs: the desktop's own (rfd: xdg-desktop-portal, else zenity) on their own thread, so the window keeps
//! drawing while one is open; creditlens' own chooser ([`super::file_browser`]) where the desktop has none or it
//! failed, with a note saying so. A dialog never fails silently.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, OnceLock};

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

/// Environment variable choosing the file dialogs: `builtin` (creditlens' own, always), `native` (the desktop's,
/// whether or not one seems to be there); unset: the desktop's where it seems to have one.
pub const DIALOG_ENV: &str = "CREDITLENS_FILE_DIALOG";

/// What the desktop's dialog answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A path was chosen.
    Chosen(PathBuf),
    /// The user closed the dialog.
    Cancelled,
    /// The dialog could not open; why.
    Failed(String),
}

/// A desktop dialog in flight.
pub struct Pending {
    /// What the answer is for.
    pub purpose: Purpose,
    rx: Receiver<Answer>,
}

/// Why the desktop's file chooser cannot be used here, or `None` when it may be: a session D-Bus (for
/// xdg-desktop-portal) or zenity is needed. `CREDITLENS_FILE_DIALOG` overrides the guess.
pub fn native_unavailable() -> Option<String> {
    match std::env::var(DIALOG_ENV).ok().as_deref() {
        Some("builtin") => return Some(format!("{DIALOG_ENV}=builtin")),
        Some("native") => return None,
        _ => {}
    }
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists());
    let zenity = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("zenity").is_file()));
    (!bus && !zenity).then(|| {
        "this desktop has no file chooser service (no session D-Bus for xdg-desktop-portal, and no zenity)"
            .to_string()
    })
}

/// The errors rfd logged (it reports a dialog that could not open only through the `log` crate).
static RFD_ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps rfd's warnings and errors, so a dialog that could not open is told apart from one the user cancelled.
struct DialogLog;

impl log::Log for DialogLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("rfd") && metadata.level() <= log::Level::Error
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata())
            && let Ok(mut errors) = RFD_ERRORS.lock()
        {
            errors.push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Installs [`DialogLog`] once; `false` when another logger was there first (then a failed dialog reads as
/// cancelled).
fn capture_rfd_errors() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        static LOGGER: DialogLog = DialogLog;
        let ok = log::set_logger(&LOGGER).is_ok();
        if ok {
            log::set_max_level(log::LevelFilter::Error);
        }
        ok
    })
}

impl Pending {
    /// Opens the desktop's dialog for `purpose` (a folder picker for checkpoints and adapters, a file picker for
    /// GGUF files and data, a save dialog for exports, starting from `suggested`).
    pub fn open(purpose: Purpose, ctx: &egui::Context, suggested: Option<PathBuf>) -> Self {
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        let capturing = capture_rfd_errors();
        std::thread::spawn(move || {
            if let Ok(mut e) = RFD_ERRORS.lock() {
                e.clear();
            }
            let picked = pick(purpose, suggested.as_deref());
            let errors = RFD_ERRORS
                .lock()
                .map(|mut e| std::mem::take(&mut *e))
                .unwrap_or_default();
            let answer = match picked {
                Some(p) => Answer::Chosen(p),
                None if capturing && !errors.is_empty() => Answer::Failed(errors.join("; ")),
                None => Answer::Cancelled,
            };
            let _ = tx.send(answer);
            ctx.request_repaint();
        });
        Self { purpose, rx }
    }

    /// The answer once the dialog closed.
    pub fn poll(&self) -> Option<Answer> {
        match self.rx.try_recv() {
            Ok(v) => Some(v),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Some(Answer::Failed("the dialog's thread ended".into()))
            }
        }
    }
}

/// Runs rfd's dialog for `purpose` (blocking).
fn pick(purpose: Purpose, suggested: Option<&Path>) -> Option<PathBuf> {
    let dialog = rfd::FileDialog::new();
    match purpose {
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
            if let Some(s) = suggested {
                if let Some(dir) = s.parent().filter(|d| d.is_dir()) {
                    d = d.set_directory(dir);
                }
                if let Some(name) = s.file_name() {
                    d = d.set_file_name(name.to_string_lossy());
                }
            }
            d.save_file()
        }
    }
}
