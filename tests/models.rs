//! Which models a command runs (issue 28): the embedded demo's only with the demo's data or `--demo`; training
//! folders (`checkpoint-N/`) and Hub ids from the local Hugging Face cache wherever a model path is accepted; and
//! `drift`'s columns for `log_history`'s evaluation points.

use crate::util::{Run, creditlens, fixtures, model, s, temp};
use creditlens::demo_assets::DemoAssets;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn demo() -> DemoAssets {
    DemoAssets::locate().expect("demo")
}

/// Runs `creditlens` in `dir` with the Hugging Face cache variables removed and `env` set.
fn creditlens_env(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_creditlens"));
    cmd.args(args).current_dir(dir);
    for var in [
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env_remove(var);
    }
    // No real cache of the machine running the tests.
    cmd.env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run {
        output: cmd.output().expect("run creditlens"),
    }
}

/// The first `n` lines of the demo's pairs, written to `dir/name`: a user's own data file.
fn user_pairs(dir: &Path, name: &str, n: usize) -> PathBuf {
    let lines: Vec<String> = std::fs::read_to_string(demo().pairs())
        .expect("pairs")
        .lines()
        .take(n)
        .map(String::from)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

const PROMPT: &str = "Q: What is twice 7?\nA:";

/// Defect 2: `score`, `eval`, `render`, `search` and `drift` given the user's data but no models refuse to run the
/// demo's models on it (they used to, silently); `--demo` asks for them, and the demo's own data still runs with
/// them by default.
#[test]
fn user_data_without_models_is_refused_unless_demo() {
    let dir = temp();
    let p = dir.path();
    let data = s(&user_pairs(p, "mine.jsonl", 2));
    let needs = "pass --policy and --reference";
    let cases: Vec<Vec<&str>> = vec![
        vec!["score", "--data", &data],
        vec!["score", "--prompt", PROMPT, "--response", " 14."],
        vec!["eval", "--data", &data],
        vec!["render", "--data", &data, "--out", "a.png"],
        vec![
            "render",
            "--prompt",
            PROMPT,
            "--chosen",
            " 14.",
            "--rejected",
            " 15.",
            "--out",
            "b.png",
        ],
        vec![
            "search",
            "--prompt",
            PROMPT,
            "--beams",
            "1",
            "--max-new-tokens",
            "2",
        ],
        vec![
            "search",
            "--data",
            &data,
            "--beams",
            "1",
            "--max-new-tokens",
            "2",
        ],
        vec!["drift", "--data", &data, "--max-pairs", "1"],
    ];
    for args in &cases {
        let run = creditlens(p, args).fails_with(needs);
        assert!(
            run.stderr().contains("--demo"),
            "{args:?}: {}",
            run.stderr()
        );
    }
    assert!(!p.join("a.png").exists() && !p.join("b.png").exists());
    // With --demo, each runs the demo's models on the user's data.
    for args in &cases {
        let mut args = args.clone();
        args.push("--demo");
        creditlens(p, &args).ok();
    }
    assert!(p.join("a.png").is_file() && p.join("b.png").is_file());
    // --demo and --policy contradict each other.
    let policy = s(&demo().policy());
    creditlens(
        p,
        &["score", "--data", &data, "--demo", "--policy", &policy],
    )
    .fails_with("cannot be used with");
    // Each command's --help says when the demo's models are used.
    for cmd in ["score", "eval", "render", "search", "drift"] {
        let help = creditlens(p, &[cmd, "--help"]).ok().stdout();
        assert!(
            help.contains("--demo") && help.contains("demo's models"),
            "{cmd} --help:\n{help}"
        );
    }
}

/// Defect 13 (part): where stderr is not a terminal (a log file, a notebook cell, this test), `eval` and `score`
/// say they are working at once, instead of nothing until the end (the progress bar is drawn only on a terminal).
#[test]
fn eval_and_score_report_progress_without_a_terminal() {
    let dir = temp();
    let p = dir.path();
    let data = s(&user_pairs(p, "mine.jsonl", 3));
    let run = creditlens(p, &["eval", "--demo", "--data", &data]).ok();
    assert!(
        run.stderr().contains("evaluating: 0/3 records"),
        "{}",
        run.stderr()
    );
    let run = creditlens(p, &["score", "--demo", "--data", &data]).ok();
    assert!(
        run.stderr().contains("scoring: 0/3 records"),
        "{}",
        run.stderr()
    );
}

/// Defect 7: a training folder of `checkpoint-N/` subfolders as `--policy` of `score`, `eval`, `render` and
/// `search` uses its last checkpoint (saying which on stderr), `--checkpoint N` another, and a folder with no model
/// says what was looked for.
#[test]
fn training_folders_open_their_last_checkpoint() {
    let dir = temp();
    let p = dir.path();
    let demo = demo();
    let run_dir = s(&demo.checkpoints());
    let reference = s(&demo.reference());
    let score = |policy: &str, extra: &[&str]| {
        let mut args = vec![
            "score",
            "--policy",
            policy,
            "--reference",
            &reference,
            "--prompt",
            PROMPT,
            "--response",
            " 14.",
            "--top-k",
            "0",
        ];
        args.extend_from_slice(extra);
        creditlens(p, &args)
    };
    let reward = |run: &Run| -> f64 {
        let v: Value = serde_json::from_str(run.stdout().trim()).expect("JSON");
        v["response"]["reward"].as_f64().expect("reward")
    };
    let last = score(&run_dir, &[]).ok();
    assert!(
        last.stderr().contains(&format!(
            "note: {run_dir} holds checkpoint-40..200; using checkpoint-200 (--checkpoint N for another)"
        )),
        "{}",
        last.stderr()
    );
    let direct = score(&s(&demo.checkpoints().join("checkpoint-200")), &[]).ok();
    assert_eq!(reward(&last), reward(&direct));
    let early = score(&run_dir, &["--checkpoint", "80"]).ok();
    assert!(
        early.stderr().contains("using checkpoint-80"),
        "{}",
        early.stderr()
    );
    let direct = score(&s(&demo.checkpoints().join("checkpoint-80")), &[]).ok();
    assert_eq!(reward(&early), reward(&direct));
    assert_ne!(reward(&early), reward(&last));
    score(&run_dir, &["--checkpoint", "7"])
        .fails_with("no checkpoint-7")
        .fails_with("40, 80, 120, 160, 200");
    // --checkpoint with a model that is not a training folder.
    score(&s(&demo.policy()), &["--checkpoint", "80"]).fails_with("not a training folder");

    // eval, render and search take the folder too.
    let data = s(&user_pairs(p, "mine.jsonl", 1));
    let base = ["--policy", &run_dir, "--reference", &reference];
    let note = "using checkpoint-200";
    let mut eval = vec!["eval", "--data", &data];
    eval.extend_from_slice(&base);
    let run = creditlens(p, &eval).ok();
    assert!(run.stderr().contains(note), "{}", run.stderr());
    let mut render = vec!["render", "--data", &data, "--out", "r.png"];
    render.extend_from_slice(&base);
    let run = creditlens(p, &render).ok();
    assert!(run.stderr().contains(note), "{}", run.stderr());
    let mut search = vec![
        "search",
        "--prompt",
        PROMPT,
        "--beams",
        "1",
        "--max-new-tokens",
        "2",
    ];
    search.extend_from_slice(&base);
    let run = creditlens(p, &search).ok();
    assert!(run.stderr().contains(note), "{}", run.stderr());

    // A checkpoint TRL is still saving (no config.json yet) is skipped.
    let partial = p.join("run");
    for step in [40, 80] {
        link_dir(
            &demo.checkpoints().join(format!("checkpoint-{step}")),
            &partial.join(format!("checkpoint-{step}")),
        );
    }
    std::fs::create_dir_all(partial.join("checkpoint-120")).expect("mkdir");
    let run = score(&s(&partial), &[]).ok();
    assert!(
        run.stderr()
            .contains("holds checkpoint-40..80; using checkpoint-80"),
        "{}",
        run.stderr()
    );

    // A folder with neither a model nor checkpoints lists what was looked for.
    let empty = p.join("empty");
    std::fs::create_dir_all(empty.join("checkpoint-5")).expect("mkdir");
    let run = score(&s(&empty), &[]).fails_with("no model");
    for looked in [
        "config.json",
        "model.safetensors",
        "adapter_config.json",
        "checkpoint-N/",
        ".gguf",
    ] {
        assert!(run.stderr().contains(looked), "{looked}: {}", run.stderr());
    }
}

/// A run of PEFT adapter checkpoints (TRL + PEFT's output_dir) as the policy, without --reference: the last
/// adapter, on its local base as the reference.
#[test]
fn a_run_of_adapters_opens_its_last_adapter_on_its_base() {
    let dir = temp();
    let run_dir = dir.path().join("run");
    for step in [10, 30, 20] {
        let ck = run_dir.join(format!("checkpoint-{step}"));
        crate::util::copy_model("llama_lora_rs", &ck);
        // Its base, relative to the adapter as in the fixture.
        let config = ck.join("adapter_config.json");
        let text = std::fs::read_to_string(&config).expect("config");
        let base = s(&model("llama_ref"));
        let mut v: Value = serde_json::from_str(&text).expect("JSON");
        v["base_model_name_or_path"] = base.into();
        std::fs::write(&config, v.to_string()).expect("write");
    }
    let score = |policy: &Path| {
        let policy = s(policy);
        creditlens(
            dir.path(),
            &[
                "score",
                "--policy",
                &policy,
                "--prompt",
                PROMPT,
                "--response",
                " 14.",
            ],
        )
    };
    let folder = score(&run_dir).ok();
    assert!(
        folder.stderr().contains("using checkpoint-30"),
        "{}",
        folder.stderr()
    );
    let direct = score(&run_dir.join("checkpoint-30")).ok();
    assert_eq!(folder.stdout(), direct.stdout());
}

/// Symlinks every file of `from` into the new folder `to`.
fn link_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name())).expect("symlink");
    }
}

