//! The export window and the export itself.

use super::*;

impl App {
    pub(super) fn export_window(&mut self, ctx: &egui::Context) {
        if !self.export.open {
            return;
        }
        self.export.forget_if_changed();
        let mut open = true;
        let mut do_export: Option<bool> = None;
        egui::Window::new("Export")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    for f in Format::ALL {
                        if ui
                            .selectable_label(self.export.format == f, f.extension().to_uppercase())
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
                            self.export.format = f;
                            self.export.path = export::with_extension(&self.export.path, f);
                        }
                    }
                });
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut self.export.path).desired_width(300.0))
                        .on_hover_text(
                            "Where to write; relative paths are relative to the working directory",
                        );
                    if ui.button("Browse…").clicked() {
                        self.open_dialog(Purpose::Export);
                    }
                    let chosen = recent_menu(
                        ui,
                        &self.settings.recent_exports,
                        "Files exported recently (an existing one is only replaced after you confirm)",
                    );
                    if let Some(p) = chosen {
                        if let Some(f) = Format::from_path(&p) {
                            self.export.format = f;
                        }
                        self.export.path = p.display().to_string();
                    }
                });
                // Only a PNG has pixels; an SVG scales, CSV and JSON are numbers.
                if matches!(self.export.format, Format::Png | Format::Svg) {
                    ui.horizontal(|ui| {
                        if self.export.format == Format::Png {
                            ui.label("pixel ratio");
                            ui.add(
                                egui::DragValue::new(&mut self.export.pixel_ratio)
                                    .range(1.0..=4.0)
                                    .speed(0.1),
                            )
                            .on_hover_text("2 gives print resolution");
                        }
                        ui.radio_value(&mut self.export.theme, Theme::Light, "light");
                        ui.radio_value(&mut self.export.theme, Theme::Dark, "dark");
                    });
                }
                if let Some(path) = self.export.confirm.clone() {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("{} exists. Overwrite it?", path.display()),
                    );
                    ui.horizontal(|ui| {
                        if ui.button("Overwrite").clicked() {
                            do_export = Some(true);
                        }
                        if ui.button("Keep it").clicked() {
                            self.export.confirm = None;
                        }
                    });
                } else if ui
                    .add_enabled(self.shown.is_some(), egui::Button::new("Save"))
                    .on_hover_text("Write the shown record")
                    .clicked()
                {
                    do_export = Some(false);
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
        if !open {
            self.export.open = false;
            self.export.confirm = None;
        }
        if let Some(overwrite) = do_export {
            self.run_export(overwrite);
        }
        // A format or path changed in this frame leaves no stale outcome for the next.
        self.export.forget_if_changed();
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
        if let Some(l) = &self.loaded {
            fields.push(("policy".into(), l.policy.path.display().to_string()));
            fields.push(("reference".into(), l.reference.path.display().to_string()));
        }
        fields.push((
            "tokenization".into(),
            self.settings.tokenization.to_string(),
        ));
        let context = export::ExportContext {
            fields,
            error_spans: self.editor.error_spans.clone(),
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
