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

#[cfg(feature = "ssr")]
tokio::task_local! {
    /// Whoever shows the progress of the work running in this task (the command
    /// line's bar), when someone does.
    static REPORTER: std::sync::Arc<dyn Progress>;
}

/// Runs `work` with its progress told to `to`: the services it calls report their
/// steps through [`begin`] and [`advance`] without a parameter of their own (they
/// run the same way under the scheduler, where nobody watches).
#[cfg(feature = "ssr")]
pub async fn reporting<F: std::future::Future>(
    to: std::sync::Arc<dyn Progress>,
    work: F,
) -> F::Output {
    REPORTER.scope(to, work).await
}

/// Starts (or renames) the current task's reported work; nothing when unwatched.
#[cfg(feature = "ssr")]
pub fn begin(what: &str, total: Option<u64>) {
    let _ = REPORTER.try_with(|r| r.begin(what, total));
}

/// `n` more steps of the current task's reported work; nothing when unwatched.
#[cfg(feature = "ssr")]
pub fn advance(n: u64) {
    let _ = REPORTER.try_with(|r| r.advance(n));
}
