//! Following a training run while it trains: which `checkpoint-N/` folders are complete and not yet scored.
//!
//! TRL's trainer writes a checkpoint's `trainer_state.json` last, so a folder is complete once that file exists;
//! until then its weights may be half-written. Folders may also vanish (`save_total_limit` deletes old ones). A
//! [`Follow`] hands out each complete checkpoint once, by step; [`scored_steps`] reads the steps a drift file already
//! holds, so that a restarted watcher scores nothing twice.

use crate::checkpoint::{TrainingCheckpoint, training_checkpoints};
use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Whether TRL has finished saving `checkpoint` (its `trainer_state.json`, written last, exists).
pub fn is_complete(checkpoint: &TrainingCheckpoint) -> bool {
    checkpoint.dir.join("trainer_state.json").is_file()
}

/// The complete checkpoints of a run folder not yet handed out.
#[derive(Debug)]
pub struct Follow {
    run: PathBuf,
    seen: BTreeSet<usize>,
}

impl Follow {
    /// Follows `run`, taking the steps in `already` as handed out (scored by an earlier watcher).
    pub fn new(run: &Path, already: impl IntoIterator<Item = usize>) -> Self {
        Self {
            run: run.to_path_buf(),
            seen: already.into_iter().collect(),
        }
    }

    /// The run folder.
    pub fn run(&self) -> &Path {
        &self.run
    }

    /// The checkpoints that are complete now and were not handed out before, by step; each is handed out once.
    pub fn poll(&mut self) -> Vec<TrainingCheckpoint> {
        let new: Vec<TrainingCheckpoint> = training_checkpoints(&self.run)
            .into_iter()
            .filter(|c| !self.seen.contains(&c.step) && is_complete(c))
            .collect();
        self.seen.extend(new.iter().map(|c| c.step));
        new
    }
}

/// The `step` of every line of a drift JSON-lines file (empty if it does not exist): what a watcher already scored.
pub fn scored_steps(path: &Path) -> Result<BTreeSet<usize>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("step")?.as_u64())
                .map(|s| s as usize)
                .ok_or_else(|| Error::Data {
                    location: format!("{}:{}", path.display(), n + 1),
                    message: "not a drift row (a JSON object with a step); give another --out"
                        .into(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_handed_out_once_and_only_when_complete() {
        let dir = tempfile::tempdir().expect("temp");
        let ck = |n: usize| dir.path().join(format!("checkpoint-{n}"));
        std::fs::create_dir(ck(10)).expect("mkdir");
        std::fs::write(ck(10).join("config.json"), "{}").expect("write");
        let mut follow = Follow::new(dir.path(), [5]);
        assert!(follow.poll().is_empty(), "no trainer_state.json yet");
        std::fs::write(ck(10).join("trainer_state.json"), "{}").expect("write");
        assert_eq!(
            follow.poll().iter().map(|c| c.step).collect::<Vec<_>>(),
            [10]
        );
        assert!(follow.poll().is_empty(), "handed out once");
        for n in [5, 20] {
            std::fs::create_dir(ck(n)).expect("mkdir");
            std::fs::write(ck(n).join("config.json"), "{}").expect("write");
            std::fs::write(ck(n).join("trainer_state.json"), "{}").expect("write");
        }
        assert_eq!(
            follow.poll().iter().map(|c| c.step).collect::<Vec<_>>(),
            [20],
            "5 was scored before"
        );
        let out = dir.path().join("drift.jsonl");
        assert!(scored_steps(&out).expect("absent").is_empty());
        std::fs::write(&out, "{\"step\": 40}\n{\"step\": 80}\n").expect("write");
        assert_eq!(scored_steps(&out).expect("read"), BTreeSet::from([40, 80]));
        std::fs::write(&out, "{\"step\": 40}\nnot json\n").expect("write");
        assert!(
            scored_steps(&out)
                .unwrap_err()
                .to_string()
                .contains("drift.jsonl:2")
        );
    }
}
