//! Models by their Hugging Face Hub id (`HuggingFaceTB/SmolLM2-135M-Instruct`), found in the local Hugging Face
//! cache exactly as `huggingface_hub` (and so transformers, `hf download` and `huggingface-cli download`) lays it
//! out. Nothing is downloaded.
//!
//! The cache is `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE` (its older name), else `HF_HOME/hub`, else
//! `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. A model `ORG/NAME` lives in
//! `models--ORG--NAME/`: `refs/<revision>` is a file holding a commit hash, `snapshots/<commit>/` holds the files
//! (symlinks into `../../blobs/`). A revision that names no ref is taken as a commit (`snapshots/<revision>/`), as
//! `huggingface_hub.try_to_load_from_cache` does. The revision is `main` unless one is given, as `--revision` or
//! as `ORG/NAME@REVISION`.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// The revision used when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// A model named by its Hub id, with the revision asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// `ORG/NAME` (or a bare `NAME`).
    pub repo: String,
    /// A branch, tag, `refs/pr/N` or commit hash; `None`: [`DEFAULT_REVISION`].
    pub revision: Option<String>,
}

impl HubId {
    /// Reads `ORG/NAME`, `NAME`, or either followed by `@REVISION`; `None` when `spec` cannot be a Hub id (an
    /// absolute path, `./x`, a name with characters the Hub does not allow, ...).
    pub fn parse(spec: &str) -> Option<Self> {
        let (repo, revision) = match spec.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev)),
            None => (spec, None),
        };
        if !is_repo_id(repo) || revision.is_some_and(|r| !is_revision(r)) {
            return None;
        }
        Some(Self {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    /// The revision asked for, or [`DEFAULT_REVISION`].
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// The model's folder in the cache: `models--ORG--NAME`.
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }

    /// The command that puts this model (at this revision) in the cache.
    pub fn download_command(&self) -> String {
        match &self.revision {
            Some(r) if r != DEFAULT_REVISION => format!("hf download {} --revision {r}", self.repo),
            _ => format!("hf download {}", self.repo),
        }
    }

    /// An error about this model: `problem`, then how to get it.
    pub fn error(&self, problem: impl Into<String>) -> Error {
        Error::HubCache {
            id: self.repo.clone(),
            revision: self.revision().to_string(),
            problem: problem.into(),
            fix: format!(
                "get it with `{}` (or `{}`), or point HF_HUB_CACHE or HF_HOME at the cache that holds it",
                self.download_command(),
                self.download_command()
                    .replacen("hf download", "huggingface-cli download", 1)
            ),
        }
    }
}

/// Whether `s` is a Hub repository id as `huggingface_hub.utils.validate_repo_id` accepts it: `NAME` or
/// `ORG/NAME` of letters, digits, `-`, `_` and `.`, neither part starting or ending with `-` or `.`, no `--` or
/// `..`, the name at most 96 characters.
pub fn is_repo_id(s: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
    };
    let parts: Vec<&str> = s.split('/').collect();
    let name_ok = parts.last().is_some_and(|n| n.len() <= 96);
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| part_ok(p))
        && name_ok
        && !s.contains("--")
        && !s.contains("..")
        && !s.ends_with(".git")
}

/// Whether `r` can be a revision: a relative path of plain parts (`main`, `v1.0`, `refs/pr/1`, a commit hash).
fn is_revision(r: &str) -> bool {
    !r.is_empty()
        && !r.contains('\\')
        && Path::new(r)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// The Hugging Face cache folder, from this process's environment (see the module's documentation); `None` when
/// no variable says and there is no home folder.
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

/// [`cache_dir`] with the environment read through `var` (empty values count as unset).
pub fn cache_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = get("HOME").or_else(|| get("USERPROFILE"));
    let expand = |p: PathBuf| -> Option<PathBuf> {
        match p.strip_prefix("~") {
            Ok(rest) => Some(home.clone()?.join(rest)),
            Err(_) => Some(p),
        }
    };
    if let Some(dir) = get("HF_HUB_CACHE").or_else(|| get("HUGGINGFACE_HUB_CACHE")) {
        return expand(dir);
    }
    let hf_home = match get("HF_HOME") {
        Some(h) => h,
        None => get("XDG_CACHE_HOME")
            .unwrap_or_else(|| PathBuf::from("~/.cache"))
            .join("huggingface"),
    };
    Some(expand(hf_home)?.join("hub"))
}

