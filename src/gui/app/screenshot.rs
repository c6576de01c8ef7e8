//! The start-up screenshot mode (`creditlens gui --screenshot`): waits for the first scores, saves the window
//! as a PNG and closes.

use super::*;

/// A screenshot gives up after this long without progress (models loading, scores or drift points arriving).
const STALL: Duration = Duration::from_secs(120);

impl App {
    /// What `gui --screenshot` still waits for, in words (its message when it gives up).
    pub fn screenshot_waits_for(&self) -> String {
        let mut waits = Vec::new();
        if self.models.load.running() {
            waits.push(format!(
                "the models to load ({:.0}%)",
                self.models.load.progress().unwrap_or(0.0) * 100.0
            ));
        }
        if self.record.scoring.running() || self.record.shown.is_none() {
            waits.push("the shown record's scores".to_string());
        }
        let on_drift = matches!(
            self.view.plot_tab,
            PlotTab::Drift | PlotTab::TokenByCheckpoint
        );
        if on_drift && (self.drift.job.running() || self.drift.points.is_empty()) {
            waits.push(format!(
                "the drift over {} checkpoints ({} done)",
                self.drift.checkpoints.len(),
                self.drift.points.len()
            ));
        }
        if self.view.plot_tab == PlotTab::Credit
            && let Some(d) = self.dataset.as_ref().filter(|d| d.job.running())
        {
            waits.push(format!("the data file to be scored ({} done)", d.done));
        }
        if waits.is_empty() {
            "the window to settle".into()
        } else {
            waits.join(" and ")
        }
    }

    pub(super) fn screenshot_step(&mut self, ctx: &egui::Context) {
        // Waiting is measured from the last sign of progress, so a long drift computation is waited for.
        let progress = (
            self.models.load.running(),
            (self.models.load.progress().unwrap_or(0.0) * 100.0) as u32,
            self.record.shown.is_some(),
            self.drift.points.len() + self.dataset.as_ref().map_or(0, |d| d.done),
            (self.drift.job.progress().unwrap_or(0.0) * 1000.0) as u32,
        );
        let Some(mode) = &mut self.status.screenshot else {
            return;
        };
        if mode.progress != progress {
            mode.progress = progress;
            mode.started = Instant::now();
        }
        let Some(mode) = &self.status.screenshot else {
            return;
        };
        let failure = self
            .models
            .load
            .error()
            .map(str::to_string)
            .filter(|_| self.models.loaded.is_none() && !self.models.load.running())
            .or_else(|| self.record.scoring.error().map(str::to_string))
            .or_else(|| {
                (mode.started.elapsed() > STALL).then(|| {
                    format!(
                        "nothing moved for {} s while waiting for {}",
                        STALL.as_secs(),
                        self.screenshot_waits_for()
                    )
                })
            });
        if let Some(e) = failure {
            if let Ok(mut o) = self.status.outcome.lock() {
                *o = Some(format!("screenshot not taken: {e}"));
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        // On a checkpoint plot, wait for the drift too.
        let drift_ready = match self.view.plot_tab {
            PlotTab::Tokens => true,
            PlotTab::Drift | PlotTab::TokenByCheckpoint => {
                !self.drift.job.running() && !self.drift.points.is_empty()
            }
            // The credit across the data file: the file scored.
            PlotTab::Credit => self
                .dataset
                .as_ref()
                .is_none_or(|d| !d.job.running() && d.credit.is_some()),
        };
        // The size asked for with --window-size, not a remembered one, once the window has taken it.
        let sized = self.view.window_size.is_none_or(|want| {
            let have = ctx.content_rect().size();
            (have - want).length() < 1.5
        });
        let ready =
            self.record.shown.is_some() && !self.record.scoring.running() && drift_ready && sized;
        let Some(mode) = &mut self.status.screenshot else {
            return;
        };
        if ready {
            mode.frames_with_scores += 1;
        }
        // A few frames after the scores arrive, so the layout has settled.
        if mode.frames_with_scores >= 3 && !mode.requested {
            mode.requested = true;
            let path = mode.path.clone();
            let outcome = self.status.outcome.clone();
            let ctx2 = ctx.clone();
            ctx.request_screenshot(move |image| {
                let [w, h] = image.size;
                let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
                let saved = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
                    .ok_or_else(|| "the screenshot has the wrong size".to_string())
                    .and_then(|img| {
                        img.save(&path)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))
                    });
                if let Err(e) = saved
                    && let Ok(mut o) = outcome.lock()
                {
                    *o = Some(e);
                }
                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx2.request_repaint();
            });
        }
        ctx.request_repaint_after(Duration::from_millis(50));
    }
}
