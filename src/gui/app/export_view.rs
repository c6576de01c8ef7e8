//! The export window and the export itself.

use super::*;

impl App {
    /// The Export window; what the user asked for.
    pub(super) fn export_window(&self, ctx: &egui::Context) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.export.open {
            return actions;
        }
        let mut o = self.export.options();
        let mut open = true;
        egui::Window::new("Export")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    for f in Format::ALL {
                        if ui
                            .selectable_label(o.format == f, f.extension().to_uppercase())
                            .on_hover_text(match f {
                                Format::Png => {
                                    "The heatmap as a figure (the same as `creditlens render`)"
                                }
                                Format::Svg => {
                                    "The heatmap as vector graphics, for papers (the same layout as the PNG)"
                                }
                                Format::Csv => "One row per token with every metric",
                                Format::Json => "The record's scores as JSON",
                            })
                            .clicked()
                        {
                            o.format = f;
                            o.path = export::with_extension(&o.path, f);
                        }
                    }
                });
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut o.path).desired_width(300.0))
                        .on_hover_text(
                            "Where to write; relative paths are relative to the working directory",
                        );
                    if ui.button("Browse…").clicked() {
                        actions.push(Action::Browse(Purpose::Export));
                    }
                    let chosen = recent_menu(
                        ui,
                        &self.settings.recent_exports,
                        "Files exported recently (an existing one is only replaced after you confirm)",
                    );
                    if let Some(p) = chosen {
                        if let Some(f) = Format::from_path(&p) {
                            o.format = f;
                        }
                        o.path = p.display().to_string();
                    }
                });
                // Only a PNG has pixels; an SVG scales, CSV and JSON are numbers.
                if matches!(o.format, Format::Png | Format::Svg) {
                    ui.horizontal(|ui| {
                        if o.format == Format::Png {
                            ui.label("pixel ratio");
                            ui.add(
                                egui::DragValue::new(&mut o.pixel_ratio)
                                    .range(1.0..=4.0)
                                    .speed(0.1),
                            )
                            .on_hover_text("2 gives print resolution");
                        }
                        ui.radio_value(&mut o.theme, Theme::Light, "light");
                        ui.radio_value(&mut o.theme, Theme::Dark, "dark");
                    });
                }
                if let Some(path) = &self.export.confirm {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("{} exists. Overwrite it?", path.display()),
                    );
                    ui.horizontal(|ui| {
                        if ui.button("Overwrite").clicked() {
                            actions.push(Action::Export { overwrite: true });
                        }
                        if ui.button("Keep it").clicked() {
                            actions.push(Action::KeepExportTarget);
                        }
                    });
                } else if ui
                    .add_enabled(self.record.shown.is_some(), egui::Button::new("Save"))
                    .on_hover_text("Write the shown record")
                    .clicked()
                {
                    actions.push(Action::Export { overwrite: false });
                }
                match &self.export.status {
                    Some(Ok(m)) => {
                        ui.label(m);
                    }
                    Some(Err(e)) => {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    None => {}
                }
            });
        if o != self.export.options() {
            // Before the buttons' actions: Save writes what the window shows.
            actions.insert(0, Action::SetExport(o));
        }
        if !open {
            actions.push(Action::OpenExport(false));
        }
        actions
    }

    /// Writes the shown record as configured in the export window; an existing file is only replaced when
    /// `overwrite` (after the user confirmed), otherwise the window asks.
    pub fn run_export(&mut self, overwrite: bool) {
        // What the heatmaps show: per token, or per word.
        let Some(shown) = self.displayed() else {
            return;
        };
        let shown = &shown;
        let path = PathBuf::from(self.export.path.trim());
        self.export.asked_now();
        if path.exists() && !overwrite {
            self.export.confirm = Some(path);
            return;
        }
        self.export.confirm = None;
        let mut fields = vec![("beta".to_string(), self.settings.beta.to_string())];
        if let Some(l) = &self.models.loaded {
            fields.push(("policy".into(), l.policy.path.display().to_string()));
            fields.push(("reference".into(), l.reference.path.display().to_string()));
        }
        fields.push((
            "tokenization".into(),
            self.settings.tokenization.to_string(),
        ));
        let context = export::ExportContext {
            fields,
            error_spans: self.record.editor.error_spans.clone(),
        };
        let written = export::write(
            shown,
            &path,
            self.export.format,
            (self.settings.metric, self.settings.scale),
            &self.export,
            &context,
            overwrite,
        )
        .map_err(|e| e.to_string());
        if written.is_ok() {
            push_recent(&mut self.settings.recent_exports, &path);
        }
        self.export.status = Some(written);
    }
}
