//! The Search window: likelihood search with the loaded policy (greedy, beams of several widths), run on a worker
//! with progress and cancel; the candidates ranked by width with their length, log pi and implicit reward; a click
//! opens one in the heatmap, two ticked ones are compared as a pair; a small plot of the best candidate's reward
//! and length against the beam width.
//!
//! The window opens over the side panel (or the plots, with the side panel hidden), so that the heatmap a clicked
//! candidate opens in stays in view; dragged over the heatmap, it moves back there when a candidate is opened.
//! Its candidate list scrolls under the request form, which is all the window needs to keep, so that its resize
//! corner makes it as small as the user likes.

use super::action::Action;
pub use super::forms::SearchForm;
use super::job::Job;
use super::layout::LayoutRects;
use super::plots::{SeriesRecord, SeriesStyle, TickLog, note_drawn, plot};
use crate::search::SearchRun;
use egui::{Align, Layout, Rect, Ui, Vec2};
use egui_plot::{GridInput, GridMark, Line, PlotPoints, Points};

/// Height of a candidate's row.
const ROW: f32 = 20.0;
/// Widths of the candidate columns before the text: tick, #, tokens, log pi, reward, end.
const COLUMNS: [f32; 6] = [24.0, 22.0, 44.0, 54.0, 56.0, 34.0];
/// The least width of the candidates' text column before the log pi and end columns make way.
const TEXT_MIN: f32 = 120.0;
/// Room left around the window where it is docked.
const DOCK_MARGIN: f32 = 6.0;
/// Frames the window is held at its dock after being placed there (its content settles in the first).
const DOCK_FRAMES: u8 = 2;

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

/// Where the window was, kept in egui's memory (like a widget's own state): frames left to hold it at its dock,
/// whether it was shown in the last frame, the candidate shown as of the last frame (a change means one was
/// opened), and its rect in the last frame.
#[derive(Debug, Clone, Copy, Default)]
struct Dock {
    frames: u8,
    was_open: bool,
    seen_shown: Option<(usize, usize)>,
    last_rect: Option<Rect>,
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
    /// The request as typed.
    pub fn form(&self) -> SearchForm {
        SearchForm {
            prompt: self.prompt.clone(),
            chat: self.chat,
            widths: self.widths.clone(),
            max_new_tokens: self.max_new_tokens,
            length_norm: self.length_norm,
        }
    }

    /// Takes the request typed.
    pub fn set_form(&mut self, f: SearchForm) {
        self.prompt = f.prompt;
        self.chat = f.chat;
        self.widths = f.widths;
        self.max_new_tokens = f.max_new_tokens;
        self.length_norm = f.length_norm;
    }

