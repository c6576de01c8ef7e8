//! The desktop app driven headless through egui_kittest: it opens on the embedded demo, scores what is typed,
//! compares a pair, sorts and selects in the dataset table, switches metric and exports.

use crate::util::{demo_dir, save_demo_checkpoint, temp};
use creditlens::gui::{Action, App, Launch, Settings, TextField};
use creditlens::heatmap::Metric;
use creditlens::score::RecordScore;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) type Gui = Harness<'static, Option<App>>;

pub(crate) fn open(launch: Launch) -> Gui {
    open_sized(launch, [1400.0, 900.0])
}

pub(crate) fn open_sized(launch: Launch, size: [f32; 2]) -> Gui {
    open_with(launch, Settings::default(), size)
}

/// The app with `settings` as remembered from an earlier run.
pub(crate) fn open_with(launch: Launch, settings: Settings, size: [f32; 2]) -> Gui {
    Harness::builder().with_size(size).build_ui_state(
        move |ui, app: &mut Option<App>| {
            let app = app.get_or_insert_with(|| {
                App::start(
                    ui.ctx(),
                    launch.clone(),
                    settings.clone(),
                    Arc::new(Mutex::new(None)),
                )
            });
            app.show(ui);
        },
        None,
    )
}

pub(crate) fn app(h: &Gui) -> &App {
    h.state()
        .as_ref()
        .expect("the app starts on the first frame")
}

pub(crate) fn app_mut(h: &mut Gui) -> &mut App {
    h.state_mut()
        .as_mut()
        .expect("the app starts on the first frame")
}

/// Steps frames until `done` holds (the workers answer in the background), failing after 60 s.
pub(crate) fn wait(h: &mut Gui, what: &str, done: impl Fn(&App) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if let Some(a) = h.state().as_ref()
            && done(a)
        {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn demo() -> Gui {
    let mut h = open(Launch::default());
    wait(&mut h, "the demo to load and score", |a| {
        a.loaded().is_some() && a.shown().is_some() && !a.is_scoring()
    });
    h
}

/// Types `text` at the end of the chosen (or single) response.
pub(crate) fn append(h: &mut Gui, text: &str) {
    let chosen = format!("{}{text}", app(h).editor().chosen);
    app_mut(h).apply(Action::SetText(TextField::Chosen, chosen));
}

/// Sets the export window's format and path.
pub(crate) fn export_to(
    a: &mut App,
    format: creditlens::gui::ExportFormat,
    path: &std::path::Path,
) {
    let mut o = a.export().options();
    o.format = format;
    o.path = path.display().to_string();
    a.apply(Action::SetExport(o));
}

pub(crate) fn pair(a: &App) -> creditlens::score::PairScore {
    match a.shown().cloned() {
        Some(RecordScore::Pair(p)) => p,
        other => panic!("expected a pair, got {other:?}"),
    }
}

#[test]
fn opens_on_the_demo_with_the_error_standing_out() {
    let mut h = demo();
    let a = app(&h);
    assert!(a.load_error().is_none(), "{:?}", a.load_error());
    let p = pair(a);
    // The first demo pair's labelled error: its lowest-reward token lies in the error span, and the pair is
    // ranked correctly.
    let spans = a.editor().error_spans.clone();
    assert!(!spans.is_empty(), "the demo pairs carry error spans");
    let lowest = p
        .rejected
        .tokens
        .iter()
        .min_by(|x, y| x.reward.total_cmp(&y.reward))
        .expect("tokens");
    assert!(
        spans
            .iter()
            .any(|&(s, e)| lowest.start < e && s < lowest.end),
        "{lowest:?} not in {spans:?}"
    );
    assert!(p.margin > 0.0);
    // What the window shows: the pair's figures and both heatmaps.
    h.get_by_label_contains(&format!("margin {:+.4}", p.margin));
    h.get_by_label_contains(&format!("R_rejected {:+.4}", p.rejected.reward));
    assert_eq!(
        h.get_all_by_label_contains("tokens coloured by reward")
            .count(),
        2
    );
    // The model cards.
    assert_eq!(h.get_all_by_label_contains("LlamaForCausalLM").count(), 2);
    h.get_by_label_contains("tokenizers match");
    let _ = &mut h;
}

#[test]
fn typing_an_error_rescored_off_the_ui_thread() {
    let mut h = demo();
    let before = pair(app(&h)).rejected.reward;
    app_mut(&mut h).apply(Action::SetPair(false));
    let prompt = app(&h).editor().prompt.clone();
    // Type into the response box as a user would.
    app_mut(&mut h).apply(Action::SetText(TextField::Chosen, String::new()));
    h.step();
    let response = h.get_by_label_contains("The response to score");
    response.focus();
    h.step();
    let _ = prompt;
    h.get_by_label_contains("The response to score")
        .type_text(" The answer is 7.");
    wait(
        &mut h,
        "the typed response to be scored",
        |a| matches!(a.shown(), Some(RecordScore::Unpaired(u)) if u.response.text == " The answer is 7."),
    );
    let shown = app(&h).shown().cloned();
    let Some(RecordScore::Unpaired(u)) = shown else {
        panic!()
    };
    assert!(u.response.num_tokens > 3);
    assert_ne!(u.response.reward, before);
    h.get_by_label_contains(&format!("response: R = {:+.4}", u.response.reward));
}

/// A bad policy path leaves the loaded models, their drift and live scoring in place, and says so; reopening the
/// demo's policy (as from the Recent menu) keeps its drift (issue 15, item 5).
/// The app shows the loader's validation messages word for word (issue 18): a config value no model has is named
/// in the window, and the models loaded before stay.
#[test]
fn validation_messages_appear_in_the_window() {
    let dir = temp();
    let m = dir.path().join("m");
    crate::util::copy_model("llama", &m);
    let cfg_path = m.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).expect("read")).expect("json");
    cfg["rope_theta"] = 0.into();
    std::fs::write(&cfg_path, cfg.to_string()).expect("write");
    let mut h = demo();
    wait(&mut h, "the demo", |a| {
        !a.is_loading() && a.loaded().is_some()
    });
    app_mut(&mut h).apply(Action::OpenModels {
        policy: m.clone(),
        reference: Some(crate::util::model("llama_ref")),
    });
    wait(&mut h, "the load to fail", |a| !a.is_loading());
    let err = app(&h).load_error().map(str::to_string).expect("the error");
    assert!(err.contains("`rope_theta` is 0"), "{err}");
    h.get_by_label_contains("`rope_theta` is 0");
}

#[test]
fn a_failed_load_keeps_the_models_loaded_before() {
    let mut h = demo();
    wait(&mut h, "the drift", |a| {
        !a.drift_running() && !a.drift().is_empty()
    });
    let policy = app(&h).loaded().expect("loaded").policy.path.clone();
    let (checkpoints, points) = (app(&h).checkpoints().len(), app(&h).drift().len());
    let a = app_mut(&mut h);
    let good = a.form().policy.clone();
    a.apply(Action::OpenModels {
        policy: "/no/such/checkpoint".into(),
        reference: None,
    });
    wait(&mut h, "the load to fail", |a| !a.is_loading());
    let a = app(&h);
    let loaded = a.loaded().expect("the models loaded before");
    assert_eq!(loaded.policy.path, policy);
    let err = a.load_error().map(str::to_string).expect("the error");
    assert!(
        err.contains("/no/such/checkpoint") && err.contains("Still using"),
        "{err}"
    );
    assert_eq!(
        (a.checkpoints().len(), a.drift().len()),
        (checkpoints, points)
    );
    h.get_by_label_contains("Still using the models loaded before");
    // Edits are still scored.
    append(&mut h, " Indeed.");
    app_mut(&mut h).apply(Action::Rescore);
    wait(&mut h, "the edit to be scored", |a| {
        !a.is_scoring() && pair(a).chosen.text.ends_with(" Indeed.")
    });
    // Reopening the demo's policy keeps its checkpoints and drift.
    app_mut(&mut h).apply(Action::OpenModels {
        policy: good.into(),
        reference: None,
    });
    wait(&mut h, "the demo to reload with its drift", |a| {
        !a.is_loading()
            && a.load_error().is_none()
            && !a.drift_running()
            && a.drift().len() == points
    });
    assert_eq!(app(&h).checkpoints().len(), checkpoints);
}

