//! The Search window: likelihood search with the loaded policy (greedy, beams of several widths), run on a worker
//! with progress and cancel; the candidates ranked by width with their length, log pi and implicit reward; a click
//! opens one in the heatmap, two ticked ones are compared as a pair; a small plot of the best candidate's reward
//! and length against the beam width.

use super::action::Action;
use super::job::Job;
use crate::search::SearchRun;
use egui::Ui;
use egui_plot::{Line, Plot, PlotPoints, Points};

/// The window's state: the request being typed and the runs received.
#[derive(Debug)]
pub struct SearchState {
    /// Whether the window is shown.
    pub open: bool,
    /// The prompt to continue.
    pub prompt: String,
    /// Through the chat template (the prompt as one user message).
    pub chat: bool,
    /// Beam widths, comma-separated.
    pub widths: String,
    /// Most new tokens.
    pub max_new_tokens: usize,
    /// Length normalisation alpha.
    pub length_norm: f32,
    /// The search in flight (its error: why it failed).
    pub job: Job,
    /// Runs received (partial while running or after a cancel), in width order.
    pub runs: Vec<SearchRun>,
    /// Candidates ticked for a comparison: (run, candidate), at most two.
    pub ticked: Vec<(usize, usize)>,
    /// The candidate shown in the heatmap.
    pub shown: Option<(usize, usize)>,
    /// Where the runs came from when read from a file.
    pub source: Option<String>,
}

impl Default for SearchState {
    fn default() -> Self {
        Self {
            open: false,
            prompt: String::new(),
            chat: false,
            widths: "1,2,4,8".into(),
            max_new_tokens: 48,
            length_norm: 1.0,
            job: Job::default(),
            runs: Vec::new(),
            ticked: Vec::new(),
            shown: None,
            source: None,
        }
    }
}

impl SearchState {
    /// The widths typed, or what is wrong with them.
    pub fn parse_widths(&self) -> Result<Vec<usize>, String> {
        let widths: Vec<usize> = self
            .widths
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| {
                w.parse::<usize>().ok().filter(|&k| k >= 1).ok_or_else(|| {
                    format!("`{w}` is not a beam width (a whole number of at least 1)")
                })
            })
            .collect::<Result<_, _>>()?;
        if widths.is_empty() {
            return Err("give at least one beam width, e.g. 1,2,4 (1 is greedy decoding)".into());
        }
        Ok(widths)
    }

    /// Adds a run received from the worker, keeping width order.
    pub fn add_run(&mut self, run: SearchRun) {
        let at = self
            .runs
            .iter()
            .position(|r| r.beams > run.beams)
            .unwrap_or(self.runs.len());
        self.runs.insert(at, run);
        self.ticked.clear();
        self.shown = None;
    }
}

/// Draws the Search window; `ready` says whether models are loaded. Returns what the user asked for.
pub fn search_window(ctx: &egui::Context, state: &mut SearchState, ready: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    if !state.open {
        return actions;
    }
    let mut open = true;
    egui::Window::new("Search")
        .open(&mut open)
        .default_pos([520.0, 70.0])
        .default_size([640.0, 520.0])
        .resizable(true)
        .show(ctx, |ui| {
            request(ui, state, ready, &mut actions);
            ui.separator();
            if state.runs.is_empty() {
                ui.weak("No candidates yet: type a prompt and press Search.");
                return;
            }
            if let Some(source) = &state.source {
                ui.weak(format!("from {source}"));
            }
            ui.horizontal(|ui| {
                let two = state.ticked.len() == 2;
                if ui
                    .add_enabled(two, egui::Button::new("Compare ticked as a pair"))
                    .on_hover_text("The first ticked candidate as chosen, the second as rejected")
                    .clicked()
                    && let [a, b] = state.ticked[..]
                {
                    actions.push(Action::CompareCandidates { a, b });
                }
                ui.weak("click a candidate to open it in the heatmap; tick two to compare them");
            });
            trend_plot(ui, &state.runs);
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| candidate_table(ui, state, &mut actions));
        });
    if !open {
        state.open = false;
    }
    actions
}

