//! The library's error type: every failure a user can cause names the file, field or record involved and says
//! what to do about it.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading checkpoints, reading data or scoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path given by the user does not exist.
    #[error("{}: no such file or directory; check the path", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A checkpoint path points at a file where a directory is expected.
    #[error(
        "{}: is a file, but a checkpoint is a directory holding config.json, model.safetensors and tokenizer.json (or a .gguf file); pass the directory",
        path.display()
    )]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
    },
    /// A folder given as a model holds none: no checkpoint, adapter, training checkpoints or GGUF file.
    #[error(
        "{}: no model here; looked for config.json + model.safetensors (a Hugging Face checkpoint), adapter_config.json (a PEFT LoRA adapter), checkpoint-N/ subfolders holding either (a training run's output_dir) and a *.gguf file{note}",
        dir.display()
    )]
    NoModel {
        /// The folder.
        dir: PathBuf,
        /// What else was seen, from `; ` (empty if nothing).
        note: String,
    },
    /// A model named by its Hub id is not (wholly) in the local Hugging Face cache.
    #[error("{id} (revision {revision}): {problem}; {fix}")]
    HubCache {
        /// The Hub id, `ORG/NAME`.
        id: String,
        /// The revision looked for.
        revision: String,
        /// What is missing, with the path looked at.
        problem: String,
        /// How to get it.
        fix: String,
    },
    /// A file every checkpoint needs is missing from its directory.
    #[error("{}: missing {what}; {hint}", dir.display())]
    MissingFile {
        /// The checkpoint directory.
        dir: PathBuf,
        /// Which file is missing.
        what: String,
        /// How to fix it.
        hint: String,
    },
    /// A JSON file of a checkpoint (config.json, tokenizer_config.json, ...) is malformed or holds a bad value.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// config.json names an architecture creditlens cannot run.
    #[error("{}: architecture `{arch}` is not supported; supported architectures: {supported}", path.display())]
    UnsupportedArchitecture {
        /// The config.json.
        path: PathBuf,
        /// The architecture named there.
        arch: String,
        /// The supported ones, comma separated.
        supported: String,
    },
    /// A safetensors file is truncated, corrupt, or otherwise unreadable.
    #[error("{}: {message}", path.display())]
    Safetensors {
        /// The safetensors file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A tensor the architecture needs is absent from the checkpoint.
    #[error("{}: tensor `{name}` is missing; the weights do not match config.json's architecture", dir.display())]
    MissingTensor {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The tensor name.
        name: String,
    },
    /// A tensor's shape disagrees with what config.json implies.
    #[error(
        "{}: tensor `{name}` has shape {got:?} but {implied_by} implies {expected:?}; the weights and {implied_by} do not belong together",
        path.display()
    )]
    ShapeMismatch {
        /// What the expected shape comes from: `config.json`, or a GGUF file's metadata.
        implied_by: &'static str,
        /// The safetensors file holding the tensor.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape config.json implies.
        expected: Vec<usize>,
        /// The shape stored in the file.
        got: Vec<usize>,
    },
    /// A tensor is stored in a dtype creditlens cannot load.
    #[error("{}: tensor `{name}` is stored as {dtype}; only F32, F16 and BF16 weights can be loaded (convert the checkpoint with save_pretrained)", path.display())]
    UnsupportedDtype {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// tokenizer.json cannot be loaded or used.
    #[error("{}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file or checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Policy and reference do not share a tokenizer.
    #[error(
        "policy and reference tokenizers differ: {0}; both checkpoints must share one tokenizer (same vocabulary and special tokens)"
    )]
    TokenizerMismatch(String),
    /// A data file or one of its records is malformed. `location` is `file:line`.
    #[error("{location}: {message}")]
    Data {
        /// `file:line` (or just the file) where the problem is.
        location: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A record cannot be scored (for example an empty response).
    #[error("{0}")]
    Record(String),
    /// An invalid option value.
    #[error("{0}")]
    InvalidArgument(String),
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (part of the message, so not also reported as a source).
        error: std::io::Error,
    },
    /// The tensor library failed during computation.
    #[error("model computation failed: {0}")]
    Candle(candle_core::Error),
    /// Results could not be written (serialised, or put in their file).
    #[error("{0}")]
    Output(String),
    /// The desktop app's window could not open or failed.
    #[error("{0}")]
    Window(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(without_backtrace(e))
    }
}

/// A candle error without the backtrace candle attaches when `RUST_BACKTRACE` is set (common among Rust users):
/// messages are for people, and a backtrace in a dialog or a CLI error helps none of them.
pub fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    use candle_core::Error as E;
    match e {
        E::WithBacktrace { inner, .. } => without_backtrace(*inner),
        E::WithPath { inner, path } => E::WithPath {
            inner: Box::new(without_backtrace(*inner)),
            path,
        },
        E::Context { inner, context } => E::Context {
            inner: Box::new(without_backtrace(*inner)),
            context,
        },
        other => other,
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }

    /// Whether this is a write to a closed pipe (`creditlens score | head`), which ends a run quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { error, .. } if error.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// A [`Error::Config`] for `path` with `message`.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `RUST_BACKTRACE=1`, candle wraps its errors in a backtrace; the message shown keeps only the words.
    #[test]
    fn candle_backtraces_stay_out_of_messages() {
        let e = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("unexpected end of file".into())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        let e = candle_core::Error::WithPath {
            inner: Box::new(e),
            path: "m.gguf".into(),
        };
        let msg = Error::from(e).to_string();
        assert!(
            msg.contains("unexpected end of file") && msg.contains("m.gguf"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "a backtrace in the message: {msg}");
    }
}
