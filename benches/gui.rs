//! Frame time of the desktop app with a 10,000-token response and a 10,000-row dataset table (issue #4's goal:
//! <= 8 ms per frame), against the app as it opens on the demo, measured in the same run.
//!
//! Frames are run headless by egui_kittest: the time is egui's layout, hit-testing and tessellation on the CPU,
//! which is where a large heatmap or table costs; the GPU upload is not included. The pointer moves over the
//! heatmap every frame, so hover tooltips and hit tests are exercised. The values are real: the demo pairs scored by
//! the demo models, concatenated to 10,000 tokens (the demo model's context is 256 tokens) and repeated to 10,000
//! table rows. Run with `cargo bench --bench gui`.

#[global_allocator]
static GLOBAL: creditlens::alloc::Allocator = mimalloc::MiMalloc;

use creditlens::data::{Entry, read_entries};
use creditlens::demo_assets::DemoAssets;
use creditlens::gui::{App, Dataset, Launch, RowScore, Settings};
use creditlens::score::{
    RecordScore, ResponseScore, ScoreOptions, Scorer, TokenScore, UnpairedScore,
};
use egui_kittest::Harness;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Gui = Harness<'static, Option<App>>;

fn open() -> Gui {
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(
            |ui, app: &mut Option<App>| {
                let app = app.get_or_insert_with(|| {
                    App::start(
                        ui.ctx(),
                        Launch::default(),
                        Settings::default(),
                        Arc::new(Mutex::new(None)),
                    )
                });
                app.show(ui);
            },
            None,
        );
    let start = Instant::now();
    loop {
        h.step();
        let ready = h.state().as_ref().is_some_and(|a| {
            a.shown().is_some() && !a.is_scoring() && a.dataset().is_some_and(|d| !d.job.running())
        });
        if ready || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h
}

/// Times `frames` frames with the pointer sweeping across the heatmap area; returns sorted milliseconds.
fn time_frames(h: &mut Gui, frames: usize) -> Vec<f64> {
    let mut ms = Vec::with_capacity(frames);
    for i in 0..frames {
        let x = 450.0 + (i % 90) as f32 * 10.0;
        let y = 240.0 + (i % 7) as f32 * 20.0;
        h.hover_at(egui::pos2(x, y));
        let t = Instant::now();
        h.step();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

fn report(name: &str, ms: &[f64]) -> f64 {
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let p95 = ms[(ms.len() * 95 / 100).min(ms.len() - 1)];
    println!(
        "{name:<34} mean {mean:>6.2} ms  median {:>6.2} ms  p95 {p95:>6.2} ms",
        ms[ms.len() / 2]
    );
    mean
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: the first statement of main, before any thread exists; the programs run with the same setting.
    unsafe { creditlens::threads::configure() };
    let demo = DemoAssets::locate()?;
    let scorer = Scorer::load(
        &demo.policy(),
        &demo.reference(),
        creditlens::defaults::DTYPE,
        ScoreOptions::default(),
    )?;
    let entries = read_entries(&demo.pairs())?;
    let mut scored = Vec::new();
    for e in &entries {
        if let Ok(r) = &e.record {
            scored.push(scorer.score_record(e.index, r)?);
        }
    }

    // 10,000 real scored tokens, one response after another.
    let mut tokens: Vec<TokenScore> = Vec::new();
    let mut text = String::new();
    'fill: loop {
        for s in &scored {
            for (_, r) in s.responses() {
                let offset = text.chars().count();
                text.push_str(&r.text);
                for t in &r.tokens {
                    let mut t = t.clone();
                    t.start += offset;
                    t.end += offset;
                    tokens.push(t);
                    if tokens.len() == 10_000 {
                        break 'fill;
                    }
                }
            }
        }
    }
    let reward: f64 = tokens.iter().map(|t| t.reward).sum();
    let big = RecordScore::Unpaired(UnpairedScore {
        index: 0,
        prompt: "10,000 tokens of the demo's scored responses".into(),
        response: ResponseScore {
            text,
            num_tokens: tokens.len(),
            reward,
            logp_policy: tokens.iter().map(|t| t.logp_policy).sum(),
            logp_reference: tokens.iter().map(|t| t.logp_reference).sum(),
            content_start: None,
            tokens,
        },
        warnings: Vec::new(),
        prompt_tokens: Vec::new(),
    });

    let mut h = open();
    println!("frame time, 1400x900 window, {} frames each", 300);
    let base = report(
        "demo as opened (1 pair, 305 rows)",
        &time_frames(&mut h, 300),
    );

    // 10,000 table rows with real scores.
    let records: Vec<_> = entries
        .iter()
        .filter_map(|e| e.record.as_ref().ok())
        .collect();
    let rows = (0..10_000)
        .map(|i| Entry {
            index: i,
            line: i + 1,
            record: Ok(records[i % records.len()].clone()),
        })
        .collect();
    let mut d = Dataset::new(demo.pairs(), rows, 0.1);
    for i in 0..10_000 {
        d.set_score(i, Ok(RowScore::of(&scored[i % scored.len()], 0.1)));
    }
    {
        let app = h.state_mut().as_mut().ok_or("no app")?;
        app.set_dataset(d);
        app.show_score(big);
    }
    let heavy = report("10,000 tokens + 10,000 rows", &time_frames(&mut h, 300));
    println!("ratio to the demo as opened: {:.2}x", heavy / base);
    Ok(())
}
