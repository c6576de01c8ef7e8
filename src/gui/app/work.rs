//! Starting background work: loading models (keeping the old ones if the load fails), opening a data file,
//! selecting and rescoring records, scoring the dataset, and the drift over checkpoints.

use super::*;

impl App {
    /// Loads the models named in the path fields. A policy folder holding `checkpoint-N/` subfolders (and no
    /// config.json of its own) opens its last checkpoint, and the others feed the drift plot; `checkpoints_dir`
    /// names such a folder explicitly (the demo's).
    pub fn load_models(&mut self, checkpoints_dir: Option<PathBuf>) {
        let mut policy = PathBuf::from(self.models.form.policy.trim());
        let mut reference = PathBuf::from(self.models.form.reference.trim());
        // A LoRA adapter's local base is its reference (PEFT + DPO) unless another one is given.
        if reference.as_os_str().is_empty()
            && let Ok(Some(base)) = crate::source::adapter_base(&policy)
        {
            self.models.form.reference = base.display().to_string();
            reference = base;
        }
        if policy.as_os_str().is_empty() || reference.as_os_str().is_empty() {
            self.models
                .load
                .fail("choose both a policy and a reference");
            return;
        }
        let checkpoints_dir = match checkpoints_dir {
            Some(dir) => {
                self.models.runs.retain(|(p, _)| p != &policy);
                self.models.runs.push((policy.clone(), dir.clone()));
                Some(dir)
            }
            None => self
                .models
                .runs
                .iter()
                .find(|(p, _)| p == &policy)
                .map(|(_, d)| d.clone()),
        };
        // The command line's rule (`source::locate`): a Hub id is found in the Hugging Face cache, and a training
        // folder that is no model itself opens its last checkpoint (or `gui --checkpoint N`); a folder with no
        // model fails here with what was looked for, keeping the models loaded before.
        let located =
            match crate::source::locate(&policy, None, self.models.launch_checkpoint.take()) {
                Ok(l) => l,
                Err(e) => {
                    self.fail_load(e.to_string());
                    return;
                }
            };
        let run_dir = located
            .run
            .as_ref()
            .map(|r| r.chosen.dir.parent().map(Path::to_path_buf));
        let folder = checkpoints_dir
            .clone()
            .or(run_dir.flatten())
            .unwrap_or_else(|| located.path.clone());
        let mut checkpoints = training_checkpoints(&folder);
        let run = (!checkpoints.is_empty()).then_some(folder);
        if let Some(run) = &located.run {
            self.say(run.describe());
        }
        policy = located.path;
        if checkpoints.len() < 2 {
            checkpoints.clear();
        }
        let trainer = checkpoints
            .last()
            .map(|c| plots::trainer_curves(&c.dir.join("trainer_state.json")))
            .unwrap_or_default();
        // Beta belongs to the models: another policy opens with `gui --beta`, the beta last used with it, or TRL's
        // default; reloading the same policy (another dtype or chat template) keeps the beta in force.
        let same_policy = self.models.loaded.as_ref().is_some_and(|l| {
            let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            canonical(&l.policy.path) == canonical(&policy)
        });
        let beta = match self.models.launch_beta.take() {
            Some(b) => b,
            None if same_policy => self.settings.beta,
            None => self
                .settings
                .beta_for(&policy)
                .unwrap_or(crate::defaults::BETA),
        };
        let beta_before = std::mem::replace(&mut self.settings.beta, beta);
        self.models.before_load = Some(BeforeLoad {
            run: std::mem::replace(&mut self.drift.run, run),
            checkpoints: std::mem::replace(&mut self.drift.checkpoints, checkpoints),
            trainer: std::mem::replace(&mut self.drift.trainer, trainer),
            drift: std::mem::take(&mut self.drift.points),
            beta: beta_before,
        });
        // The cards of the models being opened are shown, even if the section was collapsed.
        self.models.open_models_section = true;
        self.drift.job.cancel();
        let ticket = self.models.load.start();
        self.worker.load(
            &ticket,
            policy,
            reference,
            Some(PathBuf::from(self.models.form.chat_template.trim()))
                .filter(|p| !p.as_os_str().is_empty()),
            self.settings.dtype,
            self.options(),
        );
    }