/// A pinned token is walked with the arrow keys and its numbers copied with Ctrl+C or the Copy button (issue 15,
/// item 12).
#[test]
fn pinned_tokens_walk_with_arrows_and_copy() {
    let mut h = demo();
    let p = pair(app(&h));
    app_mut(&mut h).apply(Action::Pin(Some((0, 1))));
    h.step();
    h.key_press(egui::Key::ArrowRight);
    h.step();
    assert_eq!(app(&h).pinned(), Some((0, 2)));
    for _ in 0..5 {
        h.key_press(egui::Key::ArrowLeft);
    }
    h.step();
    assert_eq!(app(&h).pinned(), Some((0, 0)), "stops at the first token");
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(app(&h).pinned(), Some((1, 0)), "down moves to rejected");
    let last = p.rejected.tokens.len() - 1;
    for _ in 0..p.rejected.tokens.len() + 3 {
        h.key_press(egui::Key::ArrowRight);
    }
    h.step();
    assert_eq!(app(&h).pinned(), Some((1, last)), "stops at the last token");
    let copied = |h: &Gui| {
        h.output()
            .platform_output
            .commands
            .iter()
            .find_map(|c| match c {
                egui::OutputCommand::CopyText(t) => Some(t.clone()),
                _ => None,
            })
    };
    h.event(egui::Event::Copy);
    h.step();
    let text = copied(&h).expect("Ctrl+C copies the pinned token");
    let t = &p.rejected.tokens[last];
    assert!(
        text.starts_with(&format!("rejected token {last}"))
            && text.contains(&format!("r_t {:+.6}", t.reward)),
        "{text}"
    );
    h.get_by_label("Copy").click();
    h.step();
    assert_eq!(
        copied(&h).as_deref(),
        Some(text.as_str()),
        "the Copy button"
    );
}

/// An edit of a data-file record survives looking at another record, says it is there, and Revert drops it
/// (issue 15, item 10).
#[test]
fn edits_are_kept_per_record() {
    let mut h = demo();
    wait(&mut h, "the demo pairs", |a| {
        a.dataset().is_some() && a.selected_row().is_some()
    });
    let row = app(&h).selected_row().expect("a selected row");
    let original = app(&h).editor().chosen.clone();
    append(&mut h, " Edited.");
    app_mut(&mut h).apply(Action::Rescore);
    wait(&mut h, "the edit scored", |a| !a.is_scoring());
    h.get_by_label_contains(&format!("record {row} edited"));
    app_mut(&mut h).apply(Action::SelectRow(row + 1));
    wait(&mut h, "the next record", |a| !a.is_scoring());
    assert!(!app(&h).editor().chosen.ends_with(" Edited."));
    app_mut(&mut h).apply(Action::SelectRow(row));
    wait(&mut h, "the edited record again", |a| !a.is_scoring());
    assert_eq!(
        app(&h).editor().chosen,
        format!("{original} Edited."),
        "the edit is kept"
    );
    assert!(
        pair(app(&h)).chosen.text.ends_with(" Edited."),
        "and scored"
    );
    h.get_by_label("Revert").click();
    wait(&mut h, "the reverted record scored", |a| {
        !a.is_scoring() && !pair(a).chosen.text.ends_with(" Edited.")
    });
    assert_eq!(app(&h).editor().chosen, original);
    assert!(h.query_by_label_contains("edited: kept").is_none());
}

/// CSV and JSON exports carry the record's own index in the data file, beta and the model paths (issue 15,
/// item 8).
#[test]
fn exports_carry_the_index_beta_and_models() {
    let mut h = demo();
    wait(&mut h, "the demo pairs", |a| a.dataset().is_some());
    app_mut(&mut h).apply(Action::SelectRow(5));
    wait(&mut h, "record 5", |a| {
        a.selected_row() == Some(5) && !a.is_scoring()
    });
    let dir = temp();
    let policy = app(&h).loaded().expect("loaded").policy.path.clone();
    let beta = app(&h).settings().beta;
    let json = dir.path().join("r.json");
    let a = app_mut(&mut h);
    export_to(a, creditlens::gui::ExportFormat::Json, &json);
    a.apply(Action::Export { overwrite: false });
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("written")).expect("JSON");
    assert_eq!(v["index"], 5);
    assert_eq!(v["beta"].as_f64(), Some(beta));
    assert_eq!(
        v["policy"].as_str(),
        Some(policy.display().to_string().as_str())
    );
    assert!(v["reference"].is_string() && v["chosen"]["tokens"].is_array());
    let csv = dir.path().join("r.csv");
    let a = app_mut(&mut h);
    export_to(a, creditlens::gui::ExportFormat::Csv, &csv);
    a.apply(Action::Export { overwrite: false });
    let text = std::fs::read_to_string(&csv).expect("written");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("index,response,")
            && header.ends_with(",beta,policy,reference,tokenization"),
        "{header}"
    );
    let first = lines.next().expect("a token row");
    assert!(
        first.starts_with("5,chosen,0,") && first.contains(&policy.display().to_string()),
        "{first}"
    );
}

/// Switching theme makes egui rebuild its font atlas; the chips cached across frames are laid out again instead of
/// pointing into the old atlas (garbled glyphs, issue 15, item 1). Between such events the cache holds.
#[test]
fn theme_switch_lays_the_chips_out_again() {
    let mut h = demo();
    h.step();
    h.step();
    let before = app(&h).chip_layouts();
    h.step();
    h.step();
    assert_eq!(
        app(&h).chip_layouts(),
        before,
        "the layout is cached across frames"
    );
    let options = |h: &Gui| h.ctx.fonts(|f| *f.options());
    let o = options(&h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::T);
    h.step();
    h.step();
    h.step();
    assert_ne!(
        options(&h),
        o,
        "the theme changes how glyphs are rasterised"
    );
    assert!(
        app(&h).chip_layouts() > before,
        "the chips follow the new atlas"
    );
}

/// The prompt is shown as the tokens the models saw (issue 15, item 4).
#[test]
fn the_prompt_is_shown_as_tokens() {
    let mut h = demo();
    let n = app(&h).shown().expect("shown").prompt_tokens().len();
    assert!(n > 3);
    h.get_by_label(&format!("Prompt as scored: {n} tokens"))
        .click();
    h.step();
    h.step();
    let first = app(&h).shown().expect("shown").prompt_tokens()[0].clone();
    assert!(
        h.query_all_by_label_contains(&format!("token {} ", first.id))
            .count()
            >= 1
            || h.query_all_by_label(
                &creditlens::render::chip_text(&first.text)
                    .segments
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<String>()
            )
            .count()
                >= 1,
        "the first prompt token is shown"
    );
}

/// At 1024x640, with a 60-line prompt, a pinned token and the plots open, the text boxes stay bounded and the
/// heatmaps keep their height (the centre scrolls to them) (issue 15, item 3).
#[test]
fn small_windows_and_long_prompts_keep_the_heatmap() {
    let mut h = open_sized(Launch::default(), [1024.0, 640.0]);
    wait(&mut h, "the demo to load and score", |a| {
        a.loaded().is_some() && a.shown().is_some() && !a.is_scoring()
    });
    let long: String = (0..60)
        .map(|i| format!("line {i} of a long prompt\n"))
        .collect();
    let a = app_mut(&mut h);
    a.apply(Action::SetText(TextField::Prompt, long));
    assert!(a.settings().show_plots);
    a.apply(Action::Rescore);
    wait(&mut h, "the long prompt scored", |a| !a.is_scoring());
    app_mut(&mut h).apply(Action::Pin(Some((0, 0))));
    h.step();
    h.step();
    let a = app(&h);
    assert!(
        a.editor_height() < 330.0,
        "editor {} px tall",
        a.editor_height()
    );
    assert!(
        a.heatmap_height() >= 220.0,
        "heatmap {} px tall",
        a.heatmap_height()
    );
}

