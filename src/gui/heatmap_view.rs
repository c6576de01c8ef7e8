//! The token heatmap widget: a response's tokens as wrapped chips coloured by a metric, with labelled errors
//! outlined, the spans where a pair differs underlined, hover details and click-to-pin. The layout is cached per
//! response and width, and only the chips inside the visible part of the scroll area are painted, so responses of
//! 10,000 tokens stay smooth.

use crate::heatmap::{Colormap, Metric, Rgb, Theme};
use crate::render::{chip_text, fmt_num};
use crate::score::TokenScore;
use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontId, Galley, Pos2, Rect, Sense, Stroke, StrokeKind, Ui, Vec2};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

const PAD_X: f32 = 3.0;
const PAD_Y: f32 = 2.0;
const GAP: f32 = 2.0;
const LINE_GAP: f32 = 3.0;

/// egui's colour for an [`Rgb`].
pub fn color(c: Rgb) -> Color32 {
    Color32::from_rgb(c.0, c.1, c.2)
}

struct Chip {
    rect: Rect,
    galley: Arc<Galley>,
}

/// The laid-out chips of one response at one width.
#[derive(Default)]
pub struct ChipCache {
    key: u64,
    chips: Vec<Chip>,
    height: f32,
    /// A galley laid out every frame: egui hands out a new one when it rebuilds its font atlas (a theme switch
    /// changes how glyphs are rasterised; a full atlas is cleared), and then the cached chips, which point into
    /// the old atlas, are laid out again.
    probe: Option<Arc<Galley>>,
    builds: u64,
    /// Where the chips were drawn in the last frame: the screen offset of chip coordinates and the part of the
    /// screen the heatmap's scroll area showed.
    placed: Option<(Vec2, Rect)>,
}

/// Identifies a layout without walking every token each frame: where the tokens live (a new record is a new
/// allocation), how many there are, the first and last ones, the width and the font.
fn layout_key(tokens: &[TokenScore], width: f32, font: &FontId) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (tokens.as_ptr() as usize).hash(&mut h);
    tokens.len().hash(&mut h);
    for t in tokens.first().into_iter().chain(tokens.last()) {
        t.id.hash(&mut h);
        t.start.hash(&mut h);
        t.text.hash(&mut h);
    }
    width.to_bits().hash(&mut h);
    font.size.to_bits().hash(&mut h);
    h.finish()
}

impl ChipCache {
    /// How many times the chips were laid out.
    pub fn builds(&self) -> u64 {
        self.builds
    }

    fn ensure(&mut self, ui: &Ui, tokens: &[TokenScore], width: f32, font: &FontId) {
        let key = layout_key(tokens, width, font);
        let probe = ui
            .painter()
            .layout_no_wrap("·".into(), font.clone(), Color32::PLACEHOLDER);
        let same_atlas = self.probe.as_ref().is_some_and(|p| Arc::ptr_eq(p, &probe));
        if key == self.key && self.chips.len() == tokens.len() && same_atlas {
            return;
        }
        self.probe = Some(probe);
        self.builds += 1;
        self.key = key;
        self.chips.clear();
        let quiet = Color32::from_gray(128);
        let row_h = ui.ctx().fonts_mut(|f| f.row_height(font)) + 2.0 * PAD_Y;
        let (mut x, mut y) = (0.0f32, 0.0f32);
        for t in tokens {
            let chip = chip_text(&t.text);
            let mut job = LayoutJob::default();
            for (s, is_quiet) in &chip.segments {
                job.append(
                    s,
                    0.0,
                    TextFormat {
                        font_id: font.clone(),
                        color: if *is_quiet {
                            quiet
                        } else {
                            Color32::PLACEHOLDER
                        },
                        ..Default::default()
                    },
                );
            }
            let galley = ui.painter().layout_job(job);
            let w = galley.size().x + 2.0 * PAD_X;
            if x > 0.0 && x + w > width {
                x = 0.0;
                y += row_h + LINE_GAP;
            }
            self.chips.push(Chip {
                rect: Rect::from_min_size(Pos2::new(x, y), Vec2::new(w, row_h)),
                galley,
            });
            x += w + GAP;
            if chip.breaks_line {
                x = 0.0;
                y += row_h + LINE_GAP;
            }
        }
        self.height = if tokens.is_empty() { 0.0 } else { y + row_h };
    }

