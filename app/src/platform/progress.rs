//! Progress of long work, for whoever shows it: the command line draws a bar on a
//! terminal (`gatehouse audit verify`, `inventory`, `governance sweep`, `evidence`);
//! the server and the scheduler pass [`Silent`].

/// Told what is being done, how much there is (when known), and each step.
pub trait Progress: Send + Sync {
    /// Starts (or renames) the work: `total` steps, or `None` when not known.
    fn begin(&self, what: &str, total: Option<u64>);
    /// `n` more steps done.
    fn advance(&self, n: u64);
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _what: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
}