#[test]
fn dataset_table_scores_sorts_and_selects() {
    let mut h = demo();
    wait(&mut h, "the demo pairs to be scored", |a| {
        a.dataset().is_some_and(|d| !d.job.running() && d.done > 0)
    });
    let n = app(&h).dataset().map_or(0, |d| d.rows.len());
    assert!(n >= 200, "the demo pairs file has {n} records");
    // Sort by margin, ascending: the first row is the worst-ranked pair.
    h.get_by_label("margin").click();
    h.step();
    h.step();
    let worst = {
        let d = app(&h).dataset().expect("dataset");
        let view = d.view();
        let margins: Vec<f64> = view
            .iter()
            .filter_map(|&i| {
                d.rows[i]
                    .score
                    .as_ref()
                    .and_then(|s| s.as_ref().ok())
                    .map(|s| s.margin)
            })
            .collect();
        assert!(
            margins.windows(2).all(|w| w[0] <= w[1]),
            "not sorted by margin"
        );
        view[0]
    };
    // Select it with the keyboard shortcut from the top: Ctrl+Down moves through the sorted order.
    app_mut(&mut h).apply(Action::SelectRow(worst));
    wait(&mut h, "the selected pair to be shown", |a| {
        a.selected_row() == Some(worst) && !a.is_scoring()
    });
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::ArrowDown);
    wait(&mut h, "the next pair", |a| {
        a.selected_row() != Some(worst) && !a.is_scoring()
    });
    // The filter for pairs where the reward disagrees with the label.
    h.get_by_label("reward disagrees").click();
    h.step();
    let d = app(&h).dataset().expect("dataset");
    let view = d.view();
    assert!(
        view.iter()
            .all(|&i| matches!(&d.rows[i].score, Some(Ok(s)) if s.margin < 0.0))
    );
}

/// Beta recolours at once (issue 15, item 11): rewards are linear in it, so the shown pair, the table and the
/// drift points are recomputed from stored log-probabilities; no scoring, loading or drift run starts.
#[test]
fn changing_beta_recomputes_without_a_forward_pass() {
    let mut h = demo();
    wait(&mut h, "the demo pairs and drift", |a| {
        a.dataset().is_some_and(|d| !d.job.running() && d.done > 0)
            && !a.drift_running()
            && !a.drift().is_empty()
    });
    let beta = app(&h).settings().beta;
    let before = pair(app(&h));
    let first_margin = |a: &App| {
        a.dataset().and_then(|d| {
            d.rows.iter().find_map(|r| {
                r.score
                    .as_ref()
                    .and_then(|s| s.as_ref().ok())
                    .map(|s| s.margin)
            })
        })
    };
    let (m0, d0) = (first_margin(app(&h)), app(&h).drift()[0].margin);
    let values: Vec<Option<String>> = h
        .get_all_by_role(egui::accesskit::Role::SpinButton)
        .map(|n| n.value())
        .collect();
    h.get_all_by_role(egui::accesskit::Role::SpinButton)
        .find(|n| n.value().and_then(|v| v.parse::<f64>().ok()) == Some(beta))
        .unwrap_or_else(|| panic!("the beta field ({beta}) among {values:?}"))
        .set_value_accesskit(3.0 * beta);
    h.step();
    let a = app(&h);
    assert!(
        (a.settings().beta - 3.0 * beta).abs() < 1e-12,
        "beta set through the field"
    );
    assert!(
        !a.is_scoring()
            && !a.is_loading()
            && !a.drift_running()
            && a.dataset().is_some_and(|d| !d.job.running()),
        "a change of beta runs no model"
    );
    let after = pair(a);
    assert!((after.margin - 3.0 * before.margin).abs() < 1e-9);
    for (t, t0) in after.chosen.tokens.iter().zip(&before.chosen.tokens) {
        assert_eq!(t.reward, 3.0 * beta * (t.logp_policy - t.logp_reference));
        assert_eq!(t.logp_policy, t0.logp_policy);
    }
    let m1 = first_margin(a).expect("a scored row");
    assert!((m1 - 3.0 * m0.expect("a scored row")).abs() < 1e-9);
    assert!((a.drift()[0].margin - 3.0 * d0).abs() < 1e-9);
    h.step();
    h.get_by_label_contains(&format!("margin {:+.4}", after.margin));
}

/// A click on a row's numbers (not only its blank part) selects it (issue 15, item 2).
#[test]
fn clicking_a_rows_numbers_selects_it() {
    let mut h = demo();
    wait(&mut h, "the demo pairs to be scored", |a| {
        a.dataset().is_some_and(|d| !d.job.running() && d.done > 0)
    });
    let selected = app(&h).selected_row();
    let view = app(&h).dataset().expect("dataset").view();
    // A visible row other than the selected one whose margin, as shown, appears once on screen.
    let (row, text) = view
        .iter()
        .take(8)
        .filter(|&&i| Some(i) != selected)
        .find_map(|&i| {
            let d = app(&h).dataset().expect("dataset");
            let m = d.rows[i].score.as_ref()?.as_ref().ok()?.margin;
            let text = format!("{m:+.3}");
            (h.get_all_by_label(&text).count() == 1).then_some((i, text))
        })
        .expect("a row with a unique margin");
    h.get_by_label(&text).click();
    wait(&mut h, "the clicked row to be selected", |a| {
        a.selected_row() == Some(row)
    });
}

#[test]
fn switching_metric_recolours_and_export_writes_png_without_overwriting() {
    let mut h = demo();
    app_mut(&mut h).apply(Action::SetMetric(Metric::SurprisalReference));
    h.step();
    assert_eq!(
        h.get_all_by_label_contains("tokens coloured by surprisal (reference)")
            .count(),
        2
    );
    // A one-signed metric's bar starts at 0 and says in words what red means.
    h.get_by_label("red: unlikely to the reference");
    assert!(
        h.query_all_by_label("0").count() >= 1,
        "the bar starts at 0"
    );
    let dir = temp();
    let path = dir.path().join("fig.png");
    std::fs::write(&path, b"keep").unwrap();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.step();
    h.step();
    assert!(app(&h).export().open);
    let format = app(&h).export().format;
    export_to(app_mut(&mut h), format, &path);
    h.step();
    h.get_by_label("Save").click();
    h.step();
    h.step();
    // The file exists: the window asks first and nothing is written.
    h.get_by_label_contains("Overwrite it?");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
    h.get_by_label("Overwrite").click();
    h.step();
    h.step();
    assert!(
        matches!(&app(&h).export().status, Some(Ok(_))),
        "{:?}",
        app(&h).export().status
    );
    let png = image::open(&path).expect("a PNG").to_rgba8();
    // At 2x for print, as wide as its content (at most 900 logical pixels).
    assert!(png.width() > 500 && png.width() <= 1800, "{}", png.width());
}

#[test]
fn a_bad_checkpoint_shows_an_error_in_the_window() {
    let dir = temp();
    let mut h = open(Launch {
        policy: Some(dir.path().join("missing")),
        reference: Some(dir.path().join("missing")),
        ..Launch::default()
    });
    wait(&mut h, "the load to fail", |a| {
        !a.is_loading() && a.load_error().is_some()
    });
    assert!(
        h.get_all_by_label_contains("no such file or directory")
            .count()
            >= 1
    );
}

#[test]
fn clicking_a_token_pins_its_details_with_top_k() {
    let mut h = demo();
    let rect = h
        .get_all_by_label_contains("tokens coloured by reward")
        .next()
        .expect("the chosen heatmap")
        .rect();
    let at = rect.min + egui::vec2(6.0, 6.0);
    h.hover_at(at);
    h.step();
    // The hover tooltip shows the token's numbers.
    h.get_by_label_contains("click to pin");
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.step();
    }
    h.step();
    assert_eq!(app(&h).pinned(), Some((0, 0)));
    h.get_by_label("chosen token 0");
    h.get_by_label("Next-token alternatives at this position");
    // Both models' alternatives are listed, as scored.
    let t = pair(app(&h)).chosen.tokens[0].clone();
    assert!(!t.top_policy.is_empty() && !t.top_reference.is_empty());
    for top in [&t.top_policy[0], &t.top_reference[0]] {
        assert!(
            h.query_all_by_label(&format!("{:?}", top.text)).count() >= 1,
            "{top:?} not listed"
        );
        assert!(
            h.query_all_by_label(&format!("{:.3}", top.logp)).count() >= 1,
            "{top:?} logp not listed"
        );
    }
    h.key_press(egui::Key::Escape);
    h.step();
    assert_eq!(app(&h).pinned(), None);
}

