//! The embedded demo: the checkpoints and pairs in `assets/demo/` (a reference, the final DPO policy, its
//! `checkpoint-N/` folders and labelled pairs), found wherever creditlens runs from.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where the demo assets are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAssets {
    /// The `assets/demo` directory.
    pub root: PathBuf,
}

/// Environment variable that points at another `assets/demo` directory.
pub const DEMO_ENV: &str = "CREDITLENS_DEMO";

impl DemoAssets {
    /// Finds the demo: `$CREDITLENS_DEMO`, then `assets/demo` next to the executable or up to three folders above
    /// it (`target/release/creditlens` in a checkout), then the crate's own `assets/demo` (where it was built).
    pub fn locate() -> Result<Self> {
        let mut tried = Vec::new();
        if let Some(dir) = std::env::var_os(DEMO_ENV) {
            let dir = PathBuf::from(dir);
            if Self::complete(&dir) {
                return Ok(Self { root: dir });
            }
            return Err(Error::InvalidArgument(format!(
                "{DEMO_ENV}={} is not a demo directory (it needs reference/, policy/ and pairs.jsonl)",
                dir.display()
            )));
        }
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1).take(4) {
                tried.push(dir.join("assets/demo"));
            }
        }
        tried.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo"));
        for dir in &tried {
            if Self::complete(dir) {
                return Ok(Self { root: dir.clone() });
            }
        }
        Err(Error::InvalidArgument(format!(
            "the embedded demo was not found (looked in {}); pass --policy and --reference, or set {DEMO_ENV}",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn complete(dir: &Path) -> bool {
        dir.join("reference/config.json").is_file()
            && dir.join("policy/config.json").is_file()
            && dir.join("pairs.jsonl").is_file()
    }

    /// The final DPO policy.
    pub fn policy(&self) -> PathBuf {
        self.root.join("policy")
    }

    /// The SFT reference.
    pub fn reference(&self) -> PathBuf {
        self.root.join("reference")
    }

    /// The folder of `checkpoint-N/` subfolders saved during DPO.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The pairs the app opens on: hand-written ones first, then held-out pairs (all with `error_spans`).
    pub fn pairs(&self) -> PathBuf {
        self.root.join("pairs.jsonl")
    }

    /// The held-out labelled pairs the README's figures are measured on.
    pub fn heldout(&self) -> PathBuf {
        self.root.join("heldout.jsonl")
    }
}
