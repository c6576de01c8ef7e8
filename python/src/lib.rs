//! `creditlens._native`: the Rust side of the Python package. It holds a loaded policy/reference pair and scores,
//! evaluates and draws records given as JSON text, with the same library calls (and so the same numbers and the same
//! messages) as the command line. The Python package (`python/creditlens/`) turns dicts into JSON and back.
//!
//! Every call that computes releases the GIL, so other Python threads (a training loop) run meanwhile.

use creditlens::data::Record;
use creditlens::eval::{WITHIN_K, localisation_at};
use creditlens::heatmap::{Metric, ScaleMode, Theme};
use creditlens::model::Dtype;
use creditlens::render::{RenderOptions, write_figure};
use creditlens::score::{RecordScore, ScoreOptions, Scorer};
use creditlens::tokenize::TokenizationMode;
use creditlens::words::{Unit, record_by_words};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};
use std::str::FromStr;

create_exception!(
    _native,
    CreditLensError,
    PyException,
    "An input creditlens cannot use (a model, a record, an option), with the command line's message."
);

/// A creditlens error as the Python exception, its message what the command line prints after `Error:`.
fn py_err(e: impl std::fmt::Display) -> PyErr {
    CreditLensError::new_err(e.to_string())
}

/// A unit named as the command line's `--unit` takes it.
fn parse_unit(unit: &str) -> PyResult<Unit> {
    match unit {
        "token" => Ok(Unit::Token),
        "word" => Ok(Unit::Word),
        _ => Err(py_err(format!("unknown unit `{unit}`; use token or word"))),
    }
}

/// Record `i` of a call, parsed from its JSON text.
fn parse_record(i: usize, json: &str) -> Result<Record, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("record {i}: not JSON: {e}"))?;
    Record::from_json(&value).map_err(|e| format!("record {i}: {e}"))
}

/// A policy and its reference, loaded once, that score records.
#[pyclass(frozen, module = "creditlens._native")]
struct NativeScorer {
    scorer: Scorer,
    policy: PathBuf,
    reference: PathBuf,
}

