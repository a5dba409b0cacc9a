//! Progress on the command line: a bar (or a spinner when the amount of work is not
//! known) drawn on standard error with `indicatif`, only when standard error is a
//! terminal. Scripts, pipes and tests read clean output: nothing is drawn there.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display for one command; finished (left on screen with its final
/// count) when dropped.
pub struct Bar(ProgressBar);

impl Bar {
    /// A display on standard error, hidden unless it is a terminal.
    pub fn stderr() -> Self {
        Self::to(ProgressDrawTarget::stderr())
    }

    /// A display on `target` (tests draw to a hidden target).
    pub fn to(target: ProgressDrawTarget) -> Self {
        Self(ProgressBar::with_draw_target(None, target))
    }

    /// Whether anything is drawn.
    pub fn visible(&self) -> bool {
        !self.0.is_hidden()
    }

    /// Position so far.
    pub fn position(&self) -> u64 {
        self.0.position()
    }

    /// Runs `work` with a spinner saying `what` and the time it has taken, which
    /// becomes a bar with a count when the work reports its steps
    /// (`app::platform::progress::begin`); cleared at the end, whatever the
    /// outcome (the command prints it).
    pub async fn around<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
        let bar = Self::stderr();
        app::platform::progress::Progress::begin(&bar, what, None);
        let shared = std::sync::Arc::new(Shared(bar.0.clone()));
        let out = app::platform::progress::reporting(shared, work).await;
        bar.0.finish_and_clear();
        out
    }
}

impl app::platform::progress::Progress for Bar {
    fn begin(&self, what: &str, total: Option<u64>) {
        style(&self.0, what, total);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// The same display, told by the work itself (no finishing when dropped).
struct Shared(ProgressBar);

impl app::platform::progress::Progress for Shared {
    fn begin(&self, what: &str, total: Option<u64>) {
        style(&self.0, what, total);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// A bar with a count when the total is known, else a spinner with the time taken.
fn style(bar: &ProgressBar, what: &str, total: Option<u64>) {
    match total {
        Some(n) => {
            bar.set_position(0);
            bar.set_length(n);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.disable_steady_tick();
        }
        None => {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }
    bar.set_message(what.to_string());
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::platform::progress::Progress;

    #[test]
    fn a_hidden_bar_still_counts_and_draws_nothing() {
        let bar = Bar::to(ProgressDrawTarget::hidden());
        assert!(!bar.visible());
        bar.begin("Verifying", Some(10));
        bar.advance(4);
        bar.advance(6);
        assert_eq!(bar.position(), 10);
    }
}