/// Puts the checkpoint folder `from` into the Hugging Face cache `cache` as huggingface_hub writes a download of
/// `repo` at `commit`: the files as blobs, `snapshots/<commit>/` of relative symlinks to them, and `refs/<name>`
/// holding the commit for each of `refs`.
fn cache_repo(cache: &Path, repo: &str, commit: &str, from: &Path, refs: &[&str]) {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = root.join("snapshots").join(commit);
    std::fs::create_dir_all(root.join("blobs")).expect("blobs");
    std::fs::create_dir_all(&snapshot).expect("snapshot");
    std::fs::create_dir_all(root.join("refs")).expect("refs");
    let mut names: Vec<_> = std::fs::read_dir(from)
        .expect("read")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    for (i, file) in names.iter().enumerate() {
        let blob = format!("{:064x}", i + 1 + commit.len() * 1000);
        std::fs::copy(file, root.join("blobs").join(&blob)).expect("copy");
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(&blob),
            snapshot.join(file.file_name().expect("name")),
        )
        .expect("symlink");
    }
    for r in refs {
        let path = root.join("refs").join(r);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        // huggingface_hub writes the commit without a newline.
        std::fs::write(path, commit).expect("ref");
    }
}

const POLICY_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const REFERENCE_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// Models by their Hub id: the demo's checkpoints put in a Hugging Face cache (`HF_HUB_CACHE`, or `HF_HOME/hub`)
/// score exactly as the folders do; `--revision`, `--reference-revision` and `ID@REV` pick revisions; a local
/// folder of the same name wins; what is missing is named with the path looked at and how to download it.
#[test]
fn hub_ids_resolve_in_the_local_cache() {
    let dir = temp();
    let p = dir.path();
    let home = p.join("hf");
    let cache = home.join("hub");
    let demo = demo();
    cache_repo(
        &cache,
        "creditlens/demo-policy",
        POLICY_COMMIT,
        &demo.policy(),
        &["main", "refs/pr/1"],
    );
    cache_repo(
        &cache,
        "creditlens/demo-reference",
        REFERENCE_COMMIT,
        &demo.reference(),
        &["main"],
    );
    let score = |env: &[(&str, &Path)], models: &[&str]| {
        let mut args = vec!["score"];
        args.extend_from_slice(models);
        args.extend_from_slice(&["--prompt", PROMPT, "--response", " 14.", "--top-k", "0"]);
        creditlens_env(p, env, &args)
    };
    let local = score(
        &[],
        &[
            "--policy",
            &s(&demo.policy()),
            "--reference",
            &s(&demo.reference()),
        ],
    )
    .ok()
    .stdout();
    let ids = [
        "--policy",
        "creditlens/demo-policy",
        "--reference",
        "creditlens/demo-reference",
    ];
    let by_cache = score(&[("HF_HUB_CACHE", &cache)], &ids).ok().stdout();
    assert_eq!(by_cache, local);
    let by_home = score(&[("HF_HOME", &home)], &ids).ok().stdout();
    assert_eq!(by_home, local);
    let by_xdg = {
        let xdg = p.join("xdg");
        std::fs::create_dir_all(&xdg).expect("mkdir");
        std::os::unix::fs::symlink(&home, xdg.join("huggingface")).expect("symlink");
        score(&[("XDG_CACHE_HOME", &xdg)], &ids).ok().stdout()
    };
    assert_eq!(by_xdg, local);
    // Revisions: a commit, a ref with a slash, the ID@REV form.
    let env = [("HF_HUB_CACHE", cache.as_path())];
    let mut with_rev = ids.to_vec();
    with_rev.extend_from_slice(&[
        "--revision",
        "refs/pr/1",
        "--reference-revision",
        REFERENCE_COMMIT,
    ]);
    assert_eq!(score(&env, &with_rev).ok().stdout(), local);
    let at = format!("creditlens/demo-policy@{POLICY_COMMIT}");
    let at_ids = [
        "--policy",
        at.as_str(),
        "--reference",
        "creditlens/demo-reference@main",
    ];
    assert_eq!(score(&env, &at_ids).ok().stdout(), local);
    // A revision that is not cached names the ref file looked at and how to get it.
    let mut bad_rev = ids.to_vec();
    bad_rev.extend_from_slice(&["--revision", "v2"]);
    let run = score(&env, &bad_rev).fails_with("creditlens/demo-policy");
    let err = run.stderr();
    assert!(err.contains("revision v2"), "{err}");
    assert!(
        err.contains(&s(&cache
            .join("models--creditlens--demo-policy")
            .join("refs")
            .join("v2"))),
        "{err}"
    );
    assert!(
        err.contains("hf download creditlens/demo-policy --revision v2"),
        "{err}"
    );
    // An id that is not in the cache.
    let run = score(
        &env,
        &[
            "--policy",
            "creditlens/absent",
            "--reference",
            "creditlens/demo-reference",
        ],
    )
    .fails_with("creditlens/absent");
    let err = run.stderr();
    assert!(err.contains("revision main"), "{err}");
    assert!(
        err.contains(&s(&cache.join("models--creditlens--absent"))),
        "{err}"
    );
    assert!(
        err.contains("hf download creditlens/absent")
            && err.contains("huggingface-cli download creditlens/absent"),
        "{err}"
    );
    // A snapshot missing a file: the id, the revision and the snapshot are named.
    let snapshot = cache
        .join("models--creditlens--demo-reference/snapshots")
        .join(REFERENCE_COMMIT);
    std::fs::rename(snapshot.join("tokenizer.json"), p.join("moved.json")).expect("move");
    let run = score(&env, &ids).fails_with("creditlens/demo-reference (revision main)");
    assert!(
        run.stderr().contains("missing tokenizer.json"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains(&s(&snapshot)), "{}", run.stderr());
    std::fs::rename(p.join("moved.json"), snapshot.join("tokenizer.json")).expect("move back");
    // --revision with a local folder is a mistake, not ignored.
    let (policy, reference) = (s(&demo.policy()), s(&demo.reference()));
    score(
        &env,
        &[
            "--policy",
            &policy,
            "--reference",
            &reference,
            "--revision",
            "main",
        ],
    )
    .fails_with("is a local path");
    // A local folder with the id's name wins over the cache: here it holds the reference, so the policy is the
    // reference and every reward is zero.
    link_dir(&demo.reference(), &p.join("creditlens/demo-policy"));
    let zero: Value = serde_json::from_str(score(&env, &ids).ok().stdout().trim()).expect("JSON");
    assert_eq!(zero["response"]["reward"].as_f64(), Some(0.0));
}

/// A LoRA adapter whose `base_model_name_or_path` is a Hub id finds its base in the cache (without --reference,
/// that base is the reference), exactly as the same base given as a folder.
#[test]
fn an_adapters_hub_base_comes_from_the_cache() {
    let dir = temp();
    let p = dir.path();
    let cache = p.join("cache");
    // The fixture adapter names `HuggingFaceTB/creditlens-fixture-base`; its base is llama_ref.
    cache_repo(
        &cache,
        "HuggingFaceTB/creditlens-fixture-base",
        POLICY_COMMIT,
        &model("llama_ref"),
        &["main"],
    );
    let adapter = s(&fixtures().join("models/llama_lora"));
    let text = ["--prompt", "Q: What is 2+2?\nA:", "--response", " 4"];
    let env = [("HF_HUB_CACHE", cache.as_path())];
    let mut args = vec!["score", "--policy", &adapter];
    args.extend_from_slice(&text);
    let from_cache = creditlens_env(p, &env, &args).ok().stdout();
    let reference = s(&model("llama_ref"));
    let mut args = vec!["score", "--policy", &adapter, "--reference", &reference];
    args.extend_from_slice(&text);
    let from_folder = creditlens_env(p, &[], &args).ok().stdout();
    assert_eq!(from_cache, from_folder);
    // Not in the cache: the error says where it looked.
    let mut args = vec!["score", "--policy", &adapter];
    args.extend_from_slice(&text);
    let run = creditlens_env(p, &[("HF_HUB_CACHE", &p.join("nothing"))], &args)
        .fails_with("give the base model");
    assert!(
        run.stderr()
            .contains("HuggingFaceTB/creditlens-fixture-base")
            && run
                .stderr()
                .contains("models--HuggingFaceTB--creditlens-fixture-base"),
        "{}",
        run.stderr()
    );
}

/// Defect 11 (the command line): `drift` writes `log_history`'s evaluation points (`eval_rewards/...`, logged at
/// each evaluation) as `trainer/eval_...` columns next to the training ones.
#[test]
fn drift_writes_the_logged_eval_rewards() {
    let dir = temp();
    let p = dir.path();
    let demo = demo();
    let run_dir = p.join("run");
    for step in [40, 80] {
        let to = run_dir.join(format!("checkpoint-{step}"));
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
        ] {
            std::os::unix::fs::symlink(
                demo.checkpoints()
                    .join(format!("checkpoint-{step}"))
                    .join(f),
                to.join(f),
            )
            .expect("symlink");
        }
    }
    std::fs::write(run_dir.join("checkpoint-80/trainer_state.json"), TRL_STATE).expect("state");
    let data = s(&user_pairs(p, "mine.jsonl", 1));
    let drift_to = |out: &Path| {
        creditlens(
            p,
            &[
                "drift",
                "--policy",
                &s(&run_dir),
                "--reference",
                &s(&demo.reference()),
                "--data",
                &data,
                "--out",
                &s(out),
            ],
        )
        .ok();
    };
    let out = p.join("drift.csv");
    drift_to(&out);
    let mut reader = csv::Reader::from_path(&out).expect("CSV");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    assert_eq!(rows.len(), 2);
    // Training values at or before each step, and the evaluation values likewise.
    assert_eq!(&rows[0][col("trainer/rewards/margins")], "0.3");
    assert_eq!(&rows[1][col("trainer/rewards/margins")], "0.7");
    assert_eq!(&rows[0][col("trainer/eval_rewards/margins")], "0.25");
    assert_eq!(&rows[1][col("trainer/eval_rewards/margins")], "0.5");
    assert_eq!(&rows[1][col("trainer/eval_rewards/accuracies")], "0.875");
    assert_eq!(&rows[1][col("trainer/eval_rewards/chosen")], "-0.125");
    assert_eq!(&rows[1][col("trainer/eval_rewards/rejected")], "-0.625");
    // JSON lines carry the same keys.
    let out = p.join("drift.jsonl");
    drift_to(&out);
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .expect("jsonl")
            .lines()
            .last()
            .expect("a row"),
    )
    .expect("JSON");
    assert_eq!(last["trainer/eval_rewards/margins"].as_f64(), Some(0.5));
}

