//! The prompt as the models saw it: its tokens as neutral chips, the chat template's own tokens (BOS, role headers,
//! end-of-turn) set apart, so a user sees exactly what the scored tokens were predicted from.

use crate::render::chip_text;
use crate::score::PromptToken;
use egui::{Color32, RichText, Ui};

/// Shows `tokens` (wrapped, one chip each, a newline token ending its row) in a collapsible section.
pub fn prompt_tokens(ui: &mut Ui, tokens: &[PromptToken], chat: bool) {
    if tokens.is_empty() {
        return;
    }
    let templated = tokens.iter().filter(|t| t.template).count();
    let title = if chat {
        format!(
            "Prompt as scored: {} tokens through the chat template ({templated} from the template)",
            tokens.len()
        )
    } else {
        format!("Prompt as scored: {} tokens", tokens.len())
    };
    egui::CollapsingHeader::new(title)
        .id_salt(if chat {
            "prompt-tokens-chat"
        } else {
            "prompt-tokens"
        })
        .default_open(chat)
        .show(ui, |ui| {
            let dark = ui.visuals().dark_mode;
            let (plain_bg, template_bg, template_fg) = if dark {
                (
                    Color32::from_gray(48),
                    Color32::from_rgb(40, 52, 72),
                    Color32::from_rgb(150, 180, 230),
                )
            } else {
                (
                    Color32::from_gray(232),
                    Color32::from_rgb(218, 228, 245),
                    Color32::from_rgb(40, 70, 140),
                )
            };
            egui::ScrollArea::vertical()
                .id_salt("prompt-tokens-scroll")
                .max_height(110.0)
                .auto_shrink([false, true])
                .show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        ui.spacing_mut().item_spacing = egui::vec2(4.0, 3.0);
                        for t in tokens {
                            let chip = chip_text(&t.text);
                            let text: String =
                                chip.segments.iter().map(|(s, _)| s.as_str()).collect();
                            let mut rich = RichText::new(text).monospace();
                            rich = if t.template {
                                rich.background_color(template_bg)
                                    .color(template_fg)
                                    .italics()
                            } else {
                                rich.background_color(plain_bg)
                            };
                            ui.label(rich).on_hover_text(format!(
                                "token {} {:?}{}",
                                t.id,
                                t.text,
                                if t.template {
                                    " · from the chat template (or a special token)"
                                } else {
                                    ""
                                }
                            ));
                            if chip.breaks_line {
                                ui.end_row();
                            }
                        }
                    });
                });
        });
}