/// The prompt, settings, Search / Cancel and the job's progress or error.
fn request(ui: &mut Ui, state: &mut SearchState, ready: bool, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.label("Prompt");
        if ui
            .small_button("use the shown prompt")
            .on_hover_text("Take the prompt of the record shown in the editor")
            .clicked()
        {
            actions.push(Action::SearchShownPrompt);
        }
    });
    ui.add(
        egui::TextEdit::multiline(&mut state.prompt)
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    );
    ui.horizontal(|ui| {
        ui.checkbox(&mut state.chat, "chat")
            .on_hover_text("The prompt as one user message through the chat template");
        ui.label("beams");
        ui.add(egui::TextEdit::singleline(&mut state.widths).desired_width(90.0))
            .on_hover_text("Beam widths, comma-separated; 1 is greedy decoding");
        ui.label("new tokens");
        ui.add(egui::DragValue::new(&mut state.max_new_tokens).range(1..=4096));
        ui.label("length norm");
        ui.add(
            egui::DragValue::new(&mut state.length_norm)
                .range(-4.0..=4.0)
                .speed(0.05),
        )
        .on_hover_text("alpha: candidates rank by sum log pi / length^alpha (0: the plain sum)");
    });
    ui.horizontal(|ui| {
        let running = state.job.running();
        if ui
            .add_enabled(ready && !running, egui::Button::new("Search"))
            .on_disabled_hover_text("Load the models first")
            .clicked()
        {
            actions.push(Action::RunSearch);
        }
        if running {
            if ui.button("Cancel").clicked() {
                actions.push(Action::CancelSearch);
            }
            let fraction = state.job.progress().unwrap_or(0.0);
            ui.add(
                egui::ProgressBar::new(fraction)
                    .show_percentage()
                    .desired_width(200.0),
            );
        }
    });
    if let Some(e) = state.job.error() {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
}

/// The best candidate's implicit reward and length against the beam width.
fn trend_plot(ui: &mut Ui, runs: &[SearchRun]) {
    let best: Vec<(f64, f64, f64)> = runs
        .iter()
        .filter(|r| r.beams > 0)
        .filter_map(|r| {
            let c = r.candidates.first()?;
            Some((
                r.beams as f64,
                c.response.reward,
                c.response.num_tokens as f64,
            ))
        })
        .collect();
    if best.len() < 2 {
        return;
    }
    let half = (ui.available_width() / 2.0 - 8.0).max(120.0);
    ui.horizontal(|ui| {
        for (title, pick) in [
            ("implicit reward of the best", 1usize),
            ("length of the best (tokens)", 2),
        ] {
            let value = |b: &(f64, f64, f64)| if pick == 1 { b.1 } else { b.2 };
            let line: PlotPoints = best.iter().map(|b| [b.0.log2(), value(b)]).collect();
            let dots: PlotPoints = best.iter().map(|b| [b.0.log2(), value(b)]).collect();
            ui.vertical(|ui| {
                ui.small(title);
                Plot::new(("search-trend", pick))
                    .height(110.0)
                    .width(half)
                    .x_axis_label("log2(beam width)")
                    .allow_scroll(false)
                    .allow_drag(false)
                    .show(ui, |plot| {
                        plot.line(Line::new(title, line));
                        plot.points(Points::new(title, dots).radius(3.0));
                    });
            });
        }
    });
}

/// One row per candidate, grouped by run.
fn candidate_table(ui: &mut Ui, state: &mut SearchState, actions: &mut Vec<Action>) {
    for (r, run) in state.runs.iter().enumerate() {
        let title = format!(
            "{}{} — {} candidate(s)",
            run.label(),
            if run.cancelled { " (cancelled)" } else { "" },
            run.candidates.len()
        );
        egui::CollapsingHeader::new(title)
            .id_salt(("search-run", r))
            .default_open(true)
            .show(ui, |ui| {
                egui::Grid::new(("search-grid", r))
                    .striped(true)
                    .num_columns(7)
                    .show(ui, |ui| {
                        for h in ["", "#", "tokens", "log pi", "reward", "end", "text"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for (c, cand) in run.candidates.iter().enumerate() {
                            let mut ticked = state.ticked.contains(&(r, c));
                            if ui.checkbox(&mut ticked, "").changed() {
                                if ticked {
                                    if state.ticked.len() == 2 {
                                        state.ticked.remove(0);
                                    }
                                    state.ticked.push((r, c));
                                } else {
                                    state.ticked.retain(|&t| t != (r, c));
                                }
                            }
                            ui.label(format!("{}", c + 1));
                            ui.label(cand.response.num_tokens.to_string());
                            ui.label(format!("{:.2}", cand.response.logp_policy));
                            ui.label(format!("{:+.3}", cand.response.reward));
                            ui.label(if cand.finished { "EOS" } else { "max" })
                                .on_hover_text(if cand.finished {
                                    "stopped at EOS / end-of-turn"
                                } else {
                                    "reached the token limit (or was cancelled)"
                                });
                            let text: String = cand.response.text.chars().take(90).collect();
                            let selected = state.shown == Some((r, c));
                            if ui
                                .selectable_label(selected, text)
                                .on_hover_text(&cand.response.text)
                                .clicked()
                            {
                                actions.push(Action::ShowCandidate {
                                    run: r,
                                    candidate: c,
                                });
                            }
                            ui.end_row();
                        }
                    });
            });
    }
}
