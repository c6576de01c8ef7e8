//! creditlens' own file chooser, drawn in the window: used where the desktop's file chooser cannot open (no
//! xdg-desktop-portal and no zenity: Xvfb, `ssh -X`, minimal window managers), or when it failed. It knows what
//! a model folder is: checkpoint folders, LoRA adapters and training runs are marked as such.

use super::dialogs::Purpose;
use super::settings::recent_menu;
use crate::checkpoint::training_checkpoints;
use egui::Ui;
use std::path::{Path, PathBuf};

/// What a folder or file in the listing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A folder with nothing creditlens recognises.
    Folder,
    /// A Hugging Face checkpoint folder (config.json).
    Checkpoint,
    /// A PEFT LoRA adapter folder (adapter_config.json).
    Adapter,
    /// A training run: `checkpoint-N/` subfolders (this many).
    Run(usize),
    /// A file the purpose accepts.
    File,
}

impl EntryKind {
    fn is_folder(self) -> bool {
        self != Self::File
    }

    /// A folder a model can be opened from.
    fn is_model(self) -> bool {
        matches!(self, Self::Checkpoint | Self::Adapter | Self::Run(_))
    }

    fn badge(self) -> Option<String> {
        match self {
            Self::Checkpoint => Some("checkpoint".into()),
            Self::Adapter => Some("LoRA adapter".into()),
            Self::Run(n) => Some(format!("training run, {n} checkpoints")),
            Self::Folder | Self::File => None,
        }
    }
}

/// One line of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File or folder name.
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
}

/// What the chooser answered this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still open.
    Open,
    /// Closed without a choice.
    Cancelled,
    /// This path was chosen.
    Chosen(PathBuf),
}

/// The chooser's state while it is open.
#[derive(Debug, Clone)]
pub struct FileBrowser {
    /// What the answer is for.
    pub purpose: Purpose,
    /// The folder listed.
    dir: PathBuf,
    /// Its entries (folders first), read when the folder changes.
    entries: Vec<Entry>,
    /// The path field: the folder, the selected entry, or a path typed by the user.
    pub path: String,
    /// For an export: the file name.
    pub file_name: String,
    /// Why the folder could not be listed, or why a typed path cannot be chosen.
    error: Option<String>,
    /// Shown at the top: why creditlens' own chooser is open instead of the desktop's.
    pub note: Option<String>,
    /// Recent paths for this purpose (newest first).
    recent: Vec<PathBuf>,
}

/// The extensions a purpose's files have (`None`: no file is chosen, only folders, GGUF files aside).
fn extensions(purpose: Purpose) -> &'static [&'static str] {
    match purpose {
        Purpose::Policy | Purpose::Reference | Purpose::PolicyFile | Purpose::ReferenceFile => {
            &["gguf"]
        }
        Purpose::Data => &["jsonl", "json"],
        Purpose::Export => &["png", "svg", "csv", "json"],
    }
}

/// Whether the purpose picks a folder (a checkpoint or adapter; a GGUF file is accepted too).
fn picks_folder(purpose: Purpose) -> bool {
    matches!(purpose, Purpose::Policy | Purpose::Reference)
}

/// The chooser's title.
fn title(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Policy => "Open the policy (checkpoint or adapter folder, or GGUF file)",
        Purpose::Reference => "Open the reference (checkpoint folder or GGUF file)",
        Purpose::PolicyFile => "Open the policy GGUF file",
        Purpose::ReferenceFile => "Open the reference GGUF file",
        Purpose::Data => "Open a data file (JSONL or JSON)",
        Purpose::Export => "Export to",
    }
}

/// What a folder is, from the files it holds.
pub fn classify(dir: &Path) -> EntryKind {
    if dir.join("adapter_config.json").is_file() {
        EntryKind::Adapter
    } else if dir.join("config.json").is_file() {
        EntryKind::Checkpoint
    } else {
        match training_checkpoints(dir).len() {
            0 => EntryKind::Folder,
            n => EntryKind::Run(n),
        }
    }
}

