//! The side panel: models and scoring settings (beta applied without a forward pass), and the data file.

use super::*;

impl App {
    pub(super) fn side_panel(&mut self, ui: &mut Ui) {
        // Both ways: content wider than the panel scrolls instead of widening it.
        egui::ScrollArea::both()
            .id_salt("side-scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::CollapsingHeader::new("Models")
                    .default_open(true)
                    .open(std::mem::take(&mut self.open_models_section).then_some(true))
                    .show(ui, |ui| {
                        let (actions, rects) = models_panel::show(
                            ui,
                            &mut self.form,
                            &mut self.settings,
                            self.loaded.as_ref().map(|l| &l.policy),
                            self.loaded.as_ref().map(|l| &l.reference),
                            self.loaded.as_ref().map(|l| l.tokenizer_vocab),
                            self.load
                                .running()
                                .then(|| self.load.progress().unwrap_or(0.0)),
                            self.load.error(),
                        );
                        self.cards = rects;
                        for a in actions {
                            self.apply(a);
                        }
                        if !self.checkpoints.is_empty() {
                            ui.label(format!(
                                "{} training checkpoints found (drift plot)",
                                self.checkpoints.len()
                            ));
                        }
                    });
                egui::CollapsingHeader::new("Data")
                    .default_open(true)
                    .show(ui, |ui| self.data_section(ui));
            });
    }

    /// Beta changed: rewards are linear in it, so everything shown is recomputed from the stored log-probabilities
    /// (no model runs, nothing is reloaded), and later scoring uses the new beta.
    pub fn apply_beta(&mut self) {
        let beta = self.settings.beta;
        if let Some(l) = &self.loaded {
            self.settings.remember_beta(&l.policy.path, beta);
        }
        let options = self.options();
        if let Some(l) = &mut self.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => l.scorer = Arc::new(s),
                Err(e) => {
                    self.warn(e.to_string());
                    return;
                }
            }
        }
        if let Some(shown) = &self.shown {
            let mut s = (**shown).clone();
            s.set_beta(beta);
            self.shown = Some(Arc::new(s));
        }
        if let Some(d) = &mut self.dataset {
            d.set_beta(beta);
        }
        for p in &mut self.drift {
            p.set_beta(beta);
        }
    }

    /// Tokenisation changed: new scorer settings, rescore everything shown.
    pub(super) fn apply_settings(&mut self) {
        let options = self.options();
        if let Some(l) = &mut self.loaded {
            match l.scorer.with_options(options) {
                Ok(s) => {
                    l.scorer = Arc::new(s);
                    self.rescore_now();
                    self.score_dataset();
                    self.drift.clear();
                    self.start_drift(true);
                }
                Err(e) => self.warn(e.to_string()),
            }
        }
    }

    pub(super) fn data_section(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if ui
                .button("Open data…")
                .on_hover_text("A JSONL file (or JSON array) of {prompt, chosen, rejected} or {prompt, completion} records (Ctrl+O)")
                .clicked()
            {
                self.open_dialog(Purpose::Data);
            }
            let open = recent_menu(ui, &self.settings.recent_data, "Recently opened data files");
            if let Some(p) = open {
                self.open_data(&p);
            }
        });
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut self.data_path)
                    .id_salt("data-path")
                    .hint_text("data file (.jsonl or .json)")
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text("Path of a data file; Enter opens it");
        if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            let path = PathBuf::from(self.data_path.trim());
            if path.as_os_str().is_empty() {
                self.warn("type the path of a data file");
            } else {
                self.open_data(&path);
            }
        }
        let Some(d) = &mut self.dataset else {
            ui.weak("no data file open");
            return;
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
                    d.job.cancel();
                }
            });
        } else if let Some(s) = d.seconds {
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
            ui.label(format!(
                "{} records scored in {s:.1} s; reward accuracy {}",
                d.done,
                if pairs > 0 {
                    format!("{:.3}", correct as f64 / pairs as f64)
                } else {
                    "–".into()
                }
            ));
        }
        if let Some(i) = d.show(ui, self.selected_row) {
            self.select_row(i);
        }
    }
}