    /// A load's `error`, with, when models were loaded before, that they stay in use.
    pub(super) fn load_failure(&self, error: String) -> String {
        match &self.models.loaded {
            Some(l) => format!(
                "{error}\nStill using the models loaded before: {} and {}.",
                l.policy.path.display(),
                l.reference.path.display()
            ),
            None => error,
        }
    }

    /// A load failed before it started (a path that names no model).
    fn fail_load(&mut self, error: String) {
        let message = self.load_failure(error);
        self.models.load.fail(message);
    }

    /// Opens a data file and selects its first record.
    pub fn open_data(&mut self, path: &Path) {
        if path.as_os_str().is_empty() {
            self.warn("type the path of a data file");
            return;
        }
        // The output of `creditlens search` opens in the Search window.
        if crate::search::is_search_output(path) {
            match crate::search::read_runs(path) {
                Ok(runs) => {
                    self.search.job.cancel();
                    self.search.prompt = runs[0].prompt.clone();
                    self.search.chat = false;
                    self.search.runs = runs;
                    self.search.ticked.clear();
                    self.search.shown = None;
                    self.search.source = Some(path.display().to_string());
                    self.search.open = true;
                    self.clear_notice();
                    // Its first run's best candidate in the heatmap.
                    self.show_candidate((0, 0), None);
                }
                Err(e) => self.warn(e.to_string()),
            }
            return;
        }
        // Scored records (`creditlens score` output, the TRL callback's files) open with their stored scores.
        if crate::scores_file::is_scores_output(path) {
            match crate::scores_file::read_scores(path) {
                Ok(scores) => {
                    push_recent(&mut self.settings.recent_data, path);
                    self.files.data_path = path.display().to_string();
                    let d = Dataset::from_scores(path.to_path_buf(), scores, self.settings.beta);
                    self.set_dataset(d);
                    self.clear_notice();
                    self.select_row(0);
                }
                Err(e) => self.warn(e.to_string()),
            }
            return;
        }
        match read_entries(path) {
            Ok(entries) => {
                if let Some(d) = &self.dataset {
                    d.job.cancel();
                }
                push_recent(&mut self.settings.recent_data, path);
                self.files.data_path = path.display().to_string();
                self.record.edits.clear();
                self.record.selected_row = None;
                let d = Dataset::new(path.to_path_buf(), entries, self.settings.beta);
                let first = d.rows.iter().position(|r| r.record.is_ok());
                self.dataset = Some(d);
                self.clear_notice();
                if let Some(i) = first {
                    self.select_row(i);
                }
                self.score_dataset();
            }
            Err(e) => self.warn(e.to_string()),
        }
    }

    /// Shows record `row` of the data file.
    pub fn select_row(&mut self, row: usize) {
        let Some(d) = &self.dataset else { return };
        let Some(Ok(record)) = d.rows.get(row).map(|r| &r.record) else {
            return;
        };
        let record = record.clone();
        self.keep_edits();
        self.record.selected_row = Some(row);
        match self.record.edits.get(&row) {
            Some(edited) => self.record.editor = edited.clone(),
            None => self.record.editor.set(&record),
        }
        self.record.pinned = None;
        self.drift.selected_stale = true;
        // A scores file's record, unedited, is shown as stored: no model runs.
        let stored = self
            .dataset
            .as_ref()
            .and_then(|d| d.rows[row].stored.clone());
        if let (Some(s), false) = (stored, self.record.edits.contains_key(&row)) {
            let mut s = (*s).clone();
            s.set_beta(self.settings.beta);
            let ticket = self.record.scoring.start();
            self.record.scoring.finish(ticket.generation, None);
            self.record.editor.dirty_since = None;
            self.show_score(s);
            return;
        }
        self.rescore_now();
    }

    /// Moves the selection by `delta` in the table's current order.
    pub fn step_row(&mut self, delta: isize) {
        let Some(d) = &mut self.dataset else { return };
        let view = d.view().to_vec();
        if view.is_empty() {
            return;
        }
        let at = self
            .record
            .selected_row
            .and_then(|s| view.iter().position(|&v| v == s))
            .map_or(0, |p| {
                (p as isize + delta).clamp(0, view.len() as isize - 1) as usize
            });
        self.select_row(view[at]);
    }