/// The entries of `dir` a chooser for `purpose` lists: folders (hidden ones left out), then the files with one of
/// the purpose's extensions, each group by name. An error names the folder.
pub fn list(dir: &Path, purpose: Purpose) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let wanted = extensions(purpose);
    let mut folders = Vec::new();
    let mut files = Vec::new();
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let kind = if picks_folder(purpose) {
                classify(&path)
            } else {
                EntryKind::Folder
            };
            folders.push(Entry { name, kind });
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| wanted.iter().any(|w| w.eq_ignore_ascii_case(e)))
        {
            files.push(Entry {
                name,
                kind: EntryKind::File,
            });
        }
    }
    folders.sort_by_key(|e| e.name.to_lowercase());
    files.sort_by_key(|e| e.name.to_lowercase());
    folders.extend(files);
    Ok(folders)
}

/// Where a chooser starts: the folder of `start` (or `start` itself when it is a folder), else the working
/// directory, else the home folder, else `/`.
fn start_dir(start: Option<&Path>) -> PathBuf {
    let from_start = start.and_then(|s| {
        if s.is_dir() {
            Some(s.to_path_buf())
        } else {
            s.parent()
                .filter(|p| !p.as_os_str().is_empty() && p.is_dir())
                .map(Path::to_path_buf)
        }
    });
    from_start
        .or_else(|| std::env::current_dir().ok())
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/"))
}

