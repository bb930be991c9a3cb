//! Progress reporting: backup-core says what is happening; the CLI decides whether and how to draw it.

/// Receives progress of long operations. Implementations must be cheap: calls come from hot loops.
pub trait Progress: Send + Sync {
    /// Starts a task: `label` names it, `total` is its size in `unit`s when known.
    fn start(&self, label: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task>;
}

/// What a task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes transferred or hashed.
    Bytes,
    /// Items (datasets, files).
    Items,
}

/// One running task.
pub trait Task: Send + Sync {
    /// Adds `n` to the count.
    fn inc(&self, n: u64);
    /// Says what the task is working on now.
    fn message(&self, _text: &str) {}
    /// Ends the task.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

struct NoTask;

impl Task for NoTask {
    fn inc(&self, _n: u64) {}
}

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: Option<u64>, _unit: Unit) -> Box<dyn Task> {
        Box::new(NoTask)
    }
}
