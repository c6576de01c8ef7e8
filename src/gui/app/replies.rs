//! What the workers answer: loads, scores, dataset rows and drift points, applied to the state.

use super::*;

impl App {
    pub(super) fn handle_replies(&mut self) {
        for reply in self.worker.poll() {
            match reply {
                Reply::Loaded { generation, result } if self.models.load.is_current(generation) => {
                    match result {
                        Ok(l) => {
                            self.models.load.finish(generation, None);
                            self.models.before_load = None;
                            push_recent(&mut self.settings.recent_policies, &l.policy.path);
                            push_recent(&mut self.settings.recent_references, &l.reference.path);
                            self.say(format!("models loaded in {:.1} s", l.seconds));
                            self.models.loaded = Some(l);
                            self.rescore_now();
                            self.score_dataset();
                            self.start_drift(true);
                        }
                        Err(e) => {
                            // The models loaded before stay in use, with their checkpoints and drift.
                            if let Some(before) = self.models.before_load.take() {
                                self.drift.run = before.run;
                                self.drift.checkpoints = before.checkpoints;
                                self.drift.trainer = before.trainer;
                                self.drift.points = before.drift;
                                self.settings.beta = before.beta;
                            }
                            let message = self.load_failure(e);
                            self.models.load.finish(generation, Some(message));
                        }
                    }
                }
                Reply::LoadProgress {
                    generation,
                    fraction,
                } => self.models.load.report(generation, fraction),
                Reply::Panicked {
                    generation,
                    message,
                } => {
                    // Whichever job it was fails with the message; the others ignore a generation not theirs.
                    self.models.load.finish(generation, Some(message.clone()));
                    self.record
                        .scoring
                        .finish(generation, Some(message.clone()));
                    self.drift.job.finish(generation, Some(message.clone()));
                    self.search.job.finish(generation, Some(message.clone()));
                    if let Some(d) = &mut self.dataset
                        && d.job.finish(generation, Some(message.clone()))
                    {
                        self.warn(message);
                    }
                }
                Reply::SearchProgress {
                    generation,
                    fraction,
                } => self.search.job.report(generation, fraction),
                Reply::SearchRun { generation, run } => {
                    if self.search.job.is_current(generation) {
                        self.search.add_run(run);
                    }
                }
                Reply::SearchDone { generation, error } => {
                    self.search.job.finish(generation, error);
                }
                Reply::Loaded {
                    generation: 0,
                    result: Err(e),
                } => self.warn(e),
                Reply::Loaded { .. } => {}
                Reply::Scored {
                    generation,
                    result,
                    timing,
                } if self.record.scoring.is_current(generation) => {
                    match result {
                        Ok(mut s) => {
                            // Scored before a change of beta: shown for the beta in force.
                            s.set_beta(self.settings.beta);
                            // Filed under the data-file row it shows (the CSV/JSON export's index).
                            if let Some(row) = self.record.selected_row {
                                s.set_index(row);
                            }
                            self.record.diff = match &s {
                                RecordScore::Pair(p) => {
                                    differing_spans(&p.chosen.text, &p.rejected.text)
                                }
                                RecordScore::Unpaired(_) => DiffSpans::default(),
                            };
                            self.record.shown = Some(Arc::new(s));
                            self.record.timing = Some(timing);
                            self.record.scoring.finish(generation, None);
                        }
                        Err(e) => {
                            self.record.scoring.finish(generation, Some(e));
                        }
                    }
                }
                Reply::Scored { .. } => {}
                Reply::Row {
                    generation,
                    row,
                    result,
                } => {
                    if let Some(d) = &mut self.dataset
                        && d.job.is_current(generation)
                    {
                        d.set_score(row, result);
                    }
                }
                Reply::Features {
                    generation,
                    features,
                    beta,
                } => {
                    if let Some(d) = &mut self.dataset
                        && d.job.is_current(generation)
                    {
                        d.set_credit(*features, beta);
                    }
                }
                Reply::RowsDone {
                    generation,
                    seconds,
                    cancelled,
                } => {
                    if let Some(d) = &mut self.dataset {
                        d.finish(generation, (!cancelled).then_some(seconds));
                    }
                }
                Reply::Drift {
                    generation,
                    mut point,
                } if self.drift.job.is_current(generation) => {
                    point.set_beta(self.settings.beta);
                    match self.drift.points.iter_mut().find(|d| d.step == point.step) {
                        Some(existing) if point.pairs == 0 => existing.selected = point.selected,
                        Some(existing) => *existing = point,
                        None => {
                            self.drift.points.push(point);
                            self.drift.points.sort_by_key(|d| d.step);
                        }
                    }
                }
                Reply::DriftDone { generation, error } => {
                    self.drift.job.finish(generation, error);
                }
                Reply::Drift { .. } => {}
            }
        }
    }
}
