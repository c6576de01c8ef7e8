//! The models section: policy and reference pickers (path field, folder dialog, recent list, drag and drop) with a
//! card describing each loaded checkpoint, and the scoring settings (beta, tokenisation, dtype).

use super::action::{Action, TextField};
use super::dialogs::Purpose;
use super::settings::{Settings, recent_menu};
use crate::model::{Dtype, ModelInfo};
use crate::tokenize::TokenizationMode;
use egui::{Rect, Ui};
use std::path::PathBuf;

/// The path fields.
#[derive(Debug, Default, Clone)]
pub struct ModelForm {
    /// Policy path as typed.
    pub policy: String,
    /// Reference path as typed.
    pub reference: String,
    /// A chat template file (`--chat-template`) as typed; empty: the tokenizer's own.
    pub chat_template: String,
}

/// Screen areas of the two cards (drop targets).
#[derive(Debug, Default, Clone, Copy)]
pub struct CardRects {
    /// The policy card.
    pub policy: Option<Rect>,
    /// The reference card.
    pub reference: Option<Rect>,
}

fn card(
    ui: &mut Ui,
    name: &str,
    purpose: Purpose,
    path: &mut String,
    recent: &[PathBuf],
    info: Option<&ModelInfo>,
    actions: &mut Vec<Action>,
) -> Rect {
    let frame = egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.strong(name);
            if ui
                .button("Browse…")
                .on_hover_text(format!(
                    "Choose the {name} checkpoint or LoRA adapter folder (or drop a folder here)"
                ))
                .clicked()
            {
                actions.push(Action::Browse(purpose));
            }
            let file = if purpose == Purpose::Policy {
                Purpose::PolicyFile
            } else {
                Purpose::ReferenceFile
            };
            if ui
                .button("GGUF…")
                .on_hover_text(format!(
                    "Choose a GGUF file (llama.cpp) as the {name} (or drop a .gguf file here)"
                ))
                .clicked()
            {
                actions.push(Action::Browse(file));
            }
            let hover = format!("Recently opened {name} checkpoints");
            if let Some(p) = recent_menu(ui, recent, &hover) {
                *path = p.display().to_string();
                actions.push(Action::Load);
            }
        });
        let edit = ui
            .add(
                egui::TextEdit::singleline(path)
                    .hint_text("checkpoint folder, adapter folder or .gguf file")
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text(format!(
                "Path of the {name}: a Hugging Face folder with config.json, model.safetensors and tokenizer.json, a PEFT LoRA adapter folder (adapter_config.json), or a GGUF file. Enter loads it"
            ));
        if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            actions.push(Action::Load);
        }
        match info {
            Some(i) => {
                // Three short lines, each fact its own label (hover names it), so the data table below keeps
                // its room.
                let fact = |ui: &mut Ui, text: String, what: &str| {
                    ui.label(text).on_hover_text(what);
                };
                let dot = |ui: &mut Ui| {
                    ui.weak("·");
                };
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 4.0;
                    fact(ui, i.family.clone(), "model family");
                    dot(ui);
                    fact(ui, i.architecture.clone(), "architecture (config.json or GGUF)");
                    dot(ui);
                    fact(ui, format!("{} parameters", format_params(i.parameters)), "parameters");
                });
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 4.0;
                    fact(
                        ui,
                        format!("{} (computing in {})", i.stored_dtype, i.compute_dtype),
                        "dtype of the weights as stored, and of the computation",
                    );
                    dot(ui);
                    fact(ui, format!("vocabulary {}", i.vocab_size), "vocabulary size");
                    dot(ui);
                    fact(ui, format!("context {} tokens", i.context_length), "context length");
                });
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 4.0;
                    ui.label(format!(
                        "{} weights + {} working",
                        crate::memory::human(i.memory),
                        crate::memory::human(i.working_memory)
                    ))
                    .on_hover_text(format!(
                        "Estimated memory: the weights as held for scoring (computing in {}), and the working memory of one forward over {} tokens",
                        i.compute_dtype,
                        i.context_length.min(2048)
                    ));
                    if let Some(a) = &i.adapter {
                        dot(ui);
                        ui.label(format!("adapter: {a}")).on_hover_text("the LoRA adapter and its base");
                    }
                });
            }
            None => {
                ui.weak("not loaded");
            }
        }
    });
    frame.response.rect
}

/// Human-readable parameter count.
pub fn format_params(n: usize) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} B", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n}")
    }
}

