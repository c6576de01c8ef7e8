//! Scoring a dataset across the jobs of a cluster scheduler, and joining their outputs.
//!
//! `creditlens score --shard I/N` scores records I, I+N, I+2N, ...; `--shard auto` takes I and N from the scheduler
//! it runs under ([`Shard::parse`]: Slurm job arrays, Kubernetes Indexed Jobs). Each shard's output gets a sidecar,
//! `<out>.run.json` ([`RunInfo`]), saying what produced it: the models and settings, the data file (size and a
//! hash), the shard and the records it skipped. [`merge`] joins shard outputs into what one unsharded run writes,
//! byte for byte, and refuses anything that would make that false: a shard missing or given twice, a record in two
//! outputs or in none, outputs of different models, settings or data.

use crate::error::{Error, Result};
use crate::partial_file::{PartialFile, same_file};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One job's part of a dataset: the records whose index is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    /// How many shards the dataset is split into.
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether record `index` (0-based, in the data file) belongs to this shard.
    pub fn takes(&self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// `--shard`'s value: `I/N`; `auto`, which reads the array index (and count) of the scheduler job it runs in
    /// from `env` (Slurm: `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, with `SLURM_ARRAY_TASK_MIN` and
    /// `_STEP` for arrays such as `--array=1-8` or `0-15:2`; Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`); or
    /// `auto/N`, the same with the count given (a Kubernetes pod is not told its Job's `completions`).
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Shard, String> {
        let text = text.trim();
        let (head, count) = match text.split_once('/') {
            Some((h, n)) => (h.trim(), Some(number(n, "N")?)),
            None => (text, None),
        };
        let shard = if head == "auto" {
            auto(count, &env)?
        } else {
            let Some(count) = count else {
                return Err(format!(
                    "`{text}` is not of the form I/N (e.g. 0/4), auto or auto/N"
                ));
            };
            Shard {
                index: number(head, "I")?,
                count,
            }
        };
        if shard.count == 0 || shard.index >= shard.count {
            return Err(format!("shard {shard}: need 0 <= I < N"));
        }
        Ok(shard)
    }
}

fn number(text: &str, what: &str) -> std::result::Result<usize, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number ({what} of I/N)", text.trim()))
}

/// `--shard auto[/N]`: the shard of the scheduler job this process runs in.
fn auto(
    given: Option<usize>,
    env: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<Shard, String> {
    let var = |name: &str| -> std::result::Result<Option<usize>, String> {
        match env(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("--shard auto: {name}={v} is not a number")),
        }
    };
    if let Some(id) = var("SLURM_ARRAY_TASK_ID")? {
        let min = var("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = var("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        if id < min || (id - min) % step != 0 {
            return Err(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID={id} is not in the array {min}, {}, ... (step {step})",
                min + step
            ));
        }
        let index = (id - min) / step;
        let count = match (given, var("SLURM_ARRAY_TASK_COUNT")?) {
            (Some(n), Some(m)) if n != m => {
                return Err(format!(
                    "--shard auto/{n}: the Slurm array has {m} tasks (SLURM_ARRAY_TASK_COUNT); give --shard auto"
                ));
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err("--shard auto: SLURM_ARRAY_TASK_COUNT is not set; give the count: --shard auto/N".into());
            }
        };
        return Ok(Shard { index, count });
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX")? {
        let Some(count) = given else {
            return Err(
                "--shard auto: a Kubernetes Indexed Job tells a pod its index (JOB_COMPLETION_INDEX) but not the \
                 Job's completions; give them: --shard auto/N"
                    .into(),
            );
        };
        return Ok(Shard { index, count });
    }
    Err(
        "--shard auto: no scheduler array index in the environment (SLURM_ARRAY_TASK_ID of a Slurm job array, \
         JOB_COMPLETION_INDEX of a Kubernetes Indexed Job); give --shard I/N"
            .into(),
    )
}

/// The data file a run scored, as a merge compares it: its name, size, a hash of its bytes and its record count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// As given on the command line.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// FNV-1a (64-bit) of its bytes, in hex.
    pub fnv1a64: String,
    /// Records in it (good and bad).
    pub records: usize,
}

impl DataFile {
    /// Describes `path`, which holds `records` records.
    pub fn of(path: &Path, records: usize) -> Result<DataFile> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Ok(DataFile {
            path: path.display().to_string(),
            bytes: bytes.len() as u64,
            fnv1a64: format!("{hash:016x}"),
            records,
        })
    }
}

