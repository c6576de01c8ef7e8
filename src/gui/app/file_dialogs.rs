//! File dialogs from the app's side: the desktop's where it has one, else creditlens' own chooser, where each
//! starts, and what a chosen path does.

use super::*;

impl App {
    /// Opens a file dialog for `purpose`: the desktop's where it has one, else creditlens' own chooser with a note
    /// saying why.
    pub(super) fn open_dialog(&mut self, purpose: Purpose) {
        if self.dialog.is_some() || self.browser.is_some() {
            return;
        }
        let unavailable = match self.file_dialogs {
            FileDialogs::Builtin => Some(String::new()),
            FileDialogs::Auto => dialogs::native_unavailable(),
        };
        match unavailable {
            Some(why) if why.is_empty() => self.open_browser(purpose, None),
            Some(why) => self.open_browser(
                purpose,
                Some(format!("{why}: creditlens' own file chooser is used")),
            ),
            None => {
                self.dialog = Some(Pending::open(
                    purpose,
                    &self.ctx,
                    self.dialog_start(purpose),
                ));
            }
        }
    }

    /// Where a dialog for `purpose` starts: the path in its field, else the newest recent one.
    fn dialog_start(&self, purpose: Purpose) -> Option<PathBuf> {
        let field = match purpose {
            Purpose::Policy | Purpose::PolicyFile => self.form.policy.trim(),
            Purpose::Reference | Purpose::ReferenceFile => self.form.reference.trim(),
            Purpose::Data => self.data_path.trim(),
            Purpose::Export => self.export.path.trim(),
        };
        (!field.is_empty())
            .then(|| PathBuf::from(field))
            .or_else(|| self.recent_for(purpose).first().cloned())
    }

    /// The recent paths of the kind `purpose` chooses.
    fn recent_for(&self, purpose: Purpose) -> Vec<PathBuf> {
        match purpose {
            Purpose::Policy | Purpose::PolicyFile => self.settings.recent_policies.clone(),
            Purpose::Reference | Purpose::ReferenceFile => self.settings.recent_references.clone(),
            Purpose::Data => self.settings.recent_data.clone(),
            Purpose::Export => self.settings.recent_exports.clone(),
        }
    }

    /// Opens creditlens' own file chooser for `purpose`.
    fn open_browser(&mut self, purpose: Purpose, note: Option<String>) {
        let start = self.dialog_start(purpose);
        self.browser = Some(FileBrowser::new(
            purpose,
            start.as_deref(),
            self.recent_for(purpose),
            note,
        ));
    }

    /// A dialog answered: a chosen path is put where it belongs; a desktop dialog that could not open is followed
    /// by creditlens' own chooser, saying why.
    pub(super) fn dialog_answered(&mut self, purpose: Purpose, answer: DialogAnswer) {
        match answer {
            DialogAnswer::Cancelled => {}
            DialogAnswer::Failed(why) => self.open_browser(
                purpose,
                Some(format!(
                    "The desktop's file chooser could not open ({why}): creditlens' own is used instead"
                )),
            ),
            DialogAnswer::Chosen(path) => match purpose {
                Purpose::Policy | Purpose::PolicyFile => {
                    self.form.policy = path.display().to_string();
                    self.load_models(None);
                }
                Purpose::Reference | Purpose::ReferenceFile => {
                    self.form.reference = path.display().to_string();
                    self.load_models(None);
                }
                Purpose::Data => self.open_data(&path),
                Purpose::Export => {
                    if let Some(f) = export::Format::from_path(&path) {
                        self.export.format = f;
                    }
                    self.export.path = path.display().to_string();
                }
            },
        }
    }

    pub(super) fn poll_dialog(&mut self, ctx: &egui::Context) {
        if let Some(d) = &self.dialog
            && let Some(answer) = d.poll()
        {
            let purpose = d.purpose;
            self.dialog = None;
            self.dialog_answered(purpose, answer);
        }
        if let Some(b) = &mut self.browser {
            let purpose = b.purpose;
            match b.show(ctx) {
                file_browser::Outcome::Open => {}
                file_browser::Outcome::Cancelled => self.browser = None,
                file_browser::Outcome::Chosen(path) => {
                    self.browser = None;
                    self.dialog_answered(purpose, DialogAnswer::Chosen(path));
                }
            }
        }
    }
}