/// Shows the section.
#[allow(clippy::too_many_arguments)]
pub fn show(
    ui: &mut Ui,
    form: &ModelForm,
    settings: &Settings,
    policy: Option<&ModelInfo>,
    reference: Option<&ModelInfo>,
    tokenizer_vocab: Option<usize>,
    loading: Option<f32>,
    error: Option<&str>,
) -> (Vec<Action>, CardRects) {
    let mut actions = Vec::new();
    let mut rects = CardRects::default();
    // Edited as copies: what changed becomes actions, ahead of the loads the same frame asks for.
    let before = form;
    let mut form = form.clone();
    let mut beta = settings.beta;
    let mut tokenization = settings.tokenization;
    let mut dtype = settings.dtype;
    let recent_p = settings.recent_policies.clone();
    let recent_r = settings.recent_references.clone();
    rects.policy = Some(card(
        ui,
        "policy",
        Purpose::Policy,
        &mut form.policy,
        &recent_p,
        policy,
        &mut actions,
    ));
    rects.reference = Some(card(
        ui,
        "reference",
        Purpose::Reference,
        &mut form.reference,
        &recent_r,
        reference,
        &mut actions,
    ));
    if let Some(v) = tokenizer_vocab {
        ui.label(format!("✓ tokenizers match ({v} tokens)"))
            .on_hover_text("Policy and reference tokenise every text identically, so their log-probabilities are comparable");
    }
    ui.horizontal(|ui| {
        ui.label("beta");
        let r = ui
            .add(
                egui::DragValue::new(&mut beta)
                    .range(1e-4..=100.0)
                    .speed(0.005)
                    .max_decimals(4),
            )
            .on_hover_text("DPO's beta: r_t = beta * (log pi - log pi_ref). Use the beta you trained with (TRL's default is 0.1). Changing it recolours at once: no model runs");
        if r.changed() {
            actions.push(Action::SetBeta(beta));
        }
        egui::ComboBox::from_id_salt("tokenization")
            .width(64.0)
            .selected_text(match tokenization {
                TokenizationMode::Trl => "TRL",
                TokenizationMode::Joint => "joint",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut tokenization, TokenizationMode::Trl, "TRL")
                    .on_hover_text("Exactly what TRL's DPOTrainer scores: prompt and response tokenised apart, EOS appended");
                ui.selectable_value(&mut tokenization, TokenizationMode::Joint, "joint")
                    .on_hover_text("Prompt and response tokenised as one string, no EOS added");
            })
            .response
            .on_hover_text("How prompt and response become tokens");
        if tokenization != settings.tokenization {
            actions.push(Action::SetTokenization(tokenization));
        }
        egui::ComboBox::from_id_salt("dtype")
            .width(56.0)
            .selected_text(dtype.name())
            .show_ui(ui, |ui| {
                for d in Dtype::ALL {
                    ui.selectable_value(&mut dtype, d, d.name());
                }
            })
            .response
            .on_hover_text(
                "Compute dtype. f32 matches transformers to about 1e-5; bf16 multiplies bf16 weights by bf16-rounded \
                 activations with f32 sums (fast on CPUs with AMX), about 0.03 nats from f32 per token",
            );
        if dtype != settings.dtype {
            actions.push(Action::SetDtype(dtype));
        }
        let button = ui.add_enabled(
            loading.is_none(),
            egui::Button::new(if loading.is_some() {
                "Loading…"
            } else {
                "Load"
            }),
        );
        if button
            .on_hover_text("Load the policy and reference above")
            .clicked()
        {
            actions.push(Action::Load);
        }
    });
    ui.horizontal(|ui| {
        ui.label("chat template");
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut form.chat_template)
                    .hint_text("the tokenizer's own")
                    .desired_width(f32::INFINITY),
            )
            .on_hover_text("A Jinja chat template file for conversational records and the chat switch, instead of the tokenizer's own (like --chat-template); press Enter to reload the models with it");
        if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            actions.push(Action::Load);
        }
    });
    if let Some(f) = loading {
        ui.add(
            egui::ProgressBar::new(f)
                .show_percentage()
                .text(format!("loading the models… {:.0}%", f * 100.0)),
        )
        .on_hover_text(
            "Reading and checking the weights on a worker thread; the window stays responsive",
        );
    }
    if let Some(e) = error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    let mut edits = Vec::new();
    for (field, now, was) in [
        (TextField::Policy, &form.policy, &before.policy),
        (TextField::Reference, &form.reference, &before.reference),
        (
            TextField::ChatTemplate,
            &form.chat_template,
            &before.chat_template,
        ),
    ] {
        if now != was {
            edits.push(Action::SetText(field, now.clone()));
        }
    }
    edits.extend(actions);
    (edits, rects)
}