/// What produced one shard's output: written beside it as `<out>.run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The creditlens version that scored it.
    pub creditlens: String,
    /// The models and scoring settings, as given (every field must agree between shards).
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The data file.
    pub data: DataFile,
    /// The shard it scored.
    pub shard: Shard,
    /// Records of the shard left out because they could not be scored (`--skip-bad`).
    pub skipped: Vec<usize>,
}

/// `<out>.run.json`.
pub fn sidecar_path(out: &Path) -> PathBuf {
    crate::partial_file::suffixed(out, ".run.json")
}

impl RunInfo {
    /// Writes the sidecar of `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let path = sidecar_path(out);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }

    /// Reads the sidecar of `out`.
    pub fn read(out: &Path) -> Result<RunInfo> {
        let path = sidecar_path(out);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidArgument(format!(
                "{}: missing; merge joins the outputs of `creditlens score --shard ... --out FILE.jsonl`, which \
                 writes FILE.jsonl.run.json beside each (was {} scored without --shard, or the sidecar not copied \
                 with it?)",
                path.display(),
                out.display()
            )),
            _ => Error::io(&path, e),
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::config(&path, format!("not a creditlens run sidecar: {e}")))
    }
}

/// What [`merge`] joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Records written.
    pub records: usize,
    /// Records the shards skipped (`--skip-bad`), in no output.
    pub skipped: usize,
    /// Shards joined.
    pub shards: usize,
}