/// The model card names the family in words, and for a GGUF file its llama.cpp architecture.
#[test]
fn model_card_names_the_family() {
    let dir = crate::util::fixtures().join("models/gguf_families/gemma2");
    let mut h = open(Launch {
        policy: Some(dir.join("policy.gguf")),
        reference: Some(crate::util::model("gemma2_ref")),
        ..Launch::default()
    });
    wait(&mut h, "the models to load", |a| {
        !a.is_loading() && a.loaded().is_some()
    });
    let loaded = app(&h).loaded().expect("loaded");
    assert_eq!(loaded.policy.family, "Gemma 2");
    assert_eq!(loaded.reference.family, "Gemma 2");
    assert_eq!(h.get_all_by_label("Gemma 2").count(), 2, "both cards");
    h.get_by_label("Gemma2ForCausalLM (GGUF gemma2)");
    h.get_by_label("Gemma2ForCausalLM");
    // Each card shows the memory its weights take as held, and the working memory of a forward (issue 16).
    for info in [&loaded.policy, &loaded.reference] {
        let row = format!(
            "{} weights + {} working",
            creditlens::memory::human(info.memory),
            creditlens::memory::human(info.working_memory)
        );
        assert!(h.get_all_by_label(&row).count() >= 1, "{row}");
        assert!(info.memory > 0 && info.working_memory > 0);
    }
}

#[test]
fn gguf_files_and_lora_adapters_open_with_progress_and_cards() {
    let gguf = crate::util::model("gguf").join("tiny-llama.gguf");
    let mut h = open(Launch {
        policy: Some(gguf),
        reference: Some(crate::util::model("gguf_base")),
        data: Some(crate::util::fixtures().join("records.jsonl")),
        ..Launch::default()
    });
    wait(&mut h, "the GGUF file to load", |a| {
        !a.is_loading() && a.loaded().is_some()
    });
    assert_eq!(app(&h).load_progress(), Some(1.0), "progress ends at 100%");
    let card = &app(&h).loaded().expect("loaded").policy;
    assert!(card.architecture.contains("GGUF llama"), "{card:?}");
    assert!(card.stored_dtype.contains("q4_1"), "{card:?}");
    assert!(h.get_all_by_label_contains("GGUF llama").count() >= 1);

    // A LoRA adapter with the reference left empty: its local base becomes the reference.
    app_mut(&mut h).apply(Action::OpenModels {
        policy: crate::util::model("llama_lora_rs"),
        reference: Some(PathBuf::new()),
    });
    wait(&mut h, "the adapter to load", |a| {
        !a.is_loading() && a.loaded().is_some_and(|l| l.policy.adapter.is_some())
    });
    assert!(
        app(&h).form().reference.ends_with("llama_ref"),
        "{}",
        app(&h).form().reference
    );
    assert!(h.get_all_by_label_contains("rsLoRA").count() >= 1);
}

/// A conversational data file: the table shows the last user message, the prompt appears as tokens with the
/// template's own marked, edits keep the conversation's other turns, and the chat switch can be turned off.
#[test]
fn conversational_records_show_their_template_tokens() {
    let mut h = open(Launch {
        policy: Some(crate::util::model("llama")),
        reference: Some(crate::util::model("llama_ref")),
        data: Some(crate::util::fixtures().join("chat/records.jsonl")),
        ..Launch::default()
    });
    wait(&mut h, "the chat records to be scored", |a| {
        a.shown().is_some() && !a.is_scoring() && a.dataset().is_some_and(|d| !d.job.running())
    });
    h.get_by_label_contains("How many legs has a cat?");
    app_mut(&mut h).apply(Action::SelectRow(1));
    wait(&mut h, "record 1 to be shown", |a| {
        a.selected_row() == Some(1) && !a.is_scoring()
    });
    let shown = app(&h).shown().cloned().expect("shown");
    let prompt: Vec<_> = shown.prompt_tokens().to_vec();
    assert!(
        prompt
            .iter()
            .any(|t| t.template && t.text == "<|begin_of_text|>")
    );
    let user: String = prompt
        .iter()
        .filter(|t| !t.template)
        .map(|t| t.text.as_str())
        .collect();
    assert!(user.contains("How many legs has a cat?"), "{user}");
    assert!(
        app(&h).editor().chat,
        "a conversational record turns the chat switch on"
    );
    h.get_by_label_contains("through the chat template");
    h.get_by_label_contains("dashed: special or chat-template token");
    let p = pair(app(&h));
    assert_eq!(
        p.rejected
            .tokens
            .last()
            .map(|t| (t.text.as_str(), t.template)),
        Some(("<|eot_id|>", true))
    );

    // Editing the rejected answer rescores through the template, keeping the system message.
    app_mut(&mut h).apply(Action::SetText(
        TextField::Rejected,
        "A cat has 9 legs.".into(),
    ));
    app_mut(&mut h).apply(Action::Rescore);
    wait(&mut h, "the edit to be scored", |a| {
        !a.is_scoring() && pair(a).rejected.text.starts_with("A cat has 9 legs.")
    });
    let texts: String = app(&h)
        .shown()
        .map(|s| s.prompt_tokens().iter().map(|t| t.text.clone()).collect())
        .unwrap_or_default();
    assert!(
        texts.contains("You answer in one short sentence."),
        "{texts}"
    );

    // The chat switch off: the same texts as plain text, no template.
    app_mut(&mut h).apply(Action::SetChat(false));
    app_mut(&mut h).apply(Action::Rescore);
    wait(&mut h, "plain-text scoring", |a| {
        !a.is_scoring()
            && a.shown().is_some_and(|s| {
                !s.prompt_tokens()
                    .iter()
                    .any(|t| t.text == "<|start_header_id|>")
            })
    });
    assert!(pair(app(&h)).rejected.text == "A cat has 9 legs.");
}

/// A template that refuses a record (a Gemma-style template given with --chat-template, which raises on system
/// messages): the window shows its message, and the next record is scored as usual.
#[test]
fn a_template_error_is_shown_and_the_app_keeps_running() {
    let mut h = open(Launch {
        policy: Some(crate::util::model("llama")),
        reference: Some(crate::util::model("llama_ref")),
        data: Some(crate::util::fixtures().join("chat/records.jsonl")),
        chat_template: Some(crate::util::fixtures().join("chat/templates/gemma.jinja")),
        ..Launch::default()
    });
    wait(&mut h, "the first record", |a| {
        a.shown().is_some() && !a.is_scoring()
    });
    app_mut(&mut h).apply(Action::SelectRow(1));
    wait(&mut h, "the template's refusal", |a| {
        !a.is_scoring()
            && a.score_error()
                .is_some_and(|e| e.contains("System role not supported"))
    });
    h.get_by_label_contains("System role not supported");
    app_mut(&mut h).apply(Action::SelectRow(2));
    wait(&mut h, "record 2 scored", |a| {
        !a.is_scoring() && a.score_error().is_none() && a.selected_row() == Some(2)
    });
    let shown = app(&h).shown().cloned().expect("shown");
    let prompt: String = shown
        .prompt_tokens()
        .iter()
        .map(|t| t.text.clone())
        .collect();
    assert!(prompt.contains("<start_of_turn>"), "{prompt}");
}

