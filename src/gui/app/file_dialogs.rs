//! File dialogs from the app's side: the desktop's where it has one, else creditlens' own chooser, where each
//! starts, and what a chosen path does.

use super::*;

impl App {
    /// Opens a file dialog for `purpose`: the desktop's where it has one, else creditlens' own chooser with a note
    /// saying why.
    pub(super) fn open_dialog(&mut self, purpose: Purpose) {
        if self.files.dialog.is_some() || self.files.browser.is_some() {
            return;
        }
        let unavailable = match self.files.file_dialogs {
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
                self.files.dialog = Some(Pending::open(
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
            Purpose::Policy | Purpose::PolicyFile => self.models.form.policy.trim(),
            Purpose::Reference | Purpose::ReferenceFile => self.models.form.reference.trim(),
            Purpose::Data => self.files.data_path.trim(),
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

    /// Opens creditlens' own file chooser for `purpose` (its browsing state lives in egui's memory, like a
    /// widget's; the app keeps what it is for).
    fn open_browser(&mut self, purpose: Purpose, note: Option<String>) {
        let start = self.dialog_start(purpose);
        let browser = FileBrowser::new(purpose, start.as_deref(), self.recent_for(purpose), note);
        file_browser::store(&self.ctx, browser);
        self.files.browser = Some(purpose);
    }

    /// A dialog answered: a chosen path is put where it belongs; a desktop dialog that could not open is followed
    /// by creditlens' own chooser, saying why.
    pub(super) fn dialog_answered(&mut self, purpose: Purpose, answer: DialogAnswer) {
        // The dialog (or chooser) that answered is closed.
        self.files.dialog = None;
        self.files.browser = None;
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
                    self.models.form.policy = path.display().to_string();
                    self.load_models(None);
                }
                Purpose::Reference | Purpose::ReferenceFile => {
                    self.models.form.reference = path.display().to_string();
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

    /// The answer of the desktop's dialog once it closed, and creditlens' own chooser while it is open, as actions.
    pub(super) fn poll_dialog(&self, ctx: &egui::Context) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(d) = &self.files.dialog
            && let Some(answer) = d.poll()
        {
            actions.push(Action::DialogAnswered {
                purpose: d.purpose,
                answer,
            });
        }
        if let Some(purpose) = self.files.browser {
            match file_browser::show_stored(ctx) {
                file_browser::Outcome::Open => {}
                file_browser::Outcome::Cancelled => actions.push(Action::CloseBrowser),
                file_browser::Outcome::Chosen(path) => actions.push(Action::DialogAnswered {
                    purpose,
                    answer: DialogAnswer::Chosen(path),
                }),
            }
        }
        actions
    }
}