    /// The screen rect of token `i` in the last frame, cut to the part of the heatmap that was visible (`None`
    /// when it was not visible at all).
    pub fn visible_rect(&self, i: usize) -> Option<Rect> {
        let (origin, clip) = self.placed?;
        let r = self.chips.get(i)?.rect.translate(origin).intersect(clip);
        (r.is_positive()).then_some(r)
    }

    /// Index of the first chip whose bottom is below `y` (chips are in reading order, rows top to bottom).
    fn first_visible(&self, y: f32) -> usize {
        self.chips.partition_point(|c| c.rect.max.y < y)
    }

    fn hit(&self, p: Pos2) -> Option<usize> {
        let start = self.first_visible(p.y);
        self.chips[start..]
            .iter()
            .take_while(|c| c.rect.min.y <= p.y)
            .position(|c| c.rect.contains(p))
            .map(|i| i + start)
    }
}

/// What to draw.
pub struct TokenChips<'a> {
    /// Distinguishes several heatmaps in one window.
    pub id_salt: &'a str,
    /// The tokens.
    pub tokens: &'a [TokenScore],
    /// The metric colouring them.
    pub metric: Metric,
    /// Colour limit.
    pub limit: f64,
    /// Light or dark colormap.
    pub theme: Theme,
    /// Labelled error spans (character offsets): outlined.
    pub error_spans: &'a [(usize, usize)],
    /// Spans where the pair's texts differ: underlined.
    pub diff_spans: &'a [(usize, usize)],
    /// What a chip is, in words: "tokens" or "words".
    pub unit: &'a str,
    /// Chips of the word chosen in the credit tab: outlined in the warning colour.
    pub marked: &'a [usize],
    /// The pinned token, drawn with a selection outline.
    pub pinned: Option<usize>,
    /// Height of the scroll area.
    pub max_height: f32,
}

fn overlaps(t: &TokenScore, spans: &[(usize, usize)]) -> bool {
    spans.iter().any(|&(s, e)| t.start < e && s < t.end)
}