    /// Ticks or unticks a candidate for a comparison (at most two: a third replaces the first).
    pub fn tick(&mut self, c: (usize, usize)) {
        if self.ticked.contains(&c) {
            self.ticked.retain(|&t| t != c);
        } else {
            if self.ticked.len() == 2 {
                self.ticked.remove(0);
            }
            self.ticked.push(c);
        }
    }

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

/// Where the Search window goes: over the side panel, else over the plots, else along the left of the centre (then
/// it cannot help covering part of the heatmaps).
fn dock(layout: &LayoutRects, screen: Rect) -> Rect {
    let rect = match (layout.side, layout.plots) {
        (Some(side), _) => side,
        (None, Some(plots)) => plots,
        (None, None) => {
            let c = layout.centre;
            Rect::from_min_size(c.min, Vec2::new(c.width().min(420.0), c.height()))
        }
    };
    rect.intersect(screen).shrink(DOCK_MARGIN)
}

/// Draws the Search window; `ready` says whether models are loaded, `layout` where the panels were drawn (this
/// frame's, as the window is drawn after them). Returns what the user asked for.
pub fn search_window(
    ctx: &egui::Context,
    state: &SearchState,
    ready: bool,
    layout: &LayoutRects,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let id = egui::Id::unique("creditlens-search-window");
    let memory = id.with("dock");
    let mut dock_state: Dock = ctx.data(|d| d.get_temp(memory)).unwrap_or_default();
    if !state.open {
        if dock_state.was_open {
            dock_state.was_open = false;
            ctx.data_mut(|d| d.insert_temp(memory, dock_state));
        }
        return actions;
    }
    // Opened, or a candidate was opened while the window covers the centre: back to the dock.
    let opened = state.shown != dock_state.seen_shown && state.shown.is_some();
    let covers = dock_state
        .last_rect
        .is_some_and(|r| r.intersects(layout.centre.shrink(1.0)));
    if !dock_state.was_open || (opened && covers) {
        dock_state.frames = DOCK_FRAMES;
    }
    dock_state.was_open = true;
    dock_state.seen_shown = state.shown;
    let dock = dock(layout, ctx.content_rect());
    let mut window = egui::Window::new("Search")
        .id(id)
        .default_size([520.0, 560.0])
        .resizable(true)
        .constrain(true);
    // Before the window's parts were laid out there is nowhere to dock: egui's default place then.
    let dockable = dock.is_finite() && dock.width() >= 160.0 && dock.height() >= 160.0;
    if dock_state.frames > 0 && dockable {
        dock_state.frames -= 1;
        // Moved in the remembered state too: egui keeps a window dragged by its title bar where the drag left it.
        if let Some(mut area) = egui::AreaState::load(ctx, id) {
            area.set_left_top_pos(dock.min);
            ctx.memory_mut(|m| {
                m.areas_mut()
                    .set_state(egui::LayerId::new(egui::Order::Middle, id), area)
            });
        }
        window = window
            .current_pos(dock.min)
            .min_size(dock.size())
            .max_size(dock.size());
    }
    let mut open = true;
    let mut form = state.form();
    let shown = window
        .open(&mut open)
        .show(ctx, |ui| content(ui, state, &mut form, ready, &mut actions));
    if let Some(shown) = shown {
        dock_state.last_rect = Some(shown.response.rect);
    }
    if !open {
        dock_state.was_open = false;
        actions.push(Action::CloseSearch);
    }
    ctx.data_mut(|d| d.insert_temp(memory, dock_state));
    if form != state.form() {
        // Before the buttons' actions: Search runs what the window shows.
        actions.insert(0, Action::SetSearch(form));
    }
    actions
}

/// The window's content: the request, then the trend plots and the candidates, which scroll.
fn content(
    ui: &mut Ui,
    state: &SearchState,
    form: &mut SearchForm,
    ready: bool,
    actions: &mut Vec<Action>,
) {
    request(ui, state, form, ready, actions);
    ui.separator();
    if state.runs.is_empty() {
        ui.weak("No candidates yet: type a prompt and press Search.");
        return;
    }
    if let Some(source) = &state.source {
        ui.weak(format!("from {source}"));
    }
    ui.horizontal_wrapped(|ui| {
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
    egui::ScrollArea::vertical()
        .id_salt("search-candidates")
        .auto_shrink([false, false])
        .min_scrolled_height(60.0)
        .show(ui, |ui| {
            trend_plot(ui, &state.runs);
            candidate_table(ui, state, actions);
            // Room above the window's resize corner.
            ui.add_space(12.0);
        });
}

/// The prompt, settings, Search / Cancel and the job's progress or error.
fn request(
    ui: &mut Ui,
    state: &SearchState,
    form: &mut SearchForm,
    ready: bool,
    actions: &mut Vec<Action>,
) {
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
        egui::TextEdit::multiline(&mut form.prompt)
            .desired_rows(3)
            .desired_width(f32::INFINITY),
    );
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut form.chat, "chat")
            .on_hover_text("The prompt as one user message through the chat template");
        ui.label("beams");
        ui.add(egui::TextEdit::singleline(&mut form.widths).desired_width(90.0))
            .on_hover_text("Beam widths, comma-separated; 1 is greedy decoding");
        ui.label("new tokens");
        ui.add(egui::DragValue::new(&mut form.max_new_tokens).range(1..=4096));
        ui.label("length norm");
        ui.add(
            egui::DragValue::new(&mut form.length_norm)
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

/// Grid marks at whole powers of two of the beam width (the x axis is log2 of it), at least 40 points apart.
fn log2_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let per_unit = if input.base_step_size > 0.0 {
        8.0 / input.base_step_size
    } else {
        f64::INFINITY
    };
    let step = (40.0 / per_unit).ceil().max(1.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| GridMark {
            value: k as f64 * step,
            step_size: step,
        })
        .collect()
}

/// A beam-width tick: the width itself (the axis is log2 of it).
fn width_tick(v: f64) -> String {
    if v >= 0.0 && v.fract() == 0.0 && v < 31.0 {
        (1u64 << (v as u32)).to_string()
    } else {
        String::new()
    }
}

/// The best candidate's implicit reward and length against the beam width, with round labelled ticks.
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
    let colour = ui.visuals().strong_text_color();
    ui.columns(2, |cols| {
        for (ui, (id, title, y, pick)) in cols.iter_mut().zip([
            (
                "search-trend-reward",
                "implicit reward of the best",
                "reward",
                1usize,
            ),
            ("search-trend-length", "length of the best", "tokens", 2),
        ]) {
            let value = |b: &(f64, f64, f64)| if pick == 1 { b.1 } else { b.2 };
            let points: Vec<[f64; 2]> = best.iter().map(|b| [b.0.log2(), value(b)]).collect();
            ui.small(title);
            let axes = ("beam width", y);
            let ticks = TickLog::default();
            let shown = plot(id, 120.0, axes, width_tick, &ticks)
                .x_grid_spacer(log2_grid)
                .allow_drag(false)
                .allow_zoom(false)
                .allow_boxed_zoom(false)
                .show(ui, |p| {
                    p.line(Line::new(title, PlotPoints::new(points.clone())).color(colour));
                    p.points(
                        Points::new(title, PlotPoints::new(points.clone()))
                            .color(colour)
                            .radius(3.0),
                    );
                });
            let drawn = vec![SeriesRecord {
                name: title.to_string(),
                colour,
                style: SeriesStyle::LineAndDots,
            }];
            note_drawn(ui, id, axes, &shown, &ticks, drawn, &[]);
        }
    });
}

/// A cell `width` wide in a row.
fn cell<R>(ui: &mut Ui, width: f32, add: impl FnOnce(&mut Ui) -> R) -> R {
    ui.allocate_ui_with_layout(
        Vec2::new(width, ROW),
        Layout::left_to_right(Align::Center),
        |ui| {
            ui.set_min_size(Vec2::new(width, ROW));
            ui.set_max_width(width);
            add(ui)
        },
    )
    .inner
}

/// One row per candidate, grouped by run; the text column takes the width left and cuts long texts (whole on
/// hover). In a narrow window the log pi and end columns make way for the text (their values on hover).
fn candidate_table(ui: &mut Ui, state: &SearchState, actions: &mut Vec<Action>) {
    let gap = ui.spacing().item_spacing.x;
    let full: f32 = COLUMNS.iter().sum::<f32>() + gap * COLUMNS.len() as f32;
    // Measured inside a run's collapsing body, which is indented.
    let indent = ui.spacing().indent;
    let wide = ui.available_width() - indent >= full + TEXT_MIN;
    let shown: Vec<usize> = if wide {
        (0..COLUMNS.len()).collect()
    } else {
        vec![0, 1, 2, 4]
    };
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
                ui.horizontal(|ui| {
                    for &k in &shown {
                        let h = ["", "#", "tokens", "log pi", "reward", "end"][k];
                        cell(ui, COLUMNS[k], |ui| ui.strong(h));
                    }
                    cell(ui, ui.available_width().max(40.0), |ui| ui.strong("text"));
                });
                for (c, cand) in run.candidates.iter().enumerate() {
                    let end = if cand.finished { "EOS" } else { "max" };
                    let end_tip = if cand.finished {
                        "stopped at EOS / end-of-turn"
                    } else {
                        "reached the token limit (or was cancelled)"
                    };
                    let log_pi = format!("{:.2}", cand.response.logp_policy);
                    ui.horizontal(|ui| {
                        for &k in &shown {
                            cell(ui, COLUMNS[k], |ui| match k {
                                0 => {
                                    let mut ticked = state.ticked.contains(&(r, c));
                                    if ui.checkbox(&mut ticked, "").changed() {
                                        actions.push(Action::TickCandidate((r, c)));
                                    }
                                }
                                1 => {
                                    ui.label(format!("{}", c + 1));
                                }
                                2 => {
                                    ui.label(cand.response.num_tokens.to_string());
                                }
                                3 => {
                                    ui.label(&log_pi);
                                }
                                4 => {
                                    ui.label(format!("{:+.3}", cand.response.reward));
                                }
                                _ => {
                                    ui.label(end).on_hover_text(end_tip);
                                }
                            });
                        }
                        let selected = state.shown == Some((r, c));
                        let hover = if wide {
                            cand.response.text.clone()
                        } else {
                            format!(
                                "{}\n\nlog pi {log_pi}; {end}: {end_tip}",
                                cand.response.text
                            )
                        };
                        // The width left in the row, whatever the cells before took.
                        let clicked = cell(ui, ui.available_width().max(40.0), |ui| {
                            ui.add(
                                egui::Button::selectable(selected, cand.response.text.as_str())
                                    .truncate(),
                            )
                            .on_hover_text(hover)
                            .clicked()
                        });
                        if clicked {
                            actions.push(Action::ShowCandidate {
                                run: r,
                                candidate: c,
                            });
                        }
                    });
                }
            });
    }
}