/// Below 1024x640 the panels give way (issue 15, item 3): Ctrl+B hides the side panel, Ctrl+P the plots, and the
/// heatmaps keep their room in a centre that scrolls.
#[test]
fn panels_collapse_in_a_small_window() {
    let mut h = open_sized(Launch::default(), [900.0, 560.0]);
    wait(&mut h, "the demo to load and score", |a| {
        a.loaded().is_some() && a.shown().is_some() && !a.is_scoring()
    });
    assert!(h.query_by_label("Models").is_some() && h.query_by_label("Per token").is_some());
    assert!(
        app(&h).heatmap_height() >= 220.0,
        "{}",
        app(&h).heatmap_height()
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    h.step();
    assert!(!app(&h).settings().show_side);
    assert!(
        h.query_by_label("Models").is_none(),
        "the side panel is hidden"
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::P);
    h.step();
    h.step();
    assert!(
        h.query_by_label("Per token").is_none(),
        "the plots are hidden"
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    h.step();
    h.get_by_label("Models");
}

/// The plots panel keeps the height it opens with (about 30% of the window) once its plots arrive: egui sizes a
/// panel to its content, and the first frames, with nothing to plot yet, used to shrink it to its minimum for good.
#[test]
fn the_plots_panel_keeps_its_height() {
    let mut h = open(Launch {
        plot: Some(creditlens::gui::PlotTab::Drift),
        ..Launch::default()
    });
    wait(&mut h, "the drift", |a| {
        a.loaded().is_some() && !a.drift_running() && !a.drift().is_empty()
    });
    let height = app(&h).plots_height();
    assert!(
        height >= 200.0,
        "the plots get {height} px of a 900 px window"
    );
}

/// The Search window (issue 17): a search on the demo policy runs on a worker with progress, its runs arrive width
/// by width, a click opens a candidate in the heatmap with the scores the search computed, two candidates compare
/// as a pair, and a cancelled search keeps what it found while the window stays responsive.
#[test]
fn search_runs_on_a_worker_and_opens_candidates() {
    let mut h = demo();
    app_mut(&mut h).apply(Action::OpenSearch);
    h.step();
    assert!(app(&h).search().open);
    assert!(
        app(&h).search().prompt.contains("Q:"),
        "the editor's prompt is taken: {:?}",
        app(&h).search().prompt
    );
    let mut form = app(&h).search().form();
    form.prompt = "something else".into();
    app_mut(&mut h).apply(Action::SetSearch(form));
    app_mut(&mut h).apply(Action::SearchShownPrompt);
    assert_eq!(app(&h).search().prompt, app(&h).editor().prompt);
    let mut form = app(&h).search().form();
    form.prompt = "Q: What is twice 8?\nA:".into();
    form.widths = "1,3".into();
    form.max_new_tokens = 24;
    app_mut(&mut h).apply(Action::SetSearch(form));
    h.step();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Search")
        .click();
    h.step();
    assert!(app(&h).search().job.running() || !app(&h).search().runs.is_empty());
    wait(&mut h, "the search", |a| {
        !a.search().job.running() && a.search().runs.len() == 2
    });
    let s = app(&h).search();
    assert!(s.job.error().is_none(), "{:?}", s.job.error());
    assert_eq!(s.runs[0].beams, 1);
    assert_eq!(s.runs[1].beams, 3);
    let best = s.runs[1].candidates[0].response.clone();
    let second = s.runs[1].candidates[1].response.clone();
    app_mut(&mut h).apply(Action::ShowCandidate {
        run: 1,
        candidate: 0,
    });
    h.step();
    match app(&h).shown().cloned() {
        Some(RecordScore::Unpaired(u)) => {
            assert_eq!(u.response.text, best.text);
            assert_eq!(u.response.logp_policy, best.logp_policy);
        }
        other => panic!("expected the candidate, got {other:?}"),
    }
    assert_eq!(app(&h).editor().chosen, best.text);
    app_mut(&mut h).apply(Action::CompareCandidates {
        a: (1, 0),
        b: (1, 1),
    });
    h.step();
    let p = pair(app(&h));
    assert_eq!(p.chosen.text, best.text);
    assert_eq!(p.rejected.text, second.text);
    assert!((p.margin - (best.reward - second.reward)).abs() < 1e-12);

    // A long search cancelled: the app keeps drawing frames, the partial run is kept and marked.
    let mut form = app(&h).search().form();
    form.widths = "16".into();
    form.max_new_tokens = 200;
    app_mut(&mut h).apply(Action::SetSearch(form));
    app_mut(&mut h).apply(Action::RunSearch);
    wait(&mut h, "the search to start", |a| {
        a.search().job.progress().is_some()
    });
    app_mut(&mut h).apply(Action::CancelSearch);
    let frames = app(&h).frames();
    wait(&mut h, "the cancelled search to end", |a| {
        !a.search().job.running()
    });
    assert!(app(&h).frames() > frames);
    let s = app(&h).search();
    assert!(s.job.error().is_none(), "{:?}", s.job.error());
    assert_eq!(s.runs.len(), 1);
    assert!(s.runs[0].cancelled);
    assert!(!s.runs[0].candidates.is_empty());
}

/// The output of `creditlens search`, opened as a data file, fills the Search window without loading anything.
#[test]
fn search_output_opens_in_the_search_window() {
    let dir = temp();
    let out = dir.path().join("runs.jsonl");
    crate::util::creditlens(
        dir.path(),
        &[
            "search",
            "--demo",
            "--prompt",
            "Q: What is twice 3?\nA:",
            "--beams",
            "1,2",
            "--max-new-tokens",
            "12",
            "--out",
            &out.display().to_string(),
        ],
    )
    .ok();
    let mut h = demo();
    app_mut(&mut h).apply(Action::OpenData(out.clone()));
    h.step();
    let s = app(&h).search();
    assert!(s.open);
    assert_eq!(s.runs.len(), 2);
    assert!(
        s.source
            .as_deref()
            .is_some_and(|p| p.ends_with("runs.jsonl"))
    );
    app_mut(&mut h).apply(Action::ShowCandidate {
        run: 1,
        candidate: 0,
    });
    h.step();
    assert!(matches!(app(&h).shown(), Some(RecordScore::Unpaired(_))));
}

// ---- Issue 28: what a new user hit ----

/// Clicks at `pos` as a mouse would.
fn click_at(h: &Gui, pos: egui::Pos2) {
    h.event(egui::Event::PointerMoved(pos));
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::default(),
        });
    }
}

/// The lowest-reward token of the shown pair's rejected response.
fn lowest_rejected(a: &App) -> usize {
    let p = pair(a);
    p.rejected
        .tokens
        .iter()
        .enumerate()
        .min_by(|x, y| x.1.reward.total_cmp(&y.1.reward))
        .map(|(i, _)| i)
        .expect("tokens")
}

/// Typing into a data-file record keeps the keyboard focus where the user clicked (issue 28, defect 1): the
/// "record N edited" line appearing above the boxes used to move their automatic ids, so the next keys landed in
/// the chosen box.
#[test]
fn typing_in_a_data_record_keeps_the_focus() {
    let mut h = demo();
    app_mut(&mut h).apply(Action::SelectRow(2));
    wait(&mut h, "record 2", |a| {
        a.selected_row() == Some(2) && a.shown().is_some() && !a.is_scoring()
    });
    let (chosen, rejected) = {
        let e = app(&h).editor();
        (e.chosen.clone(), e.rejected.clone())
    };
    let rect = h.get_by_label_contains("The dispreferred response").rect();
    click_at(&h, egui::pos2(rect.right() - 4.0, rect.bottom() - 3.0));
    h.step();
    h.event(egui::Event::Text("X".into()));
    for _ in 0..4 {
        h.step();
    }
    h.get_by_label_contains("record 2");
    h.event(egui::Event::Text("YZ".into()));
    for _ in 0..4 {
        h.step();
    }
    let e = app(&h).editor();
    assert_eq!(e.chosen, chosen, "the chosen box is untouched");
    assert_eq!(
        e.rejected,
        format!("{rejected}XYZ"),
        "every key lands in rejected"
    );
}

/// Beta belongs to the models opened (issue 28, defect 4): a beta tried on one policy is not carried to another one
/// opened in the next run, comes back with its own policy, and `gui --beta` sets it.
#[test]
fn beta_stays_with_its_policy() {
    let mut h = demo();
    app_mut(&mut h).apply(Action::SetBeta(0.5));
    h.step();
    // What the next run reads back.
    let saved = serde_json::to_string(app(&h).settings()).expect("settings serialise");
    let restored: Settings = serde_json::from_str(&saved).expect("settings read back");
    let fixture = |restored: Settings, beta: Option<f64>| {
        let launch = Launch {
            policy: Some(crate::util::model("llama")),
            reference: Some(crate::util::model("llama_ref")),
            beta,
            ..Launch::default()
        };
        let mut h = open_with(launch, restored, [1400.0, 880.0]);
        wait(&mut h, "the fixture models", |a| {
            a.loaded().is_some() && !a.is_loading()
        });
        h
    };
    let other = fixture(restored.clone(), None);
    assert_eq!(
        app(&other).settings().beta,
        0.1,
        "another policy opens at TRL's default beta"
    );
    h_label(&other, "β 0.1");
    let given = fixture(restored.clone(), Some(0.25));
    assert_eq!(app(&given).settings().beta, 0.25, "gui --beta");
    // The demo again: its own beta comes back.
    let mut again = open_with(Launch::default(), restored, [1400.0, 880.0]);
    wait(&mut again, "the demo", |a| {
        a.loaded().is_some() && a.shown().is_some() && !a.is_scoring()
    });
    assert_eq!(app(&again).settings().beta, 0.5);
    h_label(&again, "β 0.5");
}

/// A label containing `text` is in the window.
fn h_label(h: &Gui, text: &str) {
    assert!(
        h.query_by_label_contains(text).is_some(),
        "no label containing {text:?}"
    );
}

