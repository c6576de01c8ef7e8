//! One type for the app's background work (loading models, scoring the shown text, scoring a data file, drift over
//! checkpoints): which request is current, whether it runs, how far it got, how to stop it and why it failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Generations are unique in the process, so a reply can never be taken for another job's, even across data
/// files or a job that was replaced.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// What a started job's worker gets: the generation its replies carry and the flag that asks it to stop.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Tags every reply of this run.
    pub generation: u64,
    /// Set when the run is cancelled or replaced.
    pub cancel: Arc<AtomicBool>,
}

/// The state of one kind of background work. Starting it again cancels the run before; replies are applied only
/// when they carry the current generation ([`Job::is_current`]).
#[derive(Debug)]
pub struct Job {
    generation: u64,
    running: bool,
    progress: Option<f32>,
    cancel: Arc<AtomicBool>,
    error: Option<String>,
}

impl Default for Job {
    fn default() -> Self {
        Self {
            generation: 0,
            running: false,
            progress: None,
            cancel: Arc::new(AtomicBool::new(false)),
            error: None,
        }
    }
}

impl Job {
    /// Starts a new run (cancelling the one before): running, no progress yet, no error.
    pub fn start(&mut self) -> Ticket {
        self.cancel.store(true, Ordering::Relaxed);
        self.cancel = Arc::new(AtomicBool::new(false));
        self.generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        self.running = true;
        self.progress = None;
        self.error = None;
        Ticket {
            generation: self.generation,
            cancel: self.cancel.clone(),
        }
    }

    /// Whether a reply tagged `generation` belongs to the current run.
    pub fn is_current(&self, generation: u64) -> bool {
        generation == self.generation && generation != 0
    }

    /// Records the share done (0 to 1) reported by the current run.
    pub fn report(&mut self, generation: u64, fraction: f32) {
        if self.is_current(generation) {
            self.progress = Some(fraction.clamp(0.0, 1.0));
        }
    }

    /// The current run ended (with `error` if it failed). Returns false, changing nothing, for a stale reply.
    pub fn finish(&mut self, generation: u64, error: Option<String>) -> bool {
        if !self.is_current(generation) {
            return false;
        }
        self.running = false;
        self.error = error;
        true
    }

    /// Fails without a run (the request itself was wrong): shown like a run's error.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.running = false;
        self.error = Some(error.into());
    }

    /// Replaces the error shown (`None` clears it).
    pub fn set_error(&mut self, error: Option<String>) {
        self.error = error;
    }

    /// Asks the current run to stop; its worker ends at the next check.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether a run is going.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Share done that the current run last reported (kept when it ends).
    pub fn progress(&self) -> Option<f32> {
        self.progress
    }

    /// Why the last run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_start_cancels_the_old_run_and_drops_its_replies() {
        let mut job = Job::default();
        assert!(!job.is_current(0), "no reply matches a job never started");
        let old = job.start();
        let new = job.start();
        assert!(
            old.cancel.load(Ordering::Relaxed),
            "the old run is asked to stop"
        );
        assert!(!new.cancel.load(Ordering::Relaxed));
        job.report(old.generation, 0.5);
        assert_eq!(job.progress(), None, "a stale report changes nothing");
        assert!(!job.finish(old.generation, Some("late".into())));
        assert!(job.running() && job.error().is_none());
        job.report(new.generation, 0.25);
        assert_eq!(job.progress(), Some(0.25));
        assert!(job.finish(new.generation, Some("bad".into())));
        assert!(!job.running() && job.error() == Some("bad") && job.progress() == Some(0.25));
    }

    #[test]
    fn generations_are_unique_across_jobs() {
        let (mut a, mut b) = (Job::default(), Job::default());
        let (ta, tb) = (a.start(), b.start());
        assert_ne!(ta.generation, tb.generation);
        assert!(!a.is_current(tb.generation) && !b.is_current(ta.generation));
    }
}