/// Joins the JSON-lines outputs `shards` of one sharded run into `out`, in record order: what one unsharded run
/// writes. Refused (nothing written) when a shard is missing or given twice, when a record is in two outputs or in
/// none (an interrupted shard), when a record is in the wrong shard's output, and when the outputs come from
/// different models, settings, data or creditlens versions. `out` is not overwritten unless `overwrite`.
pub fn merge(out: &Path, shards: &[PathBuf], overwrite: bool) -> Result<Merged> {
    let Some(first) = shards.first() else {
        return Err(Error::InvalidArgument(
            "merge: give the shard outputs to join".into(),
        ));
    };
    for s in shards {
        if same_file(s, out) {
            return Err(Error::InvalidArgument(format!(
                "{}: is both the merged output and a shard; choose another output",
                out.display()
            )));
        }
        if crate::output::Format::from_path(s)? != crate::output::Format::Jsonl {
            return Err(Error::InvalidArgument(format!(
                "{}: merge joins JSON-lines outputs; score the shards with a .jsonl --out",
                s.display()
            )));
        }
    }
    let infos = shards
        .iter()
        .map(|s| RunInfo::read(s))
        .collect::<Result<Vec<_>>>()?;
    let base = &infos[0];
    let mut by_shard: BTreeMap<usize, &Path> = BTreeMap::new();
    for (info, path) in infos.iter().zip(shards) {
        agree(base, first, info, path)?;
        if let Some(other) = by_shard.insert(info.shard.index, path) {
            return Err(Error::InvalidArgument(format!(
                "{} and {} are both shard {}; give each shard once",
                other.display(),
                path.display(),
                info.shard
            )));
        }
    }
    let count = base.shard.count;
    let missing: Vec<String> = (0..count)
        .filter(|i| !by_shard.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "shard(s) {} missing: the run was split into {count}; give every shard's output",
            missing.join(", ")
        )));
    }
    // Every record line, by index.
    let mut lines: BTreeMap<usize, (String, &Path)> = BTreeMap::new();
    for (info, path) in infos.iter().zip(shards) {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let at = || format!("{}:{}", path.display(), n + 1);
            let index = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("index")?.as_u64())
                .ok_or_else(|| Error::Data {
                    location: at(),
                    message: "not a creditlens score record (a JSON object with an index)".into(),
                })? as usize;
            if !info.shard.takes(index) {
                return Err(Error::Data {
                    location: at(),
                    message: format!("record {index} does not belong to shard {}", info.shard),
                });
            }
            if let Some((_, other)) = lines.insert(index, (line.to_string(), path)) {
                return Err(Error::Data {
                    location: at(),
                    message: format!(
                        "record {index} is also in {}; give each shard's output once",
                        other.display()
                    ),
                });
            }
        }
    }
    let skipped: std::collections::BTreeSet<usize> = infos
        .iter()
        .flat_map(|i| i.skipped.iter().copied())
        .collect();
    let absent: Vec<usize> = (0..base.data.records)
        .filter(|i| !lines.contains_key(i) && !skipped.contains(i))
        .collect();
    if !absent.is_empty() {
        let shown: Vec<String> = absent.iter().take(10).map(|i| i.to_string()).collect();
        let owners: std::collections::BTreeSet<String> = absent
            .iter()
            .filter_map(|i| by_shard.get(&(i % count)))
            .map(|p| p.display().to_string())
            .collect();
        return Err(Error::InvalidArgument(format!(
            "record(s) {}{} of {} are in no output (an interrupted shard? finish {} with --resume)",
            shown.join(", "),
            if absent.len() > shown.len() {
                ", ..."
            } else {
                ""
            },
            base.data.path,
            owners.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let (mut file, _) = PartialFile::create(out, overwrite, false)?;
    for (line, _) in lines.values() {
        writeln!(file.file(), "{line}").map_err(|e| Error::io(out, e))?;
    }
    file.finish()?;
    Ok(Merged {
        records: lines.len(),
        skipped: skipped.len(),
        shards: count,
    })
}

/// Refuses `info` (of `path`) unless it comes from the same run as `base` (of `base_path`).
fn agree(base: &RunInfo, base_path: &Path, info: &RunInfo, path: &Path) -> Result<()> {
    let differ = |what: String, a: String, b: String| {
        Err(Error::InvalidArgument(format!(
            "{} and {} come from different runs: {what} {a} vs {b}; merge only the shards of one run",
            base_path.display(),
            path.display()
        )))
    };
    if info.creditlens != base.creditlens {
        return differ(
            "creditlens".into(),
            base.creditlens.clone(),
            info.creditlens.clone(),
        );
    }
    let keys: std::collections::BTreeSet<&String> =
        base.settings.keys().chain(info.settings.keys()).collect();
    for key in keys {
        let (a, b) = (base.settings.get(key), info.settings.get(key));
        if a != b {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("(not set)".into(), |v| v.to_string());
            return differ(format!("--{}", key.replace('_', "-")), show(a), show(b));
        }
    }
    if info.data != base.data {
        let (a, b) = (&base.data, &info.data);
        return differ(
            "data".into(),
            format!("{} ({} bytes, fnv1a64 {})", a.path, a.bytes, a.fnv1a64),
            format!("{} ({} bytes, fnv1a64 {})", b.path, b.bytes, b.fnv1a64),
        );
    }
    if info.shard.count != base.shard.count {
        return differ(
            "shard count".into(),
            base.shard.to_string(),
            info.shard.to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_come_from_the_argument_or_the_scheduler() {
        let none = env(&[]);
        assert_eq!(Shard::parse("1/4", &none), Ok(Shard { index: 1, count: 4 }));
        assert!(
            Shard::parse("4/4", &none)
                .unwrap_err()
                .contains("0 <= I < N")
        );
        assert!(
            Shard::parse("x/4", &none)
                .unwrap_err()
                .contains("not a number")
        );
        assert!(Shard::parse("3", &none).unwrap_err().contains("I/N"));
        assert!(
            Shard::parse("auto", &none)
                .unwrap_err()
                .contains("SLURM_ARRAY_TASK_ID")
        );
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::parse("auto", &slurm),
            Ok(Shard { index: 3, count: 8 })
        );
        assert!(
            Shard::parse("auto/4", &slurm)
                .unwrap_err()
                .contains("8 tasks")
        );
        // --array=1-8: ids 1..8 are shards 0..7; --array=0-14:2: ids 0, 2, ... 14 are shards 0..7.
        let from_one = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::parse("auto", &from_one),
            Ok(Shard { index: 7, count: 8 })
        );
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::parse("auto", &stepped),
            Ok(Shard { index: 3, count: 8 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert!(Shard::parse("auto", &k8s).unwrap_err().contains("auto/N"));
        assert_eq!(
            Shard::parse("auto/3", &k8s),
            Ok(Shard { index: 2, count: 3 })
        );
        assert!(
            Shard::parse("auto/2", &k8s)
                .unwrap_err()
                .contains("0 <= I < N")
        );
    }
}
