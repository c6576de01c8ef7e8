//! Shared test helpers: paths to the fixtures, a temp dir per test, and running the real binary with its output
//! printed on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture checkpoint directory by name (`llama`, `qwen3_ref`, ...).
pub fn model(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

/// A fresh temporary directory, removed when dropped.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// Copies a fixture checkpoint into `dest` (created) so a test can damage it.
pub fn copy_model(name: &str, dest: &Path) {
    std::fs::create_dir_all(dest).expect("mkdir");
    for entry in std::fs::read_dir(model(name)).expect("read fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("copy");
    }
}

/// Rewrites the JSON file at `path` (a config.json, adapter_config.json, tokenizer_config.json) with `edit`
/// applied.
pub fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
    edit(&mut json);
    std::fs::write(path, serde_json::to_vec_pretty(&json).expect("json")).expect("write");
}

/// A copy of fixture checkpoint `name` in `dest` whose config.json `edit` has changed: the checkpoint of a test
/// that a configuration is refused.
pub fn model_with_config(
    name: &str,
    dest: &Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> PathBuf {
    copy_model(name, dest);
    edit_json(&dest.join("config.json"), edit);
    dest.to_path_buf()
}

/// The result of running the binary.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts success and returns self.
    pub fn ok(self) -> Self {
        assert!(
            self.output.status.success(),
            "command failed\n{}",
            self.dump()
        );
        self
    }

    /// Asserts failure with `needle` in stderr, and that nothing panicked.
    pub fn fails_with(self, needle: &str) -> Self {
        assert!(
            !self.output.status.success(),
            "command succeeded unexpectedly\n{}",
            self.dump()
        );
        let err = self.stderr();
        assert!(
            err.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        assert!(
            !err.contains("panicked"),
            "the binary panicked\n{}",
            self.dump()
        );
        self
    }
}

/// Runs `creditlens` with `args` in `dir`.
pub fn creditlens(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_creditlens"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run creditlens");
    Run { output }
}

/// Path as a string for command lines.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The embedded demo's folder (its reference, pairs and training checkpoints).
pub fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// Saves the demo's checkpoint-`step` into the training folder `run` as a trainer does: the weights first, and the
/// trainer_state.json it writes last only when `complete`.
pub fn save_demo_checkpoint(run: &Path, step: usize, complete: bool) {
    let from = demo_dir().join(format!("checkpoints/checkpoint-{step}"));
    let to = run.join(format!("checkpoint-{step}"));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap().flatten() {
        if complete || entry.file_name() != "trainer_state.json" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