#[pymethods]
impl NativeScorer {
    /// Loads the models as `creditlens score --policy ... --reference ...` does: checkpoint folders, training
    /// folders (their latest complete checkpoint, or `checkpoint`), LoRA adapters, GGUF files or Hub ids in the
    /// local cache; without `reference`, the policy's default one (an adapter's base).
    #[new]
    #[pyo3(signature = (policy, reference=None, beta=0.1, tokenization="trl", dtype="f32", top_k=None,
        max_length=None, revision=None, reference_revision=None, checkpoint=None, chat_template=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        policy: PathBuf,
        reference: Option<PathBuf>,
        beta: f64,
        tokenization: &str,
        dtype: &str,
        top_k: Option<usize>,
        max_length: Option<usize>,
        revision: Option<String>,
        reference_revision: Option<String>,
        checkpoint: Option<usize>,
        chat_template: Option<PathBuf>,
    ) -> PyResult<Self> {
        let options = ScoreOptions {
            beta,
            mode: TokenizationMode::from_str(tokenization).map_err(py_err)?,
            top_k: top_k.unwrap_or(creditlens::defaults::TOP_K),
            max_length,
            max_memory: None,
        };
        options.validate().map_err(py_err)?;
        let dtype = Dtype::from_str(dtype).map_err(py_err)?;
        py.detach(|| {
            let template = chat_template
                .as_deref()
                .map(|p| creditlens::chat::load::from_file(p, Default::default()))
                .transpose()
                .map_err(|e| py_err(format!("cannot read chat_template: {e}")))?;
            let located = creditlens::source::locate(&policy, revision.as_deref(), checkpoint)
                .map_err(|e| py_err(format!("policy: {e}")))?;
            let reference = match &reference {
                Some(r) => {
                    creditlens::source::locate(r, reference_revision.as_deref(), None)
                        .map_err(|e| py_err(format!("reference: {e}")))?
                        .path
                }
                None => creditlens::source::default_reference(&located.path).map_err(py_err)?,
            };
            let scorer = Scorer::load(&located.path, &reference, dtype, options)
                .map_err(|e| py_err(format!("cannot load the models: {e}")))?;
            let scorer = match template {
                Some(t) => {
                    let special = scorer.tokenizer().template_tokens();
                    scorer.with_chat_template(t.with_special(special))
                }
                None => scorer,
            };
            Ok(Self {
                scorer,
                policy: located.path,
                reference,
            })
        })
    }

    /// The policy loaded (a training folder given resolves to its checkpoint).
    #[getter]
    fn policy(&self) -> PathBuf {
        self.policy.clone()
    }

    /// The reference loaded.
    #[getter]
    fn reference(&self) -> PathBuf {
        self.reference.clone()
    }

    /// Scores records (each the JSON text of a data-file line); returns, per record, the JSON text `creditlens
    /// score` writes for it and its warnings. With `skip_bad`, a record that cannot be scored gives `None` and its
    /// error as the one warning.
    #[pyo3(signature = (records, skip_bad=false, unit="token"))]
    #[allow(clippy::type_complexity)]
    fn score_json(
        &self,
        py: Python<'_>,
        records: Vec<String>,
        skip_bad: bool,
        unit: &str,
    ) -> PyResult<Vec<(Option<String>, Vec<String>)>> {
        let unit = parse_unit(unit)?;
        py.detach(|| {
            let mut out = Vec::with_capacity(records.len());
            for (i, json) in records.iter().enumerate() {
                let scored = parse_record(i, json).and_then(|r| {
                    self.scorer
                        .score_record(i, &r)
                        .map_err(|e| format!("record {i}: {e}"))
                });
                match scored {
                    Ok(s) => {
                        let warnings = s.warnings().iter().map(|w| w.to_string()).collect();
                        let s = match unit {
                            Unit::Token => s,
                            Unit::Word => record_by_words(&s),
                        };
                        let context = match unit {
                            Unit::Token => vec![],
                            Unit::Word => vec![("unit".to_string(), "word".to_string())],
                        };
                        let json = creditlens::output::record_json(&s, &context)
                            .map_err(py_err)?
                            .to_string();
                        out.push((Some(json), warnings));
                    }
                    Err(e) if skip_bad => out.push((None, vec![e])),
                    Err(e) => return Err(py_err(e)),
                }
            }
            Ok(out)
        })
    }

    /// `creditlens eval --json` on labelled pairs (JSON texts with `error_spans`): the figures as JSON text.
    #[pyo3(signature = (records, within=WITHIN_K, unit=None))]
    fn eval_json(
        &self,
        py: Python<'_>,
        records: Vec<String>,
        within: usize,
        unit: Option<&str>,
    ) -> PyResult<String> {
        let units = match unit {
            Some(u) => vec![parse_unit(u)?],
            None => vec![Unit::Token, Unit::Word],
        };
        py.detach(|| {
            let mut scored = Vec::new();
            for (i, json) in records.iter().enumerate() {
                let record = parse_record(i, json).map_err(py_err)?;
                if let Record::Pair { error_spans, .. } = &record {
                    let s = self
                        .scorer
                        .score_record(i, &record)
                        .map_err(|e| py_err(format!("record {i}: {e}")))?;
                    if let RecordScore::Pair(p) = s {
                        let spans = p.rejected.locate_spans(error_spans);
                        scored.push((p, spans));
                    }
                }
            }
            if scored.is_empty() {
                return Err(py_err("no preference pairs to evaluate"));
            }
            let figures = localisation_at(&scored, &units, within);
            serde_json::to_string(&figures).map_err(py_err)
        })
    }

    /// Draws one record as `creditlens render` does, to `path` (PNG, or SVG when it ends in .svg): a data-file
    /// record (scored first) or a record as [`Self::score_json`] returned it (drawn as it is). Returns the colour
    /// limit used.
    #[pyo3(signature = (record, path, metric="reward", scale="robust", theme="light", width=900, pixel_ratio=2.0,
        unit="token", force=false))]
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        py: Python<'_>,
        record: &str,
        path: PathBuf,
        metric: &str,
        scale: &str,
        theme: &str,
        width: u32,
        pixel_ratio: f32,
        unit: &str,
        force: bool,
    ) -> PyResult<f64> {
        let unit = parse_unit(unit)?;
        let metric = Metric::from_key(metric).ok_or_else(|| {
            let keys: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
            py_err(format!(
                "unknown metric `{metric}`; choose one of {}",
                keys.join(", ")
            ))
        })?;
        let scale = ScaleMode::parse(scale).map_err(py_err)?;
        let theme = match theme {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => {
                return Err(py_err(format!(
                    "unknown theme `{theme}`; use light or dark"
                )));
            }
        };
        py.detach(|| {
            let (scored, errors) = match serde_json::from_str::<RecordScore>(record) {
                Ok(scored) => (scored, Vec::new()),
                Err(_) => {
                    let r = parse_record(0, record).map_err(py_err)?;
                    let scored = self.scorer.score_record(0, &r).map_err(py_err)?;
                    let errors = match &r {
                        Record::Pair { error_spans, .. } => error_spans.clone(),
                        Record::Unpaired { .. } => Vec::new(),
                    };
                    (scored, errors)
                }
            };
            draw(
                &scored,
                &errors,
                &path,
                (metric, scale, theme),
                (width, pixel_ratio),
                unit,
                force,
            )
        })
    }
}

/// Draws `scored` (errors marked in rejected) to `path` as `creditlens render` does; returns the colour limit.
fn draw(
    scored: &RecordScore,
    errors: &[(usize, usize)],
    path: &Path,
    (metric, scale, theme): (Metric, ScaleMode, Theme),
    (width, pixel_ratio): (u32, f32),
    unit: Unit,
    force: bool,
) -> PyResult<f64> {
    if !(200..=8000).contains(&width) {
        return Err(py_err(format!("width {width} is not in 200..=8000")));
    }
    if !(0.5..=8.0).contains(&pixel_ratio) {
        return Err(py_err(format!(
            "pixel_ratio {pixel_ratio} is not in 0.5..=8 (2 for print)"
        )));
    }
    let words;
    let scored = match unit {
        Unit::Token => scored,
        Unit::Word => {
            words = record_by_words(scored);
            &words
        }
    };
    let opts = RenderOptions {
        width,
        pixel_ratio,
        theme,
        ..RenderOptions::default()
    };
    let (_, scale) =
        write_figure(scored, errors, (metric, scale), &opts, path, force).map_err(py_err)?;
    Ok(scale.limit)
}

/// The native module: [`NativeScorer`], [`CreditLensError`] and the library's version.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeScorer>()?;
    m.add("CreditLensError", m.py().get_type::<CreditLensError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
