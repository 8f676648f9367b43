//! Progress on long steps: a spinner with elapsed time on a terminal, plain start/finish
//! lines otherwise (CI logs), always with the step's duration at the end. On GitHub
//! Actions, each outermost step's output is a collapsible log group, its result line after
//! the group, so a job's log reads as one line per step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Steps under way (GitHub's log groups do not nest: only the outermost opens one).
static DEPTH: AtomicUsize = AtomicUsize::new(0);

fn on_github() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// The workflow command opening a group for a step at `depth`, if it opens one.
fn group_open(label: &str, github: bool, depth: usize) -> Option<String> {
    (github && depth == 0).then(|| format!("::group::ksock: {label}"))
}

use indicatif::{ProgressBar, ProgressStyle};

/// One long step. Finish it with [`Step::done`]; dropping it unfinished reports failure.
pub struct Step {
    label: String,
    start: Instant,
    bar: Option<ProgressBar>,
    finished: bool,
    /// This step opened a GitHub log group.
    grouped: bool,
}

impl Step {
    pub fn start(label: impl Into<String>) -> Self {
        let label = label.into();
        let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("static template"),
            );
            b.set_message(label.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            Some(b)
        } else {
            None
        };
        let depth = DEPTH.fetch_add(1, Ordering::SeqCst);
        let group = group_open(&label, bar.is_none() && on_github(), depth);
        match (&group, &bar) {
            (Some(g), _) => eprintln!("{g}"),
            (None, None) => eprintln!("ksock: {label} ..."),
            (None, Some(_)) => {}
        }
        Self {
            label,
            start: Instant::now(),
            bar,
            finished: false,
            grouped: group.is_some(),
        }
    }

    /// Updates the message shown next to the spinner (no-op in plain mode).
    pub fn set_detail(&self, detail: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {detail}", self.label));
        }
    }

    /// A handle that can update the detail from another thread (a console reader).
    pub fn detail_handle(&self) -> Detail {
        Detail {
            bar: self.bar.clone(),
            label: self.label.clone(),
        }
    }

    pub fn done(mut self, result: &str) {
        self.finish(result);
    }

    fn finish(&mut self, result: &str) {
        self.finished = true;
        let line = format!(
            "ksock: {} — {result} ({:.1} s)",
            self.label,
            self.start.elapsed().as_secs_f64()
        );
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        DEPTH.fetch_sub(1, Ordering::SeqCst);
        if self.grouped {
            eprintln!("::endgroup::");
        }
        eprintln!("{line}");
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.finish("FAILED");
        }
    }
}

/// See [`Step::detail_handle`].
#[derive(Clone)]
pub struct Detail {
    bar: Option<ProgressBar>,
    label: String,
}

impl Detail {
    pub fn set(&self, detail: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {detail}", self.label));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outermost_steps_on_github_open_a_group() {
        assert_eq!(
            group_open("kernel 7.2: resolving", true, 0).as_deref(),
            Some("::group::ksock: kernel 7.2: resolving")
        );
        assert_eq!(group_open("inner", true, 1), None);
        assert_eq!(group_open("anywhere else", false, 0), None);
    }
}
