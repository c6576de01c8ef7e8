//! The app's views driven headless through egui_kittest: the dataset table, the plots, the Search and Export
//! windows (issue 28). The shared helpers live in `gui.rs`.

use crate::gui::{Gui, app, app_mut, demo, open, wait};
use crate::util::temp;
use creditlens::demo_assets::DemoAssets;
use creditlens::gui::{Action, App, ExportFormat, Launch, PlotTab};
use egui::accesskit::Role;
use egui::{Color32, Pos2, Rect, Vec2};
use egui_kittest::kittest::{NodeT, Queryable};
use std::path::Path;

/// The accessible label of a node.
fn label_of(n: &egui_kittest::Node<'_>) -> String {
    let n = n.accesskit_node();
    n.label()
        .filter(|l| !l.is_empty())
        .or_else(|| n.value())
        .unwrap_or_default()
}

/// Width of `text` in the text style `style`, as the app lays it out.
fn text_width(h: &Gui, text: &str, style: egui::TextStyle) -> f32 {
    let font = style.resolve(&h.ctx.global_style());
    h.ctx.fonts_mut(|f| {
        f.layout_no_wrap(text.to_string(), font, Color32::WHITE)
            .size()
            .x
    })
}

fn steps(h: &mut Gui, n: usize) {
    for _ in 0..n {
        h.step();
    }
}

/// Turns the mouse wheel by `dy` points at `at`.
fn wheel(h: &mut Gui, at: Pos2, dy: f32) {
    h.hover_at(at);
    h.step();
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: Vec2::new(0.0, dy),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::NONE,
    });
    steps(h, 8);
}

/// Drags with the primary button from `from` to `to` in small moves.
fn drag(h: &mut Gui, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for k in 1..=10 {
        h.hover_at(from + (to - from) * (k as f32 / 10.0));
        h.step();
    }
    h.drop_at(to);
    steps(h, 3);
}

/// The right edge of the side panel: its resize handle.
fn side_edge(h: &Gui) -> f32 {
    h.get_all_by_role(Role::Splitter)
        .map(|n| n.rect())
        .filter(|r| r.height() > r.width())
        .map(|r| r.center().x)
        .min_by(f32::total_cmp)
        .expect("the side panel's resize handle")
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").expect("write the data file");
}

/// A pair record as a JSON line.
fn pair_line(prompt: &str, chosen: &str, rejected: &str) -> String {
    serde_json::json!({"prompt": prompt, "chosen": chosen, "rejected": rejected}).to_string()
}

/// The demo with its data file scored.
fn demo_scored() -> Gui {
    let mut h = demo();
    wait(&mut h, "the demo pairs to be scored", |a| {
        a.dataset().is_some_and(|d| !d.job.running() && d.done > 0)
    });
    h
}

/// Defect 10: the prompt column shows what differs between the file's prompts (their shared "Question: ... Answer:"
/// template left out), the whole prompt on hover; a prompt without the template is shown whole.
#[test]
fn the_prompt_column_shows_what_differs() {
    let dir = temp();
    let data = dir.path().join("questions.jsonl");
    let questions = [
        "What is the capital of France?",
        "How many legs has a spider?",
        "Who wrote Hamlet?",
        "What is twice 7?",
        "Which planet is the largest?",
    ];
    let mut lines: Vec<String> = questions
        .iter()
        .map(|q| pair_line(&format!("Question: {q}\nAnswer:"), " Paris.", " Rome."))
        .collect();
    lines.push(pair_line("Translate into French: cat", " chat", " chien"));
    write_lines(&data, &lines);
    let mut h = open(Launch {
        data: Some(data),
        ..Launch::default()
    });
    wait(&mut h, "the file to be scored", |a| {
        a.loaded().is_some() && a.dataset().is_some_and(|d| !d.job.running() && d.done > 0)
    });
    steps(&mut h, 2);
    for q in questions {
        h.get_by_label(q);
    }
    h.get_by_label("Translate into French: cat");
    h.get_by_label(questions[0]).hover();
    steps(&mut h, 60);
    h.get_by_label_contains("Question: What is the capital of France?");
}