/// A model opened while the Models section is collapsed opens it again, so the new cards show (issue 28, defect 4).
#[test]
fn opening_a_model_shows_the_model_cards() {
    let mut h = demo();
    h.get_by_label("Models").click();
    for _ in 0..10 {
        h.step();
    }
    assert_eq!(
        h.query_all_by_label_contains("LlamaForCausalLM").count(),
        0,
        "collapsed"
    );
    app_mut(&mut h).apply(Action::OpenModels {
        policy: crate::util::model("llama"),
        reference: Some(crate::util::model("llama_ref")),
    });
    wait(&mut h, "the fixture models", |a| {
        !a.is_loading() && a.loaded().is_some()
    });
    for _ in 0..10 {
        h.step();
    }
    assert_eq!(
        h.query_all_by_label_contains("LlamaForCausalLM").count(),
        2,
        "both cards show"
    );
}

/// Real models opened without a data file greet the user with a starter pair scored, not with an error about a
/// record that does not exist (issue 28, defect 6).
#[test]
fn models_without_data_open_on_a_starter_example() {
    let mut h = open(Launch {
        policy: Some(crate::util::model("llama")),
        reference: Some(crate::util::model("llama_ref")),
        ..Launch::default()
    });
    wait(&mut h, "the models and the starter", |a| {
        a.loaded().is_some() && !a.is_loading() && !a.is_scoring() && a.frames() > 5
    });
    let a = app(&h);
    assert!(a.score_error().is_none(), "{:?}", a.score_error());
    assert!(h.query_by_label_contains("Cannot score").is_none());
    assert!(a.shown().is_some(), "the starter example is scored");
    // Emptied by the user: a hint, still no error.
    let a = app_mut(&mut h);
    a.apply(Action::SetText(TextField::Chosen, String::new()));
    a.apply(Action::SetText(TextField::Rejected, String::new()));
    a.apply(Action::Rescore);
    for _ in 0..5 {
        h.step();
    }
    wait(&mut h, "the empty text", |a| !a.is_scoring());
    assert!(
        app(&h).score_error().is_none(),
        "{:?}",
        app(&h).score_error()
    );
    h_label(&h, "Type a response");
}

/// The side panel keeps its width when a token is pinned, Models is collapsed or a column sorted; the pinned-token
/// panel keeps its width while the arrows walk the tokens; the toolbar is one line at 1400 px; the centre does not
/// move when the metric changes (issue 28, defect 8).
#[test]
fn the_layout_does_not_jump() {
    let mut h = demo();
    wait(&mut h, "the demo pairs scored", |a| {
        a.dataset().is_some_and(|d| !d.job.running())
    });
    let side = |h: &Gui| app(h).layout().side.expect("side panel").width();
    let width = side(&h);
    app_mut(&mut h).apply(Action::Pin(Some((1, 0))));
    h.run_steps(3);
    assert_eq!(side(&h), width, "pinning a token");
    let detail = app(&h).layout().detail.expect("detail panel").width();
    let n = pair(app(&h)).rejected.tokens.len();
    for i in 1..n {
        h.key_press(egui::Key::ArrowRight);
        h.run_steps(2);
        assert_eq!(app(&h).pinned(), Some((1, i)));
        assert_eq!(
            app(&h).layout().detail.expect("detail").width(),
            detail,
            "the pinned-token panel at token {i}"
        );
    }
    app_mut(&mut h).apply(Action::Pin(None));
    h.run_steps(3);
    h.get_by_label("Models").click();
    h.run_steps(10);
    assert_eq!(side(&h), width, "Models collapsed");
    h.get_by_label("Models").click();
    h.run_steps(10);
    for header in ["margin", "R_r", "n_c"] {
        h.get_by_label(header).click();
        h.run_steps(3);
        assert_eq!(side(&h), width, "sorted by {header}");
    }
    let toolbar = app(&h).layout().toolbar.height();
    assert!(toolbar < 40.0, "the toolbar is {toolbar} px tall");
    let centre = app(&h).layout().centre;
    for m in [
        Metric::Kl,
        Metric::LogRatio,
        Metric::SurprisalPolicy,
        Metric::Reward,
    ] {
        app_mut(&mut h).apply(Action::SetMetric(m));
        h.run_steps(3);
        assert_eq!(app(&h).layout().centre, centre, "metric {m:?}");
        assert!(
            app(&h).layout().toolbar.height() < 40.0,
            "toolbar, metric {m:?}"
        );
    }
}

/// A fresh start at 900x560 shows the rejected response's red token and the whole colour bar; a window shrunk from
/// 1400x880 to 1024x640 gives the side panel its share, not its old width (issue 28, defect 9).
#[test]
fn small_windows_show_the_red_token() {
    let mut h = open_sized(Launch::default(), [900.0, 560.0]);
    wait(&mut h, "the demo", |a| {
        a.loaded().is_some() && a.shown().is_some() && !a.is_scoring()
    });
    h.run_steps(3);
    let a = app(&h);
    let lowest = lowest_rejected(a);
    assert!(
        a.token_rect(1, lowest).is_some(),
        "the lowest-reward token is off-screen: {:?}",
        a.layout()
    );
    let toolbar = a.layout().toolbar;
    assert!(
        toolbar.right() <= 900.0 && toolbar.height() < 40.0,
        "the toolbar's content: {toolbar:?}"
    );
    let mut h = demo();
    let before = app(&h).layout().side.expect("side").width();
    h.set_size(egui::vec2(1024.0, 640.0));
    h.run_steps(5);
    let after = app(&h).layout().side.expect("side").width();
    assert!(
        after <= 0.4 * 1024.0 && after < before,
        "side panel {before} -> {after} px"
    );
}