impl TokenChips<'_> {
    /// Shows the chips; returns the token clicked this frame, if any.
    pub fn show(&self, ui: &mut Ui, cache: &mut ChipCache) -> Option<usize> {
        let font = FontId::monospace(13.5);
        let cmap = Colormap::for_theme(self.theme);
        let width = ui.available_width().max(80.0);
        cache.ensure(ui, self.tokens, width, &font);
        let outline = ui.visuals().strong_text_color();
        let weak = ui.visuals().weak_text_color();
        let select = ui.visuals().selection.stroke.color;
        let marked = ui.visuals().warn_fg_color;
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .id_salt(self.id_salt)
            .max_height(self.max_height)
            .auto_shrink([false, true])
            .show_viewport(ui, |ui, viewport| {
                let (rect, response) =
                    ui.allocate_exact_size(Vec2::new(width, cache.height.max(1.0)), Sense::click());
                let origin = rect.min.to_vec2();
                cache.placed = Some((origin, ui.clip_rect()));
                let painter = ui.painter_at(rect);
                let start = cache.first_visible(viewport.min.y);
                for (i, chip) in cache.chips.iter().enumerate().skip(start) {
                    if chip.rect.min.y > viewport.max.y {
                        break;
                    }
                    let t = &self.tokens[i];
                    let fill = cmap.at(self
                        .metric
                        .colormap_position(self.metric.value(t), self.limit));
                    let r = chip.rect.translate(origin);
                    painter.rect_filled(r, 2.0, color(fill));
                    painter.galley(
                        r.min + Vec2::new(PAD_X, PAD_Y),
                        chip.galley.clone(),
                        color(fill.text_on()),
                    );
                    if overlaps(t, self.diff_spans) {
                        let y = r.max.y + 1.0;
                        painter.line_segment(
                            [Pos2::new(r.min.x, y), Pos2::new(r.max.x, y)],
                            Stroke::new(1.0, weak),
                        );
                    }
                    if t.template {
                        // The chat template's own tokens (end-of-turn, role headers): a dashed frame.
                        let dash = Stroke::new(1.0, weak);
                        let (a, b) = (r.min, r.max);
                        for (p, q) in [(a, Pos2::new(b.x, a.y)), (Pos2::new(a.x, b.y), b)] {
                            painter.extend(egui::Shape::dashed_line(&[p, q], dash, 3.0, 2.0));
                        }
                    }
                    if overlaps(t, self.error_spans) {
                        painter.rect_stroke(r, 2.0, Stroke::new(1.5, outline), StrokeKind::Outside);
                    }
                    if self.marked.binary_search(&i).is_ok() {
                        painter.rect_stroke(
                            r.expand(1.0),
                            3.0,
                            Stroke::new(2.0, marked),
                            StrokeKind::Outside,
                        );
                    }
                    if self.pinned == Some(i) {
                        painter.rect_stroke(
                            r.expand(1.0),
                            3.0,
                            Stroke::new(2.5, select),
                            StrokeKind::Outside,
                        );
                    }
                }
                let summary = summary(self.tokens, self.metric, self.unit);
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Image, true, summary.clone())
                });
                let hovered = response.hover_pos().and_then(|p| cache.hit(p - origin));
                if let Some(i) = hovered {
                    let t = &self.tokens[i];
                    let r = cache.chips[i].rect.translate(origin);
                    painter.rect_stroke(r, 2.0, Stroke::new(1.0, outline), StrokeKind::Outside);
                    let response = response.clone().on_hover_ui_at_pointer(|ui| {
                        token_details(ui, t);
                        ui.weak("click to pin");
                    });
                    if response.clicked() {
                        clicked = Some(i);
                    }
                }
            });
        clicked
    }
}

/// A one-line description of a heatmap for screen readers and tests.
fn summary(tokens: &[TokenScore], metric: Metric, unit: &str) -> String {
    let lowest = tokens
        .iter()
        .min_by(|a, b| metric.value(a).total_cmp(&metric.value(b)));
    match lowest {
        Some(t) => format!(
            "{} {unit} coloured by {}; lowest {:?} at {}",
            tokens.len(),
            metric.label(),
            t.text,
            fmt_num(metric.value(t))
        ),
        None => "no tokens".into(),
    }
}

/// Every metric of one token, as a grid.
pub fn token_details(ui: &mut Ui, t: &TokenScore) {
    let text = format!("{:?}", t.text);
    ui.add(egui::Label::new(egui::RichText::new(&text).monospace().strong()).truncate())
        .on_hover_text(text);
    egui::Grid::new("token-details")
        .num_columns(2)
        .show(ui, |ui| {
            let mut row = |k: &str, v: String| {
                ui.label(k);
                ui.monospace(v);
                ui.end_row();
            };
            row("token id", t.id.to_string());
            if t.template {
                row("from", "the chat template (or a special token)".into());
            }
            row("characters", format!("{}..{}", t.start, t.end));
            row("reward r_t", format!("{:+.5}", t.reward));
            row("cumulative reward", format!("{:+.5}", t.cum_reward));
            row("log pi", format!("{:.5}", t.logp_policy));
            row("log pi_ref", format!("{:.5}", t.logp_reference));
            row(
                "log-ratio",
                format!("{:+.5}", t.logp_policy - t.logp_reference),
            );
            row("KL(pi || pi_ref)", format!("{:.5}", t.kl));
            row(
                "entropy pi / pi_ref",
                format!("{:.3} / {:.3}", t.entropy_policy, t.entropy_reference),
            );
            row(
                "rank pi / pi_ref",
                format!("{} / {}", t.rank_policy, t.rank_reference),
            );
        });
}