/// Defect 10: the table keeps a screenful of rows of its own (at least 12 in view once the side panel is scrolled
/// down to it), and scrolls inside itself rather than stretching the side panel over all its rows.
#[test]
fn the_table_shows_a_screenful_of_rows() {
    let mut h = demo_scored();
    let n = app(&h).dataset().map_or(0, |d| d.rows.len());
    // Scroll the side panel to its end, the pointer over the model cards.
    wheel(&mut h, Pos2::new(150.0, 200.0), -3000.0);
    let edge = side_edge(&h);
    let rows: Vec<Rect> = h
        .get_all_by_role(Role::Label)
        .filter(|l| label_of(l).parse::<usize>().is_ok_and(|i| i < n))
        .map(|l| l.rect())
        .filter(|r| r.right() < edge.min(80.0))
        .collect();
    let in_view = rows
        .iter()
        .filter(|r| r.top() >= 0.0 && r.bottom() <= 900.0)
        .count();
    assert!(in_view >= 12, "{in_view} rows in view");
    assert!(
        rows.len() < 60,
        "{} of {n} rows laid out: the table should scroll in itself",
        rows.len()
    );
}

/// Defect 10: at the side panel's narrowest (300 px) every column of the table is inside the panel, unclipped, or
/// named as hidden; sorting puts an arrow after a header's whole name, and changes neither the panel's width nor
/// pushes anything of the table past its edge.
#[test]
fn the_table_fits_the_narrowest_side_panel() {
    let mut h = demo_scored();
    h.get_all_by_role(Role::Splitter)
        .filter(|n| n.rect().height() > n.rect().width())
        .min_by(|a, b| a.rect().center().x.total_cmp(&b.rect().center().x))
        .expect("the side panel's resize handle")
        .set_value_accesskit(0.0);
    steps(&mut h, 4);
    let edge = side_edge(&h);
    assert!((edge - 300.0).abs() < 12.0, "the side panel ends at {edge}");
    let headers = ["#", "prompt", "margin", "R_c", "R_r", "✓", "n_c", "n_r"];
    let check = |h: &Gui, sorted: Option<&str>| {
        let hidden = h
            .query_all_by_role(Role::Label)
            .map(|n| label_of(&n))
            .find(|l| l.contains("hidden"))
            .unwrap_or_default();
        let top = h.get_by_label_contains("records shown").rect().bottom();
        for name in headers {
            let found: Vec<(String, Rect)> = h
                .query_all_by_label_contains(name)
                .filter(|n| n.rect().top() >= top && n.rect().left() < edge)
                .filter(|n| name == "prompt" || n.accesskit_node().role() == Role::Button)
                .map(|n| (label_of(&n), n.rect()))
                .filter(|(l, _)| l == name || l.starts_with(&format!("{name} ")))
                .collect();
            match found.as_slice() {
                [] => assert!(
                    hidden.contains(name),
                    "column {name} neither shown nor named as hidden ({hidden:?})"
                ),
                [(label, r), ..] => {
                    let need = text_width(h, label, egui::TextStyle::Button);
                    assert!(
                        r.right() <= edge + 0.5 && r.left() >= 0.0,
                        "{label} at {r:?} sticks out of the panel (edge {edge})"
                    );
                    assert!(
                        r.width() + 0.5 >= need,
                        "{label} truncated: {} of {need} px",
                        r.width()
                    );
                    if sorted == Some(name) {
                        assert!(
                            label.chars().count() > name.chars().count(),
                            "{label} has no arrow"
                        );
                    }
                }
            }
        }
        // Nothing of the table reaches past the panel's edge.
        for n in h.get_all_by_role(Role::Label) {
            let r = n.rect();
            if r.top() >= top && r.left() < edge {
                assert!(
                    r.right() <= edge + 0.5,
                    "{:?} at {r:?} past {edge}",
                    label_of(&n)
                );
            }
        }
    };
    check(&h, None);
    for name in ["margin", "✓", "#", "R_c", "n_r"] {
        let Some(button) = h
            .query_all_by_role(Role::Button)
            .find(|n| label_of(n) == name || label_of(n).starts_with(&format!("{name} ")))
        else {
            continue;
        };
        button.click();
        steps(&mut h, 3);
        assert!(
            (side_edge(&h) - edge).abs() < 0.5,
            "sorting by {name} moved the panel's edge from {edge} to {}",
            side_edge(&h)
        );
        check(&h, Some(name));
    }
}

/// Opens the demo on the drift tab and waits for every checkpoint's point.
fn drift_tab(launch: Launch) -> Gui {
    let mut h = open(Launch {
        plot: Some(PlotTab::Drift),
        ..launch
    });
    wait(&mut h, "the drift", |a| {
        a.loaded().is_some()
            && !a.drift_running()
            && !a.checkpoints().is_empty()
            && a.drift().len() == a.checkpoints().len()
    });
    steps(&mut h, 3);
    h
}