impl FileBrowser {
    /// A chooser for `purpose` starting at `start` (a file's folder, or a folder), listing `recent` paths, with
    /// `note` saying why it is open.
    pub fn new(
        purpose: Purpose,
        start: Option<&Path>,
        recent: Vec<PathBuf>,
        note: Option<String>,
    ) -> Self {
        let file_name = match (purpose, start) {
            (Purpose::Export, Some(s)) => s
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let mut b = Self {
            purpose,
            dir: PathBuf::new(),
            entries: Vec::new(),
            path: String::new(),
            file_name,
            error: None,
            note,
            recent,
        };
        b.go_to(start_dir(start));
        b
    }

    /// The folder listed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The listing.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Why the last step failed, if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Lists `dir` (canonicalised); on failure the listing stays and the error says why.
    pub fn go_to(&mut self, dir: PathBuf) {
        let dir = dir.canonicalize().unwrap_or(dir);
        match list(&dir, self.purpose) {
            Ok(entries) => {
                self.entries = entries;
                self.path = dir.display().to_string();
                self.dir = dir;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// What choosing `path` gives: a folder is entered unless the purpose picks folders and it holds a model; a
    /// file is chosen if the purpose accepts it. `None` while the chooser stays open.
    pub fn choose(&mut self, path: &Path) -> Option<PathBuf> {
        let path = if path.is_relative() {
            self.dir.join(path)
        } else {
            path.to_path_buf()
        };
        if self.purpose == Purpose::Export {
            return self.choose_export(&path);
        }
        if path.is_dir() {
            if picks_folder(self.purpose) && classify(&path) != EntryKind::Folder {
                return Some(path);
            }
            self.go_to(path);
            return None;
        }
        if path.is_file() {
            return Some(path);
        }
        self.error = Some(format!("{} does not exist", path.display()));
        None
    }

    /// An export's target: a folder typed in the path field is entered; otherwise the path (or the folder listed
    /// joined with the file name) is chosen when its folder exists.
    fn choose_export(&mut self, path: &Path) -> Option<PathBuf> {
        if path.is_dir() {
            if path == self.dir && !self.file_name.trim().is_empty() {
                return Some(self.dir.join(self.file_name.trim()));
            }
            self.go_to(path.to_path_buf());
            return None;
        }
        match path.parent() {
            Some(p) if p.is_dir() => Some(path.to_path_buf()),
            _ => {
                self.error = Some(format!(
                    "the folder of {} does not exist; choose an existing folder",
                    path.display()
                ));
                None
            }
        }
    }

    /// The button that chooses what the path field names.
    fn accept_label(&self) -> &'static str {
        match self.purpose {
            Purpose::Export => "Save here",
            Purpose::Policy | Purpose::Reference => "Open",
            _ => "Open",
        }
    }

    /// Draws the chooser as a modal window; returns what the user did.
    pub fn show(&mut self, ctx: &egui::Context) -> Outcome {
        let mut outcome = Outcome::Open;
        let screen = ctx.content_rect();
        let modal = egui::Modal::new(egui::Id::unique("creditlens-file-browser")).show(ctx, |ui| {
            ui.set_width((screen.width() * 0.6).clamp(420.0, 760.0));
            outcome = self.ui(ui, (screen.height() * 0.45).clamp(160.0, 420.0));
        });
        if modal.should_close() && outcome == Outcome::Open {
            outcome = Outcome::Cancelled;
        }
        outcome
    }

    fn ui(&mut self, ui: &mut Ui, list_height: f32) -> Outcome {
        let mut outcome = Outcome::Open;
        ui.heading(title(self.purpose));
        if let Some(n) = &self.note {
            ui.weak(n);
        }
        ui.horizontal(|ui| {
            if ui
                .button("⬆ Up")
                .on_hover_text("The folder above")
                .clicked()
                && let Some(parent) = self.dir.parent().map(Path::to_path_buf)
            {
                self.go_to(parent);
            }
            if ui.button("Home").clicked()
                && let Some(home) = std::env::var_os("HOME")
            {
                self.go_to(PathBuf::from(home));
            }
            if let Some(p) = recent_menu(ui, &self.recent, "Recently chosen")
                && let Some(chosen) = self.choose(&p)
            {
                outcome = Outcome::Chosen(chosen);
            }
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path)
                        .id_salt("file-browser-path")
                        .desired_width(f32::INFINITY),
                )
                .on_hover_text("A folder to list or a path to choose; Enter goes there");
            if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                let typed = PathBuf::from(self.path.trim());
                if let Some(chosen) = self.choose(&typed) {
                    outcome = Outcome::Chosen(chosen);
                }
            }
        });
        let mut clicked = None;
        let mut entered = None;
        egui::ScrollArea::vertical()
            .id_salt("file-browser-list")
            .max_height(list_height)
            .min_scrolled_height(list_height)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if self.entries.is_empty() {
                    ui.weak(match self.purpose {
                        Purpose::Data => "no folders or .jsonl/.json files here",
                        Purpose::PolicyFile | Purpose::ReferenceFile => {
                            "no folders or .gguf files here"
                        }
                        _ => "nothing here",
                    });
                }
                for (i, e) in self.entries.iter().enumerate() {
                    let icon = if e.kind.is_folder() { "🗀" } else { "🗋" };
                    let selected = self.path.trim() == self.dir.join(&e.name).display().to_string();
                    let text = match e.kind.badge() {
                        Some(b) => format!("{icon} {}   ({b})", e.name),
                        None => format!("{icon} {}", e.name),
                    };
                    let mut label = egui::RichText::new(text);
                    if e.kind.is_model() {
                        label = label.strong();
                    }
                    let r = ui.selectable_label(selected, label);
                    if r.double_clicked() {
                        entered = Some(i);
                    } else if r.clicked() {
                        clicked = Some(i);
                    }
                }
            });
        if let Some(i) = clicked.and_then(|i| self.entries.get(i)).cloned() {
            let path = self.dir.join(&i.name);
            if self.purpose == Purpose::Export && i.kind == EntryKind::File {
                self.file_name = i.name.clone();
            }
            // One click enters a plain folder (as a file manager's single-click mode); a model folder or a file
            // is selected, to be opened with the button or a double click.
            if i.kind == EntryKind::Folder || (i.kind.is_folder() && !picks_folder(self.purpose)) {
                self.go_to(path);
            } else {
                self.path = path.display().to_string();
                self.error = None;
            }
        }
        if let Some(i) = entered.and_then(|i| self.entries.get(i)).cloned() {
            let path = self.dir.join(&i.name);
            if let Some(chosen) = self.choose(&path) {
                outcome = Outcome::Chosen(chosen);
            }
        }
        if self.purpose == Purpose::Export {
            ui.horizontal(|ui| {
                ui.label("file name");
                ui.add(
                    egui::TextEdit::singleline(&mut self.file_name)
                        .id_salt("file-browser-name")
                        .desired_width(f32::INFINITY),
                );
            });
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancelled;
            }
            let target = match self.purpose {
                Purpose::Export if self.dir == Path::new(self.path.trim()) => {
                    self.dir.join(self.file_name.trim())
                }
                _ => PathBuf::from(self.path.trim()),
            };
            if picks_folder(self.purpose) {
                ui.weak("a checkpoint or adapter folder, a training run, or a .gguf file");
            }
            if ui
                .button(self.accept_label())
                .on_hover_text(target.display().to_string())
                .clicked()
            {
                let chosen = if self.purpose == Purpose::Export {
                    self.choose_export(&target)
                } else if picks_folder(self.purpose) && target.is_dir() {
                    // "Open" on a plain folder opens it as the model folder: its loader names what is missing.
                    Some(target.clone())
                } else {
                    self.choose(&target)
                };
                if let Some(c) = chosen {
                    outcome = Outcome::Chosen(c);
                }
            }
        });
        outcome
    }
}