/// A `trainer_state.json` as TRL 1.x writes it with `eval_strategy="steps"`, `logging_steps=20`, `eval_steps=40`:
/// train entries with `rewards/...`, eval entries with `eval_rewards/...`, and the closing entry with only
/// `train_loss`/`train_runtime`.
pub const TRL_STATE: &str = r#"{
  "best_global_step": null, "best_metric": null, "best_model_checkpoint": null, "epoch": 1.0,
  "eval_steps": 40, "global_step": 80, "is_hyper_param_search": false, "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
    {"epoch": 0.25, "grad_norm": 1.5, "learning_rate": 5e-07, "logits/chosen": -1.0, "logits/rejected": -1.1,
     "logps/chosen": -40.0, "logps/rejected": -42.0, "loss": 0.69, "rewards/accuracies": 0.5,
     "rewards/chosen": 0.01, "rewards/margins": 0.1, "rewards/rejected": -0.09, "step": 20},
    {"epoch": 0.5, "grad_norm": 1.4, "learning_rate": 4e-07, "logits/chosen": -1.0, "logits/rejected": -1.1,
     "logps/chosen": -40.5, "logps/rejected": -43.0, "loss": 0.6, "rewards/accuracies": 0.75,
     "rewards/chosen": -0.05, "rewards/margins": 0.3, "rewards/rejected": -0.35, "step": 40},
    {"epoch": 0.5, "eval_logits/chosen": -1.0, "eval_logits/rejected": -1.2, "eval_logps/chosen": -41.0,
     "eval_logps/rejected": -44.0, "eval_loss": 0.62, "eval_rewards/accuracies": 0.75,
     "eval_rewards/chosen": -0.0625, "eval_rewards/margins": 0.25, "eval_rewards/rejected": -0.3125,
     "eval_runtime": 1.5, "eval_samples_per_second": 20.0, "eval_steps_per_second": 2.5, "step": 40},
    {"epoch": 0.75, "grad_norm": 1.2, "learning_rate": 3e-07, "loss": 0.5, "rewards/accuracies": 0.9,
     "rewards/chosen": -0.1, "rewards/margins": 0.5, "rewards/rejected": -0.6, "step": 60},
    {"epoch": 1.0, "grad_norm": 1.1, "learning_rate": 2e-07, "loss": 0.45, "rewards/accuracies": 0.95,
     "rewards/chosen": -0.15, "rewards/margins": 0.7, "rewards/rejected": -0.85, "step": 80},
    {"epoch": 1.0, "eval_loss": 0.55, "eval_rewards/accuracies": 0.875, "eval_rewards/chosen": -0.125,
     "eval_rewards/margins": 0.5, "eval_rewards/rejected": -0.625, "eval_runtime": 1.4, "step": 80},
    {"epoch": 1.0, "step": 80, "total_flos": 0.0, "train_loss": 0.56, "train_runtime": 12.5,
     "train_samples_per_second": 51.2, "train_steps_per_second": 6.4}
  ],
  "logging_steps": 20, "max_steps": 80, "num_input_tokens_seen": 0, "num_train_epochs": 1,
  "save_steps": 40, "stateful_callbacks": {}, "total_flos": 0.0, "train_batch_size": 8, "trial_name": null,
  "trial_params": null
}"#;
