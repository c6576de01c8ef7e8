//! The menu bar and the toolbar.

use super::*;
use crate::words::Unit;

impl App {
    /// The menu bar; what the user asked for.
    pub(super) fn menu_bar(&self, ui: &mut Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open policy…").clicked() {
                    actions.push(Action::Browse(Purpose::Policy));
                    ui.close();
                }
                if ui.button("Open reference…").clicked() {
                    actions.push(Action::Browse(Purpose::Reference));
                    ui.close();
                }
                if ui.button("Open policy GGUF file…").clicked() {
                    actions.push(Action::Browse(Purpose::PolicyFile));
                    ui.close();
                }
                if ui.button("Open reference GGUF file…").clicked() {
                    actions.push(Action::Browse(Purpose::ReferenceFile));
                    ui.close();
                }
                if ui
                    .add(
                        egui::Button::new("Open data…")
                            .shortcut_text(ui.ctx().format_shortcut(&OPEN_DATA)),
                    )
                    .clicked()
                {
                    actions.push(Action::Browse(Purpose::Data));
                    ui.close();
                }
                ui.menu_button("Recent data", |ui| {
                    let recent = self.settings.recent_data.clone();
                    if recent.is_empty() {
                        ui.weak("nothing yet");
                    }
                    for p in recent {
                        if ui.button(p.display().to_string()).clicked() {
                            actions.push(Action::OpenData(p.clone()));
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui
                    .add(
                        egui::Button::new("Export…")
                            .shortcut_text(ui.ctx().format_shortcut(&EXPORT)),
                    )
                    .clicked()
                {
                    actions.push(Action::OpenExport(true));
                    ui.close();
                }
                if ui
                    .add(
                        egui::Button::new("Search with the policy…")
                            .shortcut_text(ui.ctx().format_shortcut(&SEARCH)),
                    )
                    .clicked()
                {
                    actions.push(Action::OpenSearch);
                    ui.close();
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                let dark = self.settings.theme == Theme::Dark;
                if ui
                    .add(
                        egui::Button::new(if dark { "Light theme" } else { "Dark theme" })
                            .shortcut_text(ui.ctx().format_shortcut(&THEME)),
                    )
                    .clicked()
                {
                    actions.push(Action::ToggleTheme);
                    ui.close();
                }
                let side = egui::Button::selectable(self.settings.show_side, "Side panel")
                    .shortcut_text(ui.ctx().format_shortcut(&SIDE));
                if ui.add(side).clicked() {
                    actions.push(Action::ToggleSide);
                    ui.close();
                }
                let plots = egui::Button::selectable(self.settings.show_plots, "Plots panel")
                    .shortcut_text(ui.ctx().format_shortcut(&PLOTS));
                if ui.add(plots).clicked() {
                    actions.push(Action::TogglePlots);
                    ui.close();
                }
            });
            ui.menu_button("Help", |ui| {
                ui.label("Ctrl+O open data · Ctrl+E export · Ctrl+T theme");
                ui.label("Ctrl+B side panel · Ctrl+P plots panel");
                ui.label("Ctrl+↓ / Ctrl+↑ next / previous record · Esc unpin");
                ui.label("Drop a checkpoint folder on a model card, or a data file anywhere");
                ui.separator();
                ui.label(format!("creditlens {}", env!("CARGO_PKG_VERSION")));
            });
            // On the right: what is open (policy, reference, beta) and the latest notice, one line, cut to fit.
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if let Some(summary) = self.models_summary() {
                    ui.add(egui::Label::new(egui::RichText::new(&summary.0).strong()).truncate())
                        .on_hover_text(summary.1);
                    ui.separator();
                }
                if let Some(n) = &self.status.notice {
                    let text = egui::RichText::new(n);
                    let text = if self.status.notice_is_error {
                        text.color(ui.visuals().error_fg_color)
                    } else {
                        text.weak()
                    };
                    ui.add(egui::Label::new(text).truncate()).on_hover_text(n);
                }
            });
        });
        actions
    }

    /// The models open and the beta in force: a short line (the folder names) and the full paths.
    fn models_summary(&self) -> Option<(String, String)> {
        let l = self.models.loaded.as_ref()?;
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        };
        let beta = self.settings.beta;
        Some((
            format!(
                "{} vs {} · β {beta}",
                name(&l.policy.path),
                name(&l.reference.path)
            ),
            format!(
                "policy {}\nreference {}\nβ {beta}: rewards are beta * (log pi - log pi_ref); use the beta the policy was trained with",
                l.policy.path.display(),
                l.reference.path.display()
            ),
        ))
    }

    /// One line, whatever the metric or the window's width: the colour bar gives up width first.
    pub(super) fn toolbar(&self, ui: &mut Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            if ui
                .button("Search…")
                .on_hover_text(
                    "Greedy and beam search with the policy, every candidate scored (Ctrl+G)",
                )
                .clicked()
            {
                actions.push(Action::OpenSearch);
            }
            ui.separator();
            ui.label("colour by");
            egui::ComboBox::from_id_salt("metric")
                .width(150.0)
                .selected_text(self.settings.metric.label())
                .show_ui(ui, |ui| {
                    for m in Metric::ALL {
                        if ui
                            .selectable_label(self.settings.metric == m, m.label())
                            .on_hover_text(m.description())
                            .clicked()
                        {
                            actions.push(Action::SetMetric(m));
                        }
                    }
                })
                .response
                .on_hover_text("The per-token quantity the chips are coloured by");
            for (unit, name, tip) in [
                (Unit::Token, "tokens", "One chip per token"),
                (
                    Unit::Word,
                    "words",
                    "One chip per word (split at white space, punctuation attached), coloured by the sum over its tokens: a fact cut into several tokens carries its whole credit. Pin a word to see its tokens",
                ),
            ] {
                if ui
                    .selectable_label(self.settings.unit == unit, name)
                    .on_hover_text(tip)
                    .clicked()
                {
                    actions.push(Action::SetUnit(unit));
                }
            }
            ui.separator();
            let robust = matches!(self.settings.scale, ScaleMode::Robust(_));
            if ui
                .selectable_label(robust, "robust")
                .on_hover_text(
                    "Colour limit = the 98th percentile of |value| over the shown tokens",
                )
                .clicked()
            {
                actions.push(Action::SetScale(ScaleMode::Robust(98.0)));
            }
            let current = self.scale().limit;
            if ui
                .selectable_label(!robust, "fixed")
                .on_hover_text(
                    "A fixed colour limit, the same for every record (comparable across records)",
                )
                .clicked()
                && robust
            {
                actions.push(Action::SetScale(ScaleMode::Fixed(current)));
            }
            if let ScaleMode::Fixed(v) = self.settings.scale {
                let mut limit = v;
                if ui
                    .add(
                        egui::DragValue::new(&mut limit)
                            .range(1e-6..=1e6)
                            .speed(0.01)
                            .prefix("±"),
                    )
                    .on_hover_text("Values at ± this limit reach the ends of the colormap")
                    .changed()
                {
                    actions.push(Action::SetScale(ScaleMode::Fixed(limit)));
                }
            }
            ui.separator();
            // What the bar's numbers and caption take; the bar gets the rest, between 60 and 220 px.
            let caption = 250.0;
            let bar = (ui.available_width() - caption).clamp(60.0, 220.0);
            colour_bar(ui, self.settings.metric, current, self.settings.theme, bar);
        });
        actions
    }
}
