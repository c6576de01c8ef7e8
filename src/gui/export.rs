//! Export of what is shown: the heatmap as a PNG (the same renderer as `creditlens render`), or the scores as CSV
//! or JSON. An existing file is only replaced after the user confirms.

use crate::heatmap::{Metric, ScaleMode, Theme};
use crate::output::ScoreWriter;
use crate::render::{HeatmapSpec, RenderOptions, render, save_png, save_svg};
use crate::score::RecordScore;
use std::path::{Path, PathBuf};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The heatmap figure.
    Png,
    /// The heatmap figure as vector graphics (for papers).
    Svg,
    /// One row per token.
    Csv,
    /// The record's scores as one JSON object.
    Json,
}

impl Format {
    /// Every format, in the window's order.
    pub const ALL: [Format; 4] = [Format::Png, Format::Svg, Format::Csv, Format::Json];

    /// The format a file name's extension names, if any.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        Self::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(ext))
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// The export window's state.
pub struct ExportState {
    /// Whether the window is open.
    pub open: bool,
    /// Chosen format.
    pub format: Format,
    /// Target path as typed.
    pub path: String,
    /// PNG: device pixels per logical pixel.
    pub pixel_ratio: f32,
    /// PNG: light or dark figure.
    pub theme: Theme,
    /// A path waiting for "overwrite?" confirmation.
    pub confirm: Option<PathBuf>,
    /// Outcome of the last export.
    pub status: Option<Result<String, String>>,
    /// The format and path that `status` and `confirm` are about; they are forgotten once either changes.
    pub asked: Option<(Format, String)>,
}

/// The export window's choices, as an [`Action::SetExport`](super::action::Action::SetExport) carries them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Chosen format.
    pub format: Format,
    /// Target path as typed.
    pub path: String,
    /// PNG: device pixels per logical pixel.
    pub pixel_ratio: f32,
    /// PNG and SVG: light or dark figure.
    pub theme: Theme,
}

impl ExportState {
    /// The choices made.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            format: self.format,
            path: self.path.clone(),
            pixel_ratio: self.pixel_ratio,
            theme: self.theme,
        }
    }

    /// Makes these choices (a result or pending "overwrite?" about another format or path is forgotten).
    pub fn set_options(&mut self, o: ExportOptions) {
        self.format = o.format;
        self.path = o.path;
        self.pixel_ratio = o.pixel_ratio;
        self.theme = o.theme;
        self.forget_if_changed();
    }

    /// Forgets the outcome of the last export and a pending "overwrite?" once the format or the path differ from
    /// those they were about (a "wrote heatmap.png" under an SVG path would say what did not happen).
    pub fn forget_if_changed(&mut self) {
        let now = (self.format, self.path.trim().to_string());
        if self.asked.as_ref().is_some_and(|a| *a != now) {
            self.status = None;
            self.confirm = None;
            self.asked = None;
        }
    }

    /// Records that `status` and `confirm` are about the format and path now set.
    pub fn asked_now(&mut self) {
        self.asked = Some((self.format, self.path.trim().to_string()));
    }
}

impl Default for ExportState {
    fn default() -> Self {
        Self {
            open: false,
            format: Format::Png,
            path: "heatmap.png".into(),
            pixel_ratio: 2.0,
            theme: Theme::Light,
            confirm: None,
            status: None,
            asked: None,
        }
    }
}

/// What an export says beyond the scores.
#[derive(Debug, Clone, Default)]
pub struct ExportContext {
    /// Fields for CSV (trailing columns) and JSON (keys): beta, the model paths, the tokenisation.
    pub fields: Vec<(String, String)>,
    /// Labelled error spans of rejected, outlined in the figure.
    pub error_spans: Vec<(usize, usize)>,
}

/// Writes `record` to `path` in `format`; `overwrite` must be true to replace an existing file.
pub fn write(
    record: &RecordScore,
    path: &Path,
    format: Format,
    (metric, scale): (Metric, ScaleMode),
    state: &ExportState,
    context: &ExportContext,
    overwrite: bool,
) -> crate::error::Result<String> {
    match format {
        Format::Png | Format::Svg => {
            let spec =
                HeatmapSpec::for_record_with_errors(record, metric, scale, &context.error_spans);
            let rendered = render(
                &spec,
                &RenderOptions {
                    pixel_ratio: state.pixel_ratio,
                    theme: state.theme,
                    ..RenderOptions::default()
                },
            )?;
            if format == Format::Svg {
                save_svg(&rendered, path, overwrite)?;
            } else {
                save_png(&rendered, path, overwrite)?;
            }
            Ok(format!(
                "wrote {} ({}x{} px)",
                path.display(),
                rendered.image.width(),
                rendered.image.height()
            ))
        }
        Format::Csv | Format::Json => {
            if matches!(format, Format::Json) {
                if path.exists() && !overwrite {
                    return Err(crate::error::Error::InvalidArgument(format!(
                        "{} already exists",
                        path.display()
                    )));
                }
                let value = crate::output::record_json(record, &context.fields)?;
                let json = serde_json::to_string_pretty(&value)
                    .map_err(|e| crate::error::Error::Output(format!("cannot serialise: {e}")))?;
                std::fs::write(path, json).map_err(|e| crate::error::Error::io(path, e))?;
            } else {
                let mut w =
                    ScoreWriter::create(path, overwrite)?.with_context(context.fields.clone());
                w.write(record)?;
                w.finish()?;
            }
            Ok(format!("wrote {}", path.display()))
        }
    }
}

/// Replaces the extension of `path` with the format's.
pub fn with_extension(path: &str, format: Format) -> String {
    let p = Path::new(path);
    p.with_extension(format.extension())
        .to_string_lossy()
        .into_owned()
}