/// The metric a series of the drift tab shows, from its name.
fn metric_of(name: &str) -> &'static str {
    ["chosen", "rejected", "margin", "accurac"]
        .into_iter()
        .find(|m| name.contains(m))
        .unwrap_or("other")
}

/// Every series of the drift tab is named in its legend row by its colour (one per metric, a metric per colour)
/// and, where the sources differ, its style; returns the series (plot id, name, style).
fn check_drift_legend(h: &Gui) -> Vec<(String, String, creditlens::gui::SeriesStyle)> {
    let drawn = app(h).plots_drawn();
    let mut all = Vec::new();
    let mut colours: Vec<(&str, Color32)> = Vec::new();
    for id in ["drift", "trainer-state", "accuracy"] {
        let Some(plot) = drawn.get(id) else { continue };
        let styles: Vec<_> = plot.legend.iter().filter_map(|e| e.style).collect();
        for s in &plot.series {
            assert!(
                plot.legend.iter().any(|e| e.colour == Some(s.colour)),
                "{id}: {} has a colour the legend does not name",
                s.name
            );
            assert!(
                styles.is_empty() || styles.contains(&s.style),
                "{id}: {} is drawn as {:?}, which the legend does not name",
                s.name,
                s.style
            );
            colours.push((metric_of(&s.name), s.colour));
            all.push((id.to_string(), s.name.clone(), s.style));
        }
        for e in &plot.legend {
            assert!(
                h.query_all_by_label(&e.label).next().is_some(),
                "legend entry {:?} not on screen",
                e.label
            );
        }
    }
    for (m, c) in &colours {
        for (m2, c2) in &colours {
            assert_eq!(m == m2, c == c2, "{m} and {m2}: colours {c:?} and {c2:?}");
        }
    }
    all
}

/// Defect 11: the drift plots name every series they draw, give accuracies (0 to 1) a plot of their own, and say
/// which beta each reward uses: creditlens' at the app's beta (changed with it), trainer_state.json's at the
/// training's.
#[test]
fn the_drift_plots_name_every_series_and_its_beta() {
    let mut h = drift_tab(Launch::default());
    let series = check_drift_legend(&h);
    for needed in ["chosen", "rejected", "margin", "accurac"] {
        for id in ["drift", "trainer-state"] {
            let plot_of = |n: &str| {
                series
                    .iter()
                    .find(|(p, name, _)| metric_of(name) == n && (p == id || p == "accuracy"))
                    .map(|(p, ..)| p.clone())
            };
            assert!(
                plot_of(needed).is_some(),
                "{id}: no {needed} series in {series:?}"
            );
        }
    }
    // Accuracies share no axis with rewards.
    let drawn = app(&h).plots_drawn();
    for (id, plot) in &drawn {
        let metrics: Vec<&str> = plot.series.iter().map(|s| metric_of(&s.name)).collect();
        if metrics.contains(&"accurac") {
            assert!(
                metrics.iter().all(|m| *m == "accurac"),
                "{id} mixes accuracies with rewards: {metrics:?}"
            );
        }
    }
    let legend = |a: &App| -> Vec<String> {
        a.plots_drawn()
            .get("drift")
            .map(|p| p.legend.iter().map(|e| e.label.clone()).collect())
            .unwrap_or_default()
    };
    let beta = app(&h).settings().beta;
    let says = |labels: &[String], text: &str| labels.iter().any(|l| l.contains(text));
    assert!(
        says(&legend(app(&h)), &format!("beta {beta}")),
        "{:?}",
        legend(app(&h))
    );
    assert!(
        says(&legend(app(&h)), "training beta"),
        "{:?}",
        legend(app(&h))
    );
    app_mut(&mut h).apply(Action::SetBeta(0.25));
    steps(&mut h, 2);
    assert!(says(&legend(app(&h)), "beta 0.25"), "{:?}", legend(app(&h)));
    h.get_all_by_label_contains("beta 0.25").next();
}