/// The settings are saved as they change, not only on File > Quit (issue 28, defect 13).
#[test]
fn settings_are_saved_when_they_change() {
    let mut h = demo();
    h.run_steps(3);
    let _ = app_mut(&mut h).take_settings_to_save();
    assert!(
        app_mut(&mut h).take_settings_to_save().is_none(),
        "nothing changed"
    );
    app_mut(&mut h).apply(Action::SetMetric(Metric::Kl));
    let start = Instant::now();
    let saved = loop {
        h.step();
        if let Some(s) = app_mut(&mut h).take_settings_to_save() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the change is saved within seconds"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(saved.metric, Metric::Kl);
}

/// Where the desktop has no file chooser, Open data... opens creditlens' own, which opens the file chosen; a
/// desktop dialog that fails says so and falls back to it; the Data section has a path field (issue 28, defect 3).
#[test]
fn file_dialogs_work_without_a_desktop_service() {
    let dir = temp();
    let data = dir.path().join("mine.jsonl");
    std::fs::write(
        &data,
        "{\"prompt\": \"Q: What is 2+2?\\nA:\", \"chosen\": \" 4.\", \"rejected\": \" 5.\"}\n",
    )
    .expect("write");
    let mut h = open(Launch {
        file_dialogs: creditlens::gui::FileDialogs::Builtin,
        ..Launch::default()
    });
    wait(&mut h, "the demo", |a| {
        a.loaded().is_some() && !a.is_scoring()
    });
    app_mut(&mut h).apply(Action::Browse(creditlens::gui::Purpose::Data));
    h.run_steps(2);
    assert!(
        app(&h).file_browser().is_some(),
        "creditlens' own chooser opens"
    );
    let path = h.get_by_label_contains("A folder to list or a path to choose");
    path.focus();
    h.step();
    h.event(egui::Event::Key {
        key: egui::Key::A,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::COMMAND,
    });
    h.event(egui::Event::Text(data.display().to_string()));
    h.key_press(egui::Key::Enter);
    wait(&mut h, "the chosen file", |a| {
        a.file_browser().is_none() && a.dataset().is_some_and(|d| d.path == data)
    });
    // A desktop dialog that could not open is followed by creditlens' own, with the reason.
    app_mut(&mut h).apply(Action::DialogAnswered {
        purpose: creditlens::gui::Purpose::Data,
        answer: creditlens::gui::DialogAnswer::Failed("no portal".into()),
    });
    h.run_steps(2);
    h_label(&h, "could not open (no portal)");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(app(&h).file_browser().is_none(), "Esc closes it");
    // The path field.
    let field = h.get_by_label_contains("Path of a data file");
    assert_eq!(
        field.value().as_deref(),
        Some(data.display().to_string().as_str())
    );
}

/// `gui --screenshot` on a run waits for the drift while it makes progress, and says what it waits for (issue 28,
/// defect 13).
#[test]
fn the_screenshot_says_what_it_waits_for() {
    let mut h = open(Launch {
        plot: Some(creditlens::gui::PlotTab::Drift),
        ..Launch::default()
    });
    wait(&mut h, "the drift to start", |a| {
        a.loaded().is_some() && a.drift_running()
    });
    let waits = app(&h).screenshot_waits_for();
    assert!(
        waits.contains(&format!(
            "the drift over {} checkpoints",
            app(&h).checkpoints().len()
        )),
        "{waits}"
    );
    wait(&mut h, "the drift", |a| {
        !a.drift_running() && !a.drift().is_empty() && !a.is_scoring()
    });
    assert_eq!(app(&h).screenshot_waits_for(), "the window to settle");
}

/// A training folder opens in the app as on the command line (issue 28, defect 7): `gui --checkpoint N` picks a
/// checkpoint, and a folder with no model says what was looked for, keeping the models loaded before.
#[test]
fn training_folders_open_a_checkpoint_or_say_what_is_missing() {
    let demo = creditlens::demo_assets::DemoAssets::locate().expect("the demo");
    let mut h = open(Launch {
        policy: Some(demo.checkpoints()),
        reference: Some(demo.reference()),
        checkpoint: Some(80),
        ..Launch::default()
    });
    wait(&mut h, "checkpoint-80", |a| {
        a.loaded().is_some() && !a.is_loading()
    });
    let a = app(&h);
    assert!(
        a.loaded()
            .expect("loaded")
            .policy
            .path
            .ends_with("checkpoint-80"),
        "{:?}",
        a.loaded().map(|l| &l.policy.path)
    );
    assert_eq!(
        a.checkpoints().len(),
        5,
        "the run's checkpoints feed the drift"
    );
    let empty = temp();
    app_mut(&mut h).apply(Action::OpenModels {
        policy: empty.path().to_path_buf(),
        reference: None,
    });
    wait(&mut h, "the load to fail", |a| !a.is_loading());
    let err = app(&h).load_error().map(str::to_string).expect("an error");
    assert!(
        err.contains("checkpoint-N") && err.contains("config.json") && err.contains("Still using"),
        "{err}"
    );
    assert!(
        app(&h)
            .loaded()
            .expect("kept")
            .policy
            .path
            .ends_with("checkpoint-80")
    );
}

/// The export target has a recent list, and a target chosen in a file dialog sets the format its extension names
/// (issue 28, defect 3).
#[test]
fn export_targets_are_remembered() {
    let mut h = demo();
    let dir = temp();
    let csv = dir.path().join("scores.csv");
    let a = app_mut(&mut h);
    export_to(a, creditlens::gui::ExportFormat::Csv, &csv);
    a.apply(Action::Export { overwrite: false });
    assert!(csv.is_file());
    assert_eq!(app(&h).settings().recent_exports.first(), Some(&csv));
    let svg = dir.path().join("figure.svg");
    app_mut(&mut h).apply(Action::DialogAnswered {
        purpose: creditlens::gui::Purpose::Export,
        answer: creditlens::gui::DialogAnswer::Chosen(svg.clone()),
    });
    assert_eq!(app(&h).export().format, creditlens::gui::ExportFormat::Svg);
    assert_eq!(app(&h).export().path, svg.display().to_string());
}

/// Credit per word (issue 29): the chips can be words, each carrying the sum of its tokens' rewards; a pinned word
/// lists its tokens, one click from the token view; the export follows the view.
#[test]
fn words_carry_the_sum_of_their_tokens() {
    let mut h = demo();
    let tokens = pair(app(&h)).rejected.clone();
    app_mut(&mut h).apply(Action::SetUnit(creditlens::words::Unit::Word));
    h.run_steps(3);
    let shown = app(&h).displayed().expect("shown");
    let creditlens::score::RecordScore::Pair(words) = shown.as_ref() else {
        panic!("a pair")
    };
    let units = creditlens::words::words(&tokens.text, &tokens.tokens);
    assert_eq!(words.rejected.tokens.len(), units.len());
    assert!(
        words.rejected.tokens.len() < tokens.tokens.len()
            || units.iter().all(|u| u.tokens.len() == 1)
    );
    let sum: f64 = words.rejected.tokens.iter().map(|w| w.reward).sum();
    assert!(
        (sum - tokens.reward).abs() < 1e-9,
        "{sum} vs {}",
        tokens.reward
    );
    h.get_by_label_contains(&format!("{} words coloured by", units.len()));
    // Pin the rejected response's first word of several tokens, or its first word.
    let w = units.iter().position(|u| u.tokens.len() > 1).unwrap_or(0);
    app_mut(&mut h).apply(Action::Pin(Some((1, w))));
    h.run_steps(3);
    assert_eq!(app(&h).word_members(1, w).len(), units[w].tokens.len());
    h.get_by_label_contains("rejected word");
    let first = units[w].tokens.start;
    let label = format!(
        "{:?} {:+.4}",
        tokens.tokens[first].text, tokens.tokens[first].reward
    );
    h.get_by_label(&label).click();
    h.run_steps(3);
    assert_eq!(app(&h).settings().unit, creditlens::words::Unit::Token);
    assert_eq!(app(&h).pinned(), Some((1, first)));
}

/// The credit across the data file (issue 29): summed as the rows are scored, ranked on the rejected side by summed
/// reward; clicking a word keeps the records holding it and outlines it in the heatmap; beta rescales it.
#[test]
fn credit_across_the_data_filters_and_outlines_a_word() {
    let mut h = open(Launch {
        plot: Some(creditlens::gui::PlotTab::Credit),
        ..Launch::default()
    });
    wait(&mut h, "the data file scored", |a| {
        a.dataset()
            .is_some_and(|d| !d.job.running() && d.done > 0 && d.credit.is_some())
    });
    let credit = app(&h)
        .dataset()
        .and_then(|d| d.credit.clone())
        .expect("credit");
    let total = app(&h).dataset().expect("data").rows.len();
    assert_eq!(credit.records, total);
    let state = creditlens::gui::credit_view::CreditForm::default();
    let listed = creditlens::gui::credit_view::listed(&credit, &state);
    let top = listed.first().expect("a word").text.clone();
    // Ranked by summed reward on the rejected side, most negative first.
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].rejected.sum <= w[1].rejected.sum)
    );
    h.get_by_label(&top).click();
    h.run_steps(3);
    let d = app(&h).dataset().expect("data");
    assert_eq!(d.holding.as_deref(), Some(top.as_str()));
    let view = d.view().to_vec();
    assert!(
        !view.is_empty() && view.len() < total,
        "{} of {total}",
        view.len()
    );
    // A plain recount: the records whose responses hold the word, split at white space.
    let holds = |r: &creditlens::data::Record| match r {
        creditlens::data::Record::Pair {
            chosen, rejected, ..
        } => chosen
            .split_whitespace()
            .chain(rejected.split_whitespace())
            .any(|w| w == top),
        creditlens::data::Record::Unpaired { completion, .. } => {
            completion.split_whitespace().any(|w| w == top)
        }
    };
    let expected: Vec<usize> = (0..total)
        .filter(|&i| d.rows[i].record.as_ref().is_ok_and(holds))
        .collect();
    let mut got = view.clone();
    got.sort_unstable();
    assert_eq!(got, expected);
    // The records holding it, one selected: the word is outlined in its rejected heatmap.
    let row = *expected
        .iter()
        .find(|&&i| {
            matches!(&app(&h).dataset().expect("data").rows[i].record,
                Ok(creditlens::data::Record::Pair { rejected, .. }) if rejected.split_whitespace().any(|w| w == top))
        })
        .expect("a rejected response holding it");
    app_mut(&mut h).apply(Action::SelectRow(row));
    wait(&mut h, "the record", |a| {
        a.selected_row() == Some(row) && !a.is_scoring()
    });
    let marked = app(&h).marked_chips(1);
    let p = pair(app(&h));
    let text: String = marked
        .iter()
        .map(|&i| p.rejected.tokens[i].text.as_str())
        .collect();
    assert_eq!(text.trim(), top, "the outlined tokens spell the word");
    // Beta rescales the sums.
    let before = credit
        .units
        .iter()
        .find(|u| u.text == top)
        .expect("unit")
        .rejected
        .sum;
    app_mut(&mut h).apply(Action::SetBeta(0.2));
    let after = app(&h)
        .dataset()
        .and_then(|d| d.credit.as_ref())
        .and_then(|c| c.units.iter().find(|u| u.text == top))
        .expect("unit")
        .rejected
        .sum;
    assert!((after - 2.0 * before).abs() < 1e-9 * before.abs().max(1.0));
    app_mut(&mut h).apply(Action::HoldWord(None));
    let d = app(&h).dataset().expect("data");
    assert_eq!(d.view().len(), total);
    // Saved as the table shows it: CSV here, and never over a file without asking.
    let dir = temp();
    let csv = dir.path().join("words.csv");
    let field = h.get_by_label_contains("Save to:");
    field.focus();
    h.step();
    h.event(egui::Event::Key {
        key: egui::Key::A,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::COMMAND,
    });
    h.event(egui::Event::Text(csv.display().to_string()));
    h.run_steps(2);
    h.get_by_label("Save").click();
    h.run_steps(2);
    let text = std::fs::read_to_string(&csv).expect("the CSV");
    assert!(text.starts_with("rank,unit,kind,count"), "{text}");
    assert!(text.contains(&top));
    h.get_by_label("Save").click();
    h.run_steps(2);
    h.get_by_label_contains("exists.");
    assert_eq!(std::fs::read_to_string(&csv).expect("kept"), text);
}