/// Where the open chooser's state is kept in egui's memory.
fn memory_id() -> egui::Id {
    egui::Id::unique("creditlens-file-browser-state")
}

/// Keeps `browser` as the chooser to show.
pub fn store(ctx: &egui::Context, browser: FileBrowser) {
    ctx.data_mut(|d| d.insert_temp(memory_id(), browser));
}

/// The chooser kept by [`store`], if any.
pub fn stored(ctx: &egui::Context) -> Option<FileBrowser> {
    ctx.data(|d| d.get_temp(memory_id()))
}

/// Shows the chooser kept by [`store`] (browsing changes only its own state); what the user did. Closed when
/// there is none.
pub fn show_stored(ctx: &egui::Context) -> Outcome {
    let Some(mut browser) = stored(ctx) else {
        return Outcome::Cancelled;
    };
    let outcome = browser.show(ctx);
    if outcome == Outcome::Open {
        store(ctx, browser);
    } else {
        ctx.data_mut(|d| d.remove::<FileBrowser>(memory_id()));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::write(p, b"{}").expect("write");
    }

    #[test]
    fn lists_folders_first_and_only_the_files_a_purpose_takes() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        std::fs::create_dir(d.join("run")).expect("mkdir");
        std::fs::create_dir(d.join("run/checkpoint-4")).expect("mkdir");
        touch(&d.join("run/checkpoint-4/config.json"));
        std::fs::create_dir(d.join("adapter")).expect("mkdir");
        touch(&d.join("adapter/adapter_config.json"));
        std::fs::create_dir(d.join(".hidden")).expect("mkdir");
        touch(&d.join("pairs.jsonl"));
        touch(&d.join("notes.txt"));
        touch(&d.join("m.gguf"));
        let data = list(d, Purpose::Data).expect("list");
        let names: Vec<&str> = data.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["adapter", "run", "pairs.jsonl"]);
        let models = list(d, Purpose::Policy).expect("list");
        assert_eq!(
            models
                .iter()
                .map(|e| (e.name.as_str(), e.kind))
                .collect::<Vec<_>>(),
            [
                ("adapter", EntryKind::Adapter),
                ("run", EntryKind::Run(1)),
                ("m.gguf", EntryKind::File)
            ]
        );
        let err = list(&d.join("nope"), Purpose::Data).expect_err("missing");
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn choosing_enters_folders_and_picks_files_and_model_folders() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path().canonicalize().expect("canon");
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        touch(&d.join("sub/pairs.jsonl"));
        std::fs::create_dir(d.join("ckpt")).expect("mkdir");
        touch(&d.join("ckpt/config.json"));
        let mut b = FileBrowser::new(Purpose::Data, Some(&d), Vec::new(), None);
        assert_eq!(b.dir(), d);
        assert_eq!(b.choose(Path::new("sub")), None);
        assert_eq!(b.dir(), d.join("sub"));
        assert_eq!(
            b.choose(Path::new("pairs.jsonl")),
            Some(d.join("sub/pairs.jsonl"))
        );
        assert_eq!(b.choose(Path::new("missing.jsonl")), None);
        assert!(b.error().is_some_and(|e| e.contains("missing.jsonl")));
        let mut m = FileBrowser::new(Purpose::Policy, Some(&d), Vec::new(), None);
        assert_eq!(m.choose(&d.join("ckpt")), Some(d.join("ckpt")));
        let mut e = FileBrowser::new(Purpose::Export, Some(&d.join("out.png")), Vec::new(), None);
        assert_eq!(e.file_name, "out.png");
        assert_eq!(e.choose(&d), Some(d.join("out.png")));
        assert_eq!(e.choose(&d.join("no/such/x.png")), None);
    }
}