/// The snapshot folder of `id` in the cache of this process's environment.
pub fn snapshot(id: &HubId) -> Result<PathBuf> {
    let cache = cache_dir().ok_or_else(|| {
        id.error("there is no home folder, so the Hugging Face cache cannot be found (set HF_HUB_CACHE or HF_HOME)")
    })?;
    snapshot_in(&cache, id)
}

/// The snapshot folder of `id` in the cache `cache`: `refs/<revision>`'s commit, or the revision itself taken as a
/// commit. The error names the id, the revision and the path looked at.
pub fn snapshot_in(cache: &Path, id: &HubId) -> Result<PathBuf> {
    let root = cache.join(id.cache_folder());
    if !root.is_dir() {
        return Err(id.error(format!(
            "no such file or directory, and not in the Hugging Face cache either ({} does not exist)",
            root.display()
        )));
    }
    let revision = id.revision();
    let ref_file = root.join("refs").join(revision);
    let commit = if ref_file.is_file() {
        let text = std::fs::read_to_string(&ref_file).map_err(|e| Error::io(&ref_file, e))?;
        let commit = text.trim().to_string();
        if !is_revision(&commit) || commit.contains('/') {
            return Err(id.error(format!(
                "{} does not hold a commit hash",
                ref_file.display()
            )));
        }
        commit
    } else {
        revision.to_string()
    };
    let snapshot = root.join("snapshots").join(&commit);
    if snapshot.is_dir() {
        return Ok(snapshot);
    }
    let problem = if ref_file.is_file() {
        format!(
            "{} names commit {commit}, but {} does not exist",
            ref_file.display(),
            snapshot.display()
        )
    } else {
        let mut refs = Vec::new();
        list_refs(&root.join("refs"), "", &mut refs);
        refs.sort();
        format!(
            "the cache holds no revision {revision} ({} and {} do not exist; cached revisions: {})",
            ref_file.display(),
            snapshot.display(),
            if refs.is_empty() {
                "none".to_string()
            } else {
                refs.join(", ")
            }
        )
    };
    Err(id.error(problem))
}

/// The Hub id of the cache snapshot folder `dir` (`.../models--ORG--NAME/snapshots/<commit>`), with the revision
/// a ref of the cache names it by (`main` first), else its commit; `None` when `dir` is not laid out as one.
pub fn snapshot_id(dir: &Path) -> Option<HubId> {
    let commit = dir.file_name()?.to_str()?;
    let snapshots = dir.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let root = snapshots.parent()?;
    let folder = root.file_name()?.to_str()?.strip_prefix("models--")?;
    let repo = folder.replacen("--", "/", 1);
    if !is_repo_id(&repo) {
        return None;
    }
    let mut refs = Vec::new();
    list_refs(&root.join("refs"), "", &mut refs);
    refs.sort_by_key(|r| (r != DEFAULT_REVISION, r.clone()));
    let named = refs.into_iter().find(|r| {
        std::fs::read_to_string(root.join("refs").join(r)).is_ok_and(|c| c.trim() == commit)
    });
    Some(HubId {
        repo,
        revision: Some(named.unwrap_or_else(|| commit.to_string())),
    })
}

