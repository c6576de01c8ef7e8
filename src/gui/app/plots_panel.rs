//! The plots panel: its tabs (per token, drift, token x checkpoint), the drift run's spinner and cancel, and the
//! plot of the tab chosen.

use super::*;

impl App {
    /// What each plot (by id: `per-token`, `cumulative`, `drift`, `trainer-state`, `accuracy`,
    /// `search-trend-reward`, `search-trend-length`) showed the last frame it was drawn: its series, legend and
    /// painted tick labels.
    pub fn plots_drawn(&self) -> std::collections::BTreeMap<String, plots::PlotRecord> {
        plots::plots_drawn(&self.ctx)
    }

    /// The plots panel; what the user asked for.
    pub(super) fn plots(&self, ui: &mut Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        // The panel keeps the height it was given (egui sizes a panel to its content, so a frame with nothing to
        // plot yet would shrink it for good).
        ui.set_min_height(ui.available_height());
        self.view.plots_height.set(ui.available_height());
        ui.horizontal(|ui| {
            let mut tab = self.view.plot_tab;
            ui.selectable_value(&mut tab, PlotTab::Tokens, "Per token")
                .on_hover_text("The metric per token and the cumulative reward of the shown responses");
            ui.add_enabled_ui(!self.drift.checkpoints.is_empty(), |ui| {
                ui.selectable_value(&mut tab, PlotTab::Drift, "Drift over checkpoints")
                    .on_hover_text("Mean chosen and rejected rewards and the margin at each training checkpoint")
                    .on_disabled_hover_text("Open a policy folder that holds checkpoint-N subfolders");
                ui.selectable_value(&mut tab, PlotTab::TokenByCheckpoint, "Token × checkpoint")
                    .on_hover_text("The selected response's per-token values at each checkpoint")
                    .on_disabled_hover_text("Open a policy folder that holds checkpoint-N subfolders");
            });
            ui.selectable_value(&mut tab, PlotTab::Credit, "Credit across the data")
                .on_hover_text("The words that carry the most reward across the data file, where in the responses the credit sits, and length bias; click a word to keep the records holding it");
            if tab != self.view.plot_tab {
                actions.push(Action::SetPlotTab(tab));
            }
            if let Some(run) = &self.drift.run {
                let mut follow = self.drift.following;
                let name = run.file_name().map_or(run.display().to_string(), |n| n.to_string_lossy().into());
                if ui
                    .checkbox(&mut follow, "Follow the run")
                    .on_hover_text(format!(
                        "Look at {} every {} s and score each checkpoint as it is saved",
                        run.display(),
                        FOLLOW_EVERY.as_secs()
                    ))
                    .changed()
                {
                    actions.push(Action::Follow(follow));
                }
                if self.drift.following {
                    ui.label(format!(
                        "following {name}: {} checkpoint(s) scored",
                        self.drift.points.len()
                    ));
                }
            }
            if self.drift.job.running() {
                ui.spinner();
                if ui.button("Cancel").on_hover_text("Stop the drift computation").clicked() {
                    actions.push(Action::CancelDrift);
                }
            }
            if let Some(e) = self.drift.job.error() {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
        });
        let height = (ui.available_height() - 8.0).max(80.0);
        match self.view.plot_tab {
            PlotTab::Tokens => match self.displayed() {
                Some(s) => plots::tokens(ui, &s, self.settings.metric, height),
                None => {
                    ui.weak("nothing scored yet");
                }
            },
            PlotTab::Credit => {
                let beta = self.settings.beta;
                let (credit, holding, scoring) = match &self.dataset {
                    Some(d) => (d.credit.as_ref(), d.holding.as_deref(), d.job.running()),
                    None => (None, None, false),
                };
                actions.extend(super::super::credit_view::show(
                    ui,
                    credit,
                    &self.view.credit,
                    holding,
                    scoring,
                    beta,
                ));
            }
            PlotTab::Drift => crate::gui::plots_drift::drift(
                ui,
                &self.drift.points,
                &self.drift.trainer,
                self.settings.beta,
                height,
            ),
            PlotTab::TokenByCheckpoint => {
                crate::gui::plots_checkpoints::token_by_checkpoint(
                    ui,
                    &self.drift.points,
                    self.settings.metric,
                    self.settings.theme,
                );
            }
        }
        actions
    }
}
