//! The side panel: models and scoring settings (beta applied without a forward pass), and the data file.

use super::*;

impl App {
    /// The side panel: the models (opened if `open_models`) and the data file; what the user asked for, and where
    /// the model cards were drawn (drop targets).
    pub(super) fn side_panel(&self, ui: &mut Ui, open_models: bool) -> (Vec<Action>, CardRects) {
        let mut actions = Vec::new();
        let mut cards = CardRects::default();
        // Both ways: content wider than the panel scrolls instead of widening it.
        egui::ScrollArea::both()
            .id_salt("side-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::CollapsingHeader::new("Models")
                    .default_open(true)
                    .open(open_models.then_some(true))
                    .show(ui, |ui| {
                        let (asked, rects) = models_panel::show(
                            ui,
                            &self.models.form,
                            &self.settings,
                            self.models.loaded.as_ref().map(|l| &l.policy),
                            self.models.loaded.as_ref().map(|l| &l.reference),
                            self.models.loaded.as_ref().map(|l| l.tokenizer_vocab),
                            self.models
                                .load
                                .running()
                                .then(|| self.models.load.progress().unwrap_or(0.0)),
                            self.models.load.error(),
                        );
                        cards = rects;
                        actions.extend(asked);
                        if !self.drift.checkpoints.is_empty() {
                            ui.label(format!(
                                "{} training checkpoints found (drift plot)",
                                self.drift.checkpoints.len()
                            ));
                        }
                    });
                egui::CollapsingHeader::new("Data")
                    .default_open(true)
                    .show(ui, |ui| actions.extend(self.data_section(ui)));
            });
        (actions, cards)
    }

    /// Beta changed: rewards are linear in it, so everything shown is recomputed from the stored log-probabilities
    /// (no model runs, nothing is reloaded), and later scoring uses the new beta.
    pub fn apply_beta(&mut self) {
        let beta = self.settings.beta;
        if let Some(l) = &self.models.loaded {
            self.settings.remember_beta(&l.policy.path, beta);
        }
        let options = self.options();
        if let Some(l) = &mut self.models.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => l.scorer = Arc::new(s),
                Err(e) => {
                    self.warn(e.to_string());
                    return;
                }
            }
        }
        if let Some(shown) = &self.record.shown {
            let mut s = (**shown).clone();
            s.set_beta(beta);
            self.record.shown = Some(Arc::new(s));
        }
        if let Some(d) = &mut self.dataset {
            d.set_beta(beta);
        }
        for p in &mut self.drift.points {
            p.set_beta(beta);
        }
    }

    /// Tokenisation changed: new scorer settings, rescore everything shown.
    pub(super) fn apply_settings(&mut self) {
        let options = self.options();
        if let Some(l) = &mut self.models.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => {
                    l.scorer = Arc::new(s);
                    self.rescore_now();
                    self.score_dataset();
                    self.drift.points.clear();
                    self.start_drift(true);
                }
                Err(e) => self.warn(e.to_string()),
            }
        }
    }

    /// The data file: dialog, recent list, path field, progress, the table.
    pub(super) fn data_section(&self, ui: &mut Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            if ui
                .button("Open data…")
                .on_hover_text("A JSONL file (or JSON array) of {prompt, chosen, rejected} or {prompt, completion} records (Ctrl+O)")
                .clicked()
            {
                actions.push(Action::Browse(Purpose::Data));
            }
            let open = recent_menu(ui, &self.settings.recent_data, "Recently opened data files");
            if let Some(p) = open {
                actions.push(Action::OpenData(p));
            }
        });
        let mut typed = self.files.data_path.clone();
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut typed)
                    .id_salt("data-path")
                    .hint_text("data file (.jsonl or .json)")
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text("Path of a data file; Enter opens it");
        if typed != self.files.data_path {
            actions.push(Action::SetText(TextField::DataPath, typed.clone()));
        }
        if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            actions.push(Action::OpenData(PathBuf::from(typed.trim())));
        }
        let Some(d) = &self.dataset else {
            ui.weak("no data file open");
            return actions;
        };
        let total = d.rows.iter().filter(|r| r.record.is_ok()).count();
        if d.job.running() {
            ui.horizontal(|ui| {
                let frac = d.done as f32 / total.max(1) as f32;
                ui.add(
                    egui::ProgressBar::new(frac)
                        .text(format!("scoring {}/{total}", d.done))
                        .desired_width(220.0),
                );
                if ui
                    .button("Cancel")
                    .on_hover_text("Stop scoring the file")
                    .clicked()
                {
                    actions.push(Action::CancelDataset);
                }
            });
        } else if d.seconds.is_some() || d.from_scores {
            let correct = d
                .rows
                .iter()
                .filter(|r| matches!(&r.score, Some(Ok(s)) if s.margin > 0.0))
                .count();
            let pairs = d
                .rows
                .iter()
                .filter(|r| matches!(&r.score, Some(Ok(s)) if !s.margin.is_nan()))
                .count();
            let how = match d.seconds {
                _ if d.from_scores => "shown with their stored scores (not rescored)".to_string(),
                Some(s) => format!("scored in {s:.1} s"),
                None => String::new(),
            };
            ui.label(format!(
                "{} records {how}; reward accuracy {}",
                d.done,
                if pairs > 0 {
                    format!("{:.3}", correct as f64 / pairs as f64)
                } else {
                    "–".into()
                }
            ));
        }
        actions.extend(d.show(ui, self.record.selected_row));
        actions
    }
}