/// The ref names under `dir` (`main`, `refs/pr/1`, ...), each prefixed with `prefix`.
fn list_refs(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            list_refs(&path, &format!("{prefix}{name}/"), out);
        } else {
            out.push(format!("{prefix}{name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "1d6b5c1f64b1fdd3a1b41dcfb5fa2a4ac8b09b3e";
    const OTHER: &str = "6e2b0a44f3c8fd1de7f9a8f4b7f5a6ed6b7d1c2a";

    /// Writes a repo into `cache` as huggingface_hub does: blobs, a snapshot per commit of relative symlinks to
    /// them, and refs holding commits without a newline.
    fn write_repo(
        cache: &Path,
        repo: &str,
        snapshots: &[(&str, &[(&str, &str)])],
        refs: &[(&str, &str)],
    ) {
        let root = cache.join(format!("models--{}", repo.replace('/', "--")));
        std::fs::create_dir_all(root.join("blobs")).expect("blobs");
        for (commit, files) in snapshots {
            let snap = root.join("snapshots").join(commit);
            std::fs::create_dir_all(&snap).expect("snapshot");
            for (i, (name, text)) in files.iter().enumerate() {
                let blob = format!("{commit}{i:024}");
                std::fs::write(root.join("blobs").join(&blob), text).expect("blob");
                #[cfg(unix)]
                std::os::unix::fs::symlink(Path::new("../../blobs").join(&blob), snap.join(name))
                    .expect("symlink");
                #[cfg(not(unix))]
                std::fs::write(snap.join(name), text).expect("file");
            }
        }
        for (name, commit) in refs {
            let path = root.join("refs").join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("refs");
            std::fs::write(path, commit).expect("ref");
        }
    }

    fn id(spec: &str) -> HubId {
        HubId::parse(spec).expect(spec)
    }

    #[test]
    fn ids_and_revisions_parse_as_the_hub_allows() {
        assert_eq!(
            id("HuggingFaceTB/SmolLM2-135M-Instruct"),
            HubId {
                repo: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
                revision: None
            }
        );
        assert_eq!(id("gpt2").repo, "gpt2");
        let at = id("org/name@refs/pr/1");
        assert_eq!((at.repo.as_str(), at.revision()), ("org/name", "refs/pr/1"));
        assert_eq!(id("org/name").revision(), "main");
        assert_eq!(id("org/name").cache_folder(), "models--org--name");
        for bad in [
            "/abs/path",
            "./x",
            "../x",
            "a/b/c",
            "org/",
            "/name",
            "org--x/name",
            "org/na..me",
            "org/-name",
            "org/name.",
            "org/name@",
            "org/name@../x",
            "org/name@/etc",
            "org/na me",
            "",
        ] {
            assert!(HubId::parse(bad).is_none(), "{bad:?} parsed");
        }
        assert!(!is_repo_id(&format!("org/{}", "n".repeat(97))));
        assert_eq!(id("org/name").download_command(), "hf download org/name");
        assert_eq!(
            id("org/name@v2").download_command(),
            "hf download org/name --revision v2"
        );
    }

    /// The cache folder follows huggingface_hub's constants: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub,
    /// XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub, with `~` expanded and empty values unset.
    #[test]
    fn the_cache_folder_follows_the_environment() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        }
        let all = [
            ("HOME", "/home/u"),
            ("HF_HUB_CACHE", "/c/hub"),
            ("HUGGINGFACE_HUB_CACHE", "/old"),
            ("HF_HOME", "/hf"),
            ("XDG_CACHE_HOME", "/xdg"),
        ];
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&all, "/c/hub"),
            (&all[2..], "/old"),
            (
                &[
                    ("HOME", "/home/u"),
                    ("HF_HOME", "/hf"),
                    ("XDG_CACHE_HOME", "/x"),
                ],
                "/hf/hub",
            ),
            (
                &[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")],
                "/xdg/huggingface/hub",
            ),
            (&[("HOME", "/home/u")], "/home/u/.cache/huggingface/hub"),
            (
                &[("HOME", "/home/u"), ("HF_HOME", "~/hf")],
                "/home/u/hf/hub",
            ),
            (
                &[("HOME", "/home/u"), ("HF_HUB_CACHE", ""), ("HF_HOME", "/h")],
                "/h/hub",
            ),
        ];
        for (vars, want) in cases {
            assert_eq!(
                cache_dir_from(env(vars)),
                Some(PathBuf::from(want)),
                "{vars:?}"
            );
        }
        assert_eq!(cache_dir_from(env(&[])), None);
    }

    #[test]
    fn refs_and_commits_resolve_to_snapshots() {
        let dir = tempfile::tempdir().expect("temp");
        let cache = dir.path();
        write_repo(
            cache,
            "org/model",
            &[
                (COMMIT, &[("config.json", "{\"a\": 1}")]),
                (OTHER, &[("config.json", "{\"a\": 2}")]),
            ],
            &[("main", COMMIT), ("v1", OTHER), ("refs/pr/1", OTHER)],
        );
        let root = cache.join("models--org--model/snapshots");
        assert_eq!(
            snapshot_in(cache, &id("org/model")).expect("main"),
            root.join(COMMIT)
        );
        assert_eq!(
            snapshot_in(cache, &id("org/model@v1")).expect("v1"),
            root.join(OTHER)
        );
        assert_eq!(
            snapshot_in(cache, &id("org/model@refs/pr/1")).expect("pr"),
            root.join(OTHER)
        );
        // A commit hash is a revision of its own.
        let by_commit = snapshot_in(cache, &id(&format!("org/model@{OTHER}"))).expect("commit");
        assert_eq!(by_commit, root.join(OTHER));
        // The files read through the symlinks into blobs/.
        assert_eq!(
            std::fs::read_to_string(by_commit.join("config.json")).expect("read"),
            "{\"a\": 2}"
        );
        // A ref file with a trailing newline (written by hand) works too.
        std::fs::write(
            cache.join("models--org--model/refs/v1"),
            format!("{COMMIT}\n"),
        )
        .expect("ref");
        assert_eq!(
            snapshot_in(cache, &id("org/model@v1")).expect("v1"),
            root.join(COMMIT)
        );
        // A snapshot folder says which id and revision it is, for error messages.
        let named = snapshot_id(&root.join(OTHER)).expect("a snapshot");
        assert_eq!(
            (named.repo.as_str(), named.revision()),
            ("org/model", "refs/pr/1")
        );
        let named = snapshot_id(&root.join(COMMIT)).expect("a snapshot");
        assert_eq!(named.revision(), "main");
        assert_eq!(snapshot_id(cache), None);
        assert_eq!(snapshot_id(&cache.join("models--org--model")), None);
    }

    #[test]
    fn what_is_missing_is_named_with_the_path_looked_at() {
        let dir = tempfile::tempdir().expect("temp");
        let cache = dir.path();
        write_repo(
            cache,
            "org/model",
            &[(COMMIT, &[("config.json", "{}")])],
            &[("main", COMMIT), ("stale", OTHER)],
        );
        let err = snapshot_in(cache, &id("org/absent"))
            .expect_err("absent")
            .to_string();
        for part in [
            "org/absent (revision main)",
            &cache.join("models--org--absent").display().to_string(),
            "`hf download org/absent`",
            "`huggingface-cli download org/absent`",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        let err = snapshot_in(cache, &id("org/model@v9"))
            .expect_err("v9")
            .to_string();
        for part in [
            "org/model (revision v9)",
            &cache
                .join("models--org--model/refs/v9")
                .display()
                .to_string(),
            "cached revisions: main, stale",
            "hf download org/model --revision v9",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        let err = snapshot_in(cache, &id("org/model@stale"))
            .expect_err("stale")
            .to_string();
        assert!(
            err.contains(&format!("names commit {OTHER}"))
                && err.contains(
                    &cache
                        .join("models--org--model/snapshots")
                        .join(OTHER)
                        .display()
                        .to_string()
                ),
            "{err}"
        );
        std::fs::write(cache.join("models--org--model/refs/main"), "../../x").expect("ref");
        let err = snapshot_in(cache, &id("org/model"))
            .expect_err("bad ref")
            .to_string();
        assert!(err.contains("does not hold a commit hash"), "{err}");
    }
}