/// Defect 11: the evaluation points TRL logs (`eval_rewards/...`) are drawn as series of their own, named as
/// evaluation in the legend.
#[test]
fn the_drift_plots_draw_the_eval_points() {
    let demo_assets = DemoAssets::locate().expect("the demo");
    let dir = temp();
    let run = dir.path().join("run");
    for step in [40, 80] {
        let to = run.join(format!("checkpoint-{step}"));
        std::fs::create_dir_all(&to).expect("mkdir");
        let from = demo_assets.checkpoints().join(format!("checkpoint-{step}"));
        for e in std::fs::read_dir(&from).expect("the demo checkpoint") {
            let e = e.expect("entry");
            if e.file_name() != "trainer_state.json" {
                std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
            }
        }
    }
    let state = r#"{"global_step": 80, "log_history": [
        {"loss": 0.69, "rewards/accuracies": 0.5, "rewards/chosen": 0.01, "rewards/margins": 0.1,
         "rewards/rejected": -0.09, "step": 20},
        {"loss": 0.6, "rewards/accuracies": 0.75, "rewards/chosen": -0.05, "rewards/margins": 0.3,
         "rewards/rejected": -0.35, "step": 40},
        {"eval_loss": 0.62, "eval_rewards/accuracies": 0.7, "eval_rewards/chosen": -0.06,
         "eval_rewards/margins": 0.25, "eval_rewards/rejected": -0.31, "step": 40},
        {"loss": 0.45, "rewards/accuracies": 0.95, "rewards/chosen": -0.15, "rewards/margins": 0.7,
         "rewards/rejected": -0.85, "step": 80},
        {"eval_loss": 0.55, "eval_rewards/accuracies": 0.85, "eval_rewards/chosen": -0.12,
         "eval_rewards/margins": 0.5, "eval_rewards/rejected": -0.62, "step": 80}
    ]}"#;
    std::fs::write(run.join("checkpoint-80/trainer_state.json"), state).expect("write");
    let h = drift_tab(Launch {
        policy: Some(run),
        reference: Some(demo_assets.reference()),
        data: Some(demo_assets.pairs()),
        ..Launch::default()
    });
    let series = check_drift_legend(&h);
    let eval: Vec<_> = series
        .iter()
        .filter(|(_, n, _)| n.contains("eval"))
        .collect();
    for m in ["chosen", "rejected", "margin", "accurac"] {
        assert!(
            eval.iter().any(|(_, n, _)| metric_of(n) == m),
            "no eval {m} series in {series:?}"
        );
    }
    // Eval points look different from the training batches' curves of the same metric.
    for (_, name, style) in &eval {
        let batches = series.iter().find(|(p, n, _)| {
            !n.contains("eval") && metric_of(n) == metric_of(name) && p != "drift"
        });
        if let Some((_, _, s)) = batches {
            assert_ne!(s, style, "{name} is drawn like the batch curve");
        }
    }
    let drawn = app(&h).plots_drawn();
    let legend: Vec<String> = drawn
        .values()
        .flat_map(|p| p.legend.iter().map(|e| e.label.clone()))
        .collect();
    assert!(legend.iter().any(|l| l.contains("eval")), "{legend:?}");
}

/// Defect 11: the token x checkpoint heatmap labels each column with its whole token (rotated), each label an
/// accessible node with the token's full text, wide enough for it and inside the window.
#[test]
fn token_by_checkpoint_labels_are_whole() {
    let mut h = open(Launch {
        plot: Some(PlotTab::TokenByCheckpoint),
        ..Launch::default()
    });
    wait(&mut h, "the drift with the selected response", |a| {
        a.loaded().is_some()
            && !a.drift_running()
            && !a.drift().is_empty()
            && a.drift().iter().all(|d| d.selected.is_some())
    });
    steps(&mut h, 3);
    let rejected = crate::gui::pair(app(&h)).rejected;
    let top = h.get_by_label("Token × checkpoint").rect().bottom();
    let font = egui::FontId::monospace(10.0);
    for t in &rejected.tokens {
        let text: String = creditlens::render::chip_text(&t.text)
            .segments
            .iter()
            .map(|(s, _)| s.as_str())
            .collect();
        let need = h.ctx.fonts_mut(|f| {
            f.layout_no_wrap(text.clone(), font.clone(), Color32::WHITE)
                .size()
                .x
        });
        let node = h
            .query_all_by_label(&text)
            .find(|n| n.rect().top() > top)
            .unwrap_or_else(|| panic!("no column label {text:?}"));
        let r = node.rect();
        assert!(
            r.width().max(r.height()) + 0.5 >= need,
            "{text:?} gets {r:?}, needs {need} px"
        );
        assert!(
            r.bottom() <= 900.0 && r.right() <= 1400.0,
            "{text:?} at {r:?} is off-screen"
        );
    }
}