/// A word typed at the end of the rejected response is rescored from its first changed token: the heatmap shows
/// the numbers of a full scoring, and the window says how long it took and how much it reused (issue 31, item 2).
#[test]
fn an_edit_rescores_from_its_first_changed_token() {
    let mut h = demo();
    let first = app(&h).timing().expect("timed");
    assert!(first.seconds > 0.0);
    let rejected = format!("{} Really.", app(&h).editor().rejected);
    app_mut(&mut h).apply(Action::SetText(TextField::Rejected, rejected.clone()));
    wait(&mut h, "the edit to be rescored", |a| {
        pair(a).rejected.text == rejected
    });
    let t = app(&h).timing().expect("timed");
    assert!(
        t.reuse.reused > 0 && t.reuse.computed < t.reuse.reused,
        "{t:?}"
    );
    h.get_by_label_contains(&format!("rescored in {:.2} s", t.seconds));
    // The same numbers as scoring the edited pair from scratch.
    let shown = pair(app(&h));
    let record = app(&h).editor().record();
    let scorer = app(&h).loaded().expect("loaded").scorer.clone();
    let fresh = match scorer.score_record(0, &record) {
        Ok(RecordScore::Pair(p)) => p,
        other => panic!("{other:?}"),
    };
    for (a, b) in shown.rejected.tokens.iter().zip(&fresh.rejected.tokens) {
        assert!(
            (a.reward - b.reward).abs() < 1e-6,
            "{} vs {}",
            a.reward,
            b.reward
        );
    }
}

/// The app follows a run while it trains (issue 32): with "Follow the run" on, a checkpoint saved after the run was
/// opened is scored once it is complete (not while its trainer_state.json is missing), its point joins the drift,
/// a checkpoint deleted by `save_total_limit` leaves the list, and the panel says it is following.
#[test]
fn the_app_follows_a_run_while_it_trains() {
    let demo_dir = demo_dir();
    let dir = temp();
    let run = dir.path().join("run");
    let save = |step: usize, complete: bool| save_demo_checkpoint(&run, step, complete);
    save(40, true);
    save(80, true);
    let mut h = demo();
    app_mut(&mut h).apply(Action::OpenModels {
        policy: run.clone(),
        reference: Some(demo_dir.join("reference")),
    });
    wait(&mut h, "the run's two checkpoints", |a| {
        !a.is_loading()
            && a.loaded().is_some_and(|l| l.policy.path.starts_with(&run))
            && !a.drift_running()
            && a.drift().len() == 2
    });
    assert_eq!(app(&h).following(), None);
    app_mut(&mut h).apply(Action::Follow(true));
    assert_eq!(app(&h).following(), Some(run.as_path()));
    h.step();
    h.get_by_label_contains("following run: 2 checkpoint(s) scored");
    // Being saved: weights written, trainer_state.json not yet.
    save(120, false);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        app(&h).drift().len(),
        2,
        "a checkpoint still being saved is not scored"
    );
    save(120, true);
    wait(&mut h, "the new checkpoint's point", |a| {
        !a.drift_running() && a.drift().iter().map(|p| p.step).collect::<Vec<_>>() == [40, 80, 120]
    });
    assert_eq!(app(&h).checkpoints().len(), 3);
    // save_total_limit deletes the oldest: it leaves the list, its point stays.
    std::fs::remove_dir_all(run.join("checkpoint-40")).unwrap();
    wait(&mut h, "the deleted checkpoint to leave the list", |a| {
        a.checkpoints().len() == 2
    });
    assert_eq!(app(&h).drift().len(), 3);
    app_mut(&mut h).apply(Action::Follow(false));
    assert_eq!(app(&h).following(), None);
}

/// Issue 32: a scores file (what `creditlens score --out` and the TRL callback's `creditlens/checkpoint-N.jsonl`
/// hold) opens with its stored scores and no model runs: it was scored with policy and reference swapped, so a
/// rescoring with the app's models would flip every margin. Each row shows its record as stored (rewards at the
/// app's beta), the side panel says so, and an edit rescores that record with the models.
#[test]
fn a_scores_file_opens_with_its_stored_scores() {
    let dir = temp();
    let demo_dir = demo_dir();
    std::fs::create_dir_all(dir.path().join("creditlens")).unwrap();
    let out = dir.path().join("creditlens/checkpoint-7.jsonl");
    let run = crate::util::creditlens(
        dir.path(),
        &[
            "score",
            "--policy",
            &crate::util::s(&demo_dir.join("reference")),
            "--reference",
            &crate::util::s(&demo_dir.join("policy")),
            "--data",
            &crate::util::s(&demo_dir.join("pairs.jsonl")),
            "--out",
            &crate::util::s(&out),
        ],
    );
    assert!(
        run.output.status.success(),
        "{}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    let stored = creditlens::scores_file::read_scores(&out).unwrap();
    let mut h = demo();
    let beta = app(&h).settings().beta;
    let as_shown = |i: usize| {
        let mut s = stored[i].1.clone();
        s.set_beta(beta);
        creditlens::output::record_json(&s, &[]).unwrap()
    };
    app_mut(&mut h).apply(Action::OpenData(out.clone()));
    h.step();
    let d = app(&h).dataset().unwrap();
    assert!(d.from_scores && !d.job.running());
    assert_eq!(d.rows.len(), stored.len());
    for (row, (_, s)) in d.rows.iter().zip(&stored) {
        let RecordScore::Pair(p) = s else {
            panic!("pairs")
        };
        let margin = row.score.as_ref().unwrap().as_ref().unwrap().margin;
        assert!(
            (margin - p.margin * beta / 0.1).abs() < 1e-9,
            "{margin} vs {}",
            p.margin
        );
    }
    let shown = |h: &Gui| creditlens::output::record_json(app(h).shown().unwrap(), &[]).unwrap();
    assert_eq!(shown(&h), as_shown(0));
    h.get_by_label_contains("shown with their stored scores (not rescored)");
    // No scoring arrives later either.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(800) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(shown(&h), as_shown(0));
    assert!(!app(&h).is_scoring());
    app_mut(&mut h).apply(Action::SelectRow(1));
    h.step();
    assert_eq!(shown(&h), as_shown(1));
    // An edit is scored with the app's models (policy and reference the right way round), as the library
    // scores the edited record.
    append(&mut h, " Indeed.");
    wait(&mut h, "the edit to be rescored", |a| {
        !a.is_scoring()
            && matches!(a.shown(), Some(RecordScore::Pair(p)) if p.chosen.text.ends_with(" Indeed."))
    });
    let RecordScore::Pair(p) = &stored[1].1 else {
        panic!("pairs")
    };
    let edited = creditlens::data::Record::Pair {
        prompt: p.prompt.clone(),
        chosen: format!("{} Indeed.", p.chosen.text),
        rejected: p.rejected.text.clone(),
        error_spans: Vec::new(),
        chat: None,
    };
    let options = creditlens::score::ScoreOptions {
        beta,
        ..Default::default()
    };
    let want = creditlens::score::Scorer::load(
        &demo_dir.join("policy"),
        &demo_dir.join("reference"),
        creditlens::model::Dtype::F32,
        options,
    )
    .unwrap()
    .score_record(1, &edited)
    .unwrap();
    let RecordScore::Pair(want) = want else {
        panic!("a pair")
    };
    let got = pair(app(&h)).margin;
    assert!((got - want.margin).abs() < 1e-6, "{got} vs {}", want.margin);
    assert!(
        (got - p.margin * beta / 0.1).abs() > 1e-3,
        "the edit was not rescored"
    );
}
