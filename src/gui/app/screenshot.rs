//! The start-up screenshot mode (`creditlens gui --screenshot`): waits for the first scores, saves the window
//! as a PNG and closes.

use super::*;

impl App {
    pub(super) fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some(mode) = &mut self.screenshot else {
            return;
        };
        let failure = self
            .load
            .error()
            .map(str::to_string)
            .filter(|_| self.loaded.is_none() && !self.load.running())
            .or_else(|| self.scoring.error().map(str::to_string))
            .or_else(|| {
                (mode.started.elapsed() > Duration::from_secs(120))
                    .then(|| "no scores after 120 s".to_string())
            });
        if let Some(e) = failure {
            if let Ok(mut o) = self.outcome.lock() {
                *o = Some(format!("screenshot not taken: {e}"));
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        // On a checkpoint plot, wait for the drift too.
        let drift_ready = self.plot_tab == PlotTab::Tokens
            || (!self.drift_job.running() && !self.drift.is_empty());
        if self.shown.is_some() && !self.scoring.running() && drift_ready {
            mode.frames_with_scores += 1;
        }
        // A few frames after the scores arrive, so the layout has settled.
        if mode.frames_with_scores >= 3 && !mode.requested {
            mode.requested = true;
            let path = mode.path.clone();
            let outcome = self.outcome.clone();
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