/// Runs a search of widths `widths` on the demo with the Search window open and waits for its runs.
fn searched(widths: &str, runs: usize) -> Gui {
    let mut h = demo();
    app_mut(&mut h).apply(Action::OpenSearch);
    let mut form = app(&h).search().form();
    form.prompt = "Q: What is twice 8?\nA:".into();
    form.widths = widths.into();
    form.max_new_tokens = 12;
    app_mut(&mut h).apply(Action::SetSearch(form));
    app_mut(&mut h).apply(Action::RunSearch);
    wait(&mut h, "the search", |a| {
        !a.search().job.running() && a.search().runs.len() == runs
    });
    steps(&mut h, 3);
    h
}

/// Defect 11: the Search window's small plots carry several round, labelled ticks on both axes (the beam widths on
/// x), like the other plots.
#[test]
fn search_plots_have_round_labelled_ticks() {
    let h = searched("1,2,4", 3);
    let drawn = app(&h).plots_drawn();
    for id in ["search-trend-reward", "search-trend-length"] {
        let plot = drawn
            .get(id)
            .unwrap_or_else(|| panic!("{id} not drawn: {:?}", drawn.keys().collect::<Vec<_>>()));
        assert!(plot.y_ticks.len() >= 3, "{id}: y ticks {:?}", plot.y_ticks);
        assert_eq!(plot.x_ticks, ["1", "2", "4"], "{id}: x ticks");
    }
}

/// The rects of the heatmaps (their accessible summaries).
fn heatmaps(h: &Gui) -> Vec<Rect> {
    h.get_all_by_role(Role::Image)
        .filter(|n| label_of(n).contains("tokens coloured by"))
        .map(|n| n.rect())
        .collect()
}

fn search_window(h: &Gui) -> Rect {
    h.get_by_role_and_label(Role::Window, "Search").rect()
}

/// Defect 12: the Search window does not cover the heatmap a clicked candidate opens in, where it opens and after
/// it was dragged over the heatmap.
#[test]
fn the_search_window_keeps_the_heatmap_in_view() {
    let mut h = searched("1,2", 2);
    app_mut(&mut h).apply(Action::ShowCandidate {
        run: 1,
        candidate: 0,
    });
    steps(&mut h, 4);
    let maps = heatmaps(&h);
    assert!(!maps.is_empty());
    let window = search_window(&h);
    for m in &maps {
        assert!(
            !window.intersects(*m),
            "the window {window:?} covers the heatmap {m:?}"
        );
    }
    // Dragged over the heatmap by its title bar, it moves aside when the next candidate opens.
    let title = Pos2::new(window.center().x, window.top() + 10.0);
    let target = maps[0].center();
    drag(&mut h, title, Pos2::new(target.x, target.y - 5.0));
    let moved = search_window(&h);
    assert!(
        moved.intersects(maps[0]),
        "the drag did not move the window: {moved:?}"
    );
    app_mut(&mut h).apply(Action::ShowCandidate {
        run: 0,
        candidate: 0,
    });
    steps(&mut h, 4);
    let window = search_window(&h);
    for m in heatmaps(&h) {
        assert!(
            !window.intersects(m),
            "the window {window:?} covers the heatmap {m:?}"
        );
    }
}

/// Defect 12: a long list of candidates scrolls inside the Search window, and the window's resize corner resizes
/// the window instead of scrolling the list.
#[test]
fn search_candidates_scroll_and_the_corner_resizes() {
    let mut h = searched("1,2,4,8,16", 5);
    let window = search_window(&h);
    let first = h.get_by_label_contains("greedy —").rect();
    // Drag the resize corner up by 250 px.
    let corner = window.max - Vec2::new(3.0, 3.0);
    drag(&mut h, corner, corner - Vec2::new(0.0, 250.0));
    let resized = search_window(&h);
    assert!(
        (resized.height() - (window.height() - 250.0)).abs() < 30.0,
        "the window went from {window:?} to {resized:?}"
    );
    let after = h.get_by_label_contains("greedy —").rect();
    assert!(
        (after.top() - resized.top() - (first.top() - window.top())).abs() < 1.0,
        "the list scrolled from {first:?} to {after:?}"
    );
    // The last run is below the window's bottom; the wheel over the list brings it in.
    let last = |h: &Gui| h.get_by_label_contains("beam 16 —").rect();
    assert!(
        last(&h).top() > resized.bottom(),
        "{:?} in {resized:?}",
        last(&h)
    );
    wheel(
        &mut h,
        Pos2::new(resized.center().x, resized.bottom() - 40.0),
        -2000.0,
    );
    let window = search_window(&h);
    let l = last(&h);
    assert!(
        l.top() >= window.top() && l.bottom() <= window.bottom(),
        "{l:?} not scrolled into {window:?}"
    );
    assert!(window.bottom() <= 900.0, "{window:?}");
}