    /// Scores the editor's text now.
    pub fn rescore_now(&mut self) {
        self.record.editor.dirty_since = None;
        // Nothing typed yet: a hint, not an error about an empty response.
        if self.record.editor.is_blank()
            && (self.record.selected_row.is_none() || self.selected_is_edited())
        {
            // A new generation makes a score in flight stale.
            let ticket = self.record.scoring.start();
            self.record.scoring.finish(ticket.generation, None);
            self.record.shown = None;
            self.record.pinned = None;
            return;
        }
        let Some(l) = &self.models.loaded else { return };
        let ticket = self.record.scoring.start();
        self.worker.score(
            ticket.generation,
            l.scorer.clone(),
            self.record.editor.record(),
        );
    }

    pub(super) fn score_dataset(&mut self) {
        let (Some(l), Some(d)) = (&self.models.loaded, &mut self.dataset) else {
            return;
        };
        if d.from_scores {
            return;
        }
        let ticket = d.job.start();
        d.clear_scores();
        d.seconds = None;
        self.worker
            .score_rows(&ticket, l.scorer.clone(), d.scorable());
    }

    pub(super) fn start_drift(&mut self, with_pairs: bool) {
        let checkpoints = self.drift.checkpoints.clone();
        self.start_drift_of(checkpoints, with_pairs);
    }

    /// Looks at the followed run's folder (at most every [`FOLLOW_EVERY`]) and scores the checkpoints saved since
    /// (complete ones: TRL writes trainer_state.json last), adding their points to the drift; checkpoints deleted
    /// meanwhile (`save_total_limit`) leave the list, their points stay.
    pub(super) fn follow_run(&mut self) {
        if self.drift.job.running() || self.models.loaded.is_none() || self.models.load.running() {
            return;
        }
        let Some(run) = self.drift.run.clone() else {
            return;
        };
        if self
            .drift
            .last_look
            .is_some_and(|t| t.elapsed() < FOLLOW_EVERY)
        {
            return;
        }
        self.drift.last_look = Some(Instant::now());
        let complete: Vec<TrainingCheckpoint> = training_checkpoints(&run)
            .into_iter()
            .filter(crate::watch::is_complete)
            .collect();
        let new: Vec<TrainingCheckpoint> = complete
            .iter()
            .filter(|c| !self.drift.points.iter().any(|p| p.step == c.step))
            .cloned()
            .collect();
        if complete
            .iter()
            .map(|c| c.step)
            .ne(self.drift.checkpoints.iter().map(|c| c.step))
        {
            self.drift.checkpoints = complete;
        }
        if let Some(last) = new.last() {
            self.drift.trainer = plots::trainer_curves(&last.dir.join("trainer_state.json"));
            self.start_drift_of(new, true);
        }
    }

    /// Scores `checkpoints` (the drift's points for them arrive as they are done).
    fn start_drift_of(&mut self, checkpoints: Vec<TrainingCheckpoint>, with_pairs: bool) {
        let Some(l) = &self.models.loaded else { return };
        if checkpoints.is_empty() {
            return;
        }
        let ticket = self.drift.job.start();
        self.drift.selected_stale = false;
        let pairs: Vec<Record> = if with_pairs {
            self.dataset
                .as_ref()
                .map(|d| {
                    d.rows
                        .iter()
                        .filter_map(|r| match &r.record {
                            Ok(rec @ Record::Pair { .. }) => Some(rec.clone()),
                            _ => None,
                        })
                        .take(crate::defaults::DRIFT_PAIRS)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let scorer = match l.scorer.with_options(ScoreOptions {
            top_k: 0,
            ..self.options()
        }) {
            Ok(s) => Arc::new(s),
            Err(_) => l.scorer.clone(),
        };
        self.worker.drift(DriftJob {
            ticket,
            scorer,
            checkpoints,
            pairs,
            selected: Some(self.record.editor.record()),
            dtype: self.settings.dtype,
        });
    }
}