/// Defect 13: the Export window offers a pixel ratio for PNG only, and forgets the outcome of the last export (and a
/// pending "overwrite?") once the format or the path changes.
#[test]
fn export_options_follow_the_format_and_results_do_not_go_stale() {
    let dir = temp();
    let mut h = demo();
    app_mut(&mut h).apply(Action::OpenExport(true));
    steps(&mut h, 2);
    for (format, ratio) in [
        ("SVG", false),
        ("CSV", false),
        ("JSON", false),
        ("PNG", true),
    ] {
        h.get_by_label(format).click();
        steps(&mut h, 2);
        assert_eq!(
            h.query_by_label("pixel ratio").is_some(),
            ratio,
            "{format}: pixel ratio shown?"
        );
    }
    let png = dir.path().join("a.png");
    let format = app(&h).export().format;
    crate::gui::export_to(app_mut(&mut h), format, &png);
    steps(&mut h, 1);
    h.get_by_label("Save").click();
    wait(&mut h, "the PNG", |a| {
        matches!(&a.export().status, Some(Ok(_)))
    });
    steps(&mut h, 1);
    h.get_by_label_contains("wrote");
    h.get_by_label("SVG").click();
    steps(&mut h, 2);
    assert!(
        app(&h).export().status.is_none(),
        "{:?}",
        app(&h).export().status
    );
    assert!(h.query_by_label_contains("wrote").is_none());
    h.get_by_label("Save").click();
    wait(&mut h, "the SVG", |a| {
        matches!(&a.export().status, Some(Ok(_)))
    });
    let format = app(&h).export().format;
    crate::gui::export_to(app_mut(&mut h), format, &dir.path().join("b.svg"));
    steps(&mut h, 2);
    assert!(
        app(&h).export().status.is_none(),
        "{:?}",
        app(&h).export().status
    );
    // A pending "overwrite?" is for the path and format it asked about.
    crate::gui::export_to(app_mut(&mut h), ExportFormat::Png, &png);
    steps(&mut h, 1);
    h.get_by_label("Save").click();
    steps(&mut h, 2);
    h.get_by_label_contains("Overwrite it?");
    h.get_by_label("CSV").click();
    steps(&mut h, 2);
    assert!(app(&h).export().confirm.is_none());
    assert!(h.query_by_label_contains("Overwrite it?").is_none());
}

/// The app's views only read the state and return actions; `App::apply` is where it changes (issue 30). Checked on
/// the source: every view of the window takes the state by shared reference (the compiler then forbids changing
/// it), and no accessor hands out mutable state.
#[test]
fn views_only_read_the_state() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gui");
    let views = [
        ("app/chrome.rs", "fn menu_bar(&self"),
        ("app/chrome.rs", "fn toolbar(&self"),
        ("app/side.rs", "fn side_panel(&self"),
        ("app/side.rs", "fn data_section(&self"),
        ("app/editor.rs", "fn editor_ui(&self"),
        ("app/centre.rs", "fn centre(&self"),
        ("app/centre.rs", "fn centre_body(&self"),
        ("app/plots_panel.rs", "fn plots(&self"),
        ("app/export_view.rs", "fn export_window(&self"),
        ("app/input.rs", "fn input_actions(&self"),
        ("app/file_dialogs.rs", "fn poll_dialog(&self"),
        ("dataset_table.rs", "pub fn show(&self"),
        ("search_view.rs", "state: &SearchState,"),
        ("credit_view.rs", "state: &CreditState,"),
        ("models_panel.rs", "form: &ModelForm,"),
    ];
    for (file, signature) in views {
        let text = std::fs::read_to_string(root.join(file)).expect("source");
        assert!(text.contains(signature), "{file} lacks `{signature}`");
    }
    // The accessors hand out no mutable state.
    let access = std::fs::read_to_string(root.join("app/access.rs")).expect("source");
    assert!(
        !access.contains("_mut(&mut self)"),
        "a `*_mut` accessor in app/access.rs"
    );
}
